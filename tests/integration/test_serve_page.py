"""The page `pinion serve` shows a browser at GET / (web/serve.html) and the embedded
files under /static/; API clients keep Cog's discovery document. (The page itself is
driven in Chromium by tests/e2e/serve.test.mjs.)"""
import pytest

from serve_harness import Server

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


@pytest.fixture(scope="module")
def server():
    with Server("serve_model") as s:
        yield s


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, text/html"])
def test_api_clients_get_the_discovery_document(server, accept):
    response = server.get("/", headers={"Accept": accept} if accept else None)
    assert response.status == 200
    assert response.header("Content-Type") == "application/json"
    assert response.json()["predictions_url"] == "/predictions"


def test_browsers_get_the_page(server):
    response = server.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status == 200
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    page = response.body.decode()
    assert page.startswith("<!doctype html>")
    assert '<script type="module" src="/static/serve.js">' in page
    assert "https://" not in page and "http://" not in page  # nothing from elsewhere
    assert response.header("Content-Security-Policy").startswith("default-src 'self';")


@pytest.mark.parametrize("path,content_type", [
    ("/static/serve.js", "text/javascript; charset=utf-8"),
    ("/static/schema.js", "text/javascript; charset=utf-8"),
    ("/static/render.js", "text/javascript; charset=utf-8"),
    ("/static/style.css", "text/css; charset=utf-8"),
    ("/static/favicon.svg", "image/svg+xml"),
])
def test_static_files(server, path, content_type):
    response = server.get(path)
    assert response.status == 200
    assert response.header("Content-Type") == content_type
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert len(response.body) > 100


def test_unknown_static_file_404(server):
    assert server.get("/static/nope.js").status == 404
    assert server.get("/static/../cog.yaml").status == 404
    assert server.request("POST", "/static/serve.js").status == 405
