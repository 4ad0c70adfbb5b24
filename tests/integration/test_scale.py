"""Scale-out as issue #13 runs it, with real engines on one machine: two hub replicas
that only queue (--queue-consumers directors) on one PostgreSQL database and one Redis
database, and three `pinion director`s, each beside its own `pinion serve` of
tests/fixtures/hub_host (it answers "n@HOST", so that the stored output says which
director's model server ran it). Leases are 1 s.

- Rounds: predictions spread over both hubs; one director killed with -9 mid-prediction
  each round (and started again before the next): what it held is taken over and
  finishes elsewhere; in the store every prediction is succeeded with its own output,
  none lost; every `completed` webhook arrives once; nothing stays in the stream.
- A hub replica killed with -9 while clients create on it: they retry on the other.
- PostgreSQL restarted under load: both hubs answer 503 meanwhile and recover by
  themselves; the directors' reports are sent again until stored.
- Redis (append-only file, fsync on every write) killed with -9 and started again while
  clients create: creates meanwhile get 503; every prediction answered 201 succeeds and
  its `completed` webhook arrives once.
- A director's host cut off (its network namespace's link down) while it holds a
  prediction: the prediction is taken over after the lease and finishes elsewhere; the
  cut-off director's late result, when the link is back, is refused.

Sizes: ROUND_PREDICTIONS predictions a round, ROUNDS rounds; see its comment."""
import collections
import concurrent.futures
import json
import os
import re
import signal
import threading
import time

import pytest
import requests

import netns_harness
import pg_harness
import redis_harness
from director_harness import LEASE, Director, director_credential, wait_for
from hub_harness import ROOT, Hub, WebhookReceiver, problem

pytestmark = pytest.mark.skipif(
    not redis_harness.available() or not pg_harness.available(),
    reason="redis-server or PostgreSQL 15 is not installed (scripts/install-deps)")

FIXTURE = "hub_host"
TERMINAL = ("succeeded", "failed", "canceled")
# 500 predictions a round is issue #13's figure; it is what runs here (about 10 s a round
# on 2 cores) unless PINION_SCALE_PREDICTIONS says otherwise (fewer for a quick look).
ROUND_PREDICTIONS = int(os.environ.get("PINION_SCALE_PREDICTIONS", "500"))
ROUNDS = 3
CLIENTS = 4  # threads creating predictions at once


@pytest.fixture(scope="module")
def network():
    """The cut-off director's host, or the reason there is none (not root)."""
    why = netns_harness.available()
    if why:
        yield why
        return
    host = netns_harness.Host()
    try:
        yield host
    finally:
        leaked = host.close()
    assert not leaked, "processes were left in %s: %s" % (host.name, leaked)


def host_of(network):
    return network if isinstance(network, netns_harness.Host) else None


@pytest.fixture(scope="module")
def redis(network):
    host = host_of(network)
    bind = ["127.0.0.1"] + ([host.host_address] if host else [])
    server = redis_harness.Redis(bind=bind).start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def postgres():
    server = pg_harness.Postgres().start()
    yield server
    server.close()


