"""`pinion director` against a real redis-server and real `pinion serve` model servers: a
hub that only queues (--queue-consumers directors), two directors each beside its own
`pinion serve` of a fixture, all on 127.0.0.1. Predictions run through the directors
with correct outputs and one `completed` webhook each; a director killed with -9
mid-prediction loses its predictions to the other after the (short) lease, and they
finish once; a cancel through the hub's API reaches the director, which stops the
model's prediction; output files reach the hub through the director; the internal API
takes a director's credential and nothing else, and /v1 refuses it."""
import collections
import hashlib
import io
import json
import os
import random
import re
import signal
import subprocess
import tarfile
import time

import pytest
import requests

import redis_harness
from director_harness import LEASE, TIMEOUT, Director, director_credential, wait_for
from hub_harness import PINION, ROOT, Hub, WebhookReceiver, env, pinion, problem

pytestmark = pytest.mark.skipif(not redis_harness.available(),
                                reason="redis-server is not installed (scripts/install-deps)")

SLOW = os.path.join(ROOT, "tests", "fixtures", "hub_slow")
BATCH_MODEL = os.path.join(ROOT, "tests", "fixtures", "batch_model")
TERMINAL = ("succeeded", "failed", "canceled")


@pytest.fixture(scope="module")
def redis():
    server = redis_harness.Redis().start()
    yield server
    server.close()


@pytest.fixture
def cluster(tmp_path, redis):
    """A hub that only queues, a director credential, the slow fixture pushed, and two
    directors beside their own model servers."""
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    directors = []
    receiver = WebhookReceiver()
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        _, credential_file = director_credential(hub, tmp_path)
        for name in ("a", "b"):
            directors.append(Director(str(tmp_path / name), hub, queue, credential_file,
                                      "hub_slow", ["--version", "alice/slow:" + version]))
        yield hub, directors, receiver, version, queue
    finally:
        for director in directors:
            director.stop()
        hub.stop()
        receiver.close()


