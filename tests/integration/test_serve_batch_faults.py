"""`pinion serve` with a @cog.batch predictor whose worker dies (docs/batching.md,
"Failures"): every prediction of the running batch and every one waiting for the next
ends `failed` with the worker's diagnosis, once, with one `completed` webhook each; the
worker restarts and the next prediction succeeds.

tests/fixtures/batch_model/crash.yaml runs predict.py:Crashing (max_size 4, max_wait_ms
300, so 8 slots), which sleeps the batch's longest `seconds`, then ends its process when
an item's `die` says so: "exit" is os._exit(7), "kill" is SIGKILL from itself; "close"
and "close-later" shut the worker's side of its channel and leave the process running."""
import concurrent.futures
import http.server
import json
import os
import re
import tempfile
import threading
import time

import pytest

from serve_harness import Receiver, Server, wait_for
from test_serve_metrics import scrape

EXITED = (r"^Worker crashed: the worker exited with code 7 \(peak memory [0-9.]+ [KMG]iB\): "
          r"the model's code, or a library it uses, ended the process")
KILLED = (r"^Worker crashed: the worker was killed by signal 9 \(SIGKILL\) with a peak "
          r"memory of [0-9.]+ [KMG]iB: something outside the worker killed it")
CLOSED = (r"^Worker crashed: the worker broke pinion's protocol \(it closed its channel to the "
          r"server but did not exit within 1 s\) and was stopped; peak memory [0-9.]+ [KMG]iB$")


