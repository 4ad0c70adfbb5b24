"""`pinion serve` with a @cog.batch predictor (docs/batching.md): concurrent predictions
grouped up to max_size, outputs mapped back to their own requests, a 422 item kept out,
per-item and whole-batch failures, a cancel before the batch starts, batch sizes in
/metrics, and a streaming predictor refused at load.

tests/fixtures/batch_model/predict.py batches up to 4 predictions, waits up to 500 ms
for them, and appends each batch it is given to $BATCH_LOG."""
import concurrent.futures
import json
import os
import tempfile
import time

import pytest

from serve_harness import Receiver, Server, wait_for
from test_serve_metrics import scrape


@pytest.fixture
def batch_log():
    folder = tempfile.mkdtemp(prefix="pinion-batch-test-")
    path = os.path.join(folder, "batches.jsonl")
    open(path, "w").close()
    return path


def batches(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def post_all(server, bodies):
    """Sends every body at once, each on its own connection; returns the responses in order."""
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        futures = [pool.submit(server.post, "/predictions", body) for body in bodies]
        return [future.result(timeout=30) for future in futures]


def test_concurrent_predictions_run_in_batches_of_at_most_max_size(batch_log):
    with Server("batch_model", env={"BATCH_LOG": batch_log}) as s:
        texts = ["t%d" % i for i in range(8)]
        responses = post_all(s, [{"input": {"text": text}} for text in texts])
        for text, response in zip(texts, responses):
            assert response.status == 200, response.body
            body = response.json()
            assert body["status"] == "succeeded"
            assert body["output"] == text.upper()
            assert body["metrics"]["batch_size"] == 4
            assert 0 < body["metrics"]["predict_time"] < 10
            assert body["logs"] == "batch of 4\n"  # what the batch printed, for each of it
        seen = batches(batch_log)
        assert [batch["size"] for batch in seen] == [4, 4]
        assert sorted(t for batch in seen for t in batch["texts"]) == texts
        assert s.health()["status"] == "READY"
        metrics = scrape(s)
        assert metrics["pinion_batch_size_count"] == 2
        assert metrics["pinion_batch_size_sum"] == 8
        assert metrics['pinion_batch_size_bucket{le="2"}'] == 0
        assert metrics['pinion_batch_size_bucket{le="4"}'] == 2
        assert metrics['pinion_predictions_total{status="succeeded"}'] == 8
        # Each waited for its batch: at most the 500 ms wait, plus a first batch's run.
        assert metrics["pinion_prediction_queue_wait_seconds_count"] == 8


def test_an_invalid_item_gets_its_own_422_and_never_enters_a_batch(batch_log):
    with Server("batch_model", env={"BATCH_LOG": batch_log}) as s:
        bodies = [{"input": {"text": "a"}}, {"input": {"text": "b", "seconds": -1}},
                  {"input": {"text": "c"}}, {"input": {"text": "d"}}]
        responses = post_all(s, bodies)
        assert responses[1].status == 422, responses[1].body
        assert "seconds" in responses[1].body.decode()
        assert [r.json()["output"] for i, r in enumerate(responses) if i != 1] == ["A", "C", "D"]
        seen = batches(batch_log)
        assert [batch["size"] for batch in seen] == [3]
        assert sorted(seen[0]["texts"]) == ["a", "c", "d"]


def test_a_failure_the_predictor_attributes_to_one_item_fails_only_that_item(batch_log):
    with Server("batch_model", env={"BATCH_LOG": batch_log}) as s:
        bodies = [{"input": {"text": t, "fail": t == "bad"}} for t in ("ok1", "bad", "ok2", "ok3")]
        responses = [r.json() for r in post_all(s, bodies)]
        assert [batch["size"] for batch in batches(batch_log)] == [4]
        assert [r["status"] for r in responses] == ["succeeded", "failed", "succeeded", "succeeded"]
        assert [r["output"] for r in responses] == ["OK1", None, "OK2", "OK3"]
        assert responses[1]["error"] == "Prediction failed: Prediction failed: ValueError: bad item bad"
        assert all(r["metrics"]["batch_size"] == 4 for r in responses)


def test_an_exception_from_the_batch_fails_every_item_with_it(batch_log):
    with Server("batch_model", env={"BATCH_LOG": batch_log}) as s:
        bodies = [{"input": {"text": t}} for t in ("x", "raise", "y")]
        responses = [r.json() for r in post_all(s, bodies)]
        assert [batch["size"] for batch in batches(batch_log)] == [3]
        for response in responses:
            assert response["status"] == "failed"
            assert response["output"] is None
            assert response["error"] == \
                "Prediction failed: Prediction failed: RuntimeError: the whole batch failed"
        # The server is fine afterwards.
        assert s.predict({"text": "after"})["output"] == "AFTER"


def test_a_prediction_canceled_before_its_batch_starts_leaves_the_batch(batch_log):
    with Server("batch_model", env={"BATCH_LOG": batch_log}) as s, Receiver() as hooks:
        def start(id, input):
            r = s.post("/predictions", {"id": id, "input": input, "webhook": hooks.url},
                       headers={"Prefer": "respond-async"})
            assert r.status == 202, r.body

        start("first", {"text": "first", "seconds": 1.5})
        wait_for(lambda: batches(batch_log), what="the first batch to start")
        start("leaves", {"text": "leaves"})
        start("stays", {"text": "stays"})
        r = s.post("/predictions/leaves/cancel")
        assert r.status == 200 and r.body == b"{}"

        def final(id):
            return next((b for b in hooks.bodies() if b["id"] == id and
                         b["status"] in ("succeeded", "failed", "canceled")), None)

        wait_for(lambda: final("stays"), timeout=15, what="the second batch to end")
        assert [batch["texts"] for batch in batches(batch_log)] == [["first"], ["stays"]]
        left = final("leaves")
        assert left["status"] == "canceled"
        # Never started: as for any prediction canceled before it ran, started_at is its end.
        assert left["started_at"] == left["completed_at"] and left["output"] is None
        assert "batch_size" not in left["metrics"]
        stays = final("stays")
        assert stays["status"] == "succeeded" and stays["output"] == "STAYS"
        assert stays["metrics"]["batch_size"] == 1
        assert final("first")["output"] == "FIRST"


def test_a_canceled_batch_is_interrupted_once_all_its_items_are_canceled(batch_log):
    with Server("batch_model", env={"BATCH_LOG": batch_log}) as s, Receiver() as hooks:
        for id in ("c1", "c2"):
            r = s.post("/predictions", {"id": id, "input": {"text": id, "seconds": 8},
                                        "webhook": hooks.url}, headers={"Prefer": "respond-async"})
            assert r.status == 202, r.body
        wait_for(lambda: batches(batch_log), what="the batch to start")
        assert batches(batch_log)[0]["size"] == 2
        assert s.post("/predictions/c1/cancel").status == 200
        # One of two canceled: the batch goes on, and c1 ends with it.
        time.sleep(0.5)
        assert not [b for b in hooks.bodies() if b["status"] == "canceled"]
        assert s.post("/predictions/c2/cancel").status == 200
        ended = wait_for(lambda: [b for b in hooks.bodies() if b["status"] == "canceled"]
                         if len([b for b in hooks.bodies() if b["status"] == "canceled"]) == 2
                         else None, timeout=5, what="both canceled well before the 8 s sleep")
        assert sorted(b["id"] for b in ended) == ["c1", "c2"]
        assert s.predict({"text": "next"})["output"] == "NEXT"


def test_a_streaming_predictor_cannot_batch():
    with Server("batch_model", config="stream.yaml", wait=False) as s:
        health = s.wait_status("SETUP_FAILED")
        assert ("stream.py: Predictor.predict() is marked @cog.batch but streams its output "
                "(it is a generator): a batched handler returns one value per prediction; "
                "remove @cog.batch, or return a plain value instead of an iterator") in \
            health["setup"]["logs"]


def test_with_no_wait_a_lone_prediction_leaves_at_once_and_a_busy_worker_gathers_the_rest():
    # AsyncPredictor: max_size 4, max_wait_ms 0.
    with Server("batch_model", config="async.yaml") as s:
        for text in ("one", "two"):
            body = s.predict({"text": text})
            assert (body["output"], body["metrics"]["batch_size"]) == (text.upper(), 1)
            assert body["logs"] == "async batch of 1\n"
        # The first leaves alone while the worker is free; the others wait for it to end.
        first = concurrent.futures.ThreadPoolExecutor(1).submit(
            s.predict, {"text": "first", "seconds": 1})
        wait_for(lambda: s.health()["status"] == "READY" and
                 s.get("/metrics").body.decode().count("pinion_batch_size_count 3"),
                 what="the first batch to start")
        rest = post_all(s, [{"input": {"text": t}} for t in ("a", "b", "c")])
        assert first.result(timeout=10)["metrics"]["batch_size"] == 1
        assert [(r.json()["output"], r.json()["metrics"]["batch_size"]) for r in rest] == [
            ("A", 3), ("B", 3), ("C", 3)]