def create(hub, version, seconds, receiver, n=0):
    response = hub.post("/v1/predictions", json={
        "version": version, "input": {"n": n, "seconds": seconds}, "webhook": receiver.url,
        "webhook_events_filter": ["completed"]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait_terminal(hub, ids, timeout):
    deadline = time.monotonic() + timeout
    while True:
        rows = {i: hub.get("/v1/predictions/" + i).json() for i in ids}
        if all(row["status"] in TERMINAL for row in rows.values()):
            return rows
        assert time.monotonic() < deadline, {i: row["status"] for i, row in rows.items()}
        time.sleep(0.1)


def completed_deliveries(calls):
    delivered = collections.defaultdict(list)
    for _, body in calls:
        prediction = json.loads(body)
        if prediction["status"] in TERMINAL:
            delivered[prediction["id"]].append(prediction["status"])
    return delivered


def test_predictions_run_through_two_directors_once_each(cluster):
    hub, (a, b), receiver, version, _ = cluster
    ids = [create(hub, version, 0.2, receiver, n) for n in range(20)]
    rows = wait_terminal(hub, ids, 60)
    assert [rows[i]["status"] for i in ids] == ["succeeded"] * 20, rows
    assert [rows[i]["output"] for i in ids] == list(range(20))
    # Each ran on one director, both took part, and the hub ran nothing itself.
    ran = [(a.took(i), b.took(i)) for i in ids]
    assert all(on_a != on_b for on_a, on_b in ran), ran
    assert any(on_a for on_a, _ in ran) and any(on_b for _, on_b in ran), ran
    assert "starting an instance" not in hub.read_log()
    receiver.wait(20, timeout=20)
    time.sleep(1.0)  # a duplicate would be on its way by now
    delivered = completed_deliveries(receiver.calls)
    assert sorted(delivered) == sorted(ids)
    assert all(statuses == ["succeeded"] for statuses in delivered.values()), delivered
    assert len(receiver.calls) == 20
    # The model's timing reached the hub.
    assert all(rows[i]["metrics"]["predict_time"] >= 0.2 for i in ids), rows
    # Counted on the directors' /metrics.
    metrics = "".join(requests.get(d.url + "/metrics", timeout=TIMEOUT).text for d in (a, b))
    succeeded = re.findall(r'pinion_predictions_total\{status="succeeded"\} (\d+)', metrics)
    assert sum(int(n) for n in succeeded) == 20, metrics
    taken = re.findall(r'pinion_director_taken_total (\d+)', metrics)
    assert sum(int(n) for n in taken) == 20, metrics
    for director in (a, b):
        text = requests.get(director.url + "/metrics", timeout=TIMEOUT).text
        assert "pinion_slots 1\n" in text and "pinion_slots_in_use 0\n" in text, text
        check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=TIMEOUT)
        assert check.returncode == 0, check.stdout + check.stderr


def test_a_killed_directors_predictions_finish_on_the_other_once(cluster):
    hub, (a, b), receiver, version, _ = cluster
    ids = [create(hub, version, 2, receiver, n) for n in range(4)]
    wait_for(lambda: any(b.took(i) for i in ids), 30, lambda: "b took nothing:\n" + b.read_log())
    held = next(i for i in ids if b.took(i))
    wait_for(lambda: hub.get("/v1/predictions/" + held).json()["status"] == "processing", 30,
             "b did not start " + held)
    b.kill()
    b.serve.stop()  # the model server's webhooks have nowhere to go now
    rows = wait_terminal(hub, ids, 40)
    assert [rows[i]["status"] for i in ids] == ["succeeded"] * 4, rows
    assert [rows[i]["output"] for i in ids] == [0, 1, 2, 3]
    assert "took over prediction %s" % held in a.read_log(), a.read_log()
    receiver.wait(4, timeout=20)
    time.sleep(1.5)
    delivered = completed_deliveries(receiver.calls)
    assert sorted(delivered) == sorted(ids), delivered  # 0 lost
    assert all(statuses == ["succeeded"] for statuses in delivered.values()), delivered  # once
    assert len(receiver.calls) == 4


def xreadgroup_calls(redis):
    stats = redis.command("INFO", "commandstats")
    found = re.search(r"cmdstat_xreadgroup:calls=(\d+)", stats)
    return int(found.group(1)) if found else 0


def test_directors_read_when_told_and_poll_only_as_a_safety_net(cluster, redis):
    """Taking is event-driven: a PUBLISH on pinion:pushed:<db> beside each XADD wakes the
    consumers that take (the directors, not the push-only hub), and an idle consumer
    reads once a second only in case a notice was lost. Counted, not timed: the server's
    XREADGROUP calls over a quiet stretch (polling every 20 ms made ~150 a director)."""
    hub, _, receiver, version, queue = cluster
    number = int(queue.rsplit("/", 1)[1])
    ids = [create(hub, version, 0, receiver, n) for n in range(4)]
    assert [row["status"] for row in wait_terminal(hub, ids, 30).values()] == ["succeeded"] * 4
    subscribed = redis.command("PUBSUB", "NUMSUB", "pinion:pushed:%d" % number).split("\n")
    assert subscribed == ["pinion:pushed:%d" % number, "2"], subscribed
    before = xreadgroup_calls(redis)
    time.sleep(3)
    reads = xreadgroup_calls(redis) - before
    assert reads <= 2 * (3 + 2), "%d reads by two idle directors in 3 s" % reads
    # A message pushed without a notice (here: written by hand, and not pinion's) is read
    # by the safety poll all the same, and dropped so that it cannot block the stream.
    entry = redis.command("XADD", "pinion:queue:" + version, "*", "stray", "1",
                          database=number)
    wait_for(lambda: any("the entry %s of pinion:queue:%s has no prediction id" % (entry, version)
                         in d.read_log() for d in cluster[1]), 10,
             "no director read the entry written without a notice")
    wait_for(lambda: redis.command("XPENDING", "pinion:queue:" + version, "pinion",
                                   database=number).split("\n")[0] == "0",
             10, "the stray entry stayed pending")


def test_a_cancel_on_the_hub_stops_the_prediction_on_the_director(cluster, redis):
    hub, directors, receiver, version, queue = cluster
    prediction = create(hub, version, 30, receiver)
    wait_for(lambda: hub.get("/v1/predictions/" + prediction).json()["status"] == "processing",
             30, "nothing started " + prediction)
    director = next(d for d in directors if d.took(prediction))
    assert director.health()["running"] == 1
    canceled = hub.post("/v1/predictions/%s/cancel" % prediction)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    # The director heard it and had the model server cancel: its slot is free long before
    # the 30 s the prediction would have taken (it counts until the model's terminal
    # webhook).
    wait_for(lambda: director.health()["running"] == 0, 10,
             lambda: "the model did not stop:\n" + director.read_log())
    assert "prediction %s was concluded by the hub (canceled)" % prediction in director.read_log()
    number = int(queue.rsplit("/", 1)[1])
    wait_for(lambda: redis.command("XLEN", "pinion:queue:" + version, database=number) == "0",
             10, "the message stayed in the stream")
    receiver.wait(1, timeout=10)
    time.sleep(1.0)
    assert completed_deliveries(receiver.calls) == {prediction: ["canceled"]}
    assert hub.get("/v1/predictions/" + prediction).json()["status"] == "canceled"
    # The freed slot takes the next prediction at once.
    after = create(hub, version, 0.05, receiver, 7)
    assert wait_terminal(hub, [after], 20)[after]["output"] == 7


def test_the_internal_api_takes_a_directors_credential_and_nothing_else(cluster):
    hub, _, _, version, _ = cluster
    report = hub.internal_url + "/internal/director/predictions/nope"
    user = requests.post(report, json={"event": "started"}, timeout=TIMEOUT,
                         headers={"Authorization": "Bearer " + hub.token("alice")})
    assert "director's credential" in problem(user, 401)["detail"]
    assert problem(requests.post(report, json={"event": "started"}, timeout=TIMEOUT), 401)
    credential, _ = director_credential(hub, hub.data + "-extra", name="extra")
    answer = requests.post(report, json={"event": "started"}, timeout=TIMEOUT,
                           headers={"Authorization": "Bearer " + credential})
    assert "no prediction nope" in problem(answer, 404)["detail"]
    bad = requests.post(report, json={"event": "finished"}, timeout=TIMEOUT,
                        headers={"Authorization": "Bearer " + credential})
    assert "A director's report is" in problem(bad, 400)["detail"]
    # The director's credential is refused on the API and on the pages' sign-in.
    api = hub.get("/v1/account", headers={"Authorization": "Bearer " + credential})
    assert "internal API only" in problem(api, 401)["detail"]
    sign_in = requests.post(hub.url + "/login", data={"token": credential, "next": "/"},
                            timeout=TIMEOUT, allow_redirects=False)
    assert sign_in.status_code == 401 and "Set-Cookie" not in sign_in.headers
    # Listed as a director's, and revoked at once.
    listed = pinion("hub", "token", "list", "--data", hub.data).stdout.splitlines()
    row = next(line for line in listed if " extra " in line).split()
    assert row[1] == "(director)", row
    assert pinion("hub", "token", "revoke", row[0], "--data", hub.data).returncode == 0
    revoked = requests.post(report, json={"event": "started"}, timeout=TIMEOUT,
                            headers={"Authorization": "Bearer " + credential})
    assert problem(revoked, 401)
    # The cluster's own directors keep working.
    prediction = create(hub, version, 0.05, WebhookReceiver(), 3)
    assert wait_terminal(hub, [prediction], 20)[prediction]["output"] == 3


def test_output_files_reach_the_hub_through_the_director(tmp_path, redis):
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    director = None
    try:
        version = hub.push(None, "alice/files", cwd=os.path.join(ROOT, "tests", "fixtures",
                                                                 "hub_files"))
        _, credential_file = director_credential(hub, tmp_path)
        director = Director(str(tmp_path / "d"), hub, queue, credential_file, "hub_files",
                            ["--version", "alice/files:" + version])
        created = hub.post("/v1/predictions", json={"version": version, "input": {"kind": "png"}})
        assert created.status_code == 201, created.text
        row = wait_terminal(hub, [created.json()["id"]], 30)[created.json()["id"]]
        assert row["status"] == "succeeded", row
        assert row["output"].startswith(hub.url + "/v1/outputs/"), row["output"]
        assert row["output"].endswith("/out.png")
        download = requests.get(row["output"], timeout=TIMEOUT)
        assert download.status_code == 200
        assert download.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert download.headers["Content-Type"] == "image/png"
    finally:
        if director:
            director.stop()
        hub.stop()


def test_sigterm_lets_the_running_prediction_finish_then_exits(tmp_path, redis):
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    director = None
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        _, credential_file = director_credential(hub, tmp_path)
        director = Director(str(tmp_path / "d"), hub, queue, credential_file, "hub_slow",
                            ["--version", version])
        first = hub.post("/v1/predictions", json={"version": version,
                                                  "input": {"n": 1, "seconds": 1.5}}).json()["id"]
        second = hub.post("/v1/predictions", json={"version": version,
                                                   "input": {"n": 2}}).json()["id"]
        wait_for(lambda: hub.get("/v1/predictions/" + first).json()["status"] == "processing",
                 30, "nothing started")
        director.process.send_signal(signal.SIGTERM)
        assert director.process.wait(timeout=TIMEOUT) == 0
        rows = {i: hub.get("/v1/predictions/" + i).json() for i in (first, second)}
        assert rows[first]["status"] == "succeeded" and rows[first]["output"] == 1, rows
        # The second was never taken: it waits in the queue for the next director.
        assert rows[second]["status"] == "starting", rows
        assert "draining" in director.read_log()
        assert not director.took(second)
    finally:
        if director:
            director.stop()
        hub.stop()


def test_bad_director_flags_say_what_to_do(tmp_path):
    credential = tmp_path / "credential"
    credential.write_text("r8_notadirector\n")
    base = ["director", "--hub", "http://127.0.0.1:1", "--queue", "redis://127.0.0.1:1/0",
            "--model-url", "http://127.0.0.1:1", "--credential", str(credential)]
    api_token = pinion(*base, "--version", "x/y:abc")
    assert api_token.returncode == 2
    assert "does not hold a director's credential" in api_token.stderr
    credential.write_text("pnd_x\n")
    neither = pinion(*base)
    assert neither.returncode == 2 and "--version OWNER/NAME:ID or --deployment" in neither.stderr
    both = pinion(*base, "--version", "x/y:abc", "--deployment", "x/y")
    assert both.returncode == 2
    bad_deployment = pinion(*base, "--deployment", "xy")
    assert "--deployment takes OWNER/NAME" in bad_deployment.stderr
    missing = pinion("director", "--queue", "redis://h")
    assert missing.returncode == 2 and "--hub URL" in missing.stderr
    embedded = pinion("hub", "--listen", "127.0.0.1:0", "--data", str(tmp_path / "data"),
                      "--queue-consumers", "directors")
    assert embedded.returncode == 1 and "give --queue redis://" in embedded.stderr
    wrong = pinion("hub", "--queue-consumers", "nobody")
    assert wrong.returncode == 2 and "takes hub or directors" in wrong.stderr


def test_a_revoked_credential_acknowledges_nothing_and_loses_nothing(cluster, redis, tmp_path):
    hub, (a, b), receiver, version, queue = cluster
    b.kill()  # one director, so that the prediction goes to a
    listed = pinion("hub", "token", "list", "--data", hub.data).stdout.splitlines()
    token_id = next(line for line in listed if " director " in line).split()[0]
    assert pinion("hub", "token", "revoke", token_id, "--data", hub.data).returncode == 0
    prediction = create(hub, version, 0.2, receiver, 5)
    wait_for(lambda: "HTTP 401" in a.read_log(), 20, lambda: a.read_log())
    time.sleep(1.0)
    # Refused: the hub stored nothing, and the message stays pending, renewed by a.
    assert hub.get("/v1/predictions/" + prediction).json()["status"] == "starting"
    number = int(queue.rsplit("/", 1)[1])
    pending = redis.command("XPENDING", "pinion:queue:" + version, "pinion", database=number)
    assert pending.split("\n")[0] == "1", pending
    # A director with a good credential takes it over once a is gone, and finishes it once.
    _, good = director_credential(hub, tmp_path / "good", name="good")
    c = Director(str(tmp_path / "c"), hub, queue, good, "hub_slow", ["--version", version])
    try:
        a.kill()
        row = wait_terminal(hub, [prediction], 30)[prediction]
        assert row["status"] == "succeeded" and row["output"] == 5, row
        assert "took over prediction %s" % prediction in c.read_log()
        receiver.wait(1, timeout=10)
        time.sleep(1.0)
        assert completed_deliveries(receiver.calls) == {prediction: ["succeeded"]}
    finally:
        c.stop()


def test_a_deployments_predictions_go_to_its_director(tmp_path, redis):
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    director = None
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        created = hub.post("/v1/deployments", json={
            "name": "slowly", "model": "alice/slow", "version": version, "hardware": "cpu",
            "min_instances": 0, "max_instances": 3})
        assert created.status_code == 200, created.text
        _, credential_file = director_credential(hub, tmp_path)
        director = Director(str(tmp_path / "d"), hub, queue, credential_file, "hub_slow",
                            ["--deployment", "alice/slowly"])
        ids = [hub.post("/v1/deployments/alice/slowly/predictions",
                        json={"input": {"n": n, "seconds": 0.3}}).json()["id"] for n in range(3)]
        # One slot: the director holds one at a time, whatever max_instances says.
        wait_for(lambda: director.took(ids[0]) or director.took(ids[1]) or director.took(ids[2]),
                 20, "the director took nothing")
        assert director.health()["running"] + director.health()["waiting"] <= 1
        rows = wait_terminal(hub, ids, 30)
        assert [rows[i]["output"] for i in ids] == [0, 1, 2], rows
        assert all(rows[i]["deployment"] == "alice/slowly" for i in ids)
        assert "taking deployment:alice/slowly with 1 slot" in director.read_log()
    finally:
        if director:
            director.stop()
        hub.stop()


def test_a_report_under_a_lease_taken_over_is_refused(tmp_path, redis):
    """The hub applies a director's report only while the lease it carries holds the
    prediction's message: one cut off past its lease, whose message another director took
    over, cannot store its late result. The consumers here are the test's own (XREADGROUP,
    XCLAIM), so that who holds the message is exact."""
    queue = redis_harness.fresh_url(redis.url())
    number = int(queue.rsplit("/", 1)[1])
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        credential, _ = director_credential(hub, tmp_path)
        prediction = hub.post("/v1/predictions", json={"version": version,
                                                       "input": {"n": 4}}).json()["id"]
        other = hub.post("/v1/predictions", json={"version": version,
                                                  "input": {"n": 5}}).json()["id"]
        stream = "pinion:queue:" + version
        taken = redis.command("XREADGROUP", "GROUP", "pinion", "old", "COUNT", "2", "STREAMS",
                              stream, ">", database=number).split("\n")
        # [stream, entry, "id", <id>, "capacity", n, "body", {...}, entry, ...]
        entries = {taken[i + 2]: taken[i] for i in (1, 8)}
        assert sorted(entries) == sorted([prediction, other]), taken
        entry = entries[prediction]

        def report(lease, output=None, event="update"):
            body = {"event": event, "lease": lease}
            if event == "update":
                body.update(kind="completed", prediction={
                    "id": prediction, "status": "succeeded", "output": output, "logs": "",
                    "metrics": {"predict_time": 0.01}})
            elif lease is None:
                del body["lease"]
            return requests.post(hub.internal_url + "/internal/director/predictions/" + prediction,
                                 json=body, timeout=TIMEOUT,
                                 headers={"Authorization": "Bearer " + credential})

        old_lease = "old %s %s" % (entry, version)
        assert report(old_lease, event="started").json()["status"] == "starting"
        # Another consumer takes the message over (the old one's lease ran out).
        assert redis.command("XCLAIM", stream, "pinion", "new", "0", entry, "JUSTID",
                             database=number) == entry
        late = report(old_lease, output="late")
        assert "no longer holds prediction %s" % prediction in problem(late, 409)["detail"]
        row = hub.get("/v1/predictions/" + prediction).json()
        assert row["status"] != "succeeded" and row["output"] is None, row
        # Not a lease at all, or another prediction's message: refused as malformed.
        for lease in (None, "old", "new %s %s" % (entries[other], version),
                      "new not-an-entry %s" % version):
            assert "carries \"lease\"" in problem(report(lease), 400)["detail"], lease
        # The one holding it now reports; the stored outcome is its own, once.
        stored = report("new %s %s" % (entry, version), output="new")
        assert stored.status_code == 200 and stored.json()["status"] == "succeeded", stored.text
        assert hub.get("/v1/predictions/" + prediction).json()["output"] == "new"
        # Once terminal, the late one's report is answered with what is stored (the row
        # never changes again), so that a director that cannot tell stops retrying.
        again = report(old_lease, output="late")
        assert again.status_code == 200 and again.json()["status"] == "succeeded"
        assert hub.get("/v1/predictions/" + prediction).json()["output"] == "new"
        assert "lease" not in hub.get("/v1/predictions/" + prediction).json()
    finally:
        hub.stop()


def test_a_director_whose_message_was_taken_over_drops_its_late_result(tmp_path, redis):
    """A director that renews too rarely (a 60 s lease beside directors with 1 s ones, as
    one cut off would) loses its message to another director; the hub refuses its result
    with 409, it drops the prediction without acknowledging it, and the other's result is
    the one stored, once."""
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    receiver = WebhookReceiver()
    directors = []
    try:
        version = hub.push(None, "alice/host", cwd=os.path.join(ROOT, "tests", "fixtures",
                                                                "hub_host"))
        _, credential_file = director_credential(hub, tmp_path)
        late = Director(str(tmp_path / "late"), hub, queue, credential_file, "hub_host",
                        ["--version", version], environment={"PINION_TEST_HOST": "late"},
                        lease="60")
        directors.append(late)
        prediction = create(hub, version, 5, receiver, 1)
        wait_for(lambda: hub.get("/v1/predictions/" + prediction).json()["status"] ==
                 "processing", 20, "the late director did not start " + prediction)
        other = Director(str(tmp_path / "other"), hub, queue, credential_file, "hub_host",
                         ["--version", version], environment={"PINION_TEST_HOST": "other"})
        directors.append(other)
        wait_for(lambda: "took over prediction %s" % prediction in other.read_log(), 20,
                 lambda: "the other director did not take it over:\n" + other.read_log())
        wait_for(lambda: "refused a report on prediction %s" % prediction in late.read_log(),
                 20, lambda: "the late director's report was not refused:\n" + late.read_log())
        assert late.health()["running"] == 0
        row = wait_terminal(hub, [prediction], 20)[prediction]
        assert row["status"] == "succeeded" and row["output"] == "1@other", row
        receiver.wait(1, timeout=10)
        time.sleep(1.0)
        assert completed_deliveries(receiver.calls) == {prediction: ["succeeded"]}
        assert json.loads(receiver.calls[0][1])["output"] == "1@other"
        number = int(queue.rsplit("/", 1)[1])
        wait_for(lambda: redis.command("XLEN", "pinion:queue:" + version, database=number) ==
                 "0", 10, "the message stayed in the stream")
    finally:
        for director in directors:
            director.stop()
        hub.stop()
        receiver.close()


def test_updates_out_of_order_never_move_a_prediction_back_to_starting(tmp_path, redis):
    """A model server's updates may reach the hub out of order (each is its own HTTP
    request): a late one that still says `starting` lands after one that said
    `processing`. Its logs count, its status does not: a prediction once processing stays
    processing until it concludes. (The hub took the late status as it came, and stored
    the prediction back in `starting`.) The consumer here is the test's own (XREADGROUP),
    so that the reports and their order are exact."""
    queue = redis_harness.fresh_url(redis.url())
    number = int(queue.rsplit("/", 1)[1])
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        credential, _ = director_credential(hub, tmp_path)
        prediction = hub.post("/v1/predictions", json={"version": version,
                                                       "input": {"n": 4}}).json()["id"]
        stream = "pinion:queue:" + version
        taken = redis.command("XREADGROUP", "GROUP", "pinion", "mine", "COUNT", "1", "STREAMS",
                              stream, ">", database=number).split("\n")
        assert taken[3] == prediction, taken
        lease = "mine %s %s" % (taken[1], version)

        def report(kind, status, logs, output=None):
            answer = requests.post(
                hub.internal_url + "/internal/director/predictions/" + prediction,
                json={"event": "update", "kind": kind, "lease": lease,
                      "prediction": {"id": prediction, "status": status, "logs": logs,
                                     "output": output}},
                timeout=TIMEOUT, headers={"Authorization": "Bearer " + credential})
            assert answer.status_code == 200, answer.text
            return hub.get("/v1/predictions/" + prediction).json()

        row = report("logs", "processing", "one\n")
        assert row["status"] == "processing" and row["logs"] == "one\n", row
        started_at = row["started_at"]
        row = report("start", "starting", "one\ntwo\n")
        assert row["status"] == "processing" and row["logs"] == "one\ntwo\n", row
        assert row["started_at"] == started_at
        row = report("completed", "succeeded", "one\ntwo\n", output=4)
        assert row["status"] == "succeeded" and row["output"] == 4, row
    finally:
        hub.stop()


# --- `pinion director --serve`: the director starts the model server itself --------------

def descendants(pid):
    """The pids of every process below `pid` now (the director's model server: bubblewrap,
    `pinion serve`, the model's Python, slirp4netns)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                parents[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class ServingDirector:
    """`pinion director --serve` with its scratch folders under `folder`/tmp."""

    def __init__(self, folder, hub, queue, credential_file, target_flags, wait=True,
                 extra_env=None):
        os.makedirs(folder, exist_ok=True)
        self.tmp = os.path.join(folder, "tmp")
        os.makedirs(self.tmp, exist_ok=True)
        self.port = redis_harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(folder, "director.log")
        environment = env()
        environment["TMPDIR"] = self.tmp
        environment.update(extra_env or {})
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [PINION, "director", "--serve", "--hub", hub.internal_url, "--queue", queue,
                 "--credential", credential_file, "--listen", "127.0.0.1:%d" % self.port,
                 "--queue-lease", LEASE, *target_flags],
                env=environment, stdout=log, stderr=log)
        if wait:
            try:
                wait_for(self.ready, 60,
                         lambda: "the director did not become ready:\n" + self.read_log())
            except BaseException:
                self.stop()
                raise

    def ready(self):
        assert self.process.poll() is None, "the director exited:\n" + self.read_log()
        try:
            return requests.get(self.url + "/health", timeout=TIMEOUT).json()["status"] == "READY"
        except (requests.ConnectionError, ValueError, KeyError):
            return False

    def read_log(self):
        with open(self.log_path) as log:
            return log.read()

    def health(self):
        return requests.get(self.url + "/health", timeout=TIMEOUT).json()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=TIMEOUT)


@pytest.fixture
def push_only(tmp_path, redis):
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    try:
        _, credential_file = director_credential(hub, tmp_path)
        yield hub, queue, credential_file
    finally:
        hub.stop()


def test_serve_runs_a_folder_version_fetched_from_the_hub_sandboxed(tmp_path, push_only):
    hub, queue, credential_file = push_only
    version = hub.push(None, "alice/slow", cwd=SLOW)
    receiver = WebhookReceiver()
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--version", "alice/slow:" + version])
    try:
        log = director.read_log()
        assert "unpacked alice/slow" not in log  # it fetches by id
        assert "runs sandboxed by bubblewrap" in log, log
        # The server runs below the director, sandboxed: bubblewrap among its processes.
        below = descendants(director.process.pid)
        names = set()
        for pid in below:
            try:
                with open("/proc/%d/comm" % pid) as comm:
                    names.add(comm.read().strip())
            except OSError:
                pass
        assert "bwrap" in names, names
        ids = [create(hub, version, 0.1, receiver, n) for n in range(6)]
        rows = wait_terminal(hub, ids, 60)
        assert [rows[i]["status"] for i in ids] == ["succeeded"] * 6, rows
        assert [rows[i]["output"] for i in ids] == list(range(6))
        assert all(("took prediction %s" % i) in director.read_log() for i in ids)
        assert "starting an instance" not in hub.read_log()
        receiver.wait(6, timeout=20)
        time.sleep(0.5)  # a duplicate would be on its way by now
        delivered = completed_deliveries(receiver.calls)
        assert sorted(delivered) == sorted(ids)
        assert all(statuses == ["succeeded"] for statuses in delivered.values()), delivered
        assert len(receiver.calls) == 6
        # SIGTERM: drained, then the server stops; nothing of it is left, nor its folder.
        below = descendants(director.process.pid)
        assert len(below) >= 3, below
        director.process.send_signal(signal.SIGTERM)
        assert director.process.wait(timeout=30) == 0, director.read_log()
        wait_for(lambda: not any(alive(pid) for pid in below), 5,
                 lambda: "left running: %s" % [pid for pid in below if alive(pid)])
        assert os.listdir(director.tmp) == [], os.listdir(director.tmp)
    finally:
        director.stop()
        receiver.close()


def test_serve_relays_the_sandboxed_models_output_files(tmp_path, push_only):
    hub, queue, credential_file = push_only
    version = hub.push(None, "alice/files", cwd=os.path.join(ROOT, "tests", "fixtures",
                                                             "hub_files"))
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--version", version])
    try:
        created = hub.post("/v1/predictions", json={"version": version, "input": {"kind": "png"}})
        assert created.status_code == 201, created.text
        row = wait_terminal(hub, [created.json()["id"]], 60)[created.json()["id"]]
        assert row["status"] == "succeeded", row
        assert row["output"].startswith(hub.url + "/v1/outputs/"), row["output"]
        assert row["output"].endswith("/out.png")
        download = requests.get(row["output"], timeout=TIMEOUT)
        assert download.status_code == 200
        assert download.content[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        director.stop()


def test_serve_takes_a_deployments_current_version(tmp_path, push_only):
    hub, queue, credential_file = push_only
    version = hub.push(None, "alice/slow", cwd=SLOW)
    created = hub.post("/v1/deployments", json={
        "name": "slow", "model": "alice/slow", "version": version, "hardware": "cpu",
        "min_instances": 0, "max_instances": 1})
    assert created.status_code == 200, created.text
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--deployment", "alice/slow"])
    try:
        assert "unpacked alice/slow " in director.read_log()
        prediction = hub.post("/v1/deployments/alice/slow/predictions",
                              json={"input": {"n": 7}})
        assert prediction.status_code == 201, prediction.text
        row = wait_terminal(hub, [prediction.json()["id"]], 60)[prediction.json()["id"]]
        assert row["status"] == "succeeded" and row["output"] == 7, row
    finally:
        director.stop()


def write_model(folder, predict_source):
    """A model folder: Cog's cog.yaml for Python 3.11 and `predict_source` as predict.py."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "cog.yaml"), "w") as out:
        out.write('build:\n  python_version: "3.11"\nrun: "predict.py:Predictor"\n')
    with open(os.path.join(folder, "predict.py"), "w") as out:
        out.write(predict_source)


def write_lettered_model(folder, letter):
    """A model answering "<letter>:<n>" after `seconds`: two of them are two versions
    whose outputs say which one ran."""
    write_model(folder, "import time\n\nfrom cog import BasePredictor\n\n\n"
                "class Predictor(BasePredictor):\n"
                "    def predict(self, n: int = 0, seconds: float = 0.02) -> str:\n"
                "        time.sleep(seconds)\n"
                "        return '%s:' + str(n)\n" % letter)


def test_serve_follows_its_deployment_to_another_version_losing_nothing(tmp_path, push_only):
    """A --serve --deployment director asks the hub for the deployment's version every
    PINION_DIRECTOR_VERSION_POLL_SECONDS; when the deployment moves from A to B it stops
    taking, lets the running prediction finish on A, hands back what waited for a slot
    (--slots 2 over a server of 1: one waits), stops A's server, starts B's and takes
    again: every prediction sent across the move succeeds once, with A's or B's exact
    output, and those sent once it serves B are B's."""
    hub, queue, credential_file = push_only
    write_lettered_model(str(tmp_path / "a"), "A")
    write_lettered_model(str(tmp_path / "b"), "B")
    version_a = hub.push(None, "alice/lettered", cwd=str(tmp_path / "a"))
    version_b = hub.push(None, "alice/lettered", cwd=str(tmp_path / "b"))
    assert version_a != version_b
    created = hub.post("/v1/deployments", json={
        "name": "lettered", "model": "alice/lettered", "version": version_a, "hardware": "cpu",
        "min_instances": 0, "max_instances": 1})
    assert created.status_code == 200, created.text
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--deployment", "alice/lettered", "--slots", "2"],
                               extra_env={"PINION_DIRECTOR_VERSION_POLL_SECONDS": "0.3"})

    def send(n, seconds):
        response = hub.post("/v1/deployments/alice/lettered/predictions",
                            json={"input": {"n": n, "seconds": seconds}})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    try:
        health = director.health()
        assert health["status"] == "READY" and health["version"] == "alice/lettered:" + version_a
        first = [send(n, 0.05) for n in range(3)]
        rows = wait_terminal(hub, first, 60)
        assert [rows[i]["output"] for i in first] == ["A:0", "A:1", "A:2"], rows
        # A long prediction runs when the deployment moves, and more wait behind it.
        across = [send(10, 2.0)]
        wait_for(lambda: hub.get("/v1/predictions/" + across[0]).json()["status"] ==
                 "processing", 30, lambda: "the long prediction did not start")
        across += [send(n, 0.05) for n in range(11, 15)]
        moved = hub.request("PATCH", "/v1/deployments/alice/lettered",
                            json={"version": version_b})
        assert moved.status_code == 200, moved.text
        across += [send(n, 0.05) for n in range(15, 20)]
        # It says what it is doing: switching to B, not taking, then READY on B.
        seen = []
        deadline = time.time() + 60
        while time.time() < deadline:
            health = director.health()
            if not seen or seen[-1] != health["status"]:
                seen.append(health["status"])
            if health["status"] == "SWITCHING":
                assert health["switching_to"] == "alice/lettered:" + version_b, health
            if health["status"] == "READY" and health["version"].endswith(version_b):
                break
            time.sleep(0.02)
        assert seen[-1] == "READY" and "SWITCHING" in seen, seen
        assert director.health()["version"] == "alice/lettered:" + version_b
        rows = wait_terminal(hub, across, 90)
        outputs = [rows[i]["output"] for i in across]
        assert [rows[i]["status"] for i in across] == ["succeeded"] * len(across), rows
        # The one running at the move finished on A; each output is its own n's.
        assert outputs[0] == "A:10", outputs
        for n, output in zip(range(10, 20), outputs):
            assert output in ("A:%d" % n, "B:%d" % n), outputs
        # What was sent after the move and is taken now runs on B.
        after = [send(n, 0.05) for n in range(20, 23)]
        rows = wait_terminal(hub, after, 60)
        assert [rows[i]["output"] for i in after] == ["B:20", "B:21", "B:22"], rows
        log = director.read_log()
        assert ("moved from alice/lettered:%s to alice/lettered:%s" % (version_a, version_b)
                ) in log, log
        assert log.count("started the model server") == 2, log
        assert "is handed back to the queue" in log, log
        assert director.process.poll() is None
    finally:
        director.stop()


