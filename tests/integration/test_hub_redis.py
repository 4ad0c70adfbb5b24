"""The hub with its queue in Redis Streams (`pinion hub --queue redis://...`), against a
real redis-server: the hub's API and prediction tests pass through it on a real
PostgreSQL; a prediction stored but never queued is queued again once; a hub killed while it runs
a prediction loses it to another hub after the lease, and the prediction finishes there,
once, with one `completed` webhook; Redis killed and restarted with its append-only file
loses nothing the hub acknowledged; a cancel on one hub stops the prediction where
another hub runs it. Leases are short (--queue-lease) to keep the tests fast."""
import collections
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

import pg_harness
import redis_harness
from hub_harness import PINION, ROOT, Hub, WebhookReceiver, problem
# postgres and redis are fixtures: imported, pytest finds them here.
from shared_hubs import (LEASE, TERMINAL, postgres, redis, shared_hubs,  # noqa: F401
                         stop_all, took, wait_for, wait_terminal)

pytestmark = pytest.mark.skipif(not redis_harness.available(),
                                reason="redis-server is not installed (scripts/install-deps)")

SLOW = os.path.join(ROOT, "tests", "fixtures", "hub_slow")
# A prediction here that a hub killed with -9 held fails at the restart; with a shared
# queue it is taken over instead (test_a_killed_hubs_prediction_finishes_on_another_once).
EMBEDDED_ONLY = ["test_running_predictions_fail_after_a_restart"]


def completed_deliveries(calls):
    """Every terminal delivery in `calls`, as {prediction id: [status per delivery]}."""
    delivered = collections.defaultdict(list)
    for _, body in calls:
        prediction = json.loads(body)
        if prediction["status"] in TERMINAL:
            delivered[prediction["id"]].append(prediction["status"])
    return delivered


def create(hub, version, seconds, receiver, n=0):
    response = hub.post("/v1/predictions", json={
        "version": version, "input": {"n": n, "seconds": seconds}, "webhook": receiver.url,
        "webhook_events_filter": ["completed"]})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_the_hub_api_suite_passes_on_postgresql_with_a_redis_queue(redis):
    """The scale-out setup: the hub's API and prediction tests, unchanged, against a real
    PostgreSQL and a real Redis together (test_hub_postgres.py runs them on PostgreSQL
    with the embedded queue)."""
    if not pg_harness.available():
        pytest.skip("PostgreSQL 15 is not installed (scripts/install-deps)")
    from test_hub_postgres import SQLITE_ONLY
    postgres = pg_harness.Postgres().start()
    try:
        files = [os.path.join(ROOT, "tests", "integration", name)
                 for name in ("test_hub_api.py", "test_hub_predictions.py")]
        environment = dict(os.environ, PINION_TEST_DATABASE=postgres.url(),
                           PINION_TEST_QUEUE=redis.url(), PINION_TEST_QUEUE_LEASE=LEASE,
                           PINION=PINION)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, "-k",
             " and ".join("not " + name for name in sorted(set(EMBEDDED_ONLY + SQLITE_ONLY)))],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    finally:
        postgres.close()
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 50, summary
    assert "failed" not in summary and "error" not in summary, summary


