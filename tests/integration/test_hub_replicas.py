"""Hub replicas (issue #13 item 5): several `pinion hub` processes on one PostgreSQL
database, one Redis database and one data folder (the shared volume) serve any request.
A version pushed on one runs on another, a file uploaded on one is read through another
(its signed URL included), restarting or killing one leaves what another runs alone
(each keeps its scratch folders and socket in a part of the folder it locks), and
--rate-limit counts across replicas in Redis."""
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import requests

import pg_harness
import redis_harness
from hub_harness import ROOT, Hub, problem
# postgres and redis are fixtures: imported, pytest finds them here.
from shared_hubs import (postgres, redis, shared_hubs, stop_all,  # noqa: F401
                         took, wait_for, wait_terminal)

pytestmark = pytest.mark.skipif(
    not (redis_harness.available() and pg_harness.available()),
    reason="redis-server or PostgreSQL 15 is not installed (scripts/install-deps)")

SLOW = os.path.join(ROOT, "tests", "fixtures", "hub_slow")
PATH_INPUT = os.path.join(ROOT, "tests", "fixtures", "cli_path_input")


def owners(data):
    """The hub processes that hold a part of the data folder: DATA/instances/*.lock."""
    folder = os.path.join(data, "instances")
    return sorted(name[:-len(".lock")] for name in os.listdir(folder) if name.endswith(".lock"))


def test_a_version_and_a_file_from_one_replica_are_used_by_another(tmp_path, postgres, redis):
    """Hub a only queues (--queue-consumers directors), so hub b runs everything: the
    bundle a unpacked and the file a stored are in the folder they share, and the
    input's signed URL, which a made for its own internal listener, is pointed at b's
    and holds there (one secret)."""
    a, b = shared_hubs(tmp_path, postgres, redis_harness.fresh_url(redis.url()), ["a", "b"],
                       one_folder=True, args={"a": ["--queue-consumers", "directors"]})
    try:
        a.start()
        b.start()
        assert a.data == b.data
        assert len(owners(a.data)) == 2
        version = a.push(None, "alice/path-input", cwd=PATH_INPUT)
        uploaded = a.post("/v1/files", files={"content": ("in.txt", b"shared bytes\n")})
        assert uploaded.status_code == 201, uploaded.text
        file = uploaded.json()
        # The file, read through the other replica: its record and its bytes.
        assert b.get("/v1/files/" + file["id"]).json()["checksums"] == file["checksums"]
        download = b.get("/v1/files/%s/download" % file["id"])
        assert download.status_code == 200 and download.content == b"shared bytes\n"
        created = a.post("/v1/predictions", json={"version": version,
                                                  "input": {"source": file["urls"]["get"]}})
        assert created.status_code == 201, created.text
        prediction = created.json()["id"]
        row = wait_terminal(b, [prediction], 90)[prediction]
        assert row["status"] == "succeeded", (row.get("error"), row.get("logs"), b.read_log())
        assert row["output"] == "Path .txt shared bytes"
        assert took(b, prediction) and not took(a, prediction)
        # The signed URL a made (it is in the prediction's request) holds on b too.
        database = a.database_args[1].rsplit("/", 1)[1]
        request = postgres.psql("SELECT doc::json->'request'->'input'->>'source' FROM "
                                "predictions WHERE id = '%s'" % prediction, database=database)
        assert request.startswith(a.internal_url + "/internal/files/%s/download" % file["id"])
        on_b = b.internal_url + request[len(a.internal_url):]
        fetched = requests.get(on_b, timeout=10)
        assert fetched.status_code == 200 and fetched.content == b"shared bytes\n"
        problem(requests.get(re.sub(r"signature=[^&]+", "signature=AAAA", on_b), timeout=10), 403)
    finally:
        stop_all([a, b])