def test_a_switch_hands_back_what_outruns_the_drain_timeout_and_runs_it_on_the_new_version(
        tmp_path, push_only):
    """A prediction still running on A when --drain-timeout passes during a switch is
    handed back, the switch goes on, and the prediction runs again on B: it succeeds
    once, with B's output, and the director did not exit. An ask that fails later is
    logged and the director keeps serving B."""
    hub, queue, credential_file = push_only
    write_lettered_model(str(tmp_path / "a"), "A")
    write_lettered_model(str(tmp_path / "b"), "B")
    version_a = hub.push(None, "alice/lettered", cwd=str(tmp_path / "a"))
    version_b = hub.push(None, "alice/lettered", cwd=str(tmp_path / "b"))
    created = hub.post("/v1/deployments", json={
        "name": "lettered", "model": "alice/lettered", "version": version_a, "hardware": "cpu",
        "min_instances": 0, "max_instances": 1})
    assert created.status_code == 200, created.text
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--deployment", "alice/lettered", "--drain-timeout", "0.5"],
                               extra_env={"PINION_DIRECTOR_VERSION_POLL_SECONDS": "0.2"})
    try:
        response = hub.post("/v1/deployments/alice/lettered/predictions",
                            json={"input": {"n": 7, "seconds": 4.0}})
        assert response.status_code == 201, response.text
        long_one = response.json()["id"]
        wait_for(lambda: hub.get("/v1/predictions/" + long_one).json()["status"] ==
                 "processing", 30, lambda: "the long prediction did not start")
        moved = hub.request("PATCH", "/v1/deployments/alice/lettered",
                            json={"version": version_b})
        assert moved.status_code == 200, moved.text
        row = wait_terminal(hub, [long_one], 60)[long_one]
        assert row["status"] == "succeeded" and row["output"] == "B:7", row
        log = director.read_log()
        assert "the drain timeout passed while switching versions" in log, log
        assert ("prediction %s is handed back to the queue" % long_one) in log, log
        assert director.health()["version"] == "alice/lettered:" + version_b
        # An ask that fails (the deployment deleted) is said and asked again; the
        # director keeps serving what it has.
        assert hub.request("DELETE", "/v1/deployments/alice/lettered").status_code in (200, 204)
        wait_for(lambda: "asking again in 0.2 s" in director.read_log(), 10,
                 lambda: "no failed ask logged:\n" + director.read_log())
        assert "HTTP 404" in director.read_log()
        health = director.health()
        assert health["status"] == "READY" and health["version"].endswith(version_b), health
        assert director.process.poll() is None
    finally:
        director.stop()


