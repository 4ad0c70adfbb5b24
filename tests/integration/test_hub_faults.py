"""Nothing is lost (issue: durability): with 200 predictions in flight, `kill -9` of an
instance and of the hub itself, then a restart, every accepted prediction reaches a
terminal state — the ones that were queued complete, the ones that were running fail
with a reason — and each one's `completed` webhook is delivered."""
import json
import os
import signal
import time

from hub_harness import ROOT, Hub, WebhookReceiver

COUNT = 200


def children_of(pid):
    path = "/proc/%d/task/%d/children" % (pid, pid)
    return [int(p) for p in open(path).read().split()] if os.path.exists(path) else []


def test_kill_9_of_an_instance_and_the_hub_loses_nothing(tmp_path):
    receiver = WebhookReceiver()
    hub = Hub(tmp_path / "data").start()
    try:
        version = hub.push(None, "alice/slow", cwd=os.path.join(ROOT, "tests", "fixtures", "hub_slow"))
        ids = []
        for n in range(COUNT):
            response = hub.post("/v1/predictions", json={
                "version": version, "input": {"n": n}, "webhook": receiver.url,
                "webhook_events_filter": ["completed"]})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        # Let some run, then kill an instance and the hub without warning.
        deadline = time.monotonic() + 30
        while len(receiver.calls) < 10:
            assert time.monotonic() < deadline, "nothing completed"
            time.sleep(0.02)
        instances = children_of(hub.process.pid)
        assert instances, "no instance running"
        os.kill(instances[0], signal.SIGKILL)
        time.sleep(0.05)
        hub.process.send_signal(signal.SIGKILL)
        hub.process.wait(timeout=10)
        hub.log.close()
        hub.process = None
        hub.start()

        deadline = time.monotonic() + 120
        while True:
            finals = {}
            for prediction_id in ids:
                prediction = hub.get("/v1/predictions/" + prediction_id).json()
                if prediction["status"] in ("succeeded", "failed", "canceled"):
                    finals[prediction_id] = prediction
            if len(finals) == COUNT:
                break
            assert time.monotonic() < deadline, "%d of %d predictions ended" % (len(finals), COUNT)
            time.sleep(0.5)
        failed = [p for p in finals.values() if p["status"] == "failed"]
        succeeded = [p for p in finals.values() if p["status"] == "succeeded"]
        assert len(failed) + len(succeeded) == COUNT
        assert all(p["error"] for p in failed)  # each says why
        assert all(p["output"] == p["input"]["n"] for p in succeeded)

        deadline = time.monotonic() + 60
        while True:
            delivered = {json.loads(body)["id"]: json.loads(body)["status"] for _, body in receiver.calls
                         if json.loads(body)["status"] in ("succeeded", "failed", "canceled")}
            if set(ids) <= set(delivered):
                break
            assert time.monotonic() < deadline, "%d of %d completed webhooks" % (len(delivered), COUNT)
            time.sleep(0.2)
        for prediction_id in ids:
            assert delivered[prediction_id] == finals[prediction_id]["status"]
    finally:
        hub.stop()
        receiver.close()
