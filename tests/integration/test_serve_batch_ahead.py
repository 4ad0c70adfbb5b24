"""`pinion serve` hands the next batch to a @cog.batch worker as soon as the running
batch's call has returned, while the worker still sends that batch's results
(docs/batching.md, "When a batch leaves"): each batch's predictions still report their
own batch size, time and logs; cancels of the batch handed over ahead never touch the
batch before it; a worker death ends both batches' predictions once.

tests/fixtures/batch_model/slow_results.yaml runs predict.py:SlowResults (max_size 4,
max_wait_ms 300), whose batches send their results `results_every` seconds apart, so
the server has a batch's first result long before its last."""
import datetime
import os
import re
import tempfile
import time

import pytest

from serve_harness import Receiver, Server, wait_for
from test_serve_metrics import scrape

EXITED = (r"^Worker crashed: the worker exited with code 7 \(peak memory [0-9.]+ [KMG]iB\): "
          r"the model's code, or a library it uses, ended the process")


@pytest.fixture
def batch_log():
    path = os.path.join(tempfile.mkdtemp(prefix="pinion-batch-test-"), "batches.jsonl")
    open(path, "w").close()
    return path


def batches(path):
    import json

    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def start(server, hooks, id, input, events=("start", "completed")):
    r = server.post("/predictions", {"id": id, "input": input, "webhook": hooks.url,
                                     "webhook_events_filter": list(events)},
                    headers={"Prefer": "respond-async"})
    assert r.status == 202, r.body


def seconds(body):
    """completed_at - created_at, in seconds."""
    def parse(text):
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(body["completed_at"]) - parse(body["created_at"])).total_seconds()


def final(hooks, id):
    return next((b for b in hooks.bodies() if b["id"] == id and
                 b["status"] in ("succeeded", "failed", "canceled")), None)


def started(hooks, id):
    return next((b for b in hooks.bodies() if b["id"] == id and b["status"] == "processing"), None)


def finals(hooks, ids, timeout=15):
    wait_for(lambda: all(final(hooks, id) for id in ids), timeout=timeout,
             what="every prediction to end")
    time.sleep(0.5)  # a second `completed` webhook would come now
    for id in ids:
        ends = [b for b in hooks.bodies() if b["id"] == id and
                b["status"] in ("succeeded", "failed", "canceled")]
        assert len(ends) == 1, ends
    return {id: final(hooks, id) for id in ids}


def run_first_batch(server, hooks, log, ids, **input):
    """Starts a batch of `ids` (sent together, so they share a batch) and waits until
    the worker runs it."""
    for id in ids:
        start(server, hooks, id, dict(input, text=id))
    wait_for(lambda: batches(log), what="the first batch to start")
    assert batches(log)[0]["texts"] == list(ids)


