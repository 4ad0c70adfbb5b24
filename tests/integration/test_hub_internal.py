"""The hub's internal routes (issue #10 item 2): they live on their own listener, take
the credential of a running instance and nothing else — not an address — and the
credential dies with the instance. The public listener does not serve /internal/."""
import json
import os
import re
import time

import pytest
import requests

from hub_harness import ROOT, Hub, instance_credentials, problem

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "hub_files")
MADE_UP = "0123456789abcdef" * 4
IDLE_SECONDS = 3


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = Hub(tmp_path_factory.mktemp("hub") / "data",
                 args=["--idle-timeout", str(IDLE_SECONDS)],
                 extra_env={"PINION_LOG_LEVEL": "debug"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def version(hub):
    return hub.push("hello", "alice/files", cwd=FIXTURE)


def live_credentials(hub):
    return instance_credentials(hub.process.pid)


def run(hub, version, **inputs):
    response = requests.post(hub.url + "/v1/predictions",
                             json={"version": version, "input": inputs}, timeout=90,
                             headers={"Prefer": "wait=60",
                                      "Authorization": "Bearer " + hub.token("alice")})
    assert response.status_code == 201, response.text
    prediction = response.json()
    assert prediction["status"] == "succeeded", prediction
    return prediction


def test_made_up_credentials_get_401_there_and_404_on_the_public_listener(hub):
    assert hub.internal_url and hub.internal_url != hub.url
    for credential in (MADE_UP, "sometoken", "%2e%2e"):
        upload = "/internal/uploads/%s/x.html" % credential
        webhook = "/internal/instances/%s/webhook" % credential
        # From 127.0.0.1, which used to be enough.
        body = problem(requests.put(hub.internal_url + upload, data=b"<script>", timeout=10), 401)
        assert body["title"] == "Unauthenticated"
        problem(requests.post(hub.internal_url + webhook, json={"id": "x"}, timeout=10), 401)
        problem(requests.put(hub.url + upload, data=b"<script>", timeout=10), 404)
        problem(requests.post(hub.url + webhook, json={"id": "x"}, timeout=10), 404)
        # An account's token is no credential there either.
        problem(hub.request("PUT", hub.internal_url + upload, data=b"x"), 401)
    problem(requests.get(hub.internal_url + "/internal/anything", timeout=10), 401)
    problem(requests.delete(hub.internal_url + "/internal/uploads/%s/x" % MADE_UP, timeout=10),
            401)
    # The internal listener serves nothing else.
    problem(hub.get(hub.internal_url + "/v1/account"), 404)
    assert MADE_UP not in hub.read_log()


def test_outputs_work_and_the_credential_dies_with_the_instance(hub, version):
    prediction = run(hub, version, kind="png")
    output = prediction["output"]
    # Model servers drop the query of Location (as Cog does): the capability is the path.
    assert re.match(re.escape(hub.url) + r"/v1/outputs/[0-9a-z]{26}\.[0-9a-f]{64}/out\.png$",
                    output)
    download = requests.get(output, timeout=10)
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")
    assert download.headers["Content-Type"] == "image/png"
    # With credentials too (PY sends its headers everywhere).
    assert hub.get(output).content == download.content
    problem(requests.get(re.sub(r"\.[0-9a-f]{4}", ".0000", output, count=1), timeout=10), 404)

    credentials = live_credentials(hub)
    assert len(credentials) == 1, credentials
    credential = credentials.pop()
    assert re.fullmatch(r"[0-9a-f]{64}", credential), "256 bits as hex"
    upload = hub.internal_url + "/internal/uploads/%s/late.txt" % credential
    webhook = hub.internal_url + "/internal/instances/%s/webhook" % credential
    # While the instance runs, its credential opens both routes ...
    accepted = requests.put(upload, data=b"early", headers={"Content-Type": "text/plain"},
                            timeout=10)
    assert accepted.status_code == 201, accepted.text
    assert requests.get(accepted.headers["Location"], timeout=10).content == b"early"
    assert requests.post(webhook, json={"id": "not-running"}, timeout=10).status_code == 200
    # ... and never on the public listener.
    problem(requests.put(upload.replace(hub.internal_url, hub.url), data=b"x", timeout=10), 404)

    # Scale to zero: the idle instance stops and its credential is revoked with it.
    deadline = time.monotonic() + IDLE_SECONDS + 30
    while credential in live_credentials(hub):
        assert time.monotonic() < deadline, "the idle instance did not stop"
        time.sleep(0.2)
    problem(requests.put(upload, data=b"late", timeout=10), 401)
    problem(requests.post(webhook, json={"id": "x"}, timeout=10), 401)

    # The credential is never logged, nor shown in what the API returns.
    assert credential not in hub.read_log()
    shown = hub.get("/v1/predictions/" + prediction["id"]).text
    assert credential not in shown

    # A new instance gets a new credential, and predictions still run.
    again = run(hub, version, kind="txt")
    assert requests.get(again["output"], timeout=10).content == b"plain words\n" * 20
    fresh = live_credentials(hub)
    assert fresh and credential not in fresh


def test_a_credential_quoted_in_a_webhook_is_redacted(hub, version):
    prediction = hub.post("/v1/predictions", json={"version": version,
                                                   "input": {"kind": "sleep", "size": 20}})
    prediction = prediction.json()
    deadline = time.monotonic() + 60
    while hub.get("/v1/predictions/" + prediction["id"]).json()["status"] != "processing":
        assert time.monotonic() < deadline, "the prediction did not start"
        time.sleep(0.1)
    credential = next(iter(live_credentials(hub)))
    # A model server may quote its own URLs (a failed upload's error); what it sends is
    # shown to the prediction's creator, so the hub takes the credential out.
    body = {"id": prediction["id"], "status": "failed", "logs": "PUT %s failed\n" % credential,
            "error": "upload to http://x/internal/uploads/%s/a failed" % credential}
    assert requests.post(hub.internal_url + "/internal/instances/%s/webhook" % credential,
                         json=body, timeout=10).status_code == 200
    shown = hub.get("/v1/predictions/" + prediction["id"]).json()
    assert shown["status"] == "failed"
    assert shown["error"] == "upload to http://x/internal/uploads/REDACTED/a failed"
    assert credential not in json.dumps(shown)


def test_the_hub_hears_of_its_own_instances_through_the_director_api(hub):
    """Issue #13: without directors elsewhere the hub still runs nothing itself: its own
    director takes each prediction from the embedded queue and reports it to the internal
    API, under the queue's lease, as `pinion director` does; a report under another
    lease is refused and changes nothing."""
    from director_harness import director_credential
    version = hub.push(None, "alice/slow", cwd=os.path.join(ROOT, "tests", "fixtures",
                                                             "hub_slow"))
    version_id = version.split(":")[-1]
    before = hub.read_log().count("hub: internal /internal/director/predictions/{}")
    created = requests.post(hub.url + "/v1/predictions", timeout=30,
                            json={"version": version_id, "input": {"n": 5, "seconds": 3}},
                            headers={"Authorization": "Bearer " + hub.token("alice")})
    assert created.status_code == 201, created.text
    prediction = created.json()["id"]
    deadline = time.monotonic() + 60
    while hub.get("/v1/predictions/" + prediction).json()["status"] != "processing":
        assert time.monotonic() < deadline, hub.read_log()
        time.sleep(0.05)
    credential, _ = director_credential(hub, hub.data + "-forger", name="forger")
    report = hub.internal_url + "/internal/director/predictions/" + prediction
    forged = {"event": "update", "kind": "completed",
              "prediction": {"id": prediction, "status": "succeeded", "output": 666}}
    other = requests.post(report, json=dict(forged, lease="embedded:99 1-0 " + version_id),
                          headers={"Authorization": "Bearer " + credential}, timeout=10)
    assert "no longer holds prediction" in problem(other, 409)["detail"]
    unleased = requests.post(report, json=forged, timeout=10,
                             headers={"Authorization": "Bearer " + credential})
    assert "carries \"lease\"" in problem(unleased, 400)["detail"]
    deadline = time.monotonic() + 60
    while True:
        row = hub.get("/v1/predictions/" + prediction).json()
        if row["status"] in ("succeeded", "failed", "canceled"):
            break
        assert time.monotonic() < deadline, row
        time.sleep(0.1)
    assert (row["status"], row["output"]) == ("succeeded", 5)
    # started, the start, the output and completed at least: each through the API.
    reports = hub.read_log().count("hub: internal /internal/director/predictions/{}") - before
    assert reports >= 4, hub.read_log()
