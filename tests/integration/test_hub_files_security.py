"""What the hub serves as files (issue #10 item 5): uploads and outputs never run on the
hub's origin (nosniff, a sandboxing CSP, attachments for anything a browser would run
or render as a document), byte ranges work, and files stream from disk."""
import hashlib
import os
import re
import sqlite3
import json

import pytest
import requests

from hub_harness import ROOT, Hub, problem

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "hub_files")
BIG = 150 * 1024 * 1024


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def version(hub):
    return hub.push(None, "alice/files", cwd=FIXTURE)


def output_of(hub, version, timeout=120, **inputs):
    response = requests.post(hub.url + "/v1/predictions",
                             json={"version": version, "input": inputs}, timeout=timeout,
                             headers={"Prefer": "wait=%d" % (timeout - 10),
                                      "Authorization": "Bearer " + hub.token("alice")})
    assert response.status_code == 201, response.text
    prediction = response.json()
    assert prediction["status"] == "succeeded", prediction
    return prediction["output"]


def assert_sandboxed(response):
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]
    assert "sandbox" in policy and "default-src 'none'" in policy
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("kind,type", [("html", "text/html"), ("svg", "image/svg+xml")])
def test_documents_that_run_script_download_as_attachments(hub, version, kind, type):
    url = output_of(hub, version, kind=kind)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and b"<script>" in response.content
    assert response.headers["Content-Type"] == type
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"out.%s\"; filename*=UTF-8''out.%s" % (kind, kind))
    assert_sandboxed(response)


@pytest.mark.parametrize("kind,type", [("png", "image/png"), ("txt", "text/plain"),
                                       ("wav", "audio/wav")])
def test_images_text_and_audio_stay_inline(hub, version, kind, type):
    response = requests.get(output_of(hub, version, kind=kind), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == type
    assert response.headers["Content-Disposition"].startswith("inline; filename=\"out.")
    assert_sandboxed(response)


def test_uploads_get_the_same_headers_and_names_are_quoted(hub):
    # A raw multipart body: clients escape quotes in filenames differently.
    body = (b'--b\r\nContent-Disposition: form-data; name="content"; filename="x"\r\n'
            b'Content-Type: text/html\r\n\r\n<script>alert(1)</script>\r\n'
            b'--b\r\nContent-Disposition: form-data; name="filename"\r\n\r\n'
            + 'ré"sumé.html'.encode() + b'\r\n--b--\r\n')
    file = hub.post("/v1/files", data=body,
                    headers={"Content-Type": "multipart/form-data; boundary=b"}).json()
    assert file["name"] == 'ré"sumé.html'
    # The signed URL an instance gets for an input file, and the same on the public origin.
    internal = signed_input_url(hub, file)
    public = internal.replace(hub.internal_url + "/internal/", hub.url + "/v1/")
    for url in (internal, public):
        response = requests.get(url, timeout=10)
        assert response.status_code == 200 and response.content == b"<script>alert(1)</script>"
        assert response.headers["Content-Disposition"] == (
            "attachment; filename=\"r___sum__.html\"; "
            "filename*=UTF-8''r%C3%A9%22sum%C3%A9.html")
        assert_sandboxed(response)


def signed_input_url(hub, file):
    """The hub rewrites its own file URLs in inputs to signed internal URLs; read one
    back from the stored request (of a prediction of examples/hello, which takes text)."""
    hello = hub.push("hello", "alice/hello")
    prediction = hub.post("/v1/predictions", json={
        "version": hello, "input": {"text": file["urls"]["get"]}}).json()
    database = sqlite3.connect(os.path.join(hub.data, "hub.db"))
    try:
        row = json.loads(database.execute("SELECT doc FROM predictions WHERE id=?",
                                          (prediction["id"],)).fetchone()[0])
    finally:
        database.close()
    return row["request"]["input"]["text"]


def test_the_owner_downloads_an_upload_with_credentials_and_a_prediction_keeps_it(hub):
    """The prediction page shows input files from their bytes (issue #14 item 7): the
    owner may download with a token instead of a signature, nobody else may, and a file
    a prediction takes as input no longer expires."""
    file = hub.post("/v1/files", files={"content": ("dot.png", b"\x89PNG-bytes", "image/png")}).json()
    assert file["expires_at"] is not None
    download = "/v1/files/%s/download" % file["id"]
    response = hub.get(download)
    assert response.status_code == 200 and response.content == b"\x89PNG-bytes"
    assert response.headers["Content-Type"] == "image/png"
    assert_sandboxed(response)
    problem(hub.get(download, account="bob"), 404)
    assert "signature does not match" in problem(hub.get(download, account=None), 403)["detail"]
    hello = hub.push("hello", "alice/hello")
    created = hub.post("/v1/predictions", json={"version": hello, "input": {"text": file["urls"]["get"]}})
    assert created.status_code == 201, created.text
    assert hub.get("/v1/files/%s" % file["id"]).json()["expires_at"] is None


@pytest.fixture(scope="module")
def wav(hub, version):
    url = output_of(hub, version, kind="wav")
    return url, requests.get(url, timeout=10).content


def test_byte_ranges(wav):
    url, whole = wav
    total = len(whole)
    assert total > 1000
    cases = {"bytes=0-99": (0, 99), "bytes=-100": (total - 100, total - 1),
             "bytes=1000-": (1000, total - 1), "bytes=10-%d" % (total * 2): (10, total - 1)}
    for header, (first, last) in cases.items():
        response = requests.get(url, headers={"Range": header}, timeout=10)
        assert response.status_code == 206, header
        assert response.headers["Content-Range"] == "bytes %d-%d/%d" % (first, last, total)
        assert response.headers["Content-Length"] == str(last - first + 1)
        assert response.content == whole[first:last + 1], header
        assert_sandboxed(response)
    # Several ranges may be answered with the whole file.
    several = requests.get(url, headers={"Range": "bytes=0-1,5-6"}, timeout=10)
    assert several.status_code == 200 and several.content == whole


def test_unsatisfiable_ranges_are_416(wav):
    url, whole = wav
    for header in ("bytes=%d-" % len(whole), "bytes=-0"):
        response = requests.get(url, headers={"Range": header}, timeout=10)
        problem(response, 416)
        assert response.headers["Content-Range"] == "bytes */%d" % len(whole)


def test_head_says_the_size_without_the_bytes(wav):
    url, whole = wav
    response = requests.head(url, timeout=10)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["Content-Length"] == str(len(whole))
    assert response.headers["Accept-Ranges"] == "bytes"
    ranged = requests.head(url, headers={"Range": "bytes=0-99"}, timeout=10)
    assert ranged.status_code == 206 and ranged.headers["Content-Length"] == "100"


def memory(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) * 1024
    return fields


def test_a_big_output_streams_back_intact_without_growing_the_hub(hub, version):
    url = output_of(hub, version, kind="big", size=BIG, timeout=240)
    pid = hub.process.pid
    # Forget the peak the upload made, so VmHWM measures the download alone.
    with open("/proc/%d/clear_refs" % pid, "w") as clear:
        clear.write("5")
    before = memory(pid)["VmRSS"]
    digest = hashlib.sha256()
    received = 0
    with requests.get(url, stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(BIG)
        for chunk in response.iter_content(1 << 20):
            digest.update(chunk)
            received += len(chunk)
    assert received == BIG
    # Intact: the blob is stored under its SHA-256.
    sha256 = digest.hexdigest()
    assert os.path.getsize(os.path.join(hub.data, "blobs", sha256[:2], sha256)) == BIG
    peak = memory(pid)["VmHWM"]
    assert peak - before < 32 * 1024 * 1024, (before, peak)
