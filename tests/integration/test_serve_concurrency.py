"""`pinion serve`: concurrency slots, 409 at capacity, BUSY, and cancellation of sync,
async and stuck predictions (spec §4.9, §4.11)."""
import json
import threading
import time

import pytest

from serve_harness import Receiver, Server, raw_request, wait_for

AT_CAPACITY = {"error": "At capacity - all prediction slots busy", "status": "failed"}


def start_async(server, id, input, **envelope):
    r = server.post("/predictions", dict(envelope, id=id, input=input),
                    headers={"Prefer": "respond-async"})
    assert r.status == 202, r.body
    return r.json()


def test_async_slots_409_and_busy():
    with Server("serve_model", config="async.yaml", env={"COG_MAX_CONCURRENCY": "2"}) as s, \
            Receiver() as hooks:
        start_async(s, "c1", {"seconds": 0.5, "text": "one"}, webhook=hooks.url)
        start_async(s, "c2", {"seconds": 0.5, "text": "two"}, webhook=hooks.url)
        assert s.health()["status"] == "BUSY"
        r = s.post("/predictions", {"input": {}})
        assert r.status == 409
        assert r.json() == AT_CAPACITY
        r = s.post("/predictions", {"input": {}}, headers={"Prefer": "respond-async"})
        assert r.status == 409 and r.json() == AT_CAPACITY
        s.wait_status("READY")
        done = wait_for(lambda: {b["id"]: b["output"] for b in hooks.bodies()
                                 if b["status"] == "succeeded"}, what="both completed")
        wait_for(lambda: len([b for b in hooks.bodies() if b["status"] == "succeeded"]) == 2)
        done = {b["id"]: b["output"] for b in hooks.bodies() if b["status"] == "succeeded"}
        assert done == {"c1": "one", "c2": "two"}


def test_sync_model_with_many_slots_fails_setup():
    with Server("serve_model", wait=False, env={"COG_MAX_CONCURRENCY": "2"}) as s:
        health = s.wait_status("SETUP_FAILED")
        assert "COG_MAX_CONCURRENCY > 1 requires an async run() or predict() method" in \
            health["setup"]["logs"]


def test_cancel_async():
    with Server("serve_model", config="async.yaml", env={"COG_MAX_CONCURRENCY": "2"}) as s, \
            Receiver() as hooks:
        start_async(s, "k1", {"seconds": 5, "text": "k1"}, webhook=hooks.url)
        start_async(s, "k2", {"seconds": 0.1, "text": "k2"}, webhook=hooks.url)
        # Cancel once k2 is done: with one prediction running, its output is its own.
        wait_for(lambda: any(b["status"] == "succeeded" for b in hooks.bodies()))
        r = s.post("/predictions/k1/cancel")
        assert r.status == 200 and r.body == b"{}"
        assert s.post("/predictions/k1/cancel").status in (200, 404)  # repeat is harmless
        wait_for(lambda: len([b for b in hooks.bodies() if b["status"] in
                              ("canceled", "succeeded")]) == 2, what="both ended")
        final = {b["id"]: b for b in hooks.bodies() if b["status"] in ("canceled", "succeeded")}
        assert final["k1"]["status"] == "canceled"
        assert final["k1"]["logs"] == "canceled k1\n"  # kept on cancel (pinion's choice 5)
        assert final["k1"]["error"] is None and final["k1"]["completed_at"]
        assert final["k2"]["status"] == "succeeded" and final["k2"]["output"] == "k2"
        assert s.post("/predictions/k1/cancel").status == 200  # finished a moment ago: still 200 {}


@pytest.fixture(scope="module")
def sync_server():
    with Server("serve_model") as s:
        yield s


def test_cancel_sync_by_id(sync_server):
    s = sync_server
    result = {}
    thread = threading.Thread(target=lambda: result.update(body=s.predict(
        {"mode": "sleep", "seconds": 5}, id="sync-cancel")))
    thread.start()
    wait_for(lambda: s.health()["status"] == "BUSY")
    time.sleep(0.2)  # let the worker enter the predictor (see test_cancel_async_sync_predictor)
    started = time.monotonic()
    assert s.post("/predictions/sync-cancel/cancel").status == 200
    thread.join(10)
    assert time.monotonic() - started < 2
    body = result["body"]
    assert body["status"] == "canceled"
    assert body["id"] == "sync-cancel"
    assert body["error"] is None
    assert body["logs"] == "sleeping\n"
    assert s.wait_status("READY")
    assert s.predict({"text": "next"})["output"] == "next None"