class Cluster:
    """Two hubs on one database and one queue, the fixture pushed, a director credential,
    a webhook receiver; directors started with director()."""

    def __init__(self, folder, postgres, redis, network):
        self.folder = folder
        self.redis = redis
        self.postgres = postgres
        self.host = host_of(network)
        self.database = pg_harness.fresh_database(postgres.url())
        self.queue = redis_harness.fresh_url(redis.url())
        self.number = int(self.queue.rsplit("/", 1)[1])
        internal = self.host.host_address if self.host else "127.0.0.1"
        self.hubs = [Hub(folder / name, database=self.database, queue=self.queue,
                         args=["--queue-lease", LEASE, "--queue-consumers", "directors",
                               "--internal-listen", internal + ":0"])
                     for name in ("hub-a", "hub-b")]
        self.directors = []
        self.receiver = WebhookReceiver()
        for hub in self.hubs:
            hub.start()
        a = self.hubs[0]
        self.version = a.push(None, "alice/host", cwd=os.path.join(ROOT, "tests", "fixtures",
                                                                   FIXTURE))
        for hub in self.hubs[1:]:
            hub.tokens = a.tokens  # one store: alice's token works on every hub
        _, self.credential = director_credential(a, folder / "credential")
        self.stream = "pinion:queue:" + self.version

    def director(self, name, hub, inside=False):
        """A director named `name` (its model server's PINION_TEST_HOST), reporting to
        `hub`; `inside`: on the cut-off host (network namespace)."""
        if inside:
            queue = self.redis.url(self.number, host=self.host.host_address)
            extra = dict(host=self.host.inner_address, wrapper=self.host.wrapper)
        else:
            queue, extra = self.queue, {}
        director = Director(str(self.folder / ("director-%s-%d" % (name, len(self.directors)))),
                            hub, queue, self.credential, FIXTURE, ["--version", self.version],
                            environment={"PINION_TEST_HOST": name}, **extra)
        self.directors.append(director)
        return director

    def close(self):
        for director in self.directors:
            director.stop()
        for hub in self.hubs:
            if hub.process:
                hub.stop()
        self.receiver.close()

    # --- reading the store and the queue ---------------------------------------------

    def rows(self, ids):
        """{id: (status, output)} from PostgreSQL itself."""
        if not ids:
            return {}
        name = self.database.rsplit("/", 1)[1]
        listed = ",".join("'%s'" % i for i in ids)
        text = self.postgres.psql(
            "SELECT json_build_object('id', id, 'status', status, 'output', "
            "doc::json->'output') FROM predictions WHERE id IN (%s)" % listed, name)
        rows = {}
        for line in text.splitlines():
            row = json.loads(line)
            assert row["id"] not in rows, "two rows for " + row["id"]
            rows[row["id"]] = (row["status"], row["output"])
        return rows

    def wait_terminal(self, ids, timeout):
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(ids)
            if len(rows) == len(ids) and all(status in TERMINAL for status, _ in rows.values()):
                return rows
            waiting = collections.Counter(status for status, _ in rows.values())
            assert time.monotonic() < deadline, "not all terminal: %s" % dict(waiting)
            time.sleep(0.25)

    def queue_is_empty(self):
        pending = self.redis.command("XPENDING", self.stream, "pinion", database=self.number)
        length = self.redis.command("XLEN", self.stream, database=self.number)
        return length == "0" and pending.split("\n")[0] == "0"

    def deliveries(self, ids, timeout):
        """{id: [status per completed delivery]} for `ids`, once every one arrived and a
        moment passed for a duplicate to show."""
        wanted = set(ids)

        def delivered():
            found = collections.defaultdict(list)
            for _, body in list(self.receiver.calls):
                prediction = json.loads(body)
                if prediction["id"] in wanted and prediction["status"] in TERMINAL:
                    found[prediction["id"]].append((prediction["status"], prediction["output"]))
            return found

        wait_for(lambda: len(delivered()) == len(wanted), timeout,
                 lambda: "webhooks missing for %d predictions" % (len(wanted) - len(delivered())))
        time.sleep(1.5)
        return delivered()


@pytest.fixture
def cluster(tmp_path, postgres, redis, network):
    made = Cluster(tmp_path, postgres, redis, network)
    try:
        yield made
    finally:
        made.close()


