"""Sign-in sessions of the hub's pages (issue #10, item 4; src/hub/sessions.c): the cookie
holds a random session id, never the API token; a request with only the cookie reaches
the API only with the session's CSRF token (the shell page's <meta name="csrf-token">)
in X-CSRF-Token; signing out, revoking the token (CLI or the tokens page) and expiry end
a session; Authorization: Bearer is unaffected; tokens record when they were last used,
at most once a minute."""
import os
import re
import sqlite3
import time

import pytest
import requests

from hub_harness import TIMEOUT, Hub, pinion, problem

COOKIE = "pinion_session"
META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]{64})">')


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    yield server
    server.stop()


def sign_in(hub, token):
    response = requests.post(hub.url + "/login", data={"token": token, "next": "/"},
                             allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 303, response.text
    return response


def new_token(hub, account, name):
    result = pinion("hub", "token", "create", "--data", hub.data, "--account", account,
                    "--name", name)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def token_id(hub, name):
    database = sqlite3.connect(os.path.join(hub.data, "hub.db"))
    try:
        return database.execute("SELECT id FROM tokens WHERE name=?", (name,)).fetchone()[0]
    finally:
        database.close()


class Browser:
    """A signed-in session: its cookie, and the CSRF token its shell page holds."""

    def __init__(self, hub, token):
        self.hub = hub
        self.set_cookie = sign_in(hub, token).headers["Set-Cookie"]
        self.cookies = {COOKIE: re.match(COOKIE + r"=([^;]*);", self.set_cookie).group(1)}
        page = self.page("/")
        assert page.status_code == 200, page.status_code
        self.csrf = META.search(page.text).group(1)

    def page(self, path):
        return requests.get(self.hub.url + path, cookies=self.cookies, allow_redirects=False,
                            timeout=TIMEOUT)

    def api(self, method, path, csrf=True, **kwargs):
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return requests.request(method, self.hub.url + path, cookies=self.cookies,
                                headers=headers, timeout=TIMEOUT, **kwargs)


def test_the_cookie_is_a_session_id_not_the_token(hub):
    token = hub.token("alice")
    browser = Browser(hub, token)
    session_id = browser.cookies[COOKIE]
    assert re.fullmatch(r"[0-9a-f]{64}", session_id)  # 256 random bits
    assert token not in browser.set_cookie and token[3:] not in browser.set_cookie
    assert Browser(hub, token).cookies[COOKIE] != session_id  # one per sign-in
    # Only the session id's hash is stored.
    database = sqlite3.connect(os.path.join(hub.data, "hub.db"))
    rows = database.execute("SELECT hash, account, token_id, created_at, expires_at "
                            "FROM sessions").fetchall()
    database.close()
    assert session_id not in {row[0] for row in rows}
    assert all(len(row[0]) == 64 and row[1] == "alice" for row in rows)
    assert all(row[3] < row[4] for row in rows)


def test_the_cookie_is_http_only_strict_and_lives_as_long_as_the_session(hub):
    attributes = [part.strip() for part in Browser(hub, hub.token("alice")).set_cookie.split(";")]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=%d" % (30 * 24 * 3600)):
        assert attribute in attributes, attributes
    assert "Secure" not in attributes  # the public URL is http


def test_the_cookie_alone_is_refused_by_the_api(hub):
    browser = Browser(hub, hub.token("alice"))
    for method, path in (("GET", "/v1/predictions"), ("GET", "/v1/account"),
                         ("POST", "/v1/models")):
        body = problem(browser.api(method, path, csrf=False, json={}), 403)
        assert "X-CSRF-Token" in body["detail"]
    wrong = requests.get(hub.url + "/v1/predictions", cookies=browser.cookies,
                         headers={"X-CSRF-Token": "0" * 64}, timeout=TIMEOUT)
    problem(wrong, 403)
    # Another session's CSRF token does not fit this cookie.
    other = Browser(hub, hub.token("alice"))
    problem(requests.get(hub.url + "/v1/predictions", cookies=browser.cookies,
                         headers={"X-CSRF-Token": other.csrf}, timeout=TIMEOUT), 403)


def test_the_cookie_with_the_pages_csrf_token_works(hub):
    browser = Browser(hub, hub.token("alice"))
    listed = browser.api("GET", "/v1/predictions")
    assert listed.status_code == 200 and listed.json()["results"] == []
    assert browser.api("GET", "/v1/account").json()["username"] == "alice"
    created = browser.api("POST", "/v1/models", json={"owner": "alice", "name": "via-page",
                                                      "visibility": "private",
                                                      "hardware": "cpu"})
    assert created.status_code == 201, created.text
    # The page itself needs only the cookie; every page holds the same token.
    assert META.search(browser.page("/predictions").text).group(1) == browser.csrf


def test_bearer_requests_are_unaffected(hub):
    response = requests.get(hub.url + "/v1/account", timeout=TIMEOUT,
                            headers={"Authorization": "Bearer " + hub.token("alice")})
    assert response.json()["username"] == "alice"


def test_sign_out_ends_the_session(hub):
    browser = Browser(hub, hub.token("alice"))
    response = requests.post(hub.url + "/logout", cookies=browser.cookies, allow_redirects=False,
                             timeout=TIMEOUT)
    assert response.status_code == 303 and "Max-Age=0" in response.headers["Set-Cookie"]
    problem(browser.api("GET", "/v1/account"), 401)
    page = browser.page("/")
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")


def test_revoking_the_token_with_the_cli_ends_its_sessions(hub):
    token = new_token(hub, "carol", "cli-revoked")
    browser = Browser(hub, token)
    assert browser.api("GET", "/v1/account").status_code == 200
    result = pinion("hub", "token", "revoke", "--data", hub.data, token_id(hub, "cli-revoked"))
    assert result.returncode == 0, result.stderr
    problem(browser.api("GET", "/v1/account"), 401)
    assert browser.page("/").status_code == 303
    database = sqlite3.connect(os.path.join(hub.data, "hub.db"))
    left = database.execute("SELECT count(*) FROM sessions WHERE token_id=?",
                            (token_id(hub, "cli-revoked"),)).fetchone()[0]
    database.close()
    assert left == 0


def test_revoking_the_token_on_the_tokens_page_ends_its_sessions(hub):
    doomed = Browser(hub, new_token(hub, "dave", "page-revoked"))
    keeper = Browser(hub, new_token(hub, "dave", "page-keeper"))
    revoked = keeper.api("POST", "/session/tokens/%s/revoke" % token_id(hub, "page-revoked"))
    assert revoked.status_code == 200, revoked.text
    problem(doomed.api("GET", "/v1/account"), 401)
    assert keeper.api("GET", "/v1/account").status_code == 200


def test_an_expired_session_is_refused(tmp_path):
    server = Hub(tmp_path / "data", extra_env={"PINION_SESSION_LIFETIME": "1"}).start()
    try:
        browser = Browser(server, server.token("alice"))
        assert "Max-Age=1" in browser.set_cookie
        assert browser.api("GET", "/v1/account").status_code == 200
        time.sleep(1.2)
        problem(browser.api("GET", "/v1/account"), 401)
        assert browser.page("/").status_code == 303
    finally:
        server.stop()


def test_behind_tls_the_cookie_is_secure(tmp_path):
    server = Hub(tmp_path / "data", args=("--public-url", "https://ml.example.com")).start()
    try:
        attributes = [part.strip() for part in
                      sign_in(server, server.token("alice")).headers["Set-Cookie"].split(";")]
        assert "Secure" in attributes and "HttpOnly" in attributes
    finally:
        server.stop()


def test_tokens_record_their_last_use_at_most_once_a_minute(hub):
    token = new_token(hub, "erin", "counted")
    listed = pinion("hub", "token", "list", "--data", hub.data)
    line = next(l for l in listed.stdout.splitlines() if " counted " in l)
    assert "never" in line and "LAST USED" in listed.stdout
    headers = {"Authorization": "Bearer " + token}
    assert requests.get(hub.url + "/v1/account", headers=headers, timeout=TIMEOUT).ok
    browser = Browser(hub, token)
    first = {t["name"]: t for t in browser.api("GET", "/session/tokens").json()}["counted"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first["last_used_at"])
    for _ in range(3):
        assert requests.get(hub.url + "/v1/account", headers=headers, timeout=TIMEOUT).ok
    again = {t["name"]: t for t in browser.api("GET", "/session/tokens").json()}["counted"]
    assert again["last_used_at"] == first["last_used_at"]  # throttled: no second write
    line = next(l for l in pinion("hub", "token", "list", "--data", hub.data).stdout.splitlines()
                if " counted " in l)
    assert first["last_used_at"] in line
