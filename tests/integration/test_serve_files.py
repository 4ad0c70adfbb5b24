"""`pinion serve`: file inputs (URLs, data URIs) and outputs (data URIs, uploads to
--upload-url), lists, iterators and nested files (spec §6; pinion's choices 6-7)."""
import base64
import os

import pytest

from serve_harness import FileServer, Server, upload_receiver, wait_for


@pytest.fixture(scope="module")
def server():
    with Server("serve_model", config="files.yaml", env={"COG_USER_AGENT": "tests/1"}) as s:
        yield s


def leftovers(server):
    """Files the server or worker left in its temporary folder (outputs excepted)."""
    found = []
    for folder, _, names in os.walk(server.tmp):
        if os.path.basename(folder).startswith("out-"):
            continue
        found += [os.path.join(folder, n) for n in names if n not in ("port", "server.log")]
    return found


def test_inputs_from_url_and_data_uri(server):
    with FileServer({"/files/hello%20world.txt": b"from url", "/b+c.txt": b"bc"}) as files:
        body = server.predict({
            "mode": "input",
            "source": files.url + "/files/hello%20world.txt",
            "sources": ["data:text/plain;base64," + base64.b64encode(b"inline").decode(),
                        "data:,percent%20encoded", files.url + "/b+c.txt"],
        })
        assert body["status"] == "succeeded", body
        output = body["output"]
        assert output["contents"] == ["from url", "inline", "percent encoded", "bc"]
        names = output["names"]
        assert names[0].startswith("tmp") and names[0].endswith("hello world.txt") or \
            names[0] == "hello world.txt", names
        assert names[1].endswith("file.txt")
        assert names[3].endswith("b c.txt")
        assert [r["headers"]["user-agent"] for r in files.requests] == ["tests/1", "tests/1"]
        # Temporary input files are removed after the prediction.
        for path in output["paths"]:
            assert not os.path.exists(path), path
        assert leftovers(server) == []


def test_input_download_404_fails_prediction(server):
    with FileServer({}) as files:
        url = files.url + "/missing.png"
        body = server.predict({"mode": "input", "source": url})
        assert body["status"] == "failed"
        assert body["error"] == "Input validation error: 404 Client Error: Not Found for url: " + url
    assert leftovers(server) == []


def test_local_paths_are_refused_over_http(server):
    """A client must not be able to make the model read the server's own files."""
    r = server.post("/predictions", {"input": {"mode": "input", "source": "/etc/passwd"}})
    assert r.status == 422
    assert r.json() == {"detail": [{
        "loc": ["body", "input", "source"],
        "msg": "'/etc/passwd' is not a valid URL scheme. 'data', 'http', or 'https' is supported.",
        "type": "value_error"}]}
    r = server.post("/predictions", {"input": {"mode": "input", "source": "data:,x",
                                               "sources": ["data:,y", "relative.txt"]}})
    assert r.status == 422
    assert r.json()["detail"][0]["loc"] == ["body", "input", "sources"]


def test_bad_data_uri_fails_prediction(server):
    body = server.predict({"mode": "input", "source": "data:text/plain;base64,@@@"})
    assert body["status"] == "failed"
    assert body["error"].startswith("Input validation error: ")


@pytest.mark.parametrize("mode, output", [
    ("one", "data:text/plain;base64," + base64.b64encode(b"hello file").decode()),
    ("list", ["data:text/plain;base64,QQ==", "data:text/plain;base64,Qg=="]),
    ("iter", ["data:text/plain;base64," + base64.b64encode(b"item 0").decode(),
              "data:text/plain;base64," + base64.b64encode(b"item 1").decode()]),
    ("nested", {"name": "n", "file": "data:text/plain;base64," +
                base64.b64encode(b"nested").decode()}),
])
def test_outputs_as_data_uris(server, mode, output):
    body = server.predict({"mode": mode})
    assert body["status"] == "succeeded", body
    assert body["output"] == output


@pytest.fixture(scope="module")
def uploads():
    with upload_receiver(location_base="http://cdn.example") as receiver:
        yield receiver


@pytest.fixture(scope="module")
def upload_server(uploads):
    with Server("serve_model", config="files.yaml",
                args=["--upload-url", uploads.url + "/up"]) as s:
        yield s


@pytest.mark.parametrize("mode, names, output", [
    ("one", ["result.txt"], "http://cdn.example/up/result.txt"),
    ("list", ["a.txt", "b.txt"], ["http://cdn.example/up/a.txt", "http://cdn.example/up/b.txt"]),
    ("nested", ["n.txt"], {"name": "n", "file": "http://cdn.example/up/n.txt"}),
])
def test_outputs_uploaded(upload_server, uploads, mode, names, output):
    del uploads.requests[:]
    body = upload_server.predict({"mode": mode})
    assert body["status"] == "succeeded", body
    assert body["output"] == output
    requests = uploads.requests
    assert sorted(r["path"] for r in requests) == ["/up/" + n for n in names]
    for r in requests:
        assert r["method"] == "PUT"
        assert r["headers"]["content-type"] == "text/plain"
    contents = {"result.txt": b"hello file", "a.txt": b"A", "b.txt": b"B", "i0.txt": b"item 0",
                "i1.txt": b"item 1", "n.txt": b"nested"}
    assert {r["path"][4:]: r["body"] for r in requests} == {n: contents[n] for n in names}


def test_a_file_name_with_spaces_and_url_characters_is_percent_encoded(upload_server, uploads):
    """The upload URL is built, not pasted: "a b#c?d.txt" joins the path encoded (it used
    to fail the prediction with "URL using bad/illegal format")."""
    del uploads.requests[:]
    body = upload_server.predict({"mode": "odd_name"})
    assert body["status"] == "succeeded", body
    assert body["output"] == "http://cdn.example/up/a%20b%23c%3Fd.txt"
    assert [(r["path"], r["body"]) for r in uploads.requests] == [("/up/a%20b%23c%3Fd.txt", b"odd name")]


def test_iterator_of_files_uploaded_once_each(uploads):
    with Server("serve_model", config="fileiter.yaml",
                args=["--upload-url", uploads.url + "/up/"]) as s:
        del uploads.requests[:]
        body = s.predict({"count": 2})
        assert body["output"] == ["http://cdn.example/up/i0.txt", "http://cdn.example/up/i1.txt"]
        assert sorted(r["path"] for r in uploads.requests) == ["/up/i0.txt", "/up/i1.txt"]
        assert [r["body"] for r in sorted(uploads.requests, key=lambda r: r["path"])] == \
            [b"item 0", b"item 1"]


def test_upload_without_location_uses_url_without_query():
    with upload_receiver() as uploads, Server("serve_model", config="files.yaml", args=[
            "--upload-url", uploads.url + "/bucket/?token=t"]) as s:
        body = s.predict({"mode": "one"})
        assert body["output"] == uploads.url + "/bucket/result.txt"
        assert uploads.requests[0]["path"] == "/bucket/result.txt?token=t"


def test_upload_failure_fails_prediction():
    with upload_receiver(fail_first=100) as uploads, Server(
            "serve_model", config="files.yaml", args=["--upload-url", uploads.url]) as s:
        body = s.predict({"mode": "one"})
        assert body["status"] == "failed"
        error = body["error"]
        assert "result.txt" in error and uploads.url in error and "500" in error, error
        assert s.health()["status"] == "READY"
