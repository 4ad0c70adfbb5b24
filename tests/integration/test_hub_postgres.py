"""The hub with its state in PostgreSQL (`pinion hub --database postgres://...`): the
hub's API tests pass against a real PostgreSQL 15, `pinion hub migrate` applies the
versioned schema once, and a database that goes away gives 503s naming it, then works
again once it is back, without restarting the hub."""
import os
import re
import subprocess
import sys
import time

import pytest
import requests

import pg_harness
from hub_harness import PINION, ROOT, TIMEOUT, Hub, pinion

pytestmark = pytest.mark.skipif(not pg_harness.available(),
                                reason="PostgreSQL 15 is not installed (scripts/install-deps)")

# Tests that open DATA/hub.db with Python's sqlite3 (to age a row or read one back) or
# run the token commands on the SQLite file: they are about that engine.
SQLITE_ONLY = ["test_token_cli_lists_and_revokes", "test_an_expired_file_says_when_it_expired",
               "test_running_predictions_fail_after_a_restart",
               "test_own_file_urls_in_inputs_are_rewritten_for_instances",
               "test_streams_rebuilt_from_rows_split_lines_and_end_with_done"]


@pytest.fixture(scope="module")
def postgres():
    server = pg_harness.Postgres().start()
    yield server
    server.close()


def test_the_hub_api_suite_passes_on_postgresql(postgres):
    files = [os.path.join(ROOT, "tests", "integration", name)
             for name in ("test_hub_api.py", "test_hub_predictions.py")]
    environment = dict(os.environ, PINION_TEST_DATABASE=postgres.url(), PINION=PINION)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, "-k",
         " and ".join("not " + name for name in SQLITE_ONLY)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=240)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 50, summary
    assert "failed" not in summary and "error" not in summary, summary


def test_migrate_applies_each_version_once(postgres, tmp_path):
    url = pg_harness.fresh_database(postgres.url())
    name = url.rsplit("/", 1)[1]
    first = pinion("hub", "migrate", "--data", str(tmp_path / "data"), "--database", url)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "PostgreSQL database at schema version 3\n"
    assert "migrated to version 1" in first.stderr and "migrated to version 3" in first.stderr
    again = pinion("hub", "migrate", "--data", str(tmp_path / "data"), "--database", url)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert "migrated" not in again.stderr
    assert postgres.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM "
                         "schema_migrations", name) == "1,2,3"
    # Keys compare as bytes (the "C" collation), as SQLite's do, for keyset pages.
    assert postgres.psql("SELECT collation_name FROM information_schema.columns WHERE "
                         "table_name = 'predictions' AND column_name = 'created_at'",
                         name) == "C"


def test_a_database_newer_than_pinion_is_refused(postgres, tmp_path):
    url = pg_harness.fresh_database(postgres.url())
    assert pinion("hub", "migrate", "--data", str(tmp_path / "data"), "--database",
                  url).returncode == 0
    postgres.psql("INSERT INTO schema_migrations (version, description) VALUES (99, 'future')",
                  url.rsplit("/", 1)[1])
    result = pinion("hub", "migrate", "--data", str(tmp_path / "data"), "--database", url)
    assert result.returncode == 1
    assert "schema version 99, newer than this pinion knows (3)" in result.stderr


def test_bad_database_urls_are_refused_with_what_to_do(tmp_path):
    wrong_scheme = pinion("hub", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data"),
                          "--database", "mysql://root@127.0.0.1/hub", timeout=TIMEOUT)
    assert wrong_scheme.returncode == 1
    assert "--database takes a PostgreSQL URL (postgres://" in wrong_scheme.stderr
    closed = pg_harness.free_port()
    unreachable = pinion("hub", "migrate", "--data", str(tmp_path / "data"), "--database",
                         "postgres://hub:s3cret@127.0.0.1:%d/hub" % closed, timeout=TIMEOUT)
    assert unreachable.returncode == 1
    assert ("cannot connect to PostgreSQL at postgres://hub:****@127.0.0.1:%d/hub" % closed
            in unreachable.stderr)
    assert "s3cret" not in unreachable.stderr
    assert "Check that PostgreSQL runs there" in unreachable.stderr


