"""`pinion serve`: webhooks (spec §5; pinion's choices 3-5): events and their bodies,
filters, throttling, retries of `completed`, auth and trace headers."""
import os
import re
import time

import pytest

from serve_harness import ROOT, Receiver, Server, wait_for

TERMINAL = ("succeeded", "failed", "canceled")
with open(os.path.join(ROOT, "VERSION")) as f:
    VERSION = f.read().strip()


@pytest.fixture(scope="module")
def server():
    with Server("serve_model", config="iter.yaml",
                env={"COG_THROTTLE_RESPONSE_INTERVAL": "0", "WEBHOOK_AUTH_TOKEN": "s3cret"}) as s:
        yield s


def run_with_hook(server, hooks, input, **envelope):
    envelope.setdefault("webhook", hooks.url + "/hook")
    body = server.predict(input, headers={"traceparent": "00-abc-def-01", "tracestate": "k=v"},
                          **envelope)
    final = hooks.wait_completed()
    time.sleep(0.05)  # non-terminal sends are fire-and-forget; let stragglers land
    return body, final


def test_events_bodies_and_headers(server):
    with Receiver() as hooks:
        body, final = run_with_hook(server, hooks, {"count": 2}, id="wh-1")
        assert body["status"] == "succeeded" and body["output"] == ["item 0", "item 1"]
        requests = hooks.requests
        for r in requests:
            assert r["method"] == "POST" and r["path"] == "/hook"
            assert r["headers"]["content-type"] == "application/json"
            assert r["headers"]["user-agent"] == "pinion/" + VERSION
            assert r["headers"]["authorization"] == "Bearer s3cret"
            assert r["headers"]["traceparent"] == "00-abc-def-01"
            assert r["headers"]["tracestate"] == "k=v"
            assert r["json"]["id"] == "wh-1"
        bodies = [r["json"] for r in requests]
        start = [b for b in bodies if b["status"] == "processing" and b["output"] is None
                 and b["logs"] == ""]
        assert start, bodies
        assert start[0]["started_at"] and start[0]["completed_at"] is None
        assert "predict_time" not in start[0]["metrics"]
        outputs = sorted(map(len, (b["output"] for b in bodies
                                   if b["status"] == "processing" and b["output"])))
        assert outputs[-1] == 2 and 1 in outputs
        assert any(b["logs"].startswith("log 0\n") for b in bodies if b["status"] == "processing")
        completed = [b for b in bodies if b["status"] in TERMINAL]
        assert len(completed) == 1
        assert completed[0] == dict(body)


def test_single_value_output_webhook_is_array_then_value():
    with Server("serve_model", env={"COG_THROTTLE_RESPONSE_INTERVAL": "0"}) as s, \
            Receiver() as hooks:
        s.predict({"text": "v"}, webhook=hooks.url,
                  webhook_events_filter=["output", "completed"])
        final = hooks.wait_completed()
        time.sleep(0.05)
        outputs = [b["output"] for b in hooks.bodies() if b["status"] == "processing"]
        assert outputs == [["v None"]]
        assert final["output"] == "v None"


def test_filter(server):
    with Receiver() as hooks:
        run_with_hook(server, hooks, {"count": 2}, webhook_events_filter=["completed"])
        assert [b["status"] for b in hooks.bodies()] == ["succeeded"]
    with Receiver() as hooks:
        server.predict({"count": 1}, webhook=hooks.url, webhook_events_filter=["start"])
        wait_for(lambda: hooks.requests)
        time.sleep(0.1)
        assert [b["status"] for b in hooks.bodies()] == ["processing"]


def test_failed_prediction_completed_webhook():
    with Server("serve_model") as s, Receiver() as hooks:
        body = s.predict({"mode": "raise"}, webhook=hooks.url,
                         webhook_events_filter=["completed"])
        final = hooks.wait_completed()
        assert final == body
        assert final["status"] == "failed"
        assert final["error"] == "Prediction failed: Prediction failed: ValueError: boom"
        assert final["logs"] == "about to raise\n"


def test_completed_retried_after_500():
    with Server("serve_model") as s, Receiver(fail_first=2) as hooks:
        body = s.predict({"text": "retry"}, webhook=hooks.url,
                         webhook_events_filter=["completed"])
        final = hooks.wait_completed()
        wait_for(lambda: len(hooks.requests) == 3, what="two retries")
        assert [r["json"]["status"] for r in hooks.requests] == ["succeeded"] * 3
        assert hooks.requests[0]["body"] == hooks.requests[2]["body"]
        assert final == body
        assert "retrying in 0.2 s" in s.output() and "retrying in 0.4 s" in s.output()