def test_bad_queue_urls_and_leases_are_refused_with_what_to_do(tmp_path, redis):
    for url, words in (("redis://", "names no host"), ("redis://h:99999", "port"),
                       ("redis://h/x", "database"), ("amqp://h", "redis://")):
        result = subprocess.run([PINION, "hub", "--listen", "127.0.0.1:0", "--data",
                                 str(tmp_path / "data"), "--queue", url],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 1, result.stderr
        assert "--queue takes redis://" in result.stderr and words in result.stderr, result.stderr
    refused = subprocess.run([PINION, "hub", "--listen", "127.0.0.1:0", "--data",
                              str(tmp_path / "data"), "--queue", "redis://127.0.0.1:1/0"],
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1
    assert "cannot connect to Redis at 127.0.0.1:1" in refused.stderr, refused.stderr
    lease = subprocess.run([PINION, "hub", "--queue", redis.url(), "--queue-lease", "0.1"],
                           capture_output=True, text=True, timeout=30)
    assert lease.returncode == 2
    assert "--queue-lease takes seconds from 0.5 to 3600" in lease.stderr


@pytest.fixture
def two_hubs(tmp_path, redis, postgres):
    """Two hubs on one PostgreSQL database and one Redis database: two hosts of one hub."""
    queue = redis_harness.fresh_url(redis.url())
    hubs = shared_hubs(tmp_path, postgres, queue, ["a", "b"])
    receiver = WebhookReceiver()
    try:
        yield [hub.start() for hub in hubs], receiver, queue
    finally:
        stop_all(hubs)
        receiver.close()


def test_a_cancel_on_another_hub_while_the_notices_are_away_still_ends_a_held_request(
        two_hubs, redis):
    """`pinion:done` is pub/sub, so a hub whose subscription dropped misses what other
    hubs settled meanwhile. Once subscribed again it reads its predictions in flight
    from the store: a create held by `Prefer: wait` on hub a, canceled on hub b while a's
    subscription was away, is answered `canceled` at once, not at the end of its wait."""
    (a, b), _, queue = two_hubs
    number = int(queue.rsplit("/", 1)[1])
    version = a.push(None, "alice/slow", cwd=SLOW)
    answer = {}

    def held_create():
        started = time.monotonic()
        response = requests.post(a.url + "/v1/predictions", json={
            "version": version, "input": {"n": 1, "seconds": 20}},
            headers={"Authorization": "Bearer " + a.token("alice"), "Prefer": "wait=40"},
            timeout=60)
        answer["seconds"] = time.monotonic() - started
        answer["body"] = response.json()

    thread = threading.Thread(target=held_create)
    thread.start()
    try:
        wait_for(lambda: b.get("/v1/predictions").json()["results"], 10,
                 "the create did not arrive")
        prediction = b.get("/v1/predictions").json()["results"][0]["id"]
        wait_for(lambda: b.get("/v1/predictions/" + prediction).json()["status"] ==
                 "processing", 30, "it did not start")
        redis.command("CLIENT", "KILL", "TYPE", "pubsub", database=number)
        canceled_at = time.monotonic()
        assert b.post("/v1/predictions/%s/cancel" % prediction).json()["status"] == "canceled"
    finally:
        thread.join(60)
    assert answer["body"]["status"] == "canceled", answer
    # Answered within a few seconds of the cancel (a's next subscription, at most a
    # second after the drop), not at the end of the wait (40 s) or of the run (20 s).
    assert time.monotonic() - canceled_at < 8, answer
    wait_for(lambda: "subscribed to Redis's notices again" in a.read_log(), 10,
             "hub a did not subscribe again:\n" + a.read_log())


def test_a_killed_hubs_prediction_finishes_on_another_once(two_hubs):
    (a, b), receiver, _ = two_hubs
    version = a.push(None, "alice/slow", cwd=SLOW)
    ids = [create(a, version, 2, receiver, n) for n in range(4)]
    # Each hub runs one at a time (one instance of one slot): b takes one of them.
    wait_for(lambda: any(took(b, i) for i in ids), 30, "hub b took nothing:\n" + b.read_log())
    held = next(i for i in ids if took(b, i))
    wait_for(lambda: a.get("/v1/predictions/" + held).json()["status"] == "processing", 30,
             "hub b did not start " + held)
    b.process.send_signal(signal.SIGKILL)
    b.process.wait(timeout=10)
    b.process = None
    b.log.close()
    rows = wait_terminal(a, ids, 40)
    assert [rows[i]["status"] for i in ids] == ["succeeded"] * 4, rows
    assert [rows[i]["output"] for i in ids] == [0, 1, 2, 3]
    assert "took over prediction %s" % held in a.read_log(), a.read_log()
    receiver.wait(4, timeout=20)
    time.sleep(1.5)  # a duplicate would be on its way by now
    delivered = completed_deliveries(receiver.calls)
    assert sorted(delivered) == sorted(ids), delivered  # 0 lost
    assert all(statuses == ["succeeded"] for statuses in delivered.values()), delivered  # once
    assert len(receiver.calls) == 4


def test_a_cancel_on_one_hub_stops_the_prediction_another_runs(two_hubs, redis):
    (a, b), receiver, queue = two_hubs
    version = a.push(None, "alice/slow", cwd=SLOW)
    ids = [create(a, version, 30, receiver, n) for n in range(2)]
    wait_for(lambda: any(took(b, i) for i in ids), 30, "hub b took nothing:\n" + b.read_log())
    on_b = next(i for i in ids if took(b, i))
    wait_for(lambda: a.get("/v1/predictions/" + on_b).json()["status"] == "processing", 30,
             "hub b did not start " + on_b)
    canceled = a.post("/v1/predictions/%s/cancel" % on_b)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    # b hears it, stops the model's prediction and acknowledges its message: only a's
    # stays pending.
    number = int(queue.rsplit("/", 1)[1])
    wait_for(lambda: redis.command("XPENDING", "pinion:queue:" + version, "pinion",
                                   database=number).split("\n")[0] == "1",
             10, "b did not acknowledge " + on_b)
    receiver.wait(1, timeout=10)
    time.sleep(1.5)
    delivered = completed_deliveries(receiver.calls)
    assert delivered == {on_b: ["canceled"]}, delivered
    assert a.get("/v1/predictions/" + on_b).json()["status"] == "canceled"
    other = next(i for i in ids if i != on_b)
    assert a.post("/v1/predictions/%s/cancel" % other).json()["status"] == "canceled"
    # Nothing of either stays queued or pending.
    wait_for(lambda: redis.command("XLEN", "pinion:queue:" + version, database=number) == "0",
             10, "messages stayed in the stream")


def test_redis_restarted_with_its_append_only_file_loses_nothing(tmp_path):
    server = redis_harness.Redis(appendonly=True).start()
    receiver = WebhookReceiver()
    hub = Hub(tmp_path / "data", queue=server.url(1), args=["--queue-lease", LEASE]).start()
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        ids = [create(hub, version, 1, receiver, n) for n in range(4)]
        wait_for(lambda: hub.get("/v1/predictions/" + ids[0]).json()["status"] == "processing",
                 30, "nothing started")
        server.kill()
        # Not acknowledged, so not kept: the client retries.
        refused = hub.post("/v1/predictions", json={"version": version, "input": {"n": 9}})
        body = problem(refused, 503)
        assert "queue (Redis) is unreachable or refused" in body["detail"]
        assert refused.headers["Retry-After"] == "1"
        listed = hub.get("/v1/predictions").json()["results"]
        assert sorted(p["id"] for p in listed) == sorted(ids)
        time.sleep(1.5)  # the running one finishes while Redis is away
        server.start()
        rows = wait_terminal(hub, ids, 40)
        assert [rows[i]["status"] for i in ids] == ["succeeded"] * 4, rows
        assert [rows[i]["output"] for i in ids] == [0, 1, 2, 3]
        receiver.wait(4, timeout=20)
        time.sleep(1.5)
        delivered = completed_deliveries(receiver.calls)
        assert sorted(delivered) == sorted(ids) and all(
            statuses == ["succeeded"] for statuses in delivered.values()), delivered
        # Acknowledged and deleted: nothing of the requests stays in Redis.
        wait_for(lambda: server.command("XLEN", "pinion:queue:" + version, database=1) == "0",
                 10, "messages stayed in the stream")
        assert "Redis at 127.0.0.1:%d answers again" % server.port in hub.read_log()
    finally:
        hub.stop()
        receiver.close()
        server.close()


DELETE_MESSAGE = """
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 'id' and fields[j + 1] == ARGV[1] then
      redis.call('XDEL', KEYS[1], entry[1])
      return 1
    end
  end
end
return 0
"""

COUNT_MESSAGES = """
local count = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 'id' and fields[j + 1] == ARGV[1] then count = count + 1 end
  end
end
return count
"""


def test_a_prediction_stored_but_never_queued_is_queued_again_once(tmp_path, redis, postgres):
    """A hub that stores a prediction and dies before its XADD (kill -9 between the two)
    leaves a row that no consumer would ever take: the hubs' sweep finds it and queues it
    again, exactly once although both hubs sweep, and it runs. Here the message is
    deleted from Redis by hand, which leaves the same state."""
    queue = redis_harness.fresh_url(redis.url())
    number = int(queue.rsplit("/", 1)[1])
    hubs = shared_hubs(tmp_path, postgres, queue, ["a", "b"],
                       extra_env={"PINION_QUEUE_ORPHAN_SECONDS": "2"})
    receiver = WebhookReceiver()
    try:
        a, b = [hub.start() for hub in hubs]
        version = a.push(None, "alice/slow", cwd=SLOW)
        stream = "pinion:queue:" + version
        # Each hub runs one at a time: two run, the third waits in the stream, untaken.
        ids = [create(a, version, 3, receiver, n) for n in range(3)]
        wait_for(lambda: [a.get("/v1/predictions/" + i).json()["status"] for i in ids].count(
            "processing") == 2, 30, "two did not start")
        orphan = next(i for i in ids if a.get("/v1/predictions/" + i).json()["status"] == "starting")
        assert redis.command("EVAL", DELETE_MESSAGE, "1", stream, orphan, database=number) == "1"
        assert redis.command("EVAL", COUNT_MESSAGES, "1", stream, orphan, database=number) == "0"
        rows = wait_terminal(a, ids, 40)
        assert [rows[i]["status"] for i in ids] == ["succeeded"] * 3, rows
        assert [rows[i]["output"] for i in ids] == [0, 1, 2]
        said = "prediction %s was stored but never queued" % orphan
        assert a.read_log().count(said) + b.read_log().count(said) == 1, \
            a.read_log() + b.read_log()
        receiver.wait(3, timeout=20)
        time.sleep(6)  # another sweep of each hub: nothing is queued twice
        assert a.read_log().count(said) + b.read_log().count(said) == 1
        delivered = completed_deliveries(receiver.calls)
        assert sorted(delivered) == sorted(ids) and all(
            statuses == ["succeeded"] for statuses in delivered.values()), delivered
        wait_for(lambda: redis.command("XLEN", stream, database=number) == "0", 10,
                 "messages stayed in the stream")
    finally:
        stop_all(hubs)
        receiver.close()


def test_orphans_of_several_targets_are_each_queued_again_on_their_own_stream(tmp_path,
                                                                             redis):
    """The sweep asks the queue about its candidates one target at a time: rows of two
    versions, created in turn, whose messages are gone from both streams, are each queued
    again once, on their own version's stream, and those whose messages are there get no
    second one. The hub only queues (--queue-consumers directors), so that every message
    stays in its stream for the test to count."""
    queue = redis_harness.fresh_url(redis.url())
    number = int(queue.rsplit("/", 1)[1])
    hub = Hub(tmp_path / "hub", queue=queue,
              args=["--queue-lease", LEASE, "--queue-consumers", "directors"],
              extra_env={"PINION_QUEUE_ORPHAN_SECONDS": "1"}).start()
    receiver = WebhookReceiver()
    try:
        slow = hub.push(None, "alice/slow", cwd=SLOW)
        host = hub.push(None, "alice/host", cwd=os.path.join(ROOT, "tests", "fixtures",
                                                             "hub_host"))
        versions = [slow, host, slow, host, slow, host]
        ids = [create(hub, version, 0, receiver, n) for n, version in enumerate(versions)]
        gone = [0, 1, 3, 4]
        for i in gone:
            stream = "pinion:queue:" + versions[i]
            assert redis.command("EVAL", DELETE_MESSAGE, "1", stream, ids[i],
                                 database=number) == "1"

        def counts():
            return [int(redis.command("EVAL", COUNT_MESSAGES, "1", "pinion:queue:" + version,
                                      prediction, database=number))
                    for prediction, version in zip(ids, versions)]

        wait_for(lambda: counts() == [1] * 6, 20, "the orphans were not queued again")
        time.sleep(6)  # another sweep: nothing is queued twice
        assert counts() == [1] * 6
        log = hub.read_log()
        for i, prediction in enumerate(ids):
            said = "prediction %s was stored but never queued" % prediction
            assert log.count(said) == (1 if i in gone else 0), (i, log)
    finally:
        hub.stop()
        receiver.close()


def completed_attempts(receiver, prediction_id):
    """Each attempt at prediction_id's `completed` webhook: (webhook-id, status answered)."""
    attempts = []
    for (headers, body), status in zip(list(receiver.calls), list(receiver.answered)):
        if json.loads(body)["id"] == prediction_id and json.loads(body)["status"] in TERMINAL:
            attempts.append((headers["webhook-id"], status))
    return attempts


def test_a_dead_hubs_completed_webhook_is_sent_by_another_hub_once(tmp_path, redis, postgres):
    """Hub replicas share `completed` deliveries: the hub that sends one claims it in
    Redis and renews the claim while it retries (1, 2, 4, 8 s apart). A hub that restarts
    and sweeps meanwhile leaves it be; killed mid-retry, the sender's delivery is resumed
    by the other hub once the claim expired, with the same webhook-id, and sent once."""
    queue = redis_harness.fresh_url(redis.url())
    hubs = shared_hubs(tmp_path, postgres, queue, ["a", "b"])
    receiver = WebhookReceiver(status=500)  # down: the delivery retries
    try:
        a, b = [hub.start() for hub in hubs]
        version = a.push(None, "alice/slow", cwd=SLOW)
        prediction = create(a, version, 0, receiver)
        wait_for(lambda: completed_attempts(receiver, prediction), 30, "no attempt")
        first = time.monotonic()
        sender, other = (a, b) if took(a, prediction) else (b, a)
        assert took(sender, prediction)
        # The other hub restarts: at its start and at each sweep (every 5 s) it resumes
        # the pending deliveries that no hub holds. Until 12 s after the first
        # attempt, the sender's schedule makes 4 (0, 1, 3, 7 s); a sweep that ignored the
        # claim would have added 3 or more (its own 0, 1, 3 s ...).
        other.stop()
        other.start()
        time.sleep(max(0.0, first + 12 - time.monotonic()))
        attempts = completed_attempts(receiver, prediction)
        assert len(attempts) == 4, attempts
        sender.process.send_signal(signal.SIGKILL)
        sender.process.wait(timeout=10)
        sender.process = None
        sender.log.close()
        receiver.status = 200
        wait_for(lambda: any(status == 200 for _, status in completed_attempts(receiver, prediction)),
                 30, "the other hub did not resume the delivery:\n" + other.read_log())
        time.sleep(3)  # a second one would be on its way by now
        attempts = completed_attempts(receiver, prediction)
        assert [status for _, status in attempts].count(200) == 1, attempts
        assert len({webhook_id for webhook_id, _ in attempts}) == 1, attempts  # one delivery
        row = other.get("/v1/predictions/" + prediction).json()
        assert row["status"] == "succeeded", row
    finally:
        stop_all(hubs)
        receiver.close()


def eval_calls(redis, database):
    """Scripts Redis has run since its stats were last reset (INFO commandstats)."""
    stats = redis.command("INFO", "commandstats", database=database)
    found = re.search(r"cmdstat_eval:calls=(\d+)", stats)
    return int(found.group(1)) if found else 0


def test_a_sweep_claims_the_pending_deliveries_in_one_round_trip(tmp_path, redis, postgres):
    """Thirty `completed` deliveries retrying against a receiver that is down, each held
    by the hub that sends it: the other hub's 5-second sweep finds them all pending and
    claims them together (one script per 256), not one round trip each, and takes none
    of them from their live senders."""
    queue = redis_harness.fresh_url(redis.url())
    number = int(queue.rsplit("/", 1)[1])
    hubs = shared_hubs(tmp_path, postgres, queue, ["a", "b"])
    receiver = WebhookReceiver(status=500)  # down: every delivery retries
    try:
        a, b = [hub.start() for hub in hubs]
        version = a.push(None, "alice/slow", cwd=SLOW)
        ids = [create(a, version, 0, receiver, n) for n in range(30)]
        wait_for(lambda: all(completed_attempts(receiver, i) for i in ids), 60,
                 "not every delivery was tried")
        redis.command("CONFIG", "RESETSTAT", database=number)
        time.sleep(11)  # two sweeps of each hub, and more than one renewal of the claims
        scripts = eval_calls(redis, number)
        # Each hub per 5 s: a claim script for the other's 30, its orphan sweep's script,
        # renewals of its own claims (every ~3.3 s): about 10 here; a round trip per
        # delivery made 66.
        assert scripts < 30, scripts
        # Every delivery stayed with the hub that first sent it: one webhook-id each.
        for prediction in ids:
            attempts = completed_attempts(receiver, prediction)
            assert len({webhook_id for webhook_id, _ in attempts}) == 1, attempts
    finally:
        stop_all(hubs)
        receiver.close()


def test_a_prediction_canceled_while_queued_leaves_the_stream_at_once(tmp_path, redis):
    """A canceled prediction that no consumer took is deleted from its stream by the
    cancel itself (a script: XDEL unless the group has it pending), so the stream's
    length, which KEDA scales on, drops at once; a running one is acknowledged and
    deleted by the hub that holds it."""
    queue = redis_harness.fresh_url(redis.url())
    number = int(queue.rsplit("/", 1)[1])
    hub = Hub(tmp_path / "data", queue=queue, args=["--queue-lease", LEASE]).start()
    try:
        version = hub.push(None, "alice/slow", cwd=SLOW)
        stream = "pinion:queue:" + version
        ids = [hub.post("/v1/predictions", json={"version": version, "input": {
            "n": n, "seconds": 30}}).json()["id"] for n in range(3)]
        # One instance of one slot: the hub holds the first, the other two wait untaken.
        wait_for(lambda: hub.get("/v1/predictions/" + ids[0]).json()["status"] == "processing",
                 30, "the first did not start")
        assert redis.command("XLEN", stream, database=number) == "3"
        assert redis.command("XPENDING", stream, "pinion", database=number).split("\n")[0] == "1"
        canceled = hub.post("/v1/predictions/%s/cancel" % ids[2])
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        assert redis.command("XLEN", stream, database=number) == "2"  # before the answer
        assert redis.command("EVAL", COUNT_MESSAGES, "1", stream, ids[2], database=number) == "0"
        # The held one stays for its holder, which acknowledges it once canceled.
        assert hub.post("/v1/predictions/%s/cancel" % ids[0]).json()["status"] == "canceled"
        wait_for(lambda: redis.command("XLEN", stream, database=number) == "1", 10,
                 "the running one's message stayed")
        assert redis.command("EVAL", COUNT_MESSAGES, "1", stream, ids[1], database=number) == "1"
        assert hub.post("/v1/predictions/%s/cancel" % ids[1]).json()["status"] == "canceled"
        wait_for(lambda: redis.command("XLEN", stream, database=number) == "0", 10,
                 "messages stayed in the stream")
        assert "could not be deleted" not in hub.read_log()
    finally:
        hub.stop()


FLOOD = os.path.join(ROOT, "tests", "fixtures", "hub_flood")


def test_a_stream_read_on_one_replica_follows_a_prediction_another_runs(tmp_path, redis, postgres):
    """Hub b only queues (--queue-consumers directors); hub a takes and runs what is
    queued. A client that created a streaming prediction on b and reads its event stream
    there gets each output as a runs it (a tells the other replicas of each stored change
    on `pinion:progress:<db>`), not all of them once it has finished."""
    queue = redis_harness.fresh_url(redis.url())
    a, b = shared_hubs(tmp_path, postgres, queue, ["a", "b"],
                       args={"b": ["--queue-consumers", "directors"]})
    try:
        a.start()
        b.start()
        version = b.push(None, "alice/flood", cwd=FLOOD)
        created = b.post("/v1/predictions", json={
            "version": version, "stream": True,
            "input": {"count": 3, "interval": 1.5, "log": True}})
        assert created.status_code == 201, created.text
        prediction = created.json()
        seen = []
        with requests.get(prediction["urls"]["stream"], headers={
                "Accept": "text/event-stream", "Authorization": "Bearer " + b.token("alice")},
                stream=True, timeout=60) as response:
            assert response.status_code == 200
            event = None
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event:
                    status = None
                    if event == "output":
                        status = b.get("/v1/predictions/" + prediction["id"]).json()["status"]
                    seen.append((event, line[len("data: "):], status))
                    if event == "done":
                        break
        outputs = [(data, status) for event, data, status in seen if event == "output"]
        assert [data for data, _ in outputs] == ["0:", "1:", "2:"], seen
        # The first two came while a still ran it (1.5 s before the next one).
        assert [status for _, status in outputs[:2]] == ["processing", "processing"], seen
        assert seen[-1][0] == "done", seen
        logs = "".join(data for event, data, _ in seen if event == "logs")
        assert "line 0" in logs and "line 2" in logs, seen
        assert b.get("/v1/predictions/" + prediction["id"]).json()["status"] == "succeeded"
    finally:
        stop_all([a, b])


class HeldReceiver:
    """Takes webhook calls and answers each 200 only once `release` is set."""

    def __init__(self):
        self.calls = []
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.calls.append(json.loads(body))
                receiver.release.wait(30)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_delivery_that_ends_while_the_database_is_away_is_not_sent_again(tmp_path, redis):
    """The `completed` webhook lands while PostgreSQL is stopped, so the hub cannot store
    that it was delivered. It keeps the delivery (and its claim) and stores its end once
    the database is back, instead of leaving a `pending` row that the sweeps would send
    again."""
    if not pg_harness.available():
        pytest.skip("PostgreSQL 15 is not installed (scripts/install-deps)")
    postgres = pg_harness.Postgres().start()
    database = pg_harness.fresh_database(postgres.url())
    queue = redis_harness.fresh_url(redis.url())
    hub = Hub(tmp_path / "data", database=database, queue=queue, args=["--queue-lease", LEASE])
    receiver = HeldReceiver()
    try:
        hub.start()
        version = hub.push(None, "alice/slow", cwd=SLOW)
        prediction = create(hub, version, 0, receiver)
        wait_for(lambda: receiver.calls, 30, "no webhook")
        postgres.stop()
        receiver.release.set()  # delivered now, while the hub cannot store it
        time.sleep(2)
        postgres.start()
        wait_for(lambda: "completed webhook of %s ended; trying again" % prediction
                 in hub.read_log(), 10, hub.read_log())
        time.sleep(12)  # two sweeps of the hub (every 5 s) after the database came back
        assert [call["id"] for call in receiver.calls] == [prediction], receiver.calls
        assert receiver.calls[0]["status"] == "succeeded"
    finally:
        hub.stop()
        receiver.close()
        postgres.close()
