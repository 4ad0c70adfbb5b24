"""The hub's pages from the server's side (src/hub/pages.c): sign-in with a token sets
the session cookie (HttpOnly, SameSite=Strict), the page paths serve the shell or send
to /login, and the tokens page's calls. Sessions and CSRF in depth are in
test_hub_sessions.py; Chromium drives the pages themselves in tests/e2e/hub.test.mjs."""
import re

import pytest
import requests

from hub_harness import Hub, problem

PAGES = ["/", "/alice/hello", "/p/06h25cbnystjk1fpdjv5vp5vj8", "/predictions", "/deployments",
         "/tokens"]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    yield server
    server.stop()


def sign_in(hub, token, next_page="/"):
    return requests.post(hub.url + "/login", data={"token": token, "next": next_page},
                         allow_redirects=False, timeout=10)


def session_of(hub, account):
    """A signed-in session's cookies and the CSRF header its shell page holds."""
    response = sign_in(hub, hub.token(account))
    cookies = {"pinion_session": response.cookies["pinion_session"]}
    page = requests.get(hub.url + "/", cookies=cookies, timeout=10)
    csrf = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', page.text).group(1)
    return cookies, {"X-CSRF-Token": csrf}


def test_login_page_is_a_form(hub):
    response = requests.get(hub.url + "/login?next=/tokens", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'name="token"' in response.text
    assert 'name="next" value="/tokens"' in response.text


def test_sign_in_sets_a_strict_http_only_cookie_and_redirects(hub):
    token = hub.token("alice")
    response = sign_in(hub, token, "/alice/hello")
    assert response.status_code == 303
    assert response.headers["Location"] == "/alice/hello"
    cookie = response.headers["Set-Cookie"]
    assert re.match(r"^pinion_session=[0-9a-f]{64};", cookie), cookie
    assert token not in cookie
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie


@pytest.mark.parametrize("next_page", ["//evil.example/", "https://evil.example/", "", "/\\x"])
def test_sign_in_only_redirects_within_the_site(hub, next_page):
    response = sign_in(hub, hub.token("alice"), next_page)
    assert response.headers["Location"] == "/"


def test_a_wrong_token_gets_the_form_again_with_an_error(hub):
    response = sign_in(hub, "r8_wrong", "/tokens")
    assert response.status_code == 401
    assert "not valid" in response.text
    assert "Set-Cookie" not in response.headers
    assert 'value="/tokens"' in response.text


def test_next_is_escaped_in_the_form(hub):
    response = requests.get(hub.url + '/login', params={"next": '/"><script>'}, timeout=10)
    assert "<script>" not in response.text.split("</h1>")[1]


def test_the_cookie_with_its_csrf_token_authenticates_api_calls(hub):
    cookies, csrf = session_of(hub, "alice")
    response = requests.get(hub.url + "/v1/account", cookies=cookies, headers=csrf, timeout=10)
    assert response.json()["username"] == "alice"
    problem(requests.get(hub.url + "/v1/account", cookies={"pinion_session": "0" * 64},
                         headers=csrf, timeout=10), 401)
    # The API token is no session id.
    problem(requests.get(hub.url + "/v1/account", cookies={"pinion_session": hub.token("alice")},
                         timeout=10), 401)


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_strangers_to_login(hub, path):
    response = requests.get(hub.url + path, allow_redirects=False, timeout=10)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", PAGES)
def test_pages_serve_the_shell_when_signed_in(hub, path):
    cookies, _ = session_of(hub, "alice")
    response = requests.get(hub.url + path, cookies=cookies, allow_redirects=False, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<script type="module" src="/static/app.js">' in response.text
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self';")


def test_static_files_and_unknown_pages(hub):
    response = requests.get(hub.url + "/static/app.js", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    problem(requests.get(hub.url + "/static/nope.js", timeout=10), 404)
    problem(requests.get(hub.url + "/a/b/c", cookies=session_of(hub, "alice")[0], timeout=10),
            404)


def test_a_browser_asking_for_no_page_gets_a_page_pointing_to_the_predictions(hub):
    response = requests.get(hub.url + "/a/b/c", headers={"Accept": "text/html,application/xhtml+xml"},
                            timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<a href="/predictions">your predictions</a>' in response.text
    assert "/v1" not in response.text


def test_logout_clears_the_cookie(hub):
    response = requests.post(hub.url + "/logout", allow_redirects=False, timeout=10)
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "Max-Age=0" in response.headers["Set-Cookie"]


def test_tokens_page_calls(hub):
    cookies, csrf = session_of(hub, "bob")
    problem(requests.get(hub.url + "/session/tokens", timeout=10), 401)
    problem(requests.get(hub.url + "/session/tokens", cookies=cookies, timeout=10), 403)
    problem(requests.post(hub.url + "/session/tokens", json={"name": "x"}, cookies=cookies,
                          timeout=10), 403)
    created = requests.post(hub.url + "/session/tokens", json={"name": "laptop"}, cookies=cookies,
                            headers=csrf, timeout=10)
    assert created.status_code == 201
    new = created.json()
    assert new["token"].startswith("r8_") and new["name"] == "laptop"
    listed = requests.get(hub.url + "/session/tokens", cookies=cookies, headers=csrf,
                          timeout=10).json()
    assert {t["account"] for t in listed} == {"bob"}
    assert new["id"] in {t["id"] for t in listed}
    headers = {"Authorization": "Bearer " + new["token"]}
    assert requests.get(hub.url + "/v1/account", headers=headers, timeout=10).status_code == 200
    alice_cookies, alice_csrf = session_of(hub, "alice")
    alice_ids = [t["id"] for t in requests.get(hub.url + "/session/tokens",
                                                cookies=alice_cookies, headers=alice_csrf,
                                                timeout=10).json()]
    problem(requests.post(hub.url + "/session/tokens/%s/revoke" % alice_ids[0], cookies=cookies,
                          headers=csrf, timeout=10), 404)
    revoked = requests.post(hub.url + "/session/tokens/%s/revoke" % new["id"], cookies=cookies,
                            headers=csrf, timeout=10)
    assert revoked.status_code == 200
    problem(requests.get(hub.url + "/v1/account", headers=headers, timeout=10), 401)


def test_behind_tls_the_cookie_is_secure(tmp_path):
    server = Hub(tmp_path / "data", args=("--public-url", "https://ml.example.com")).start()
    try:
        cookie = sign_in(server, server.token("alice")).headers["Set-Cookie"]
        assert "; Secure" in cookie
    finally:
        server.stop()
    assert "Secure" not in sign_in_cookie_without_tls(tmp_path)


def sign_in_cookie_without_tls(tmp_path):
    server = Hub(tmp_path / "plain").start()
    try:
        return sign_in(server, server.token("alice")).headers["Set-Cookie"]
    finally:
        server.stop()