def test_serve_takes_as_many_predictions_as_its_server_reports_slots(tmp_path, push_only):
    """Without --slots, a director that starts its server takes as many predictions at
    once as the server reports when READY: a batching model's 2 x max_size (8 here), so
    four predictions made together run as one batch. (It took one at a time, so a
    batching model under a --serve director never batched.)"""
    hub, queue, credential_file = push_only
    version = hub.push(None, "alice/batch", cwd=BATCH_MODEL)
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--version", "alice/batch:" + version])
    try:
        assert requests.get(director.url + "/health", timeout=TIMEOUT).json()["slots"] == 8
        metrics = requests.get(director.url + "/metrics", timeout=TIMEOUT).text
        assert "pinion_slots 8\n" in metrics, metrics
        ids = [hub.post("/v1/predictions", json={
            "version": version, "input": {"text": "t%d" % n, "seconds": 0.5}}).json()["id"]
            for n in range(4)]
        rows = wait_terminal(hub, ids, 60)
        assert [rows[i]["output"] for i in ids] == ["T0", "T1", "T2", "T3"], rows
        assert [rows[i]["metrics"]["batch_size"] for i in ids] == [4] * 4, rows
    finally:
        director.stop()


def write_weights_model(folder, size):
    """A model folder whose predict.py answers the sha256 of its `weights.bin`: `size`
    deterministic pseudo-random bytes. Returns the hex digest the model must answer."""
    write_model(folder, "import hashlib\nimport os\n\nfrom cog import BasePredictor\n\n\n"
                "class Predictor(BasePredictor):\n"
                "    def predict(self) -> str:\n"
                "        digest = hashlib.sha256()\n"
                "        path = os.path.join(os.path.dirname(__file__), 'weights.bin')\n"
                "        with open(path, 'rb') as weights:\n"
                "            for chunk in iter(lambda: weights.read(1 << 20), b''):\n"
                "                digest.update(chunk)\n"
                "        return digest.hexdigest()\n")
    generator = random.Random(20261206)
    digest = hashlib.sha256()
    with open(os.path.join(folder, "weights.bin"), "wb") as out:
        left = size
        while left:
            chunk = generator.randbytes(min(left, 1 << 20))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def memory_kib(pid, field):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def open_bundle_files(pid):
    """The packed bundles the hub holds open (each unlinked as soon as it was made)."""
    found = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if "/bundle-" in target:
            found.append(target)
    return found