def wait_for_status(hub, path, status, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        response = hub.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_a_lost_database_gives_503_and_the_hub_reconnects(postgres, tmp_path):
    hub = Hub(tmp_path / "data", database=pg_harness.fresh_database(postgres.url())).start()
    try:
        assert hub.get("/v1/account").json()["username"] == "alice"
        created = hub.post("/v1/models", json={"owner": "alice", "name": "before",
                                               "visibility": "public", "hardware": "cpu"})
        assert created.status_code == 201, created.text
        postgres.stop()
        for path in ("/v1/account", "/v1/models/alice/before", "/v1/predictions"):
            response = hub.get(path)
            assert response.status_code == 503, (path, response.text)
            detail = response.json()["detail"]
            assert detail.startswith("The hub's database (PostgreSQL) is unavailable")
            assert "the hub reconnects by itself" in detail
            assert "127.0.0.1" not in detail  # the database's address stays in the log
        # The pages too: a session cookie cannot be checked either.
        page = requests.get(hub.url + "/", cookies={"pinion_session": "0" * 64},
                            allow_redirects=False, timeout=TIMEOUT)
        assert page.status_code == 503
        assert "The hub's database (PostgreSQL) is unavailable" in page.text
        assert hub.process.poll() is None
        assert "lost the connection to PostgreSQL at postgres://pinion@127.0.0.1" in \
            hub.read_log() or "cannot connect to PostgreSQL at" in hub.read_log()
        postgres.start()
        back = wait_for_status(hub, "/v1/models/alice/before", 200)
        assert back.status_code == 200, back.text
        assert back.json()["name"] == "before"
        created = hub.post("/v1/models", json={"owner": "alice", "name": "after",
                                               "visibility": "public", "hardware": "cpu"})
        assert created.status_code == 201, created.text
        names = [model["name"] for model in hub.get("/v1/models").json()["results"]]
        assert names[:2] == ["after", "before"]
        assert hub.process.poll() is None
    finally:
        hub.stop()


def test_sessions_and_token_revocation_on_postgresql(postgres, tmp_path):
    url = pg_harness.fresh_database(postgres.url())
    name = url.rsplit("/", 1)[1]
    hub = Hub(tmp_path / "data", database=url).start()
    try:
        token = hub.token("alice")
        signed_in = requests.post(hub.url + "/login", data={"token": token, "next": "/"},
                                  allow_redirects=False, timeout=TIMEOUT)
        assert signed_in.status_code == 303, signed_in.text
        cookie = re.match(r"pinion_session=([0-9a-f]{64});",
                          signed_in.headers["Set-Cookie"]).group(1)
        assert requests.get(hub.url + "/", cookies={"pinion_session": cookie},
                            allow_redirects=False, timeout=TIMEOUT).status_code == 200
        token_id = postgres.psql("SELECT id FROM tokens WHERE account = 'alice'", name)
        # Only the session id's hash is stored, beside its token.
        assert postgres.psql("SELECT count(*) FROM sessions WHERE token_id = '%s' AND "
                             "hash <> '%s'" % (token_id, cookie), name) == "1"
        # An expired session goes when the next one is made (one statement, PostgreSQL).
        postgres.psql("INSERT INTO sessions VALUES ('old', 'alice', '%s', "
                      "'2000-01-01T00:00:00Z', '2000-01-02T00:00:00Z')" % token_id, name)
        assert requests.post(hub.url + "/login", data={"token": token, "next": "/"},
                             allow_redirects=False, timeout=TIMEOUT).status_code == 303
        assert postgres.psql("SELECT count(*) FROM sessions WHERE hash = 'old'", name) == "0"
        # Revoking the token ends its sessions in the same statement.
        revoked = pinion("hub", "token", "revoke", "--data", hub.data, "--database", url,
                         token_id)
        assert revoked.returncode == 0, revoked.stderr
        assert postgres.psql("SELECT revoked FROM tokens WHERE id = '%s'" % token_id,
                             name) == "1"
        assert postgres.psql("SELECT count(*) FROM sessions", name) == "0"
        assert requests.get(hub.url + "/", cookies={"pinion_session": cookie},
                            allow_redirects=False, timeout=TIMEOUT).status_code == 303
        assert hub.get("/v1/account").status_code == 401
        missing = pinion("hub", "token", "revoke", "--data", hub.data, "--database", url, "nope")
        assert missing.returncode == 1 and "there is no token nope" in missing.stderr
    finally:
        hub.stop()


def test_an_outcome_during_an_outage_is_stored_once_the_database_is_back(postgres, tmp_path):
    hub = Hub(tmp_path / "data", database=pg_harness.fresh_database(postgres.url())).start()
    try:
        version = hub.push(None, "alice/slow", cwd=os.path.join(ROOT, "tests", "fixtures",
                                                                "hub_slow"))
        created = hub.post("/v1/predictions", json={"version": version.split(":")[-1],
                                                     "input": {"n": 7, "seconds": 2}})
        assert created.status_code == 201, created.text
        prediction = created.json()["id"]
        running = wait_for_status(hub, "/v1/predictions/" + prediction, 200)
        deadline = time.monotonic() + TIMEOUT
        while running.json()["status"] != "processing" and time.monotonic() < deadline:
            time.sleep(0.05)
            running = hub.get("/v1/predictions/" + prediction)
        assert running.json()["status"] == "processing", running.text
        postgres.stop()  # the prediction ends (after 2 s) while the database is away
        time.sleep(3)
        assert hub.get("/v1/predictions/" + prediction).status_code == 503
        # The hub's own director holds the outcome: the hub refused its report for want of
        # the store, and it is sent again until stored.
        refused = "the hub answered a report on prediction %s with HTTP 503" % prediction
        assert refused in hub.read_log()
        postgres.start()
        deadline = time.monotonic() + TIMEOUT
        while True:
            finished = hub.get("/v1/predictions/" + prediction)
            if finished.status_code == 200 and finished.json()["status"] == "succeeded":
                break
            assert time.monotonic() < deadline, finished.text
            time.sleep(0.2)
        assert finished.json()["output"] == 7
        assert hub.process.poll() is None
    finally:
        hub.stop()
