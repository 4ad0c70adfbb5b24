"""Predictions through `pinion hub`: what the hub does on its own (resolving versions,
validating inputs, ids, URLs, streams of finished predictions, cancellation of finished
ones, signed completed webhooks, durability), and end-to-end runs that need the
scheduler (skipped until src/director/scheduler.c is merged)."""
import base64
import hashlib
import hmac
import json
import os
import re
import sqlite3

import pytest
import requests

from hub_harness import ROOT, Hub, WebhookReceiver, problem, sse_events

# A greeter whose output streams (examples/hello answers in one string).
GREETER = os.path.join(ROOT, "tests", "fixtures", "hub_greeter")

ID = re.compile(r"^[0-9a-hjkmnp-tv-z]{26}$")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hello(hub):
    return hub.push(None, "alice/hello", cwd=GREETER)


def create(hub, body, path="/v1/predictions", **kwargs):
    response = hub.post(path, json=body, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


# --- creation without running -------------------------------------------------------------

def test_version_may_be_an_id_a_ref_or_a_model(hub, hello):
    for version in (hello, "alice/hello:" + hello, "alice/hello"):
        prediction = create(hub, {"version": version, "input": {"text": "x"}})
        assert prediction["version"] == hello and prediction["model"] == "alice/hello"
    prediction = create(hub, {"input": {"text": "x"}}, "/v1/models/alice/hello/predictions")
    assert prediction["version"] == hello


def test_the_prediction_object_has_every_field(hub, hello):
    prediction = create(hub, {"version": hello, "input": {"text": "x"}, "stream": True,
                              "unknown_key": 1})
    assert ID.match(prediction["id"])
    for key in ("model", "version", "input", "output", "logs", "error", "status", "created_at",
                "started_at", "completed_at", "urls", "metrics", "source", "webhook",
                "webhook_events_filter", "data_removed"):
        assert key in prediction, key
    assert prediction["input"] == {"text": "x"}
    assert prediction["source"] == "api" and prediction["data_removed"] is False
    assert prediction["webhook_events_filter"] == ["start", "output", "logs", "completed"]
    urls = prediction["urls"]
    assert urls["get"] == hub.url + "/v1/predictions/" + prediction["id"]
    assert urls["cancel"] == urls["get"] + "/cancel"
    assert urls["web"].startswith(hub.url + "/")
    # hello's output is a ConcatenateIterator of strings: a text stream.
    assert urls["stream"].startswith(hub.url + "/v1/streams/")
    assert hub.get("/v1/predictions/" + prediction["id"]).json()["id"] == prediction["id"]


def test_ids_are_time_ordered_and_lists_newest_first(hub, hello):
    first = create(hub, {"version": hello, "input": {}})
    second = create(hub, {"version": hello, "input": {}})
    assert first["id"] < second["id"]
    listed = [p["id"] for p in hub.get("/v1/predictions").json()["results"]]
    assert listed.index(second["id"]) < listed.index(first["id"])


def test_predictions_list_filters_by_creation_time(hub, hello):
    first = create(hub, {"version": hello, "input": {}})
    second = create(hub, {"version": hello, "input": {}})
    after = hub.get("/v1/predictions", params={"created_after": first["created_at"]}).json()
    assert [p["id"] for p in after["results"]] == [second["id"]]
    before = hub.get("/v1/predictions", params={"created_before": second["created_at"]}).json()
    assert second["id"] not in [p["id"] for p in before["results"]]
    assert first["id"] in [p["id"] for p in before["results"]]


def test_invalid_input_is_a_422_problem_with_cogs_entries(hub, hello):
    body = problem(hub.post("/v1/predictions", json={"version": hello,
                                                      "input": {"text": 3}}), 422)
    assert "text" in body["detail"]
    assert body["errors"] == [{"loc": ["body", "input", "text"],
                               "msg": '3 is not of type "string"', "type": "value_error"}]


def test_bad_requests_say_what_to_fix(hub, hello):
    problem(hub.post("/v1/predictions", json={"input": {}}), 400)
    problem(hub.post("/v1/predictions", json={"version": hello}), 400)
    problem(hub.post("/v1/predictions", json={"version": "0" * 64, "input": {}}), 404)
    problem(hub.post("/v1/predictions", json={"version": "alice/none", "input": {}}), 404)
    problem(hub.post("/v1/predictions", json={"version": hello, "input": {},
                                               "webhook_events_filter": ["nope"]}), 400)
    problem(hub.post("/v1/predictions", json={"version": hello, "input": {},
                                               "webhook": "ftp://x"}), 400)
    problem(hub.post("/v1/predictions", account="bob", json={"version": hello, "input": {}}), 404)


def test_cancel_after_sets_a_deadline(hub, hello):
    import datetime
    for value, seconds in (("90", 90), ("5m", 300), ("1h30m45s", 5445)):
        prediction = create(hub, {"version": hello, "input": {}},
                            headers={"Cancel-After": value})
        parse = lambda text: datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
        delta = parse(prediction["deadline"]) - parse(prediction["created_at"])
        assert abs(delta.total_seconds() - seconds) < 0.01
    for value in ("3s", "soon", "5x"):
        problem(hub.post("/v1/predictions", json={"version": hello, "input": {}},
                         headers={"Cancel-After": value}), 400)
    assert "deadline" not in create(hub, {"version": hello, "input": {}})


def test_other_accounts_cannot_see_predictions(hub, hello):
    prediction = create(hub, {"version": hello, "input": {}})
    problem(hub.get("/v1/predictions/" + prediction["id"], account="bob"), 404)
    assert prediction["id"] not in [p["id"] for p in
                                    hub.get("/v1/predictions", account="bob").json()["results"]]


def test_run_count_grows_with_each_prediction(hub, hello):
    before = hub.get("/v1/models/alice/hello").json()["run_count"]
    create(hub, {"version": hello, "input": {}})
    assert hub.get("/v1/models/alice/hello").json()["run_count"] == before + 1


def test_deployment_predictions_name_the_deployment(hub, hello):
    hub.post("/v1/deployments", json={"name": "greeter", "model": "alice/hello",
                                      "version": hello, "hardware": "cpu",
                                      "min_instances": 0, "max_instances": 1})
    prediction = create(hub, {"input": {"text": "x"}}, "/v1/deployments/alice/greeter/predictions")
    assert prediction["deployment"] == "alice/greeter"
    problem(hub.post("/v1/deployments/alice/none/predictions", json={"input": {}}), 404)


def test_trainings_need_an_existing_destination(hub, hello):
    problem(hub.post("/v1/models/alice/hello/versions/%s/trainings" % hello,
                     json={"destination": "alice/nowhere", "input": {}}), 404)
    problem(hub.post("/v1/models/alice/hello/versions/%s/trainings" % hello,
                     json={"input": {}}), 400)
    assert hub.get("/v1/trainings").json()["results"] == []


# --- finished predictions: a model whose predictor always raises -------------------------

@pytest.fixture(scope="module")
def raises(hub):
    return hub.push(None, "alice/raises", cwd=os.path.join(ROOT, "tests", "fixtures", "hub_raises"))


@pytest.fixture
def finished(hub, raises):
    """Makes a prediction that runs and fails, and returns its final object."""
    def make(**extra):
        prediction = create(hub, dict({"version": raises, "input": {"text": "x"}}, **extra))
        final = wait_done(hub, prediction["id"])
        assert final["status"] == "failed"
        assert final["error"].endswith("ValueError: this model always fails: x")
        return final
    return make


def test_a_failed_prediction_keeps_its_traceback_in_logs(finished):
    """Where Replicate shows it: the Python traceback ends the failed prediction's logs."""
    logs = finished()["logs"]
    assert "Traceback (most recent call last):" in logs
    assert 'raise ValueError("this model always fails: " + text)' in logs
    assert logs.rstrip().endswith("ValueError: this model always fails: x")


def test_a_finished_stream_replays_error_and_done(hub, hello, finished):
    prediction = finished()
    response = requests.get(prediction["urls"]["stream"], timeout=10,
                            headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    events = sse_events(response.text)
    kinds = [e[0] for e in events]
    # Logs first (the instance's cold boot note), then the error and the end.
    assert kinds[-2:] == ["error", "done"] and set(kinds[:-2]) <= {"logs"}, kinds
    assert all(e[1] for e in events)
    assert json.loads(events[-2][2])["detail"] == prediction["error"]
    assert json.loads(events[-1][2]) == {"reason": "error"}
    problem(requests.get(prediction["urls"]["stream"][:-4] + "0000", timeout=10), 404)


def test_cancel_of_a_finished_prediction_changes_nothing(hub, hello, finished):
    prediction = finished()
    response = hub.post("/v1/predictions/%s/cancel" % prediction["id"])
    assert response.status_code == 200
    assert response.json() == hub.get("/v1/predictions/" + prediction["id"]).json()
    problem(hub.post("/v1/predictions/%s/cancel" % prediction["id"], account="bob"), 404)


def test_completed_webhook_is_signed_standard_webhooks_style(hub, hello, finished):
    receiver = WebhookReceiver()
    try:
        prediction = finished(webhook=receiver.url,
                              webhook_events_filter=["completed"])
        headers, body = receiver.wait(1)[0]
        assert json.loads(body)["id"] == prediction["id"]
        assert json.loads(body)["status"] == "failed"
        secret = hub.get("/v1/webhooks/default/secret").json()["key"]
        key = base64.b64decode(secret.split("_")[1])
        signed = "%s.%s.%s" % (headers["webhook-id"], headers["webhook-timestamp"],
                               body.decode())
        expected = base64.b64encode(hmac.new(key, signed.encode(), hashlib.sha256).digest())
        assert headers["webhook-signature"] == "v1," + expected.decode()
        assert headers["webhook-id"].startswith("msg_")
    finally:
        receiver.close()


def test_completed_webhook_retries_with_the_same_id(hub, hello, finished):
    receiver = WebhookReceiver(status=500)
    try:
        finished(webhook=receiver.url, webhook_events_filter=["completed"])
        calls = receiver.wait(2, timeout=5)
        assert calls[0][0]["webhook-id"] == calls[1][0]["webhook-id"]
    finally:
        receiver.close()


def test_prefer_wait_on_a_finished_prediction_answers_at_once(hub, hello):
    response = hub.post("/v1/predictions", json={"version": hello, "input": {}},
                        headers={"Prefer": "wait=5"})
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait=5"
    assert response.headers["Location"] == response.json()["urls"]["get"]


# --- durability -------------------------------------------------------------------------------

def test_running_predictions_fail_after_a_restart(tmp_path):
    server = Hub(tmp_path / "data").start()
    try:
        version = server.push(None, "alice/hello", cwd=GREETER)
        prediction = create(server, {"version": version, "input": {}})
    finally:
        server.stop()
    database = sqlite3.connect(os.path.join(str(tmp_path / "data"), "hub.db"))
    row = json.loads(database.execute("SELECT doc FROM predictions WHERE id=?",
                                      (prediction["id"],)).fetchone()[0])
    row.update(status="processing", dispatched=True, completed_at=None, error=None)
    database.execute("UPDATE predictions SET doc=?, status='processing' WHERE id=?",
                     (json.dumps(row), prediction["id"]))
    database.commit()
    database.close()
    server.start()
    try:
        again = server.get("/v1/predictions/" + prediction["id"]).json()
        assert again["status"] == "failed"
        assert again["error"] == "the hub restarted while the prediction was running"
        assert again["completed_at"] is not None
        assert server.get("/v1/models/alice/hello").json()["latest_version"]["id"] == version
    finally:
        server.stop()


def test_own_file_urls_in_inputs_are_rewritten_for_instances(hub, hello):
    file = hub.post("/v1/files", files={"content": ("in.txt", b"input bytes")}).json()
    prediction = create(hub, {"version": hello, "input": {"text": file["urls"]["get"]}})
    assert prediction["input"] == {"text": file["urls"]["get"]}  # as the client sent it
    database = sqlite3.connect(os.path.join(hub.data, "hub.db"))
    row = json.loads(database.execute("SELECT doc FROM predictions WHERE id=?",
                                      (prediction["id"],)).fetchone()[0])
    database.close()
    sent = row["request"]["input"]["text"]
    # Instances fetch it from the internal listener, the only origin they are given; the
    # file's name ends the path, since model servers name the download after it.
    assert sent.startswith(hub.internal_url + "/internal/files/%s/download/in.txt?" % file["id"])
    download = requests.get(sent, timeout=10)
    assert download.status_code == 200 and download.content == b"input bytes"
    # The name is outside the signature: without it (URLs made before it was added) the
    # same signature still downloads.
    unnamed = requests.get(sent.replace("/download/in.txt?", "/download?"), timeout=10)
    assert unnamed.status_code == 200 and unnamed.content == b"input bytes"
    problem(requests.get(re.sub(r"signature=[^&]+", "signature=AAAA", sent), timeout=10), 403)
    problem(requests.get(re.sub(r"expiry=\d+", "expiry=1", sent), timeout=10), 403)


def test_pending_completed_webhooks_resume_after_a_restart(tmp_path):
    receiver = WebhookReceiver(status=500)
    server = Hub(tmp_path / "data").start()
    try:
        version = server.push(None, "alice/raises",
                              cwd=os.path.join(ROOT, "tests", "fixtures", "hub_raises"))
        prediction = server.post("/v1/predictions", json={
            "version": version, "input": {}, "webhook": receiver.url,
            "webhook_events_filter": ["completed"]}).json()
        first = receiver.wait(1)[0]
        server.stop()
        receiver.status = 200
        count = len(receiver.calls)
        server.start()
        calls = receiver.wait(count + 1, timeout=5)
        assert calls[-1][0]["webhook-id"] == first[0]["webhook-id"]
        assert json.loads(calls[-1][1])["id"] == prediction["id"]
    finally:
        server.stop()
        receiver.close()


def test_streams_rebuilt_from_rows_split_lines_and_end_with_done(tmp_path):
    server = Hub(tmp_path / "data").start()
    try:
        version = server.push(None, "alice/hello", cwd=GREETER)
        prediction = create(server, {"version": version, "input": {}})
    finally:
        server.stop()
    database = sqlite3.connect(os.path.join(str(tmp_path / "data"), "hub.db"))
    row = json.loads(database.execute("SELECT doc FROM predictions WHERE id=?",
                                      (prediction["id"],)).fetchone()[0])
    row.update(status="succeeded", error=None, logs="step 1\nstep 2\n",
               output=["one\ntwo", "three"])
    database.execute("UPDATE predictions SET doc=?, status='succeeded' WHERE id=?",
                     (json.dumps(row), prediction["id"]))
    database.commit()
    database.close()
    server.start()
    stream = server.url + "/v1/streams/" + prediction["urls"]["stream"].split("/")[-1]
    try:
        response = requests.get(stream, timeout=10)
        # Its own ids (row-N): a Last-Event-ID of the live stream is told apart.
        assert response.text.startswith(
            "id: row-1\nevent: logs\ndata: step 1\ndata: step 2\ndata: \n\n")
        events = sse_events(response.text)
        assert events == [("logs", "row-1", "step 1\nstep 2\n"),
                          ("output", "row-2", "one\ntwo"), ("output", "row-3", "three"),
                          ("done", "row-4", "{}")]
        replay = requests.get(stream, timeout=10, headers={"Last-Event-ID": "row-2"})
        assert [e[1] for e in sse_events(replay.text)] == ["row-3", "row-4"]
    finally:
        server.stop()


# --- end to end (needs the scheduler) ----------------------------------------------------------

def test_hello_runs_with_prefer_wait(hub, hello):
    response = hub.post("/v1/predictions", json={"version": hello, "input": {"text": "you"}},
                        headers={"Prefer": "wait"})
    prediction = response.json()
    assert response.headers["Preference-Applied"] == "wait"
    if prediction["status"] == "starting":  # a cold boot longer than the hold
        prediction = wait_done(hub, prediction["id"])
    assert prediction["status"] == "succeeded"
    assert prediction["output"] == ["hello ", "there, ", "you"]
    assert prediction["metrics"]["predict_time"] >= 0
    assert prediction["metrics"]["total_time"] >= prediction["metrics"]["predict_time"]
    for key in ("created_at", "started_at", "completed_at"):  # one form: RFC 3339 UTC with Z
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", prediction[key]), prediction[key]
    model = hub.get("/v1/models/alice/hello").json()
    assert model["default_example"]["status"] == "succeeded"
    assert hub.get("/v1/models/alice/hello/examples").json()["results"][0]["id"] == \
        model["default_example"]["id"]


def test_an_uploaded_input_reaches_the_model_under_its_name(hub):
    """Replicate's Python client uploads an open file to /v1/files (multipart `content`,
    the file's basename as filename) and sends the file's `urls.get` as the input; the
    predictor must get a file with that name's extension, as it does on Replicate."""
    version = hub.push(None, "alice/path-input",
                       cwd=os.path.join(ROOT, "tests", "fixtures", "cli_path_input"))
    # Names a URL segment must escape, and ones it cannot carry whole: a '/', and 6000
    # bytes (the route's bound on a segment is 4096), which are cut keeping the extension.
    for name, suffix in (("in.txt", ".txt"), ("my notes #1.md", ".md"), ("a/b.csv", ".csv"),
                         ("\u00e9" * 3000 + ".txt", ".txt"), ("..", "")):
        file = hub.post("/v1/files", files={"content": (name, b"from python\n", "text/plain")})
        assert file.status_code == 201, file.text
        response = hub.post("/v1/predictions", headers={"Prefer": "wait"},
                            json={"version": version,
                                  "input": {"source": file.json()["urls"]["get"]}})
        assert response.status_code == 201, response.text
        prediction = response.json()
        if prediction["status"] not in ("succeeded", "failed"):  # a cold boot past the hold
            prediction = wait_done(hub, prediction["id"])
        assert prediction["status"] == "succeeded", prediction["logs"]
        assert prediction["output"] == "Path %s from python" % suffix


def wait_done(hub, prediction_id, timeout=60):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = hub.get("/v1/predictions/" + prediction_id).json()
        if prediction["status"] in ("succeeded", "failed", "canceled"):
            return prediction
        time.sleep(0.1)
    raise AssertionError("prediction did not finish")


def test_hello_streams_its_tokens(hub, hello):
    prediction = create(hub, {"version": hello, "input": {"text": "stream"}})
    response = requests.get(prediction["urls"]["stream"], timeout=60,
                            headers={"Accept": "text/event-stream"})
    events = sse_events(response.text)
    outputs = [e[2] for e in events if e[0] == "output"]
    assert "".join(outputs) == "hello there, stream"
    assert events[-1][0] == "done" and json.loads(events[-1][2]) == {}
    ids = [int(e[1]) for e in events]
    assert ids == sorted(ids)
    replay = requests.get(prediction["urls"]["stream"], timeout=10,
                          headers={"Last-Event-ID": str(ids[0])})
    assert len(sse_events(replay.text)) == len(events) - 1


def test_webhooks_report_start_and_completed(hub, hello):
    receiver = WebhookReceiver()
    try:
        prediction = create(hub, {"version": hello, "input": {"text": "w"},
                                  "webhook": receiver.url,
                                  "webhook_events_filter": ["start", "completed"]})
        calls = receiver.wait(2, timeout=60)
        final = json.loads(calls[-1][1])
        assert final["id"] == prediction["id"] and final["status"] == "succeeded"
    finally:
        receiver.close()


def test_cancel_answers_the_terminal_object(hub, hello):
    prediction = create(hub, {"version": hello, "input": {}})
    canceled = hub.post("/v1/predictions/%s/cancel" % prediction["id"]).json()
    assert canceled["status"] in ("canceled", "succeeded")
    assert canceled["completed_at"] is not None


def test_a_training_publishes_its_weights_as_a_new_version(hub):
    from hub_harness import ROOT
    trainer = hub.push(None, "alice/trainer",
                       cwd=os.path.join(ROOT, "tests", "fixtures", "cli_train"))
    hub.post("/v1/models", json={"owner": "alice", "name": "trained", "visibility": "private"})
    response = hub.post("/v1/models/alice/trainer/versions/%s/trainings" % trainer,
                        json={"destination": "alice/trained", "input": {"epochs": 3}})
    assert response.status_code == 201, response.text
    training = response.json()
    assert training["urls"]["get"].endswith("/v1/trainings/" + training["id"])
    import time
    deadline = time.monotonic() + 60
    while training["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
        training = hub.get("/v1/trainings/" + training["id"]).json()
    assert training["status"] == "succeeded", training["error"]
    assert training["output"]["version"].startswith("alice/trained:")  # Replicate's form
    new_version = training["output"]["version"].split(":", 1)[1]
    assert hub.get("/v1/models/alice/trained").json()["latest_version"]["id"] == new_version
    bundle = os.path.join(hub.data, "bundles", new_version)
    assert open(os.path.join(bundle, "weights")).read() == "www"
    assert [t["id"] for t in hub.get("/v1/trainings").json()["results"]] == [training["id"]]


def test_a_trained_version_predicts_with_the_trained_weights(hub):
    """train -> a new version of the destination -> a prediction on it uses the weights;
    the training's output is {"version": "owner/name:id", "weights": URL}."""
    from hub_harness import ROOT
    import time
    trainer = hub.push(None, "alice/learner", cwd=os.path.join(ROOT, "tests", "fixtures", "hub_trainer"))
    hub.post("/v1/models", json={"owner": "alice", "name": "learned", "visibility": "private"})
    training = hub.post("/v1/models/alice/learner/versions/%s/trainings" % trainer,
                        json={"destination": "alice/learned", "input": {"word": "parrot", "times": 3}}).json()
    deadline = time.monotonic() + 90
    while training["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
        training = hub.get("/v1/trainings/" + training["id"]).json()
    assert training["status"] == "succeeded", training["error"]
    output = training["output"]
    assert sorted(output) == ["version", "weights"]
    owner_name, version = output["version"].split(":")
    assert owner_name == "alice/learned" and len(version) == 64
    assert hub.get(output["weights"]).content == b"parrot parrot parrot"
    prediction = hub.post("/v1/predictions", json={"version": output["version"], "input": {}},
                          headers={"Prefer": "wait=60"}).json()
    assert (prediction["status"], prediction["output"]) == ("succeeded", "says parrot parrot parrot")


def test_the_hubs_own_messages_stay_out_of_the_models_logs(hub):
    """A cold boot's "starting an instance" goes to the hub's log, not into the model's
    `logs` (which hold only what the model printed, as on Replicate)."""
    from hub_harness import ROOT
    version = hub.push(None, "alice/logger", cwd=os.path.join(ROOT, "tests", "fixtures", "cli_logs"))
    prediction = hub.post("/v1/predictions", json={"version": version, "input": {}},
                          headers={"Prefer": "wait=60"}).json()
    assert prediction["status"] == "succeeded", prediction
    assert prediction["logs"] == "to stdout x\nto stderr\n"
    log = hub.read_log()
    assert "hub: prediction %s: starting an instance" % prediction["id"] in log
    assert "hub: prediction %s: started an instance in " % prediction["id"] in log


def test_the_owner_makes_any_succeeded_prediction_the_default_example(hub, hello):
    """Issue #14 item 5: PATCH default_example picks the example (its output is the
    model's cover on the pages); only a succeeded prediction of the same model will do."""
    ran = []
    for text in ("first", "second"):
        prediction = hub.post("/v1/predictions", json={"version": hello, "input": {"text": text}},
                              headers={"Prefer": "wait"}).json()
        prediction = wait_done(hub, prediction["id"]) if prediction["status"] == "starting" else prediction
        assert prediction["status"] == "succeeded", prediction
        ran.append(prediction["id"])
    patched = hub.request("PATCH", "/v1/models/alice/hello", json={"default_example": ran[1]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["default_example"]["id"] == ran[1]
    assert patched.json()["default_example"]["output"] == ["hello ", "there, ", "second"]
    assert hub.get("/v1/models/alice/hello/examples").json()["results"][0]["id"] == ran[1]
    body = problem(hub.request("PATCH", "/v1/models/alice/hello", json={"default_example": "nope"}), 422)
    assert "there is no prediction nope" in body["detail"]
    hub.push(None, "alice/other", cwd=GREETER)
    body = problem(hub.request("PATCH", "/v1/models/alice/other", json={"default_example": ran[0]}), 422)
    assert "is a succeeded prediction of alice/hello" in body["detail"]
    problem(hub.request("PATCH", "/v1/models/alice/hello", account="bob", json={"default_example": ran[0]}), 404)
    assert hub.get("/v1/models/alice/hello").json()["default_example"]["id"] == ran[1]
    cleared = hub.request("PATCH", "/v1/models/alice/hello", json={"default_example": None})
    assert cleared.json()["default_example"] is None
