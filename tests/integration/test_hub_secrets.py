"""Secret inputs through `pinion hub` (issue #10, item 3): the model receives the real
value, and nothing the hub stores or shows holds it: the API's get and list, the SSE
stream, the prediction's page, webhook bodies, the hub's log and every file under the
data folder (hub.db and its WAL included) show "**********" or nothing. A queued
prediction with a secret fails after a hub restart instead of running with the
redacted value."""
import hashlib
import json
import os
import secrets
import sqlite3
import time

import requests

from hub_harness import ROOT, TIMEOUT, Hub, WebhookReceiver, sse_events

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "hub_secret")
REDACTED = "**********"


def wait_done(hub, prediction_id, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = hub.get("/v1/predictions/" + prediction_id).json()
        if prediction["status"] in ("succeeded", "failed", "canceled"):
            return prediction
        time.sleep(0.1)
    raise AssertionError("prediction did not finish")


def files_holding(folder, needle):
    """Every file under `folder` whose bytes contain `needle`."""
    found = []
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as handle:
                if needle in handle.read():
                    found.append(path)
    return found


def signed_in(hub, account="alice"):
    browser = requests.Session()
    response = browser.post(hub.url + "/login", data={"token": hub.token(account), "next": "/"},
                            allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 303, response.text
    return browser


def test_a_secret_input_reaches_the_model_and_nothing_else(tmp_path):
    data = tmp_path / "data"
    # At debug level the hub and its instances log the most they ever do.
    hub = Hub(data, extra_env={"PINION_LOG_LEVEL": "debug"}).start()
    receiver = WebhookReceiver()
    value = "s3cr3t-" + secrets.token_hex(12)
    try:
        version = hub.push(None, "alice/secret", cwd=FIXTURE)
        created = hub.post("/v1/predictions", json={
            "version": version, "input": {"api_key": value, "label": "run"},
            "webhook": receiver.url}).json()
        assert created["input"] == {"api_key": REDACTED, "label": "run"}
        done = wait_done(hub, created["id"])
        assert done["status"] == "succeeded", done
        # The model saw the real value: its output is the value's sha256.
        assert done["output"] == ["run:", hashlib.sha256(value.encode()).hexdigest()]
        assert done["input"] == {"api_key": REDACTED, "label": "run"}
        assert "received a key of %d characters" % len(value) in done["logs"]

        shown = []
        shown.append(json.dumps(created))
        shown.append(hub.get("/v1/predictions/" + created["id"]).text)
        listed = hub.get("/v1/predictions")
        assert [p["input"] for p in listed.json()["results"]] == [done["input"]]
        shown.append(listed.text)
        stream = requests.get(created["urls"]["stream"], timeout=TIMEOUT,
                              headers={"Accept": "text/event-stream"})
        assert sse_events(stream.text)[-1][0] == "done"
        shown.append(stream.text)
        browser = signed_in(hub)
        page = browser.get(hub.url + "/p/" + created["id"], timeout=TIMEOUT)
        assert page.status_code == 200 and "<html" in page.text
        shown.append(page.text)
        calls = receiver.wait(1, timeout=30)
        deadline = time.monotonic() + 30
        while json.loads(calls[-1][1])["status"] != "succeeded":
            assert time.monotonic() < deadline, "no completed webhook"
            time.sleep(0.05)
        for _, body in calls:
            assert json.loads(body)["input"]["api_key"] == REDACTED
            shown.append(body.decode())
        for text in shown:
            assert value not in text
    finally:
        receiver.close()
        hub.stop()
    assert value not in hub.read_log()
    assert files_holding(str(data), value.encode()) == []
    assert files_holding(str(data), REDACTED.encode()) != []  # the row was written


def test_a_queued_secret_prediction_fails_after_a_restart(tmp_path):
    data = tmp_path / "data"
    hub = Hub(data).start()
    value = "s3cr3t-" + secrets.token_hex(12)
    try:
        version = hub.push(None, "alice/secret", cwd=FIXTURE)
        created = hub.post("/v1/predictions", json={
            "version": version, "input": {"api_key": value}}).json()
        assert created["input"] == {"api_key": REDACTED}
    finally:
        hub.stop()
    # As if the hub had stopped before any instance took the prediction.
    database = sqlite3.connect(os.path.join(str(data), "hub.db"))
    row = json.loads(database.execute("SELECT doc FROM predictions WHERE id=?",
                                      (created["id"],)).fetchone()[0])
    assert row["request"]["input"] == {"api_key": REDACTED}
    row.update(status="starting", dispatched=False, completed_at=None, error=None, output=None)
    database.execute("UPDATE predictions SET doc=?, status='starting' WHERE id=?",
                     (json.dumps(row), created["id"]))
    database.commit()
    database.close()
    hub.start()
    try:
        again = hub.get("/v1/predictions/" + created["id"]).json()
        assert again["status"] == "failed"
        assert again["error"] == ("the hub restarted before the prediction started; secret "
                                  "inputs are not stored, create the prediction again")
        assert again["output"] is None
    finally:
        hub.stop()
    assert files_holding(str(data), value.encode()) == []