def create(hub, n, seconds, receiver_url, client_id=None):
    body = {"version": hub.version_id, "input": {"n": n, "seconds": seconds},
            "webhook": receiver_url, "webhook_events_filter": ["completed"]}
    response = hub.post("/v1/predictions", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def create_many(cluster, numbers, seconds, hubs=None):
    """Creates a prediction for each n in `numbers`, alternating between `hubs`, from
    CLIENTS threads; returns {id: n}."""
    hubs = hubs or cluster.hubs
    for hub in hubs:
        hub.version_id = cluster.version

    def one(index_n):
        index, n = index_n
        return create(hubs[index % len(hubs)], n, seconds, cluster.receiver.url), n

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        return dict(pool.map(one, enumerate(numbers)))


def held_by(director):
    """Predictions the director took and had not had stored when it stopped, from its
    log."""
    log = director.read_log()
    taken = re.findall(r"took prediction (\S+)", log)
    stored = set(re.findall(r"prediction (\S+) is (?:succeeded|failed|canceled)", log))
    return [i for i in taken if i not in stored]


def test_rounds_with_a_director_killed_mid_prediction_lose_nothing_and_finish_once(cluster):
    a, b = cluster.hubs
    names = ["d0", "d1", "d2"]
    directors = {name: cluster.director(name, hub) for name, hub in zip(names, (a, b, a))}
    figures = []
    for round_number in range(ROUNDS):
        started = time.monotonic()
        victim_name = names[round_number % len(names)]
        victim = directors[victim_name]
        base = round_number * 100000
        numbers = list(range(base, base + ROUND_PREDICTIONS))
        # One slow prediction for each director first, so that the victim is surely
        # mid-prediction when it dies; then the rest, fast, while it is killed.
        slow = create_many(cluster, numbers[:3], 1.5)
        held_slow = wait_for(lambda: [i for i in slow if victim.took(i)], 30,
                             lambda: "%s took no slow one:\n%s" % (victim_name,
                                                                   victim.read_log()[-3000:]))
        with concurrent.futures.ThreadPoolExecutor(1) as creator:
            creating = creator.submit(create_many, cluster, numbers[3:], 0.0)
            wait_for(lambda: victim.health().get("running") == 1 and
                     cluster.rows(held_slow)[held_slow[0]][0] == "processing", 30,
                     "%s did not start %s" % (victim_name, held_slow[0]))
            victim.kill()
            victim.serve.stop()
            killed_at = time.monotonic() - started
            created = dict(slow, **creating.result(timeout=300))
        held = held_by(victim)
        unfinished = [i for i, (status, _) in cluster.rows(held).items()
                      if status not in TERMINAL]
        assert held_slow[0] in unfinished, (held, unfinished)
        rows = cluster.wait_terminal(list(created), 300)
        elapsed = time.monotonic() - started
        # 0 lost: every prediction is in the store, succeeded, with its own output.
        assert len(rows) == ROUND_PREDICTIONS
        wrong = {i: rows[i] for i, n in created.items()
                 if rows[i][0] != "succeeded" or not rows[i][1].startswith("%d@" % n)}
        assert not wrong, wrong
        # What the killed director still held finished on another director, once.
        for prediction in unfinished:
            assert not rows[prediction][1].endswith("@" + victim_name), rows[prediction]
            assert any("took over prediction %s" % prediction in d.read_log()
                       for name, d in directors.items() if name != victim_name), prediction
        # Every `completed` webhook arrived once, with the stored outcome.
        delivered = cluster.deliveries(list(created), 60)
        twice = {i: calls for i, calls in delivered.items() if len(calls) != 1}
        assert not twice, twice
        assert all(delivered[i][0] == ("succeeded", rows[i][1]) for i in created), delivered
        wait_for(cluster.queue_is_empty, 10, "messages stayed in the stream")
        ran = collections.Counter(output.split("@")[1] for _, output in rows.values())
        took = {name: len([i for i in re.findall(r"took prediction (\S+)", d.read_log())
                           if i in created]) for name, d in directors.items()}
        # Each director took part (the killed one before it died).
        assert set(ran) <= set(names) and all(took.values()), (ran, took)
        figures.append("round %d: %d predictions in %.1f s (%.0f/s), %s killed at %.1f s "
                       "holding %d (%d unfinished), ran on %s" % (
                           round_number + 1, ROUND_PREDICTIONS, elapsed,
                           ROUND_PREDICTIONS / elapsed, victim_name, killed_at, len(held),
                           len(unfinished), dict(ran)))
        print(figures[-1])
        # The killed director starts again for the next round.
        directors[victim_name] = cluster.director(victim_name, a if victim_name != "d1" else b)
    assert len(cluster.receiver.calls) == ROUNDS * ROUND_PREDICTIONS, figures


def all_rows(cluster):
    """Every prediction in the cluster's database: {id: (status, output)}."""
    name = cluster.database.rsplit("/", 1)[1]
    ids = cluster.postgres.psql("SELECT id FROM predictions", name).split()
    return cluster.rows(ids)


def test_a_killed_hub_replica_loses_nothing_for_clients_that_retry_on_the_other(cluster):
    """Clients create on hub b and, when it does not answer, send the same request to hub
    a. The hub has no idempotency key for creates (Replicate's API has none either), so a
    create that b stored but could not answer before it died runs twice once retried:
    the client cannot tell. What is asserted is what a client can rely on: nothing is
    lost (each client's request has a succeeded prediction), a create that was answered
    ran once, and the duplicates are at most the creates in flight when b died."""
    a, b = cluster.hubs
    for name in ("d0", "d1", "d2"):
        cluster.director(name, a)  # they report to the hub that stays
    count = 150
    answered, retried = {}, set()
    killed = []

    def create_on(hub, n):
        return hub.post("/v1/predictions", json={
            "version": cluster.version, "input": {"n": n, "seconds": 0.0},
            "webhook": cluster.receiver.url, "webhook_events_filter": ["completed"]})

    def client(numbers):
        for n in numbers:
            if not killed:
                try:
                    response = create_on(b, n)
                    if response.status_code == 201:
                        answered[n] = response.json()["id"]
                        continue
                except requests.RequestException:
                    pass
            retried.add(n)
            response = create_on(a, n)
            assert response.status_code == 201, response.text
            answered[n] = response.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        futures = [pool.submit(client, range(i, count, CLIENTS)) for i in range(CLIENTS)]
        wait_for(lambda: len(answered) >= count // 3, 60, "too few creates answered")
        b.process.send_signal(signal.SIGKILL)
        b.process.wait(timeout=10)
        b.process = None
        b.log.close()
        for future in futures:
            future.result(timeout=120)
    killed.append(True)
    assert len(answered) == count
    rows = cluster.wait_terminal(list(all_rows(cluster)), 120)
    runs = collections.Counter()
    for status, output in rows.values():
        assert status == "succeeded", rows
        runs[int(output.split("@")[0])] += 1
    assert sorted(runs) == list(range(count)), "lost: %s" % (set(range(count)) - set(runs))
    for n in range(count):
        if n not in retried:
            assert runs[n] == 1, (n, runs[n])
    duplicates = sum(runs[n] - 1 for n in retried)
    assert retried and duplicates <= CLIENTS, (len(retried), duplicates)
    # Every stored prediction, duplicates included, sent its `completed` once.
    delivered = cluster.deliveries(list(rows), 60)
    assert all(len(calls) == 1 for calls in delivered.values()), delivered
    wait_for(cluster.queue_is_empty, 10, "messages stayed in the stream")
    print("hub killed after %d answered creates: %d retried on the other hub, %d ran twice"
          % (count - len(retried), len(retried), duplicates))


def test_redis_restarted_with_its_append_only_file_loses_nothing_acknowledged(tmp_path,
                                                                              postgres):
    """Redis with its append-only file (fsync on every write) is killed with -9 mid-run
    and started again, while four clients create predictions on both hubs and three
    directors run them. A create answered 201 was in Redis's file before the answer, so
    it must survive: each one succeeds with its own output and sends its `completed`
    webhook exactly once (a prediction whose lease ran out while Redis was away may run
    twice; the store keeps one outcome). Creates while Redis is away get 503; the clients
    go on and those are not counted."""
    server = redis_harness.Redis(appendonly=True).start()
    cluster = Cluster(tmp_path, postgres, server, "no network namespace needed")
    try:
        a, b = cluster.hubs
        for name, hub in zip(("d0", "d1", "d2"), (a, b, a)):
            cluster.director(name, hub)
        created, refused = {}, []
        stop = threading.Event()

        def client(first):
            hub = cluster.hubs[first % 2]
            for n in range(first, 100000, CLIENTS):
                if stop.is_set():
                    return
                response = hub.post("/v1/predictions", json={
                    "version": cluster.version, "input": {"n": n, "seconds": 0.1},
                    "webhook": cluster.receiver.url, "webhook_events_filter": ["completed"]})
                if response.status_code == 201:
                    created[response.json()["id"]] = n
                    continue
                detail = problem(response, 503)["detail"]
                assert "queue (Redis) is unreachable or refused" in detail, detail
                refused.append(n)
                time.sleep(0.1)

        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            clients = [pool.submit(client, first) for first in range(CLIENTS)]
            try:
                wait_for(lambda: len(created) >= 40, 60, "too few creates answered")
                server.kill()
                wait_for(lambda: refused, 20, "no create was refused while Redis was away")
                time.sleep(1.5)  # leases run out meanwhile; running predictions go on
                before = len(created)
                server.start()
                wait_for(lambda: len(created) >= before + 40, 60,
                         "creates did not resume after Redis came back")
            finally:
                stop.set()
            for future in clients:
                future.result(timeout=60)
        rows = cluster.wait_terminal(list(created), 120)
        wrong = {i: rows[i] for i, n in created.items()
                 if rows[i][0] != "succeeded" or not rows[i][1].startswith("%d@" % n)}
        assert not wrong, wrong
        delivered = cluster.deliveries(list(created), 60)
        twice = {i: calls for i, calls in delivered.items() if len(calls) != 1}
        assert not twice, twice
        assert all(delivered[i][0] == ("succeeded", rows[i][1]) for i in created), delivered
        wait_for(cluster.queue_is_empty, 10, "messages stayed in the stream")
        assert all("Redis at 127.0.0.1:%d answers again" % server.port in hub.read_log()
                   for hub in cluster.hubs)
        print("%d creates answered before Redis came back, %d refused while it was away, "
              "%d answered in all" % (before, len(refused), len(created)))
    finally:
        cluster.close()
        server.close()


def test_postgresql_restarted_under_load_gives_503_and_the_hubs_recover(cluster):
    a, b = cluster.hubs
    for name, hub in zip(("d0", "d1", "d2"), (a, b, a)):
        cluster.director(name, hub)
    created = create_many(cluster, range(60), 0.3)
    wait_for(lambda: sum(status in TERMINAL for status, _ in cluster.rows(list(created))
                         .values()) >= 6, 60, "nothing finished")
    some = next(iter(created))
    cluster.postgres.stop()
    try:
        for hub in (a, b):
            response = hub.get("/v1/predictions/" + some)
            detail = problem(response, 503)["detail"]
            assert detail.startswith("The hub's database (PostgreSQL) is unavailable"), detail
            refused = hub.post("/v1/predictions", json={"version": cluster.version,
                                                        "input": {"n": 999}})
            assert refused.status_code == 503, refused.text
        time.sleep(2)  # the directors' reports fail meanwhile and are sent again
    finally:
        cluster.postgres.start()
    rows = cluster.wait_terminal(list(created), 120)
    wrong = {i: rows[i] for i, n in created.items()
             if rows[i][0] != "succeeded" or not rows[i][1].startswith("%d@" % n)}
    assert not wrong, wrong
    assert len(all_rows(cluster)) == 60  # the refused create stored nothing
    delivered = cluster.deliveries(list(created), 60)
    assert all(len(calls) == 1 for calls in delivered.values()), delivered
    for hub in (a, b):
        assert hub.process.poll() is None
        assert hub.get("/v1/predictions/" + some).status_code == 200
    assert any("PostgreSQL" in hub.read_log() for hub in (a, b))
    wait_for(cluster.queue_is_empty, 10, "messages stayed in the stream")


def test_a_director_cut_off_loses_its_prediction_and_its_late_result_is_refused(cluster,
                                                                                 network):
    if not cluster.host:
        pytest.skip(network)
    a, b = cluster.hubs
    others = [cluster.director("d0", a), cluster.director("d1", b)]
    cut = cluster.director("cut", a, inside=True)
    created = create_many(cluster, [0, 1, 2], 4.0)  # one each
    held = wait_for(lambda: [i for i in created if cut.took(i)], 30,
                    lambda: "the cut-off director took nothing:\n" + cut.read_log())
    prediction = held[0]
    wait_for(lambda: cluster.rows([prediction])[prediction][0] == "processing", 30,
             "it did not start " + prediction)
    cluster.host.cut()
    try:
        # Taken over once another director is free and the lease has run out.
        wait_for(lambda: any("took over prediction %s" % prediction in d.read_log()
                             for d in others), 30,
                 lambda: "no one took it over:\n" + "\n".join(d.read_log() for d in others))
        time.sleep(1.0)
        assert cluster.rows([prediction])[prediction][0] == "processing"
    finally:
        cluster.host.restore()
    rows = cluster.wait_terminal(list(created), 60)
    assert all(rows[i] == ("succeeded", "%d@%s" % (n, rows[i][1].split("@")[1]))
               for i, n in created.items()), rows
    assert rows[prediction][1].split("@")[1] in ("d0", "d1"), rows[prediction]
    # Its late result is refused by the hub, or dropped once its queue sees the message
    # gone, whichever comes first after the link is back.
    wait_for(lambda: ("refused a report on prediction %s" % prediction in cut.read_log() or
                      "lease on prediction %s ran out" % prediction in cut.read_log()), 30,
             lambda: "the late result was neither refused nor dropped:\n" + cut.read_log())
    delivered = cluster.deliveries(list(created), 30)
    assert all(len(calls) == 1 for calls in delivered.values()), delivered
    assert delivered[prediction][0] == rows[prediction]
    assert cluster.rows([prediction])[prediction] == rows[prediction]
    # The host that was cut off works again.
    wait_for(lambda: cut.health().get("running") == 0, 30, lambda: cut.read_log())
    more = create_many(cluster, range(3, 15), 0.2)
    again = cluster.wait_terminal(list(more), 60)
    assert all(status == "succeeded" for status, _ in again.values()), again
    assert any(output.endswith("@cut") for _, output in again.values()), again
    wait_for(cluster.queue_is_empty, 10, "messages stayed in the stream")
