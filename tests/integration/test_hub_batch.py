"""A `@cog.batch` model under the hub: each instance gets as many predictions at once as
its `pinion serve` has slots (`pinion_slots` on its GET /metrics), so predictions that
arrive together are batched (docs/batching.md, "Under the hub")."""
import os
import time

from hub_harness import ROOT, Hub

BATCH_MODEL = os.path.join(ROOT, "tests", "fixtures", "batch_model")


def wait_done(hub, prediction_id, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = hub.get("/v1/predictions/" + prediction_id).json()
        if prediction["status"] in ("succeeded", "failed", "canceled"):
            return prediction
        time.sleep(0.1)
    raise AssertionError("prediction %s did not finish in %d s" % (prediction_id, timeout))


def test_concurrent_predictions_through_the_hub_share_a_batch(tmp_path):
    hub = Hub(tmp_path / "data").start()
    try:
        version = hub.push(None, "alice/batch", cwd=BATCH_MODEL)
        # Four at once, before any instance is up: they queue, one instance boots (its
        # model has 2 x max_size = 8 slots), and all four go to it when it is READY.
        # The batch leaves when it holds max_size (4) or 500 ms after the first arrived.
        created = []
        for text in ("a", "b", "c", "d"):
            response = hub.post("/v1/predictions", json={"version": version, "input": {"text": text}})
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
        done = [wait_done(hub, prediction_id) for prediction_id in created]
        assert [(p["status"], p["output"]) for p in done] == \
            [("succeeded", "A"), ("succeeded", "B"), ("succeeded", "C"), ("succeeded", "D")], \
            [p.get("error") for p in done]
        sizes = [p["metrics"]["batch_size"] for p in done]
        assert max(sizes) > 1, sizes
        # Each prediction's batch_size is that of the batch it was in: a batch of n shows n times.
        assert all(sizes.count(size) % size == 0 for size in set(sizes)), sizes
        assert [p["metrics"]["batched"] for p in done] == sizes
        assert "reported no usable pinion_slots" not in hub.read_log()
    finally:
        hub.stop()
