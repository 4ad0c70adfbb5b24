"""A README's images on the model page (issue #14): the pages load images from the hub
only (img-src 'self'), so the README's relative image links are rewritten to
/{owner}/{name}/versions/{id}/images/{path}, which serves image files from inside the
version's pushed folder and nothing else: not "..", not absolute paths, not through a
symbolic link, not other types, not over 10 MiB. Remote images become links.
Chromium shows them in tests/e2e/hub_layout.test.mjs."""
import http.client
import os
import shutil
import struct
import zlib

import pytest
import requests

from hub_harness import EXAMPLES, Hub, problem
from test_hub_pages import session_of

README = ("# Pictured\n\n![swatch](images/swatch.png) ![top](./top.png)\n\n"
          "![remote](https://example.com/r.png)\n")


def png(width, height):
    """A valid RGB PNG of one colour."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    rows = b"".join(b"\0" + b"\x30\x80\xd0" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    """A hub with alice/pictured pushed from a folder holding images, a text file and a
    README; yields (hub, version id, the version's bundle folder)."""
    folder = tmp_path_factory.mktemp("pictured")
    for name in ("cog.yaml", "predict.py"):
        shutil.copy(os.path.join(EXAMPLES, "hello", name), folder / name)
    (folder / "images").mkdir()
    (folder / "images" / "swatch.png").write_bytes(png(24, 16))
    (folder / "top.png").write_bytes(png(8, 8))
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "disguised.png.html").write_text("<script>alert(1)</script>\n")
    (folder / "big.png").write_bytes(b"\x89PNG" + b"\0" * (10 * 1024 * 1024))
    (folder / "README.md").write_text(README)
    hub = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    hub.push(None, "alice/pictured", cwd=str(folder))
    version = hub.get("/v1/models/alice/pictured").json()["latest_version"]["id"]
    yield hub, version, os.path.join(hub.data, "bundles", version)
    hub.stop()


def image_url(version, path):
    return "/alice/pictured/versions/%s/images/%s" % (version, path)


def raw_get(hub, path, token):
    """GET `path` exactly as written: no client resolves its "..", as requests would."""
    connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    connection.request("GET", path, headers={"Authorization": "Bearer " + token})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_the_readme_points_its_relative_images_at_the_version_folder(pushed):
    hub, version, _ = pushed
    html = hub.get("/v1/models/alice/pictured/readme", headers={"Accept": "text/html"}).text
    assert html == (
        "<h1>Pictured</h1>\n"
        '<p><img src="%s" alt="swatch" /> <img src="%s" alt="top" /></p>\n'
        '<p><a href="https://example.com/r.png">remote</a></p>\n'
        % (image_url(version, "images/swatch.png"), image_url(version, "top.png")))


def test_an_image_is_served_with_its_type_unsniffed_and_sandboxed(pushed):
    hub, version, _ = pushed
    response = hub.get(image_url(version, "images/swatch.png"))
    assert response.status_code == 200
    assert response.content == png(24, 16)
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response.headers["Content-Length"] == str(len(png(24, 16)))
    head = hub.request("HEAD", image_url(version, "top.png"))
    assert head.status_code == 200 and head.content == b""


def test_the_session_cookie_alone_is_enough_as_for_an_img(pushed):
    """An <img> sends the cookie but no X-CSRF-Token."""
    hub, version, _ = pushed
    cookies, _ = session_of(hub, "alice")
    response = requests.get(hub.url + image_url(version, "top.png"), cookies=cookies, timeout=10)
    assert response.status_code == 200
    assert response.content == png(8, 8)
    problem(requests.get(hub.url + image_url(version, "top.png"), timeout=10), 401)


def test_another_account_cannot_read_a_private_models_images(pushed):
    hub, version, _ = pushed
    problem(hub.get(image_url(version, "top.png"), account="bob"), 404)


def test_only_images_are_served(pushed):
    hub, version, _ = pushed
    for path in ("notes.txt", "disguised.png.html", "predict.py", "cog.yaml",
                 ".cog/openapi_schema.json"):
        body = problem(hub.get(image_url(version, path)), 403)
        assert "Only images" in body["detail"]


def test_an_image_over_ten_mib_is_refused(pushed):
    hub, version, _ = pushed
    body = problem(hub.get(image_url(version, "big.png")), 403)
    assert "over the 10 MiB" in body["detail"]


def test_missing_files_and_versions(pushed):
    hub, version, _ = pushed
    problem(hub.get(image_url(version, "images/none.png")), 404)
    problem(hub.get(image_url("0" * 64, "top.png")), 404)
    problem(hub.get("/alice/nobody/versions/%s/images/top.png" % version), 404)


@pytest.mark.parametrize("path", [
    "../top.png", "images/../top.png", "images/../../../../etc/passwd.png",
    "%2e%2e/%2e%2e/%2e%2e/etc/x.png", "images/%2E%2E/top.png", "./top.png",
    "%2Fetc%2Fx.png", "/etc/x.png", "images//swatch.png", "images/%00.png",
])
def test_no_path_leaves_the_folder_or_bends_it(pushed, path):
    """".." and "." segments, absolute paths and empty segments are refused, encoded or
    not, before anything is opened."""
    hub, version, _ = pushed
    status, headers, body = raw_get(hub, image_url(version, path), hub.token("alice"))
    assert status == 400, (path, status, body)
    assert headers["Content-Type"] == "application/problem+json"


def test_symbolic_links_are_not_followed(pushed, tmp_path):
    """Unpacking never makes a link, but should one be in a bundle, no file outside the
    folder (or in it) is served through it."""
    hub, version, bundle = pushed
    outside = tmp_path / "secret.png"
    outside.write_bytes(png(4, 4))
    mode = os.stat(bundle).st_mode
    os.chmod(bundle, 0o755)
    try:
        os.symlink(str(outside), os.path.join(bundle, "secret.png"))
        os.symlink(str(tmp_path), os.path.join(bundle, "elsewhere"))
        os.symlink("top.png", os.path.join(bundle, "alias.png"))
        for path in ("secret.png", "elsewhere/secret.png", "alias.png"):
            problem(hub.get(image_url(version, path)), 404)
    finally:
        for name in ("secret.png", "elsewhere", "alias.png"):
            if os.path.lexists(os.path.join(bundle, name)):
                os.unlink(os.path.join(bundle, name))
        os.chmod(bundle, mode)