def test_completed_retries_hold_at_most_the_retry_memory_limit():
    # A receiver that is down: bodies waiting for a retry may not exceed
    # PINION_WEBHOOK_RETRY_BYTES; past it a failed delivery is given up at once.
    with Server("serve_model") as s, Receiver() as hooks:
        s.predict({"text": "size"}, webhook=hooks.url, webhook_events_filter=["completed"])
        size = len(hooks.wait_count(1)[0]["body"])
    limit = size * 3 // 2
    with Server("serve_model", env={"PINION_WEBHOOK_RETRY_BYTES": str(limit)}) as s, \
            Receiver(fail_first=1000) as hooks:
        first = s.predict({"text": "size"}, webhook=hooks.url, webhook_events_filter=["completed"])
        hooks.wait_count(1)
        second = s.predict({"text": "size"}, webhook=hooks.url, webhook_events_filter=["completed"])
        wait_for(lambda: "not retried" in s.output(), what="the second webhook given up")
        held = int(re.search(r"not retried: (\d+) bytes of webhooks already wait for a retry "
                             r"\(the limit is PINION_WEBHOOK_RETRY_BYTES=(\d+)\)", s.output()).group(1))
        assert abs(held - size) < 16
        # The first one goes on being retried; the second was sent once.
        wait_for(lambda: sum(r["json"]["id"] == first["id"] for r in hooks.requests) >= 3, what="retries")
        assert sum(r["json"]["id"] == second["id"] for r in hooks.requests) == 1


def test_throttle_coalesces_logs_but_never_drops_the_end():
    with Server("serve_model", config="iter.yaml",
                env={"COG_THROTTLE_RESPONSE_INTERVAL": "10"}) as s, Receiver() as hooks:
        body = s.predict({"count": 5, "seconds": 0.02}, webhook=hooks.url,
                         webhook_events_filter=["start", "logs", "completed"])
        final = hooks.wait_completed()
        time.sleep(0.1)
        statuses = [b["status"] for b in hooks.bodies()]
        # start, then at most one throttled logs event, then completed.
        assert statuses[0] == "processing" and statuses[-1] == "succeeded"
        assert len(statuses) <= 3, statuses
        assert final["logs"] == "".join("log %d\n" % i for i in range(5)) == body["logs"]


def test_output_webhooks_are_never_throttled():
    """As in Cog: every output item has its own webhook, whatever the interval."""
    with Server("serve_model", config="iter.yaml",
                env={"COG_THROTTLE_RESPONSE_INTERVAL": "10"}) as s, Receiver() as hooks:
        s.predict({"count": 3, "seconds": 0.02}, webhook=hooks.url,
                  webhook_events_filter=["output"])
        wait_for(lambda: len(hooks.requests) >= 3, what="three output webhooks")
        time.sleep(0.2)
        bodies = hooks.bodies()
        assert [b["output"] for b in bodies] == [["item 0"], ["item 0", "item 1"],
                                                ["item 0", "item 1", "item 2"]]
        assert [b["status"] for b in bodies] == ["processing"] * 3


def test_a_late_logs_webhook_keeps_its_moment():
    """A logs event held back by the throttle and sent after the end says `processing`,
    never the terminal state (Cog never sends one for that filter)."""
    with Server("serve_model", config="iter.yaml",
                env={"COG_THROTTLE_RESPONSE_INTERVAL": "10"}) as s, Receiver() as hooks:
        body = s.predict({"count": 3, "seconds": 0.02}, webhook=hooks.url, webhook_events_filter=["logs"])
        assert body["status"] == "succeeded"
        last = wait_for(lambda: [b for b in hooks.bodies() if b["logs"] == body["logs"]],
                        what="the held-back logs webhook")
        assert last[0]["status"] == "processing"
        assert "predict_time" not in last[0]["metrics"]
        time.sleep(0.2)
        assert all(b["status"] == "processing" for b in hooks.bodies())


def test_unreachable_webhook_does_not_fail_prediction():
    with Server("serve_model") as s:
        body = s.predict({"text": "x"}, webhook="http://127.0.0.1:9/nothing",
                         webhook_events_filter=["start"])
        assert body["status"] == "succeeded"
        assert s.health()["status"] == "READY"


def test_generator_behind_an_any_annotation_streams_once():
    with Server("serve_any_iter", env={"COG_THROTTLE_RESPONSE_INTERVAL": "0"}) as s, Receiver() as hooks:
        body = s.predict({}, webhook=hooks.url, webhook_events_filter=["output", "completed"])
        assert body["status"] == "succeeded"
        assert body["output"] == ["a", "b", "c"]
        final = hooks.wait_completed()
        assert final["output"] == ["a", "b", "c"]
        time.sleep(0.2)  # any late output webhook would show here
        outputs = sorted(len(b["output"]) for b in hooks.bodies() if b["status"] != "succeeded")
        assert outputs == [1, 2, 3]  # one webhook per item, never the list again
