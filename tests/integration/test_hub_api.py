"""Black-box tests of `pinion hub`: Replicate's HTTP API v1 over HTTP, with tokens made
by the CLI and models published with `pinion push`. Predictions are in
test_hub_predictions.py."""
import base64
import hashlib
import os
import re
import sqlite3
import time

import pytest
import requests

from hub_harness import EXAMPLES, Hub, pinion, problem

HEX64 = re.compile(r"^[0-9a-f]{64}$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hello(hub):
    return hub.push("hello", "alice/hello")


# --- transport and auth ------------------------------------------------------------------

def test_requests_without_a_token_get_401_problem(hub):
    body = problem(hub.get("/v1/account", account=None), 401)
    assert body["title"] == "Unauthenticated"
    problem(hub.get("/v1/account", account=None, headers={"Authorization": "Bearer r8_nope"}), 401)


def test_bearer_and_token_schemes_work_in_any_case(hub):
    token = hub.token("alice")
    for scheme in ("Bearer", "bearer", "Token", "TOKEN"):
        response = hub.get("/v1/account", account=None,
                           headers={"Authorization": scheme + " " + token})
        assert response.status_code == 200, scheme


def test_unknown_paths_and_methods_are_problems(hub):
    problem(hub.get("/v1/nothing-here"), 404)
    problem(hub.request("PUT", "/v1/account"), 405)


def test_responses_carry_rate_limit_headers(hub):
    response = hub.get("/v1/account")
    assert int(response.headers["ratelimit-remaining"]) > 0
    assert int(response.headers["ratelimit-reset"]) >= 1


def test_rate_limit_answers_429_with_retry_after(tmp_path):
    server = Hub(tmp_path / "data", ["--rate-limit", "2"]).start()
    try:
        assert server.get("/v1/account").status_code == 200
        assert server.get("/v1/account").headers["ratelimit-remaining"] == "0"
        response = server.get("/v1/account")
        problem(response, 429)
        assert int(response.headers["Retry-After"]) >= 1
    finally:
        server.stop()


def test_cors_preflight_and_headers(hub):
    response = requests.options(hub.url + "/v1/predictions", timeout=10, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,prefer"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "QUERY" in response.headers["Access-Control-Allow-Methods"]
    assert "Prefer" in response.headers["Access-Control-Allow-Headers"]
    exposed = hub.get("/v1/account").headers["Access-Control-Expose-Headers"]
    assert "ratelimit-remaining" in exposed


def test_head_works_like_get_without_a_body(hub):
    response = hub.request("HEAD", "/v1/account")
    assert response.status_code == 200 and response.content == b""


def test_pages_are_served_outside_v1(hub):
    response = requests.get(hub.url + "/", timeout=10)
    assert response.status_code == 200
    assert "/v1/" in response.text
    problem(requests.get(hub.url + "/no-such-page", timeout=10), 404)


# --- tokens --------------------------------------------------------------------------------

def test_token_cli_lists_and_revokes(tmp_path):
    data = tmp_path / "data"
    created = pinion("hub", "token", "create", "--data", str(data), "--account", "carol",
                     "--name", "laptop")
    assert created.returncode == 0
    token = created.stdout.strip()
    assert re.match(r"^r8_[0-9A-Za-z]{40}$", token)
    listed = pinion("hub", "token", "list", "--data", str(data))
    line = [l for l in listed.stdout.splitlines() if "carol" in l][0]
    token_id = line.split()[0]
    assert "laptop" in line and "active" in line
    server = Hub(data).start()
    try:
        headers = {"Authorization": "Bearer " + token}
        assert server.get("/v1/account", account=None, headers=headers).status_code == 200
        assert pinion("hub", "token", "revoke", "--data", str(data), token_id).returncode == 0
        problem(server.get("/v1/account", account=None, headers=headers), 401)
    finally:
        server.stop()
    assert pinion("hub", "token", "revoke", "--data", str(data), "nope").returncode == 1


# --- account, secret, hardware, collections ---------------------------------------------------

def test_account_has_the_exact_shape(hub):
    assert hub.get("/v1/account").json() == {
        "type": "user", "username": "alice", "name": "alice", "github_url": None,
        "avatar_url": None}


def test_webhook_secret_is_stable_standard_base64_of_24_bytes(hub):
    key = hub.get("/v1/webhooks/default/secret").json()["key"]
    assert key.startswith("whsec_") and key.count("_") == 1
    assert len(base64.b64decode(key[6:], validate=True)) == 24
    assert hub.get("/v1/webhooks/default/secret").json()["key"] == key
    assert hub.get("/v1/webhooks/default/secret", account="bob").json()["key"] != key


def test_hardware_is_a_bare_array_with_cpu(hub):
    hardware = hub.get("/v1/hardware").json()
    assert hardware[0] == {"sku": "cpu", "name": "CPU"}
    assert all(item["sku"] == "cpu" or item["sku"].startswith("gpu-") for item in hardware)


def test_hardware_lists_gpu_skus_when_the_machine_has_gpus(tmp_path):
    root = tmp_path / "gpus"
    (root / "dev").mkdir(parents=True)
    for name in ("nvidia0", "nvidia1", "nvidiactl"):
        (root / "dev" / name).write_text("")
    server = Hub(tmp_path / "data", extra_env={"PINION_GPU_ROOT": str(root)}).start()
    try:
        assert server.get("/v1/hardware").json() == [
            {"sku": "cpu", "name": "CPU"}, {"sku": "gpu-nvidia", "name": "Nvidia GPU"},
            {"sku": "gpu-2x-nvidia", "name": "2x Nvidia GPU"}]
    finally:
        server.stop()


def test_collections_are_empty_and_unknown_slugs_404(hub):
    assert hub.get("/v1/collections").json() == {"previous": None, "next": None, "results": []}
    problem(hub.get("/v1/collections/super-resolution"), 404)


# --- models ------------------------------------------------------------------------------------

def test_model_create_returns_the_full_object(hub):
    response = hub.post("/v1/models", json={
        "owner": "alice", "name": "created", "visibility": "public", "hardware": "cpu",
        "description": "a model", "github_url": "https://github.com/a/b"})
    assert response.status_code == 201
    model = response.json()
    assert TIMESTAMP.match(model.pop("created_at"))
    assert model == {
        "url": hub.url + "/alice/created", "owner": "alice", "name": "created",
        "description": "a model", "visibility": "public",
        "github_url": "https://github.com/a/b", "paper_url": None, "license_url": None,
        "weights_url": None, "run_count": 0, "cover_image_url": None, "default_example": None,
        "latest_version": None, "is_official": False}
    problem(hub.post("/v1/models", json={"owner": "alice", "name": "created",
                                          "visibility": "public"}), 409)


def test_model_create_checks_owner_name_and_visibility(hub):
    problem(hub.post("/v1/models", json={"owner": "bob", "name": "x", "visibility": "public"}),
            403)
    problem(hub.post("/v1/models", json={"owner": "alice", "name": "Bad Name",
                                          "visibility": "public"}), 400)
    problem(hub.post("/v1/models", json={"owner": "alice", "name": "x", "visibility": "odd"}),
            400)
    problem(hub.post("/v1/models", json={"owner": "alice"}), 400)
    problem(hub.post("/v1/models", data="{not json", headers={
        "Content-Type": "application/json"}), 400)


def test_model_patch_readme_and_delete(hub):
    hub.post("/v1/models", json={"owner": "alice", "name": "patched", "visibility": "private"})
    problem(hub.get("/v1/models/alice/patched/readme"), 404)
    response = hub.request("PATCH", "/v1/models/alice/patched",
                           json={"description": "new", "readme": "# Hi\n", "owner": "ignored"})
    assert response.status_code == 200
    assert response.json()["description"] == "new"
    readme = hub.get("/v1/models/alice/patched/readme")
    assert readme.status_code == 200
    assert readme.headers["Content-Type"].startswith("text/plain")
    assert readme.text == "# Hi\n"
    assert readme.headers["Vary"] == "Accept"
    assert hub.get("/v1/models/alice/patched/examples").json() == {
        "previous": None, "next": None, "results": []}
    problem(hub.request("PATCH", "/v1/models/alice/patched", account="bob", json={}), 404)
    assert hub.request("DELETE", "/v1/models/alice/patched").status_code == 204
    problem(hub.get("/v1/models/alice/patched"), 404)


def test_readme_as_html_is_cmarks_safe_rendering(hub):
    """Issue #14 item 5: the model page asks for the README as HTML (Accept: text/html);
    the hub renders it with cmark in its safe mode."""
    hub.post("/v1/models", json={"owner": "alice", "name": "marked", "visibility": "private"})
    readme = ("# Marked\n\n## Usage\n\n* one\n* two\n\n```\ncode()\n```\n\n[docs](https://example.com/d)\n\n"
              "<script>alert(1)</script>\n\n[bad](javascript:alert(1)) [worse](data:text/html,x)\n")
    assert hub.request("PATCH", "/v1/models/alice/marked",
                       json={"readme": readme}).status_code == 200
    html = hub.get("/v1/models/alice/marked/readme",
                   headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert html.status_code == 200
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    assert html.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert html.headers["Vary"] == "Accept"
    assert html.text == (
        "<h1>Marked</h1>\n<h2>Usage</h2>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"
        "<pre><code>code()\n</code></pre>\n<p><a href=\"https://example.com/d\">docs</a></p>\n"
        "<!-- raw HTML omitted -->\n<p><a href=\"\">bad</a> <a href=\"\">worse</a></p>\n")
    # API clients (no Accept, or JSON first) still get the text as it was set.
    assert hub.get("/v1/models/alice/marked/readme").text == readme
    assert hub.get("/v1/models/alice/marked/readme",
                   headers={"Accept": "application/json, text/html"}).text == readme
    # At most 256 KiB, rendered on every view: more is refused when set.
    body = problem(hub.request("PATCH", "/v1/models/alice/marked",
                               json={"readme": "x" * (256 * 1024 + 1)}), 422)
    assert "over the 256 KiB a README may have" in body["detail"]
    problem(hub.post("/v1/models", json={"owner": "alice", "name": "long", "visibility": "public",
                                         "readme": "x" * (256 * 1024 + 1)}), 422)
    problem(hub.get("/v1/models/alice/long"), 404)
    assert hub.get("/v1/models/alice/marked/readme").text == readme


def test_private_models_of_other_accounts_are_404(hub):
    hub.post("/v1/models", json={"owner": "alice", "name": "secret", "visibility": "private"})
    assert hub.get("/v1/models/alice/secret").status_code == 200
    problem(hub.get("/v1/models/alice/secret", account="bob"), 404)
    names = [m["name"] for m in hub.get("/v1/models", account="bob").json()["results"]]
    assert "secret" not in names
    hub.post("/v1/models", json={"owner": "alice", "name": "shown", "visibility": "public"})
    assert hub.get("/v1/models/alice/shown", account="bob").status_code == 200
    problem(hub.request("PATCH", "/v1/models/alice/shown", account="bob", json={}), 403)


def test_search_strips_one_level_of_json_string_encoding(hub):
    hub.post("/v1/models", json={"owner": "alice", "name": "llama-search",
                                  "visibility": "public"})
    for body in ('"llama-search"', "llama-search"):
        response = hub.request("QUERY", "/v1/models", data=body,
                               headers={"Content-Type": "text/plain"})
        assert response.status_code == 200, response.text
        assert [m["name"] for m in response.json()["results"]] == ["llama-search"]
    # The connection stays usable after a QUERY with a body.
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + hub.token("alice")
    assert session.request("QUERY", hub.url + "/v1/models", data='"x"', timeout=10).ok
    assert session.get(hub.url + "/v1/account", timeout=10).json()["username"] == "alice"


def test_lists_page_with_absolute_next_and_previous(tmp_path):
    server = Hub(tmp_path / "data", ["--public-url", "http://public.example:9/"]).start()
    try:
        for i in range(105):
            assert server.post("/v1/models", json={"owner": "alice", "name": "m%03d" % i,
                                                   "visibility": "private"}).status_code == 201
        first = server.get("/v1/models").json()
        assert len(first["results"]) == 100 and first["previous"] is None
        assert first["results"][0]["name"] == "m104"  # newest first
        assert first["next"].startswith("http://public.example:9/v1/models?cursor=")
        path = first["next"][len("http://public.example:9"):]
        second = server.get(path).json()
        assert [m["name"] for m in second["results"]] == ["m004", "m003", "m002", "m001", "m000"]
        assert second["next"] is None
        assert second["previous"].startswith("http://public.example:9/v1/models?cursor=")
        back = server.get(second["previous"][len("http://public.example:9"):]).json()
        assert back["results"][0]["name"] == "m104" and len(back["results"]) == 100
        problem(server.get("/v1/models?cursor=garbage!"), 400)
    finally:
        server.stop()


# --- push and versions ----------------------------------------------------------------------------

def test_push_publishes_a_deterministic_version(hub, hello):
    assert HEX64.match(hello)
    assert hub.push("hello", "alice/hello") == hello
    bundle = os.path.join(hub.data, "bundles", hello)
    assert os.path.isfile(os.path.join(bundle, "predict.py"))
    assert os.path.isfile(os.path.join(bundle, ".cog", "openapi_schema.json"))
    model = hub.get("/v1/models/alice/hello").json()
    assert model["visibility"] == "private"
    assert model["latest_version"]["id"] == hello
    problem(hub.get("/v1/models/alice/hello", account="bob"), 404)


def test_version_objects_have_schema_and_cog_version(hub, hello):
    version = hub.get("/v1/models/alice/hello/versions/" + hello).json()
    assert sorted(version) == ["cog_version", "created_at", "id", "openapi_schema"]
    assert version["id"] == hello and isinstance(version["cog_version"], str)
    schema = version["openapi_schema"]["components"]["schemas"]
    assert list(schema["Input"]["properties"]) == ["text", "name"]
    assert schema["Output"] == {"title": "Output", "type": "string"}
    listing = hub.get("/v1/models/alice/hello/versions").json()
    assert [v["id"] for v in listing["results"]] == [hello]
    problem(hub.get("/v1/models/alice/hello/versions/" + "0" * 64), 404)


def test_push_skips_dockerignored_and_cache_files(hub, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("cog.yaml", "predict.py"):
        (folder / name).write_bytes(open(os.path.join(EXAMPLES, "hello", name), "rb").read())
    (folder / "weights.bin").write_text("big")
    (folder / "notes.tmp").write_text("x")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_text("x")
    (folder / ".dockerignore").write_text("# comment\n*.tmp\n")
    version = hub.push(None, "alice/ignored", cwd=str(folder))
    bundle = os.path.join(hub.data, "bundles", version)
    assert sorted(os.listdir(bundle)) == [".cog", ".dockerignore", "cog.yaml", "predict.py",
                                          "weights.bin"]


def test_push_to_another_account_is_refused(hub):
    result = pinion("push", "--hub", hub.url, "--token", hub.token("bob"), "alice/hello",
                    cwd=os.path.join(EXAMPLES, "hello"))
    assert result.returncode == 1
    assert "403" in result.stderr


def test_push_endpoint_rejects_other_bodies(hub):
    problem(hub.post("/v1/models/alice/raw/versions", data=b"x",
                     headers={"Content-Type": "text/plain"}), 415)
    problem(hub.post("/v1/models/alice/raw/versions", data=b"not a tar",
                     headers={"Content-Type": "application/x-tar"}), 400)


def test_image_versions_record_the_reference(hub):
    hub.push("hello", "alice/hello")  # the same folder gives the same version: idempotent
    schema = hub.get("/v1/models/alice/hello").json()["latest_version"]["openapi_schema"]
    response = hub.post("/v1/models/alice/imaged/versions",
                        json={"image": "r8.im/alice/imaged@sha256:abc", "digest": "sha256:abc",
                              "openapi_schema": schema})
    assert response.status_code == 201
    assert response.json()["id"] == hashlib.sha256(b"sha256:abc").hexdigest()
    problem(hub.post("/v1/models/alice/imaged/versions", json={"image": "x"}), 400)


def test_version_delete_then_model_delete(hub):
    version = hub.push("hello", "alice/doomed")
    problem(hub.request("DELETE", "/v1/models/alice/doomed"), 409)
    problem(hub.request("DELETE", "/v1/models/alice/doomed/versions/" + version,
                        account="bob"), 404)
    assert hub.request("DELETE", "/v1/models/alice/doomed/versions/" + version).status_code == 204
    assert hub.get("/v1/models/alice/doomed").json()["latest_version"] is None
    assert hub.request("DELETE", "/v1/models/alice/doomed").status_code == 204


# --- files -----------------------------------------------------------------------------------------

def file_object_checks(hub, body, content, name, content_type, metadata):
    assert re.match(r"^[0-9a-z]{26}$", body["id"])
    assert body["name"] == name and body["content_type"] == content_type
    assert body["size"] == len(content)
    assert body["checksums"] == {"sha256": hashlib.sha256(content).hexdigest(),
                                 "md5": hashlib.md5(content).hexdigest()}
    assert body["etag"] == hashlib.md5(content).hexdigest()
    assert body["metadata"] == metadata
    assert TIMESTAMP.match(body["created_at"])
    assert body["expires_at"] > body["created_at"]
    assert body["urls"] == {"get": hub.url + "/v1/files/" + body["id"]}


def test_file_upload_in_the_js_shape(hub):
    content = b"\x89PNG\r\n\x00binary"
    response = hub.post("/v1/files", files={
        "content": ("blob_1700000000000", content, "image/png"),
        "metadata": ("blob", b'{"source": "js"}', "application/json")})
    assert response.status_code == 201, response.text
    file_object_checks(hub, response.json(), content, "blob_1700000000000", "image/png",
                       {"source": "js"})


def test_file_upload_in_the_python_shape(hub):
    content = b"hello file"
    response = hub.post("/v1/files", files={"content": ("hello.txt", content)},
                        data={"metadata": '{"source": "py"}'})
    assert response.status_code == 201, response.text
    file_object_checks(hub, response.json(), content, "hello.txt", "text/plain",
                       {"source": "py"})
    typed = hub.post("/v1/files", files={"content": ("x.bin", content)},
                     data={"type": "text/plain", "filename": "renamed.txt"}).json()
    assert typed["name"] == "renamed.txt" and typed["content_type"] == "text/plain"
    assert typed["metadata"] == {}


def test_file_get_list_delete(hub):
    created = hub.post("/v1/files", files={"content": ("a.txt", b"a", "text/plain")}).json()
    assert hub.get("/v1/files/" + created["id"]).json() == created
    listing = hub.get("/v1/files").json()
    assert listing["results"][0]["id"] == created["id"]
    body = problem(hub.get("/v1/files/" + created["id"], account="bob"), 404)
    assert body["title"] == "File not found"
    assert hub.request("DELETE", "/v1/files/" + created["id"]).status_code == 204
    problem(hub.get("/v1/files/" + created["id"]), 404)
    problem(hub.request("DELETE", "/v1/files/" + created["id"]), 404)


def test_uploads_expire_and_their_blob_goes_with_the_last_row(tmp_path):
    data = tmp_path / "data"
    server = Hub(data, extra_env={"PINION_FILE_LIFETIME": "2"}).start()
    try:
        content = b"bytes that expire"
        sha = hashlib.sha256(content).hexdigest()
        blob = data / "blobs" / sha[:2] / sha
        first = server.post("/v1/files", files={"content": ("a.txt", content, "text/plain")}).json()
        second = server.post("/v1/files", files={"content": ("b.txt", content, "text/plain")}).json()
        assert first["expires_at"] > first["created_at"] and blob.exists()
        # Two rows, one blob: deleting one keeps the bytes for the other.
        assert server.request("DELETE", "/v1/files/" + first["id"]).status_code == 204
        assert blob.exists()
        assert server.get("/v1/files/" + second["id"]).status_code == 200
        deadline = time.monotonic() + 10
        while (expired := server.get("/v1/files/" + second["id"])).status_code != 404:
            assert time.monotonic() < deadline, "the file did not expire"
            time.sleep(0.1)
        while blob.exists():
            assert time.monotonic() < deadline, "the sweep did not delete the expired file"
            time.sleep(0.1)
        assert "deleted 1 expired file" in server.read_log()
        assert [f["id"] for f in server.get("/v1/files").json()["results"]] == []
    finally:
        server.stop()


def test_an_expired_file_says_when_it_expired(hub):
    created = hub.post("/v1/files", files={"content": ("old.txt", b"old", "text/plain")}).json()
    database = sqlite3.connect(os.path.join(hub.data, "hub.db"))
    with database:
        database.execute("UPDATE files SET doc = json_set(doc, '$.expires_at', "
                         "'2020-01-01T00:00:00.000000Z') WHERE id = ?", (created["id"],))
    database.close()
    body = problem(hub.get("/v1/files/" + created["id"]), 404)
    assert body["detail"] == ("The file %s expired at 2020-01-01T00:00:00.000000Z (uploads live "
                              "86400 seconds). Upload it again." % created["id"])


def test_file_upload_errors(hub):
    problem(hub.post("/v1/files", files={"other": ("a", b"a")}), 400)
    problem(hub.post("/v1/files", data=b"x", headers={"Content-Type": "text/plain"}), 400)
    problem(hub.post("/v1/files", files={"content": ("a", b"a")},
                     data={"metadata": "[1]"}), 400)


def test_file_over_100_mb_is_413(hub):
    content = b"\0" * (100 * 1024 * 1024 + 1)
    problem(hub.post("/v1/files", files={"content": ("big", content)}), 413)


def test_the_public_listener_does_not_serve_internal_routes(hub):
    # Instances upload on the internal listener, with a credential
    # (tests/integration/test_hub_internal.py); here /internal/ does not exist.
    problem(requests.put(hub.url + "/internal/uploads/sometoken/out.png", data=b"PNGDATA",
                         headers={"Content-Type": "image/png"}, timeout=10), 404)


# --- deployments --------------------------------------------------------------------------------

def test_deployments_create_update_delete(hub, hello):
    body = {"name": "greeter", "model": "alice/hello", "version": hello, "hardware": "cpu",
            "min_instances": 0, "max_instances": 2}
    response = hub.post("/v1/deployments", json=body)
    assert response.status_code == 200, response.text
    deployment = response.json()
    release = deployment["current_release"]
    assert TIMESTAMP.match(release.pop("created_at"))
    assert deployment == {"owner": "alice", "name": "greeter", "current_release": {
        "number": 1, "model": "alice/hello", "version": hello,
        "created_by": {"type": "user", "username": "alice", "name": "alice",
                       "github_url": None, "avatar_url": None},
        "configuration": {"hardware": "cpu", "min_instances": 0, "max_instances": 2}}}
    problem(hub.post("/v1/deployments", json=body), 409)
    problem(hub.post("/v1/deployments", json=dict(body, name="x", max_instances=99)), 400)
    problem(hub.post("/v1/deployments", json=dict(body, name="y", version="0" * 64)), 404)
    updated = hub.request("PATCH", "/v1/deployments/alice/greeter",
                          json={"max_instances": 3}).json()
    assert updated["current_release"]["number"] == 2
    assert updated["current_release"]["configuration"]["max_instances"] == 3
    problem(hub.request("PATCH", "/v1/deployments/alice/greeter", json={}), 400)
    assert hub.get("/v1/deployments/alice/greeter").json()["current_release"]["number"] == 2
    assert [d["name"] for d in hub.get("/v1/deployments").json()["results"]] == ["greeter"]
    problem(hub.get("/v1/deployments/alice/greeter", account="bob"), 404)
    assert hub.request("DELETE", "/v1/deployments/alice/greeter").status_code == 204
    problem(hub.get("/v1/deployments/alice/greeter"), 404)


def test_push_publishes_the_description_and_the_folders_readme(hub, tmp_path):
    """Issue #14 item 5: `pinion push --description` and the folder's README.md."""
    import shutil
    folder = tmp_path / "described"
    shutil.copytree(os.path.join(EXAMPLES, "hello"), folder)
    (folder / "README.md").write_text("# Hello\n\nSays *hello* to you.\n")
    hub.push(None, "alice/described", "alice", "--description", "Greets whoever you name",
             cwd=str(folder))
    model = hub.get("/v1/models/alice/described").json()
    assert model["description"] == "Greets whoever you name"
    readme = hub.get("/v1/models/alice/described/readme")
    assert readme.status_code == 200 and readme.text == "# Hello\n\nSays *hello* to you.\n"
    # Pushing again without --description keeps the description; a README that is too
    # big is refused by name, after the version is published.
    (folder / "README.md").write_text("x" * (256 * 1024 + 1))
    result = pinion("push", "--hub", hub.url, "--token", hub.token("alice"), "alice/described",
                    cwd=str(folder))
    assert result.returncode == 1
    assert "README.md is over 256 KiB" in result.stderr
    assert hub.get("/v1/models/alice/described").json()["description"] == "Greets whoever you name"