def test_restarting_or_killing_a_replica_leaves_another_replicas_work_alone(
        tmp_path, postgres, redis):
    """Each hub keeps its instances' scratch folders and its socket for sandboxed models
    in DATA/instances/OWNER, locked while it lives. A hub that starts sweeps only the
    parts whose lock nobody holds: a live replica's prediction, instance and socket
    survive another replica's restart, and a killed replica's part goes at the next
    start."""
    a, b = shared_hubs(tmp_path, postgres, redis_harness.fresh_url(redis.url()), ["a", "b"],
                       one_folder=True)
    try:
        a.start()
        b.start()
        version = a.push(None, "alice/slow", cwd=SLOW)
        # Each hub runs one at a time (one instance of one slot): a takes one, b the other.
        ids = [a.post("/v1/predictions", json={"version": version,
                                                "input": {"n": n, "seconds": 4}}).json()["id"]
               for n in range(2)]
        wait_for(lambda: any(took(a, i) for i in ids) and any(took(b, i) for i in ids), 30,
                 "the two hubs did not take one each:\n" + a.read_log() + b.read_log())
        on_a = next(i for i in ids if took(a, i))
        wait_for(lambda: a.get("/v1/predictions/" + on_a).json()["status"] == "processing", 30,
                 "hub a did not start " + on_a)
        both = owners(a.data)
        assert len(both) == 2, both
        # Each one's instance has its scratch folder in its own part.
        assert all(os.listdir(os.path.join(a.data, "instances", owner)) for owner in both)
        b.stop()
        b.start()
        assert "left behind" not in b.read_log()
        rows = wait_terminal(a, ids, 60)
        assert [rows[i]["status"] for i in ids] == ["succeeded"] * 2, rows
        assert [rows[i]["output"] for i in ids] == [0, 1]
        # b's stopped part went with it; a's is still there, its instance's folder in it.
        mine = [owner for owner in owners(a.data) if owner in both]
        assert len(mine) == 1 and len(owners(a.data)) == 2, owners(a.data)
        assert os.listdir(os.path.join(a.data, "instances", mine[0]))
        # Killed, b leaves its part behind; its next start sweeps it, and only it.
        b.process.send_signal(signal.SIGKILL)
        b.process.wait(timeout=10)
        b.process = None
        b.log.close()
        assert len(owners(a.data)) == 2
        b.start()
        assert len(owners(a.data)) == 2 and mine[0] in owners(a.data), owners(a.data)
        # Both still run predictions (a's instance and socket were left alone).
        more = [b.post("/v1/predictions", json={"version": version,
                                                 "input": {"n": n, "seconds": 1}}).json()["id"]
                for n in range(2, 4)]
        rows = wait_terminal(b, more, 60)
        assert [rows[i]["output"] for i in more] == [2, 3], rows
        assert "left behind" not in a.read_log()
    finally:
        stop_all([a, b])