def test_cancel_sync_by_disconnect(sync_server):
    s = sync_server
    with Receiver() as hooks:
        connection = s.connect()
        connection.request("POST", "/predictions", body=json.dumps(
            {"id": "gone", "webhook": hooks.url, "webhook_events_filter": ["completed"],
             "input": {"mode": "sleep", "seconds": 5}}),
            headers={"Content-Type": "application/json"})
        wait_for(lambda: s.health()["status"] == "BUSY")
        time.sleep(0.2)
        connection.close()
        final = hooks.wait_completed(timeout=3)
        assert final["status"] == "canceled" and final["id"] == "gone"
    s.wait_status("READY")


def test_cancel_async_sync_predictor(sync_server):
    s = sync_server
    with Receiver() as hooks:
        start_async(s, "early", {"mode": "sleep", "seconds": 5}, webhook=hooks.url,
                    webhook_events_filter=["logs", "completed"])
        # A cancel that reaches the worker before it runs the predictor is lost (see
        # the report), so cancel once the predictor has printed.
        wait_for(lambda: any(b["logs"] == "sleeping\n" for b in hooks.bodies()))
        assert s.post("/predictions/early/cancel").status == 200
        final = hooks.wait_completed(timeout=3)
        assert final["status"] == "canceled" and final["logs"] == "sleeping\n"
    s.wait_status("READY")


def test_ignored_cancellation_restarts_worker():
    with Server("serve_model", config="ignore.yaml", env={"PINION_CANCEL_GRACE": "0.3"}) as s:
        before = s.health()["setup"]["started_at"]
        result = {}
        thread = threading.Thread(target=lambda: result.update(body=s.predict(
            {"seconds": 8}, id="stubborn")))
        thread.start()
        wait_for(lambda: s.health()["status"] == "BUSY")
        time.sleep(0.2)
        assert s.post("/predictions/stubborn/cancel").status == 200
        thread.join(10)
        body = result["body"]
        assert body["status"] == "canceled"
        assert "ignoring cancellation" in body["logs"]
        health = s.wait_status("READY")
        assert health["setup"]["started_at"] > before
        assert "ignored cancellation; restarting the worker" in s.output()
        assert s.predict({"seconds": 0})["output"] == "finished"


def test_pipelined_request_behind_a_sync_prediction(sync_server):
    """Bytes arriving behind a running sync request are not a hang-up."""
    s = sync_server
    first = json.dumps({"input": {"mode": "sleep", "seconds": 0.3, "text": "first"}}).encode()
    second = json.dumps({"input": {"text": "second"}}).encode()

    def request(body, extra=""):
        return (("POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: %d\r\n%s\r\n" % (len(body), extra)).encode() + body)

    status, headers, body = raw_request(s.port, request(first) + request(second,
                                                                         "Connection: close\r\n"))
    assert status == 200
    assert b'"output":"first None"' in body and b'"status":"succeeded"' in body
    assert b'"output":"second None"' in body
    assert s.health()["status"] == "READY"


def test_cancel_sync_before_the_predictor_starts():
    """A cancel that reaches a sync worker before it has read the prediction must still
    cancel it, at once, without restarting the worker (the grace period is long here).
    "At once" is well under the 30 s grace that a missed cancel would wait for, and
    under the 20 s prediction: bounds loose enough for a loaded 2-core CI machine."""
    with Server("serve_model", env={"PINION_CANCEL_GRACE": "30"}) as s:
        before = s.health()["setup"]["started_at"]
        for attempt in range(5):
            started = time.monotonic()
            start_async(s, f"early{attempt}", {"mode": "sleep", "seconds": 20})
            assert s.post(f"/predictions/early{attempt}/cancel").status == 200
            s.wait_status("READY", timeout=12)
            assert time.monotonic() - started < 12
        assert s.health()["setup"]["started_at"] == before  # the worker was never restarted
        assert s.predict({"text": "after"})["output"] == "after None"


def test_concurrent_async_predictions_keep_their_own_logs():
    """Two async predictions print while both run: each one's logs hold only its own
    lines (the worker sends a prediction's prints as frames tagged with its id)."""
    with Server("serve_async_logs") as s, Receiver() as hooks:
        start_async(s, "one", {"text": "one", "seconds": 0.4}, webhook=hooks.url,
                    webhook_events_filter=["completed"])
        start_async(s, "two", {"text": "two", "seconds": 0.2}, webhook=hooks.url,
                    webhook_events_filter=["completed"])
        wait_for(lambda: len(hooks.bodies()) == 2, what="both completed")
        final = {b["id"]: b for b in hooks.bodies()}
        assert final["one"]["logs"] == "start one\nend one\n"
        assert final["two"]["logs"] == "start two\nend two\n"
        assert final["one"]["output"] == "one" and final["two"]["output"] == "two"