def test_serve_streams_a_large_bundle_through_the_hub_and_the_director(tmp_path, push_only):
    """A bundle with a 56 MiB weights file: the hub packs it into a file and sends it
    with sendfile, the director unpacks the download a chunk at a time, and the model
    reads its weights byte-exact. The hub's peak memory while it packs and sends stays far
    under the file's size (the peak is reset just before, through clear_refs)."""
    hub, queue, credential_file = push_only
    size = 56 << 20
    expected = write_weights_model(str(tmp_path / "weights"), size)
    version = hub.push(None, "alice/weights", cwd=str(tmp_path / "weights"))
    pid = hub.process.pid
    before = memory_kib(pid, "VmRSS")
    with open("/proc/%d/clear_refs" % pid, "w") as refs:
        refs.write("5")  # VmHWM back to VmRSS now: the peak from here on
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--version", version])
    try:
        growth = memory_kib(pid, "VmHWM") - before
        # The director's whole peak (its libraries included) stays under the file's size,
        # which reading the download into memory would pass alone.
        peak = memory_kib(director.process.pid, "VmHWM")
        assert peak * 1024 < size, "the director's peak memory is %d KiB" % peak
        assert growth * 1024 < size // 4, (
            "the hub's peak memory grew by %d KiB while it sent a %d-byte bundle" % (growth, size))
        log = director.read_log()
        unpacked = re.search(r"unpacked \S+ \((\d+) bytes\)", log)
        assert unpacked and int(unpacked.group(1)) > size, log
        created = hub.post("/v1/predictions", json={"version": version, "input": {}})
        assert created.status_code == 201, created.text
        row = wait_terminal(hub, [created.json()["id"]], 60)[created.json()["id"]]
        assert row["status"] == "succeeded", row
        assert row["output"] == expected
        # The packed file was unlinked when made, and closed once sent: nothing is left
        # of it, open or on disk.
        assert open_bundle_files(pid) == []
        scratch = [name for name in os.listdir(os.path.join(hub.data, "instances"))
                   if os.path.isdir(os.path.join(hub.data, "instances", name))]
        for name in scratch:
            leftovers = [entry for entry in os.listdir(os.path.join(hub.data, "instances", name))
                         if entry.startswith("bundle-")]
            assert leftovers == [], leftovers
    finally:
        director.stop()