def batches(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Clients:
    """Async predictions with a `completed` webhook each, and sync ones on threads."""

    def __init__(self, server, hooks, pool):
        self.server, self.hooks, self.pool = server, hooks, pool
        self.asyncs, self.syncs = [], []

    def start(self, id, input):
        r = self.server.post("/predictions", {"id": id, "input": input, "webhook": self.hooks.url,
                                              "webhook_events_filter": ["completed"]},
                             headers={"Prefer": "respond-async"})
        assert r.status == 202, r.body
        self.asyncs.append(id)

    def sync(self, id):
        self.syncs.append(self.pool.submit(self.server.post, "/predictions",
                                           {"id": id, "input": {"text": id}}, timeout=30))

    def check_each_failed_once(self, cause):
        """Every sync answer and every async prediction's one webhook says `failed` with
        `cause`; a missing webhook or a second one fails."""
        for future in self.syncs:
            response = future.result(timeout=30)
            assert response.status == 200, response.body
            body = response.json()
            assert body["status"] == "failed", body
            assert re.search(cause, body["error"]), body["error"]
            assert body["output"] is None

        def completed():
            bodies = self.hooks.bodies()
            return len(bodies) >= len(self.asyncs) and bodies

        wait_for(completed, timeout=15, what="a completed webhook for each async prediction")
        time.sleep(1)  # a duplicate would come now
        bodies = self.hooks.bodies()
        assert sorted(b["id"] for b in bodies) == sorted(self.asyncs), bodies
        for body in bodies:
            assert body["status"] == "failed", body
            assert re.search(cause, body["error"]), body["error"]


def check_back_after_restart(server, log, setup_before, failed, cause):
    """A fresh worker serves the next prediction; the metrics count what happened."""
    health = server.wait_status("READY", timeout=15)
    assert health["setup"]["started_at"] > setup_before
    ran_before = len(batches(log))
    assert server.predict({"text": "next"})["output"] == "NEXT"
    assert [b["texts"] for b in batches(log)[ran_before:]] == [["next"]]
    metrics = scrape(server)
    assert metrics['pinion_predictions_total{status="failed"}'] == failed
    assert metrics['pinion_worker_restarts_total{cause="%s"}' % cause] == 1
    assert metrics["pinion_slots_in_use"] == 0


@pytest.fixture
def batch_log():
    path = os.path.join(tempfile.mkdtemp(prefix="pinion-batch-test-"), "batches.jsonl")
    open(path, "w").close()
    return path


@pytest.mark.parametrize("die, cause, restart", [("exit", EXITED, "crash"),
                                                  ("kill", KILLED, "killed")])
def test_a_worker_death_ends_the_running_batch_and_every_waiting_prediction_once(
        batch_log, die, cause, restart):
    with Server("batch_model", config="crash.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks, concurrent.futures.ThreadPoolExecutor(8) as pool:
        setup_before = s.health()["setup"]["started_at"]
        clients = Clients(s, hooks, pool)
        # The batch that ends its worker after 1.5 s: the dying item first, so that
        # whatever way the others are grouped, none can run before it.
        clients.start("dies", {"text": "dies", "die": die, "seconds": 1.5})
        clients.sync("run-sync-0")
        clients.sync("run-sync-1")
        clients.start("run-async", {"text": "run-async"})
        wait_for(lambda: batches(batch_log), what="the first batch to start")
        # These wait for the next batch while the first runs, in the last 4 slots.
        clients.sync("wait-sync-0")
        clients.sync("wait-sync-1")
        clients.start("wait-async-0", {"text": "wait-async-0"})
        clients.start("wait-async-1", {"text": "wait-async-1"})
        clients.check_each_failed_once(cause)
        # Only the first batch ever ran: the waiting ones were failed, not run late.
        ran = batches(batch_log)
        assert len(ran) == 1 and "dies" in ran[0]["texts"], ran
        check_back_after_restart(s, batch_log, setup_before, 8, restart)


def test_a_worker_that_closes_its_channel_mid_batch_is_stopped_and_its_predictions_fail(
        batch_log):
    with Server("batch_model", config="crash.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks, concurrent.futures.ThreadPoolExecutor(8) as pool:
        setup_before = s.health()["setup"]["started_at"]
        clients = Clients(s, hooks, pool)
        began = time.monotonic()
        # Its batch would sleep 10 s; the server stops the worker 1 s after the close.
        clients.start("closes", {"text": "closes", "die": "close", "seconds": 10})
        wait_for(lambda: batches(batch_log), what="the batch to start")
        clients.sync("wait-sync-0")
        clients.start("wait-async-0", {"text": "wait-async-0"})
        clients.check_each_failed_once(CLOSED)
        assert time.monotonic() - began < 8  # not at the end of the model's sleep
        check_back_after_restart(s, batch_log, setup_before, 3, "protocol_error")


def test_predictions_that_reach_a_worker_whose_channel_closed_fail_with_its_diagnosis(batch_log):
    with Server("batch_model", config="crash.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks, concurrent.futures.ThreadPoolExecutor(8) as pool:
        setup_before = s.health()["setup"]["started_at"]
        assert s.predict({"text": "closes", "die": "close-later"})["output"] == "CLOSES"
        time.sleep(0.5)  # the worker has shut its channel and waits for its next batch
        clients = Clients(s, hooks, pool)
        clients.start("async-0", {"text": "async-0"})
        clients.sync("sync-0")
        clients.start("async-1", {"text": "async-1"})
        clients.check_each_failed_once(CLOSED)
        assert len(batches(batch_log)) == 1
        check_back_after_restart(s, batch_log, setup_before, 3, "protocol_error")


def test_a_worker_that_dies_with_frames_unread_is_diagnosed_by_its_exit():
    """The worker ends with the cancel frames of its batch unread, so the server's end
    of the channel reads ECONNRESET: the diagnosis is still the exit code, and the
    restart counts as a crash."""
    with Server("batch_model", config="crash_async.yaml") as s, Receiver() as hooks, \
            concurrent.futures.ThreadPoolExecutor(8) as pool:
        setup_before = s.health()["setup"]["started_at"]
        clients = Clients(s, hooks, pool)
        clients.start("dies", {"text": "dies", "die": "exit", "seconds": 2})
        clients.start("runs", {"text": "runs"})
        wait_for(lambda: s.health()["status"] == "READY" and
                 s.get("/metrics").body.decode().count("pinion_batch_size_count 1"),
                 what="the batch to start")
        for id in ("dies", "runs"):  # every item canceled: the frames go to the worker
            assert s.post("/predictions/%s/cancel" % id).status == 200
        clients.start("waits", {"text": "waits"})
        ended = wait_for(lambda: len(hooks.bodies()) == 3 and hooks.bodies(), timeout=15,
                         what="three completed webhooks")
        time.sleep(1)  # a duplicate would come now
        assert len(hooks.bodies()) == 3
        by_id = {body["id"]: body for body in ended}
        assert by_id["dies"]["status"] == by_id["runs"]["status"] == "canceled"
        assert by_id["waits"]["status"] == "failed"
        assert re.search(EXITED, by_id["waits"]["error"]), by_id["waits"]["error"]
        health = s.wait_status("READY", timeout=15)
        assert health["setup"]["started_at"] > setup_before
        assert s.predict({"text": "next"})["output"] == "NEXT"
        metrics = scrape(s)
        assert metrics['pinion_worker_restarts_total{cause="crash"}'] == 1
        assert metrics['pinion_worker_restarts_total{cause="protocol_error"}'] == 0


class GatedFile:
    """Serves one file over GET on 127.0.0.1 once release() is called (at most 20 s);
    `served` counts the answers sent."""

    def __init__(self):
        gate = self.gate = threading.Event()
        self.served = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                gate.wait(20)
                body = b"late bytes"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.served += 1

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/input.txt" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self):
        self.gate.set()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_prediction_still_getting_its_inputs_when_the_worker_dies_says_so(batch_log):
    """Without a restart (--no-restart), the server is DEFUNCT once its worker dies: a
    prediction accepted before, whose input file arrives after, fails with the death."""
    with Server("batch_model", config="crash.yaml", args=["--no-restart"],
                env={"BATCH_LOG": batch_log}) as s, Receiver() as hooks, \
            concurrent.futures.ThreadPoolExecutor(8) as pool, GatedFile() as file:
        clients = Clients(s, hooks, pool)
        clients.start("dies", {"text": "dies", "die": "exit", "seconds": 0.5})
        wait_for(lambda: batches(batch_log), what="the batch to start")
        clients.start("fetching", {"text": "fetching", "file": file.url})
        wait_for(lambda: hooks.bodies(), what="the first prediction to fail")
        assert s.wait_status("DEFUNCT")["status"] == "DEFUNCT"
        file.release()
        bodies = wait_for(lambda: len(hooks.bodies()) == 2 and hooks.bodies(),
                          what="the fetching prediction to end")
        time.sleep(1)  # a duplicate would come now
        assert len(hooks.bodies()) == 2
        by_id = {body["id"]: body for body in bodies}
        assert re.search(EXITED, by_id["dies"]["error"]), by_id["dies"]["error"]
        fetching = by_id["fetching"]
        assert fetching["status"] == "failed"
        assert re.search(EXITED + r".*; this prediction was getting its inputs and never "
                         r"reached it$", fetching["error"]), fetching["error"]
        assert len(batches(batch_log)) == 1


def test_a_prediction_getting_its_inputs_when_the_worker_dies_runs_on_the_next_worker(
        batch_log, tmp_path):
    """A prediction whose input file arrives while the crashed worker's replacement is
    still starting never reached a worker: it waits for the new one and runs there,
    as it would have had its file come a moment later (not failed for a crash it had
    no part in). One canceled while it waits ends `canceled` at once."""
    gate = tmp_path / "setup-gate"
    with Server("batch_model", config="crash.yaml",
                env={"BATCH_LOG": batch_log, "SETUP_GATE": str(gate)}) as s, \
            Receiver() as hooks, concurrent.futures.ThreadPoolExecutor(8) as pool, \
            GatedFile() as file:
        clients = Clients(s, hooks, pool)
        gate.write_text("the next setup waits while this file exists")
        clients.start("dies", {"text": "dies", "die": "exit", "seconds": 0.5})
        wait_for(lambda: batches(batch_log), what="the batch to start")
        clients.start("fetching", {"text": "fetching", "file": file.url})
        clients.start("canceled", {"text": "canceled", "file": file.url})
        wait_for(lambda: hooks.bodies(), what="the first prediction to fail")
        assert re.search(EXITED, hooks.bodies()[0]["error"]), hooks.bodies()
        assert s.health()["status"] == "STARTING"
        file.release()
        wait_for(lambda: file.served == 2, what="both input files to be served")
        time.sleep(0.5)  # the files are in; the new worker is still in setup
        assert len(hooks.bodies()) == 1
        assert s.health()["status"] == "STARTING"
        assert s.post("/predictions/canceled/cancel").status == 200
        wait_for(lambda: len(hooks.bodies()) == 2, what="the canceled prediction to end")
        gate.unlink()
        bodies = wait_for(lambda: len(hooks.bodies()) == 3 and hooks.bodies(), timeout=20,
                          what="the held prediction to end")
        time.sleep(1)  # a duplicate would come now
        assert len(hooks.bodies()) == 3
        by_id = {body["id"]: body for body in bodies}
        assert by_id["dies"]["status"] == "failed"
        assert by_id["canceled"]["status"] == "canceled", by_id["canceled"]
        fetching = by_id["fetching"]
        assert fetching["status"] == "succeeded", fetching
        assert fetching["output"] == "FETCHING"
        assert [b["texts"] for b in batches(batch_log)] == [["dies"], ["fetching"]]
        metrics = scrape(s)
        assert metrics['pinion_predictions_total{status="succeeded"}'] == 1
        assert metrics['pinion_predictions_total{status="failed"}'] == 1
        assert metrics['pinion_predictions_total{status="canceled"}'] == 1
        assert metrics['pinion_worker_restarts_total{cause="crash"}'] == 1
        assert metrics["pinion_slots_in_use"] == 0


def test_a_prediction_waiting_for_the_next_worker_fails_when_its_setup_fails(batch_log, tmp_path):
    """The worker that replaces the crashed one fails its setup: the prediction that
    waited for it fails, saying both, once."""
    gate, fail = tmp_path / "setup-gate", tmp_path / "setup-fail"
    with Server("batch_model", config="crash.yaml",
                env={"BATCH_LOG": batch_log, "SETUP_GATE": str(gate), "SETUP_FAIL": str(fail)}) \
            as s, Receiver() as hooks, concurrent.futures.ThreadPoolExecutor(8) as pool, \
            GatedFile() as file:
        clients = Clients(s, hooks, pool)
        gate.write_text("the next setup waits while this file exists")
        fail.write_text("then it fails")
        clients.start("dies", {"text": "dies", "die": "exit", "seconds": 0.5})
        wait_for(lambda: batches(batch_log), what="the batch to start")
        clients.start("fetching", {"text": "fetching", "file": file.url})
        wait_for(lambda: hooks.bodies(), what="the first prediction to fail")
        file.release()
        wait_for(lambda: file.served == 1, what="the input file to be served")
        time.sleep(0.5)
        assert len(hooks.bodies()) == 1
        gate.unlink()
        bodies = wait_for(lambda: len(hooks.bodies()) == 2 and hooks.bodies(),
                          what="the held prediction to end")
        assert s.wait_status("SETUP_FAILED")["status"] == "SETUP_FAILED"
        time.sleep(1)  # a duplicate would come now
        assert len(hooks.bodies()) == 2
        fetching = {body["id"]: body for body in bodies}["fetching"]
        assert fetching["status"] == "failed"
        assert re.match(r"^Worker crashed, and the setup of the worker that replaced it failed: "
                        r".*setup was told to fail.*; this prediction was waiting for that "
                        r"worker and never reached one$", fetching["error"], re.S), \
            fetching["error"]
        assert len(batches(batch_log)) == 1