def test_the_rate_limit_holds_across_replicas(tmp_path, postgres):
    """--rate-limit N counts each account's requests in Redis, so N holds across all the
    replicas: 6 on one and 6 on the other, and the 11th and 12th are refused. With
    Redis away, each hub counts on its own (the API stays up) and says so."""
    server = redis_harness.Redis().start()
    a, b = shared_hubs(tmp_path, postgres, server.url(), ["a", "b"], one_folder=True,
                       args={"a": ["--rate-limit", "10"], "b": ["--rate-limit", "10"]})
    try:
        a.start()
        b.start()
        answers = [a.get("/v1/account") for _ in range(6)] + \
                  [b.get("/v1/account") for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 10 + [429] * 2
        assert [r.headers["ratelimit-remaining"] for r in answers] == \
               ["9", "8", "7", "6", "5", "4", "3", "2", "1", "0", "0", "0"]
        for refused in answers[10:]:
            body = problem(refused, 429)
            assert "this account may make 10 requests a minute" in body["detail"]
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another account has a window of its own.
        assert b.get("/v1/account", account="bob").status_code == 200
        server.kill()
        assert a.get("/v1/account").status_code == 200
        assert "counting on this hub alone until it answers" in a.read_log()
    finally:
        stop_all([a, b])
        server.close()


def test_both_replicas_sweep_expired_files_of_the_shared_folder(tmp_path, postgres, redis):
    """Every replica sweeps expired uploads every few minutes (here every second): two
    sweeping the same rows delete each once, the blob goes with the last row, and a
    new upload of the same bytes afterwards is stored and read again, on either hub."""
    a, b = shared_hubs(tmp_path, postgres, redis_harness.fresh_url(redis.url()), ["a", "b"],
                       one_folder=True)
    for hub in (a, b):
        hub.extra_env = {"PINION_FILE_LIFETIME": "2"}
    try:
        a.start()
        b.start()
        content = b"bytes both replicas sweep"
        sha = hashlib.sha256(content).hexdigest()
        blob = os.path.join(a.data, "blobs", sha[:2], sha)
        ids = [hub.post("/v1/files", files={"content": ("x.txt", content)}).json()["id"]
               for hub in (a, b)]
        assert os.path.exists(blob)
        wait_for(lambda: not os.path.exists(blob), 15, "the expired files' blob stayed")
        assert [b.get("/v1/files/" + i).status_code for i in ids] == [404, 404]
        time.sleep(1.5)  # more sweeps of both: none deletes a row again
        counted = sum(int(n) for hub in (a, b)
                      for n in re.findall(r"deleted (\d+) expired file", hub.read_log()))
        assert counted == 2, (a.read_log(), b.read_log())
        again = b.post("/v1/files", files={"content": ("y.txt", content)}).json()
        assert os.path.exists(blob)
        assert a.get("/v1/files/%s/download" % again["id"]).content == content
        assert "could not delete" not in a.read_log() + b.read_log()
    finally:
        stop_all([a, b])


def test_a_sweep_removes_a_dead_writers_half_written_blob_files_and_keeps_fresh_ones(
        tmp_path, postgres, redis):
    """A replica killed while writing or deleting a blob leaves <sha>.partial-XXXXXX or
    <sha>.deleting-XXXXXX in the shared blobs/ folder. The periodic sweep (here once the
    hub serves, then every second) removes those older than an hour; a fresh one may be a
    live replica's write under way and stays, and so do blobs themselves, however old."""
    (a,) = shared_hubs(tmp_path, postgres, redis_harness.fresh_url(redis.url()), ["a"],
                       one_folder=True)
    a.extra_env = {"PINION_FILE_LIFETIME": "2"}
    folder = os.path.join(a.data, "blobs", "ab")
    os.makedirs(folder)
    sha = "ab" + "c" * 62
    two_hours_ago = time.time() - 7200
    planted = {}
    for name, old in ((sha + ".partial-x1Yz2Q", True), (sha + ".deleting-Q9w8E7", True),
                      (sha + ".partial-fresh1", False), (sha, True)):
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(b"bytes")
        if old:
            os.utime(path, (two_hours_ago, two_hours_ago))
        planted[name] = path
    try:
        a.start()
        for name in (sha + ".partial-x1Yz2Q", sha + ".deleting-Q9w8E7"):
            wait_for(lambda: not os.path.exists(planted[name]), 15, "the old %s stayed" % name)
        time.sleep(1.5)  # more sweeps: the fresh one and the blob stay
        assert os.path.exists(planted[sha + ".partial-fresh1"])
        assert os.path.exists(planted[sha])
        # Two sweeps may overlap on the pool and share the work: their counts add up.
        removed = re.findall(r"removed (\d+) half-written or half-deleted blob files? left by "
                             r"a hub that died", a.read_log())
        assert sum(int(n) for n in removed) == 2, a.read_log()
    finally:
        stop_all([a])


def stray_sandbox(scratch):
    """A bubblewrap sandbox over `scratch` mounted at /run/pinion, as an instance's is,
    left running without a hub."""
    os.makedirs(os.path.join(scratch, "tmp"), exist_ok=True)
    return subprocess.Popen(
        ["bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/usr", "/usr",
         "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink",
         "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--bind", scratch,
         "/run/pinion", "--", "/bin/sleep", "300"], start_new_session=True)


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_a_starting_hub_kills_a_dead_replicas_strays_and_leaves_a_live_ones(tmp_path):
    """Sandboxes still running over a replica's scratch folders: killed when that
    replica is dead (its lock is free), left alone while it lives (here the test holds
    its lock, as a live hub process does)."""
    from test_hub_isolation import sandboxed_commands
    instances = tmp_path / "data" / "instances"
    os.makedirs(instances)
    live_lock = open(instances / "host-1-11111111.lock", "w")
    fcntl.flock(live_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    (instances / "host-2-22222222.lock").write_text("")
    # Tokens of their own: the kill matches scratch folders by name, host-wide.
    live_token, dead_token = uuid.uuid4().hex, uuid.uuid4().hex
    live = stray_sandbox(str(instances / "host-1-11111111" / live_token))
    dead = stray_sandbox(str(instances / "host-2-22222222" / dead_token))
    hub = None
    try:
        for stray in (live, dead):
            wait_for(lambda: sandboxed_commands(stray.pid) == ["bwrap", "sleep"], 15,
                     "the stray sandbox did not start")
        hub = Hub(tmp_path / "data").start()
        dead.wait(timeout=10)  # its sandbox was killed, so bubblewrap ended
        assert "killed 2 processes of sandboxes that a previous run left behind" in \
            hub.read_log()
        assert not (instances / "host-2-22222222").exists()
        assert not (instances / "host-2-22222222.lock").exists()
        assert live.poll() is None and sandboxed_commands(live.pid) == ["bwrap", "sleep"]
        assert (instances / "host-1-11111111" / live_token).is_dir()
    finally:
        if hub:
            hub.stop()
        for stray in (live, dead):
            if stray.poll() is None:
                stray.kill()
                stray.wait()
        live_lock.close()