def test_the_bundle_route_answers_the_version_alone_without_packing(tmp_path, push_only):
    """`Accept: application/json` (what a --serve --deployment director polls) and HEAD
    answer which version the deployment is on, without packing its bundle."""
    hub, queue, credential_file = push_only
    version = hub.push(None, "alice/slow", cwd=SLOW)
    created = hub.post("/v1/deployments", json={
        "name": "slow", "model": "alice/slow", "version": version, "hardware": "cpu",
        "min_instances": 0, "max_instances": 1})
    assert created.status_code == 200, created.text
    with open(credential_file) as file:
        credential = file.read().strip()
    url = hub.internal_url + "/internal/director/deployments/alice/slow/bundle"
    headers = {"Authorization": "Bearer " + credential}
    described = requests.get(url, headers=dict(headers, Accept="application/json"),
                             timeout=TIMEOUT)
    assert described.status_code == 200, described.text
    assert described.json() == {"version": "alice/slow:" + version, "id": version}
    assert described.headers["X-Pinion-Version"] == "alice/slow:" + version
    head = requests.head(url, headers=headers, timeout=TIMEOUT)
    assert head.status_code == 200
    assert head.headers["X-Pinion-Version"] == "alice/slow:" + version
    tar = requests.get(url, headers=headers, timeout=TIMEOUT)
    assert tar.status_code == 200
    assert tar.headers["Content-Type"] == "application/x-tar"
    assert int(tar.headers["Content-Length"]) == len(tar.content)
    names = sorted(tarfile.open(fileobj=io.BytesIO(tar.content)).getnames())
    assert "predict.py" in names and "cog.yaml" in names, names
    missing = requests.get(hub.internal_url + "/internal/director/deployments/alice/none/bundle",
                           headers=dict(headers, Accept="application/json"), timeout=TIMEOUT)
    assert missing.status_code == 404


