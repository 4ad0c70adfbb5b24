"""The hub's scheduler, black-box: build/tests-bin/scheduler_driver runs a scheduler on a
loop with the hub's internal webhook route, takes commands as JSON lines and prints every
event as a JSON line; these tests drive it against real `pinion serve` instances."""
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time

import pytest

from hub_harness import instance_credentials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PINION = os.environ.get("PINION", os.path.join(ROOT, "build", "bin", "pinion"))
DRIVER = os.path.join(os.path.dirname(PINION), "..", "tests-bin", "scheduler_driver")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TEST_PYTHON = "/usr/bin/python3"
TIMEOUT = 15


def target(fixture="scheduler_model", key=None, **bounds):
    spec = {"key": key or fixture, "bundle_dir": os.path.join(FIXTURES, fixture)}
    spec.update(bounds)
    return spec


class Driver:
    """One scheduler_driver process: send() commands, next()/until() events."""

    def __init__(self, tmp_path, idle_timeout=60, boot_timeout=30, env=None, args=()):
        if not os.path.exists(DRIVER):
            pytest.fail("build the driver first: make " + os.path.relpath(DRIVER, ROOT))
        self.data = tmp_path / "data"
        full_env = dict(os.environ)
        for name in list(full_env):
            if name.startswith("COG_"):
                del full_env[name]
        full_env.update({"NO_COLOR": "1", "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
        full_env.update(env or {})
        self.stderr = open(tmp_path / "driver.log", "w+")
        self.process = subprocess.Popen(
            [DRIVER, "--pinion", PINION, "--python", TEST_PYTHON, "--data", str(self.data),
             "--idle-timeout", str(idle_timeout), "--boot-timeout", str(boot_timeout), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, text=True,
            env=full_env)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.hub_url = self.next()["hub_url"]
        self.events = []  # every event seen, in order

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def send(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def next(self, timeout=TIMEOUT):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output from the driver for %s s; events: %s"
                                 % (timeout, self.events))
        assert line is not None, "the driver ended; its log:\n" + self.log()
        if "event" in line:
            self.events.append(line)
        return line

    def reply(self, op, **fields):
        """Sends a command and returns its reply (events read meanwhile are kept)."""
        self.send(op=op, **fields)
        while True:
            line = self.next()
            if line.get("reply") == op:
                return line

    def until(self, predicate, timeout=TIMEOUT):
        """Reads until an event satisfies predicate; returns it."""
        for event in self.events:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(timeout=max(0.1, deadline - time.monotonic()))
            if "event" in line and predicate(line):
                return line

    def completed(self, prediction_id):
        return self.until(lambda e: e["id"] == prediction_id and (
            e["event"] == "failed" or e.get("kind") == "completed"))

    def submit(self, prediction_id, spec, **inputs):
        reply = self.reply("submit", id=prediction_id, target=spec, request={"input": inputs})
        assert reply["rc"] == "PN_OK", reply
        return reply

    def stats(self, key):
        return self.reply("stats", key=key)

    def wait_stats(self, key, timeout=TIMEOUT, **expected):
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats(key)
            if all(stats[name] == value for name, value in expected.items()):
                return stats
            assert time.monotonic() < deadline, "stats never reached %s: %s" % (expected, stats)
            time.sleep(0.05)

    def of(self, prediction_id):
        return [(e["event"], e["kind"]) for e in self.events if e["id"] == prediction_id]

    def log(self):
        self.stderr.seek(0)
        return self.stderr.read()

    def quit(self):
        if self.process.poll() is None:
            self.send(op="quit")
            self.process.wait(timeout=TIMEOUT)
        self.stderr.close()
        return self.process.returncode


@pytest.fixture
def driver(tmp_path, request):
    drivers = []

    def start(**kwargs):
        started = Driver(tmp_path, **kwargs)
        drivers.append(started)
        return started

    yield start
    for started in drivers:
        if getattr(started, "killed", False):
            continue
        log = started.log() if not started.stderr.closed else ""
        rc = started.quit()
        assert rc == 0, "the driver exited with %s (a sanitizer?):\n%s" % (rc, log)
        assert "ERROR: AddressSanitizer" not in log and "runtime error" not in log, log


def compact(events):
    """(event, kind) pairs with consecutive logs/output updates folded: webhooks for
    logs and outputs are throttled and may be coalesced."""
    folded = []
    for pair in events:
        if pair == ("update", "logs") and folded and folded[-1] == pair:
            continue
        folded.append(pair)
    return folded


def test_cold_boot_then_warm_dispatch(driver):
    # pinion serve throttles output webhooks as well as logs (Cog throttles only logs).
    d = driver(env={"COG_THROTTLE_RESPONSE_INTERVAL": "0"})
    spec = target()
    d.submit("a", spec, text="one two", word_seconds=0.1)
    done = d.completed("a")
    assert done["detail"]["status"] == "succeeded"
    assert done["detail"]["output"] == ["one", "two"]
    events = d.of("a")
    assert events[:3] == [("booting", None), ("started", None), ("update", "start")]
    assert events[-1] == ("update", "completed")
    assert ("update", "output") in events
    started = [e for e in d.events if e["id"] == "a" and e["event"] == "started"][0]
    assert started["detail"]["cold_boot_time"] > 0
    booting = [e for e in d.events if e["id"] == "a" and e["event"] == "booting"][0]
    assert len(booting["detail"]["instance"]) == 32

    d.submit("b", spec, text="warm")
    assert d.completed("b")["detail"]["output"] == ["warm"]
    events = d.of("b")
    assert events[:2] == [("started", None), ("update", "start")]
    assert ("booting", None) not in events
    started = [e for e in d.events if e["id"] == "b" and e["event"] == "started"][0]
    assert started["detail"]["cold_boot_time"] is None
    assert d.stats("scheduler_model")["instances"] == 1


def test_fifo_order_on_one_instance(driver):
    d = driver()
    spec = target(max_instances=1)
    ids = ["p%d" % i for i in range(5)]
    for prediction_id in ids:
        d.submit(prediction_id, spec, text=prediction_id, seconds=0.1)
    for prediction_id in ids:
        assert d.completed(prediction_id)["detail"]["output"] == [prediction_id]
    starts = [e["id"] for e in d.events if e["event"] == "started"]
    completions = [e["id"] for e in d.events if e.get("kind") == "completed"]
    assert starts == ids and completions == ids
    # One instance, one slot: each starts only after the one before it completed.
    order = [(e["id"], e["event"] if e["event"] != "update" else e["kind"]) for e in d.events
             if e["event"] == "started" or e.get("kind") == "completed"]
    assert order == [(i, what) for i in ids for what in ("started", "completed")]
    assert [e["id"] for e in d.events if e["event"] == "booting"] == ["p0"]


def test_burst_scales_to_max_instances(driver):
    d = driver()
    spec = target(max_instances=3)
    ids = ["b%d" % i for i in range(6)]
    for prediction_id in ids:
        d.submit(prediction_id, spec, seconds=0.8)
    d.until(lambda e: e["event"] == "started")
    stats = d.stats("scheduler_model")
    assert stats["instances"] == 3
    booting = [e for e in d.events if e["event"] == "booting"]
    assert [e["id"] for e in booting] == ids[:3]
    assert len({e["detail"]["instance"] for e in booting}) == 3
    for prediction_id in ids:
        assert d.completed(prediction_id)["detail"]["status"] == "succeeded"
    assert d.stats("scheduler_model")["instances"] == 3
    cold = {e["id"]: e["detail"]["cold_boot_time"] for e in d.events if e["event"] == "started"}
    assert all(cold[i] is not None for i in ids[:3])
    assert all(cold[i] is None for i in ids[3:])


def test_idle_instances_stop_and_scale_to_zero(driver):
    d = driver(idle_timeout=0.5)
    spec = target(max_instances=2)
    d.submit("x", spec, seconds=0.3)
    d.submit("y", spec, seconds=0.3)
    d.completed("x")
    d.completed("y")
    d.wait_stats("scheduler_model", instances=0, timeout=5)
    instances = d.data / "instances"
    deadline = time.monotonic() + TIMEOUT
    while os.listdir(instances):  # the scratch folders go once the processes are reaped
        assert time.monotonic() < deadline, os.listdir(instances)
        time.sleep(0.05)
    # Queued work starts a new one.
    d.submit("z", spec)
    assert d.completed("z")["detail"]["status"] == "succeeded"
    assert d.of("z")[0] == ("booting", None)


def test_min_instances_stay_warm(driver):
    d = driver(idle_timeout=0.3)
    spec = target(min_instances=1, max_instances=2)
    assert d.reply("configure", target=spec)["rc"] == "PN_OK"
    d.wait_stats("scheduler_model", instances=1, ready=1)
    time.sleep(1.0)
    assert d.stats("scheduler_model")["instances"] == 1
    d.submit("w", spec)
    d.completed("w")
    assert ("booting", None) not in d.of("w")
    started = [e for e in d.events if e["id"] == "w" and e["event"] == "started"][0]
    assert started["detail"]["cold_boot_time"] is None
    # Scaling the bound down lets the idle instance go.
    assert d.reply("configure", target=dict(spec, min_instances=0))["rc"] == "PN_OK"
    d.wait_stats("scheduler_model", instances=0, timeout=5)


def test_cancel_queued_and_running(driver):
    d = driver()
    spec = target(max_instances=1)
    d.submit("running", spec, seconds=30)
    d.submit("queued", spec)
    d.until(lambda e: e["id"] == "running" and e.get("kind") == "start")
    assert d.reply("cancel", id="queued")["rc"] == "PN_OK"
    assert d.stats("scheduler_model")["queued"] == 0
    assert d.reply("cancel", id="running")["rc"] == "PN_OK"
    done = d.completed("running")
    assert done["detail"]["status"] == "canceled"
    assert d.reply("cancel", id="running")["rc"] == "PN_ENOENT"
    assert d.reply("cancel", id="never")["rc"] == "PN_ENOENT"
    d.submit("after", spec)
    d.completed("after")
    assert d.of("queued") == []


def test_cancel_while_booting_is_silent(driver):
    d = driver()
    d.submit("early", target(), seconds=0)
    d.until(lambda e: e["event"] == "booting")
    assert d.reply("cancel", id="early")["rc"] == "PN_OK"
    d.submit("later", target())
    d.completed("later")
    assert d.of("early") == [("booting", None)]


def test_setup_failure_fails_the_waiting_predictions(driver):
    d = driver()
    spec = target("setup_fails")
    d.submit("f1", spec)
    d.submit("f2", spec)
    for prediction_id in ("f1", "f2"):
        failed = d.completed(prediction_id)
        assert failed["event"] == "failed"
        assert failed["detail"]["error"] == "the model's setup failed: RuntimeError: no weights"
    assert d.of("f1") == [("booting", None), ("failed", None)]
    d.wait_stats("setup_fails", instances=0, queued=0)


def test_boot_timeout(driver, tmp_path):
    # The model's environment comes from its cog.yaml: the hub's own never reaches it.
    slow = tmp_path / "slow_model"
    shutil.copytree(os.path.join(FIXTURES, "scheduler_model"), slow)
    with open(slow / "cog.yaml", "a") as config:
        config.write('environment:\n  - "SCHEDULER_MODEL_SETUP_SECONDS=30"\n')
    d = driver(boot_timeout=0.5)
    d.submit("slow", dict(target(), bundle_dir=str(slow)))
    failed = d.completed("slow")
    assert failed["event"] == "failed"
    assert "did not become ready within 0.5 s" in failed["detail"]["error"]
    d.wait_stats("scheduler_model", instances=0)


def test_instance_death_fails_its_predictions_and_a_new_one_starts(driver):
    d = driver()
    spec = target()
    d.submit("doomed", spec, kill_server=True)
    failed = d.completed("doomed")
    assert failed["event"] == "failed"
    error = failed["detail"]["error"]
    # The model kills its server while the dispatch may still be in flight: either the
    # death is seen first (with the signal), or the connection reset is (a loaded
    # machine); both name what happened and quote the instance's log.
    if error.startswith("could not reach the instance at "):
        assert "Connection reset by peer" in error or "Couldn't connect" in error, error
    else:
        assert error.startswith("the instance running the prediction ended: the instance "
                                "(pinion serve, pid "), error
        assert "was killed by signal 9 (SIGKILL)" in error
    assert "log ends with:" in error
    d.wait_stats("scheduler_model", instances=0)
    d.submit("next", spec, text="alive")
    assert d.completed("next")["detail"]["output"] == ["alive"]
    assert d.of("next")[0] == ("booting", None)


def test_missing_bundle_fails_with_the_instance_log(driver):
    d = driver()
    d.submit("nothing", target("no_such_fixture"))
    failed = d.completed("nothing")
    assert failed["event"] == "failed"
    error = failed["detail"]["error"]
    assert error.startswith("the instance ended before it was ready: the instance")
    assert "exited with code" in error and "no_such_fixture" in error


def test_without_network_image_versions_are_refused_and_folder_versions_run(driver):
    """--instance-network off: a container needs the engine's network, so an image
    version fails before the engine is asked anything; a folder version runs (the hub
    reaches it and it reaches the hub over unix sockets)."""
    d = driver(args=["--instance-network", "off"])
    d.submit("container", {"key": "image-version", "image": "example.invalid/model:1"})
    failed = d.completed("container")
    assert failed["event"] == "failed"
    assert failed["detail"]["error"] == (
        "could not start an instance of the model: "
        "image versions cannot run on this hub: it runs models without network "
        "(--instance-network off), and a container needs the container engine's network to "
        "reach the hub and be reached by it; push the model as a folder (without --image), "
        "or run it on a hub with the network on")
    d.submit("folder", target(), text="offline")
    assert d.completed("folder")["detail"]["output"] == ["offline"]


def test_webhook_routing(driver):
    d = driver()
    assert d.reply("webhook", token="unknown", body={"id": "x"})["rc"] == "PN_ENOENT"
    d.submit("routed", target())
    booting = d.until(lambda e: e["event"] == "booting")
    # The instance's name in events is not its credential.
    name = booting["detail"]["instance"]
    assert d.reply("webhook", token=name, body={"id": "routed"})["rc"] == "PN_ENOENT"
    # The instance's command line names its credential once bubblewrap has started it:
    # the booting event comes as soon as the hub forked.
    deadline = time.monotonic() + 10
    credentials = instance_credentials(d.process.pid)
    while not credentials and time.monotonic() < deadline:
        time.sleep(0.05)
        credentials = instance_credentials(d.process.pid)
    assert len(credentials) == 1 and name not in credentials
    d.completed("routed")
    # A late webhook for a finished prediction is accepted and ignored.
    late = {"id": "routed", "status": "processing", "logs": "late"}
    assert d.reply("webhook", token=credentials.pop(), body=late)["rc"] == "PN_OK"
    assert d.of("routed")[-1] == ("update", "completed")
    assert compact(d.of("routed"))[:3] == [("booting", None), ("started", None),
                                           ("update", "start")]


def test_submit_rejects_duplicates_and_bad_ids(driver):
    d = driver()
    spec = target()
    d.submit("dup", spec, seconds=0.2)
    assert d.reply("submit", id="dup", target=spec, request={})["rc"] == "PN_EEXISTS"
    assert d.reply("submit", id="a/b", target=spec, request={})["rc"] == "PN_EINVAL"
    assert d.reply("submit", id="nokey", target={"key": "k"}, request={})["rc"] == "PN_EINVAL"
    d.completed("dup")


def descendants(pid):
    found, pending = [], [pid]
    while pending:
        parent = pending.pop()
        try:
            children = open("/proc/%d/task/%d/children" % (parent, parent)).read().split()
        except FileNotFoundError:
            continue
        found += [int(child) for child in children]
        pending += [int(child) for child in children]
    return found


def test_instances_die_with_the_hub(driver, tmp_path):
    """PR_SET_PDEATHSIG(SIGTERM) on bubblewrap, which runs the instance with
    --die-with-parent: the sandbox and everything in it end when the hub dies, and so
    does its slirp4netns."""
    d = driver()
    d.submit("s", target(), seconds=1)
    d.until(lambda e: e["id"] == "s" and e.get("kind") == "start")
    inside = descendants(d.process.pid)
    # slirp4netns, the sandbox's network, is the hub's child beside bubblewrap, and dies
    # with the hub too (PR_SET_PDEATHSIG(SIGKILL)).
    names = {pid: open("/proc/%d/comm" % pid).read().strip() for pid in inside}
    assert list(names.values()).count("slirp4netns") == 1, names
    sandbox = [pid for pid in inside if names[pid] != "slirp4netns"]
    assert len(sandbox) >= 3  # bubblewrap, its init in the sandbox, pinion serve, the worker
    # bubblewrap leads a session and a group of its own, and its init and pinion serve
    # stay in that group, which the hub kills when it reaps the instance.
    outer = sandbox[0]
    assert os.getsid(outer) == outer and os.getpgid(outer) == outer
    assert os.getsid(outer) != os.getsid(d.process.pid)
    assert [os.getpgid(pid) for pid in sandbox[:3]] == [outer] * 3
    d.killed = True
    d.process.send_signal(signal.SIGKILL)
    d.process.wait(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while [pid for pid in inside if os.path.exists("/proc/%d" % pid)]:
        assert time.monotonic() < deadline, "the instance outlived the hub"
        time.sleep(0.05)


def test_busy_instance_requeues_in_order(driver):
    """The target says 2 slots, the model has 1: the second PUT gets 409 and waits."""
    d = driver()
    spec = target(slots=2)
    d.submit("first", spec, seconds=0.5)
    d.until(lambda e: e["id"] == "first" and e["event"] == "started")
    d.submit("second", spec, text="second")
    d.submit("third", spec, text="third")
    for prediction_id in ("first", "second", "third"):
        assert d.completed(prediction_id)["detail"]["status"] == "succeeded"
    assert d.stats("scheduler_model")["instances"] == 1
    starts = [e["id"] for e in d.events if e["event"] == "started"]
    assert starts == ["first", "second", "third"]
    # "second" cannot start before "first" has ended in the instance; the hub may hear of
    # the end (a webhook) after the 202 for "second", so only the order of starts is
    # certain, not where first's `completed` falls among the events.


def test_configure_new_source_replaces_instances(driver):
    d = driver(idle_timeout=0.3)
    old = target(key="deployment:acme/greeter", min_instances=1)
    assert d.reply("configure", target=old)["rc"] == "PN_OK"
    d.wait_stats("deployment:acme/greeter", instances=1, ready=1)
    new = target("hello", key="deployment:acme/greeter", min_instances=1)
    assert d.reply("configure", target=new)["rc"] == "PN_OK"
    d.submit("greet", new, text="pinion")
    assert d.completed("greet")["detail"]["output"] == "hello pinion"
    d.wait_stats("deployment:acme/greeter", instances=1, ready=1)