def test_the_next_batch_is_handed_over_while_the_last_sends_its_results(batch_log):
    with Server("batch_model", config="slow_results.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks:
        # The first batch's call takes 0.5 s, then its results come 0.6 s apart.
        run_first_batch(s, hooks, batch_log, ("a1", "a2"), seconds=0.5, results_every=0.6)
        for id in ("b1", "b2", "b3"):
            start(s, hooks, id, {"text": id})
        ended = finals(hooks, ["a1", "a2", "b1", "b2", "b3"])
        assert [b["texts"] for b in batches(batch_log)] == [["a1", "a2"], ["b1", "b2", "b3"]]
        for id, body in ended.items():
            assert body["status"] == "succeeded" and body["output"] == id.upper(), body
        # Handed over when a1's result came, before a2's: not after the last, as before.
        assert started(hooks, "b1")["started_at"] < ended["a2"]["completed_at"]
        assert started(hooks, "b1")["started_at"] > ended["a1"]["started_at"]
        # Each reports its own batch: size, logs (the second call printed after the
        # first batch's first result was read), and its own time.
        for id in ("a1", "a2"):
            assert ended[id]["metrics"]["batch_size"] == 2
            assert ended[id]["logs"] == "batch of 2\n"
        for id in ("b1", "b2", "b3"):
            assert ended[id]["metrics"]["batch_size"] == 3
            assert ended[id]["logs"] == "batch of 3\n"
            # From its own acceptance to its own end.
            assert abs(ended[id]["metrics"]["predict_time"] - seconds(ended[id])) < 0.05
        for id in ("a1", "a2"):
            assert abs(ended[id]["metrics"]["predict_time"] - seconds(ended[id])) < 0.05
        assert 1.0 < ended["a1"]["metrics"]["predict_time"] < 5  # 0.5 s of call, 0.6 s to send
        assert ended["a2"]["metrics"]["predict_time"] > ended["a1"]["metrics"]["predict_time"] + 0.4
        metrics = scrape(s)
        assert metrics["pinion_batch_size_count"] == 2
        assert metrics["pinion_batch_size_sum"] == 5
        assert metrics['pinion_predictions_total{status="succeeded"}'] == 5


def test_canceling_the_whole_batch_ahead_leaves_the_batch_before_it_alone(batch_log):
    with Server("batch_model", config="slow_results.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks:
        # The first batch's three results come 1 s apart: 2 s between its first and last.
        run_first_batch(s, hooks, batch_log, ("a1", "a2", "a3"), seconds=0.2, results_every=1.0)
        start(s, hooks, "b1", {"text": "b1", "seconds": 5})
        start(s, hooks, "b2", {"text": "b2", "seconds": 5})
        wait_for(lambda: started(hooks, "b1") and started(hooks, "b2"), timeout=10,
                 what="the second batch to be handed over")
        assert not final(hooks, "a3"), "the first batch ended before the test could cancel"
        assert s.post("/predictions/b1/cancel").status == 200
        assert s.post("/predictions/b2/cancel").status == 200
        ended = finals(hooks, ["a1", "a2", "a3", "b1", "b2"])
        for id in ("a1", "a2", "a3"):
            assert ended[id]["status"] == "succeeded", ended[id]
            assert ended[id]["output"] == id.upper()
            assert ended[id]["metrics"]["batch_size"] == 3
        for id in ("b1", "b2"):
            assert ended[id]["status"] == "canceled" and ended[id]["output"] is None, ended[id]
        # The worker left them out before the call: it never ran their 5 s.
        assert [b["texts"] for b in batches(batch_log)] == [["a1", "a2", "a3"]]
        # No signal reached the next call, and the worker was not restarted.
        assert s.predict({"text": "next"})["output"] == "NEXT"
        metrics = scrape(s)
        assert sum(v for k, v in metrics.items() if k.startswith("pinion_worker_restarts_total")) == 0
        assert metrics['pinion_predictions_total{status="canceled"}'] == 2
        assert metrics['pinion_predictions_total{status="succeeded"}'] == 4


def test_canceling_one_prediction_ahead_leaves_it_out_of_the_call(batch_log):
    with Server("batch_model", config="slow_results.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks:
        run_first_batch(s, hooks, batch_log, ("a1", "a2", "a3"), seconds=0.2, results_every=1.0)
        for id in ("b1", "b2", "b3"):
            start(s, hooks, id, {"text": id})
        wait_for(lambda: all(started(hooks, id) for id in ("b1", "b2", "b3")), timeout=10,
                 what="the second batch to be handed over")
        assert not final(hooks, "a3"), "the first batch ended before the test could cancel"
        assert s.post("/predictions/b2/cancel").status == 200
        ended = finals(hooks, ["a1", "a2", "a3", "b1", "b2", "b3"])
        assert [ended[id]["status"] for id in ("a1", "a2", "a3")] == ["succeeded"] * 3
        assert ended["b2"]["status"] == "canceled" and ended["b2"]["output"] is None
        assert [(ended[id]["status"], ended[id]["output"]) for id in ("b1", "b3")] == [
            ("succeeded", "B1"), ("succeeded", "B3")]
        # The call ran without it; the batch handed over held three.
        assert [b["texts"] for b in batches(batch_log)] == [["a1", "a2", "a3"], ["b1", "b3"]]
        assert ended["b1"]["metrics"]["batch_size"] == 3


def test_canceling_the_running_batch_after_its_call_returned_does_not_signal_the_next(batch_log):
    with Server("batch_model", config="slow_results.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks:
        run_first_batch(s, hooks, batch_log, ("a1", "a2", "a3"), seconds=0.2, results_every=1.0)
        start(s, hooks, "b1", {"text": "b1", "seconds": 1.5})
        wait_for(lambda: started(hooks, "b1"), timeout=10, what="the second batch to be handed over")
        assert not final(hooks, "a3"), "the first batch ended before the test could cancel"
        # a1's result came; a2 and a3 are still to come: cancel both.
        assert s.post("/predictions/a2/cancel").status == 200
        assert s.post("/predictions/a3/cancel").status == 200
        ended = finals(hooks, ["a1", "a2", "a3", "b1"])
        assert ended["a1"]["status"] == "succeeded"
        assert [ended[id]["status"] for id in ("a2", "a3")] == ["canceled", "canceled"]
        assert ended["b1"]["status"] == "succeeded" and ended["b1"]["output"] == "B1"
        assert [b["texts"] for b in batches(batch_log)] == [["a1", "a2", "a3"], ["b1"]]


def test_a_worker_death_with_a_batch_ahead_ends_both_batches_once(batch_log):
    with Server("batch_model", config="slow_results.yaml", env={"BATCH_LOG": batch_log}) as s, \
            Receiver() as hooks:
        setup_before = s.health()["setup"]["started_at"]
        # The worker exits after sending a1's result, with b1 and b2 handed over.
        run_first_batch(s, hooks, batch_log, ("a1", "a2"), seconds=0.5, results_every=1.0, die=True)
        start(s, hooks, "b1", {"text": "b1"})
        start(s, hooks, "b2", {"text": "b2"})
        ended = finals(hooks, ["a1", "a2", "b1", "b2"])
        assert ended["a1"]["status"] == "succeeded" and ended["a1"]["output"] == "A1"
        for id in ("a2", "b1", "b2"):
            assert ended[id]["status"] == "failed", ended[id]
            assert re.search(EXITED, ended[id]["error"]), ended[id]["error"]
        assert started(hooks, "b1"), "b1 was handed over before the worker died"
        assert [b["texts"] for b in batches(batch_log)] == [["a1", "a2"]]
        s.wait_status("READY", timeout=15)
        assert s.health()["setup"]["started_at"] > setup_before
        assert s.predict({"text": "next"})["output"] == "NEXT"
        metrics = scrape(s)
        assert metrics['pinion_predictions_total{status="failed"}'] == 3
        assert metrics['pinion_worker_restarts_total{cause="crash"}'] == 1
        assert metrics["pinion_slots_in_use"] == 0