def test_serve_refuses_an_image_version_and_a_bad_credential(tmp_path, push_only):
    hub, queue, credential_file = push_only
    version = hub.push(None, "alice/slow", cwd=SLOW)
    schema = hub.get("/v1/models/alice/slow/versions/" + version).json()["openapi_schema"]
    response = hub.post("/v1/models/alice/imaged/versions", json={
        "image": "registry.example/alice/imaged:1", "openapi_schema": schema})
    assert response.status_code == 201, response.text
    image_version = response.json()["id"]
    image = ServingDirector(str(tmp_path / "image"), hub, queue, credential_file,
                            ["--version", "alice/imaged:" + image_version], wait=False)
    assert image.process.wait(timeout=30) == 1
    log = image.read_log()
    assert "HTTP 409" in log and "is an image version (registry.example/alice/imaged:1)" in log
    assert "--model-url" in log, log
    # A credential the hub does not know: 401, said so, and nothing is fetched or started.
    wrong = tmp_path / "wrong"
    wrong.write_text("pnd_" + "x" * 40 + "\n")
    refused = ServingDirector(str(tmp_path / "wrong-d"), hub, queue, str(wrong),
                              ["--version", version], wait=False)
    assert refused.process.wait(timeout=30) == 1
    log = refused.read_log()
    assert "HTTP 401" in log and "director's credential" in log, log
    assert "started the model server" not in log
    # A version the hub does not have: 404 naming it.
    missing = ServingDirector(str(tmp_path / "missing"), hub, queue, credential_file,
                              ["--version", "f" * 64], wait=False)
    assert missing.process.wait(timeout=30) == 1
    assert "HTTP 404" in missing.read_log() and "f" * 64 in missing.read_log()
    for director in (image, refused, missing):
        assert os.listdir(director.tmp) == []
    # --serve and --model-url together are refused.
    both = pinion("director", "--hub", hub.internal_url, "--queue", queue, "--credential",
                  credential_file, "--serve", "--model-url", "http://127.0.0.1:1",
                  "--version", version)
    assert both.returncode == 2 and "not both" in both.stderr


def test_serve_exits_when_its_model_server_dies(tmp_path, push_only):
    hub, queue, credential_file = push_only
    version = hub.push(None, "alice/slow", cwd=SLOW)
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--version", version])
    try:
        below = descendants(director.process.pid)
        children = []
        for pid in below:
            try:
                with open("/proc/%d/stat" % pid) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                with open("/proc/%d/comm" % pid) as comm:
                    name = comm.read().strip()
            except OSError:
                continue
            if int(fields[1]) == director.process.pid and name == "bwrap":
                children.append(pid)
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)
        assert director.process.wait(timeout=30) == 1
        log = director.read_log()
        assert "error: the model server exited" in log, log
        wait_for(lambda: not any(alive(pid) for pid in below), 5,
                 lambda: "left running: %s" % [pid for pid in below if alive(pid)])
        assert os.listdir(director.tmp) == []
    finally:
        director.stop()


def test_serve_train_runs_a_versions_trainings_and_publishes_the_weights(tmp_path, push_only):
    hub, queue, credential_file = push_only
    trainer = hub.push(None, "alice/learner",
                       cwd=os.path.join(ROOT, "tests", "fixtures", "hub_trainer"))
    hub.post("/v1/models", json={"owner": "alice", "name": "learned", "visibility": "private"})
    # Predictions of the version are not a training director's: they stay queued.
    prediction = hub.post("/v1/predictions", json={"version": trainer, "input": {}}).json()["id"]
    director = ServingDirector(str(tmp_path / "d"), hub, queue, credential_file,
                               ["--version", "alice/learner:" + trainer, "--train"])
    try:
        training = hub.post("/v1/models/alice/learner/versions/%s/trainings" % trainer,
                            json={"destination": "alice/learned",
                                  "input": {"word": "parrot", "times": 3}}).json()
        wait_terminal(hub, [training["id"]], 90)
        training = hub.get("/v1/trainings/" + training["id"]).json()
        assert training["status"] == "succeeded", training
        assert ("took prediction %s" % training["id"]) in director.read_log()
        output = training["output"]
        assert sorted(output) == ["version", "weights"], output
        owner_name, version = output["version"].split(":")
        assert owner_name == "alice/learned" and len(version) == 64
        assert hub.get(output["weights"]).content == b"parrot parrot parrot"
        assert hub.get("/v1/predictions/" + prediction).json()["status"] == "starting"
        assert not ("took prediction %s" % prediction) in director.read_log()
    finally:
        director.stop()
    # --train names a version's trainings; a deployment has none.
    refused = pinion("director", "--hub", hub.internal_url, "--queue", queue, "--credential",
                     credential_file, "--serve", "--train", "--deployment", "alice/learner")
    assert refused.returncode == 2 and "--train takes the trainings of a --version" in refused.stderr


def pending_deliveries(redis, queue, stream):
    """[(entry, consumer, deliveries)] of `stream`'s pending messages."""
    database = int(queue.rsplit("/", 1)[1])
    words = redis.command("XPENDING", stream, "pinion", "-", "+", "10", database=database)
    words = words.split("\n") if words else []
    return [(words[i], words[i + 1], int(words[i + 3])) for i in range(0, len(words), 4)]


def die_twice(redis, queue, stream):
    """Two consumers take `stream`'s message and never renew it (dead runners): its
    delivery count is 2, held by the second."""
    database = int(queue.rsplit("/", 1)[1])
    redis.command("XREADGROUP", "GROUP", "pinion", "ghost-1", "COUNT", "1", "STREAMS",
                  stream, ">", database=database)
    [(entry, owner, deliveries)] = pending_deliveries(redis, queue, stream)
    assert (owner, deliveries) == ("ghost-1", 1)
    redis.command("XCLAIM", stream, "pinion", "ghost-2", "0", entry, database=database)
    assert pending_deliveries(redis, queue, stream) == [(entry, "ghost-2", 2)]


def test_a_prediction_whose_runners_all_died_is_failed_after_the_last_take(
        tmp_path, redis, monkeypatch):
    """Two consumers took the message and died without finishing it (a prediction that
    kills what runs it); with PINION_QUEUE_MAX_DELIVERIES=2 the director that takes it
    over a third time fails it instead of running it: one `completed` webhook, nothing
    left in the stream, and the model never sees it."""
    queue = redis_harness.fresh_url(redis.url())
    database = int(queue.rsplit("/", 1)[1])
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    receiver = WebhookReceiver()
    director = None
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        _, credential_file = director_credential(hub, tmp_path)
        prediction = create(hub, version, 0, receiver, 7)
        stream = "pinion:queue:" + version
        die_twice(redis, queue, stream)
        monkeypatch.setenv("PINION_QUEUE_MAX_DELIVERIES", "2")
        director = Director(str(tmp_path / "d"), hub, queue, credential_file, "hub_slow",
                            ["--version", version])
        row = wait_terminal(hub, [prediction], 30)[prediction]
        assert row["status"] == "failed", row
        assert row["error"].startswith("the prediction was given to a model 2 times and each "
                                       "stopped without finishing it"), row["error"]
        assert "PINION_QUEUE_MAX_DELIVERIES" in row["error"]
        receiver.wait(1, timeout=20)
        time.sleep(1.0)  # a duplicate would be on its way by now
        assert completed_deliveries(receiver.calls) == {prediction: ["failed"]}
        assert len(receiver.calls) == 1
        log = director.read_log()
        assert "was taken 3 times and no consumer finished it" in log, log
        assert not director.took(prediction), log  # the model never got it
        wait_for(lambda: redis.command("XLEN", stream, database=database) == "0", 10,
                 "the given-up message is still in the stream")
        assert pending_deliveries(redis, queue, stream) == []
    finally:
        if director:
            director.stop()
        hub.stop()
        receiver.close()


def test_a_prediction_taken_over_within_the_limit_still_runs(tmp_path, redis, monkeypatch):
    """The same with two dead runners and the default limit (3): the third take runs it."""
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    receiver = WebhookReceiver()
    director = None
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        _, credential_file = director_credential(hub, tmp_path)
        prediction = create(hub, version, 0, receiver, 5)
        stream = "pinion:queue:" + version
        die_twice(redis, queue, stream)
        monkeypatch.delenv("PINION_QUEUE_MAX_DELIVERIES", raising=False)
        director = Director(str(tmp_path / "d"), hub, queue, credential_file, "hub_slow",
                            ["--version", version])
        row = wait_terminal(hub, [prediction], 30)[prediction]
        assert (row["status"], row["output"]) == ("succeeded", 5), row
        assert "took over prediction %s, whose consumer's lease ran out (take 3)" % prediction \
            in director.read_log()
    finally:
        if director:
            director.stop()
        hub.stop()
        receiver.close()


def test_a_hub_that_runs_predictions_fails_one_whose_runners_all_died(tmp_path, redis):
    """The same limit where a hub takes from the queue itself (no directors): the hub
    that takes the message over a third time fails it, with its webhook sent once."""
    queue = redis_harness.fresh_url(redis.url())
    database = int(queue.rsplit("/", 1)[1])
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    receiver = WebhookReceiver()
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        prediction = create(hub, version, 0, receiver, 3)
        stream = "pinion:queue:" + version
        die_twice(redis, queue, stream)
        hub.stop()
        hub.args = ["--queue-lease", LEASE]  # it runs predictions itself now
        hub.extra_env = {"PINION_QUEUE_MAX_DELIVERIES": "2"}
        hub.start()
        row = wait_terminal(hub, [prediction], 30)[prediction]
        assert row["status"] == "failed", row
        assert "given to a model 2 times" in row["error"], row["error"]
        receiver.wait(1, timeout=20)
        time.sleep(1.0)
        assert completed_deliveries(receiver.calls) == {prediction: ["failed"]}
        assert "starting an instance" not in hub.read_log()
        wait_for(lambda: redis.command("XLEN", stream, database=database) == "0", 10,
                 "the given-up message is still in the stream")
    finally:
        hub.stop()
        receiver.close()


def test_a_prediction_handed_back_at_a_drains_end_is_not_counted_as_a_take(tmp_path, redis):
    """A director whose drain timeout ends while its prediction runs hands the message
    back: that take ran nothing to the end through no fault of the prediction's, so its
    count goes back down (an unlucky prediction is not failed by rolling restarts), and
    the next director takes it as its first take again."""
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"]).start()
    directors = []
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        _, credential_file = director_credential(hub, tmp_path)
        directors.append(Director(str(tmp_path / "a"), hub, queue, credential_file, "hub_slow",
                                  ["--version", version], extra=["--drain-timeout", "0.3"]))
        prediction = hub.post("/v1/predictions", json={
            "version": version, "input": {"n": 4, "seconds": 3}}).json()["id"]
        wait_for(lambda: hub.get("/v1/predictions/" + prediction).json()["status"] ==
                 "processing", 30, "nothing started")
        stream = "pinion:queue:" + version
        [(entry, _, deliveries)] = pending_deliveries(redis, queue, stream)
        assert deliveries == 1
        directors[0].process.send_signal(signal.SIGTERM)
        directors[0].process.wait(timeout=TIMEOUT)
        assert "handed back to the queue" in directors[0].read_log()
        [(_, _, deliveries)] = pending_deliveries(redis, queue, stream)
        assert deliveries == 0
        directors.append(Director(str(tmp_path / "b"), hub, queue, credential_file, "hub_slow",
                                  ["--version", version]))
        row = wait_terminal(hub, [prediction], 30)[prediction]
        assert (row["status"], row["output"]) == ("succeeded", 4), row
        assert "(take 1)" in directors[1].read_log(), directors[1].read_log()
    finally:
        for director in directors:
            director.stop()
        hub.stop()
