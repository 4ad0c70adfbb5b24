"""`pinion serve`: server-sent events for @cog.streaming predictors (spec §4.10)."""
import json
import threading
import time

import pytest

from serve_harness import Server, wait_for


@pytest.fixture(scope="module")
def server():
    with Server("serve_model", config="stream.yaml") as s:
        yield s


def test_stream_events_exact(server):
    status, headers, events = server.stream({"id": "sse-1", "input": {"count": 2}})
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert headers["cache-control"] == "no-cache"
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "completed"
    assert events[0][1] == {"id": "sse-1", "status": "processing"}
    outputs = [data for name, data in events if name == "output"]
    assert outputs == [{"chunk": "item 0", "index": 0}, {"chunk": "item 1", "index": 1}]
    logs = "".join(data["data"] for name, data in events if name == "log")
    assert logs == "log 0\nlog 1\n"
    assert all(data["source"] == "stdout" for name, data in events if name == "log")
    final = events[-1][1]
    assert final["status"] == "succeeded" and final["id"] == "sse-1"
    assert final["output"] == ["item 0", "item 1"]
    assert final["logs"] == "log 0\nlog 1\n"
    assert "predict_time" in final["metrics"]


def test_streaming_model_without_sse_returns_array(server):
    body = server.predict({"count": 2})
    assert body["output"] == ["item 0", "item 1"]


def test_put_attaches_to_running_stream_with_replay(server):
    result = {}
    thread = threading.Thread(target=lambda: result.update(first=server.stream(
        {"input": {"count": 3, "seconds": 0.15}}, path="/predictions/sse-2", method="PUT")))
    thread.start()
    wait_for(lambda: server.health()["status"] == "BUSY")
    time.sleep(0.1)
    status, _, events = server.stream({"input": {"count": 99}}, path="/predictions/sse-2",
                                      method="PUT")
    thread.join(10)
    assert status == 200
    assert events[0] == ("start", {"id": "sse-2", "status": "processing"})
    assert [d["chunk"] for n, d in events if n == "output"] == ["item 0", "item 1", "item 2"]
    assert events[-1][0] == "completed"
    assert result["first"][2] == events  # the late subscriber saw the same stream


def test_last_subscriber_leaving_cancels(server):
    connection = server.connect()
    connection.request("POST", "/predictions", body=json.dumps(
        {"id": "sse-3", "input": {"count": 50, "seconds": 0.1}}),
        headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
    response = connection.getresponse()
    assert response.status == 200
    response.fp.readline()
    wait_for(lambda: server.health()["status"] == "BUSY")
    time.sleep(0.2)  # a cancel before the worker enters the predictor is lost
    connection.close()
    server.wait_status("READY", timeout=5)
    # Canceled and finished: a cancel now still answers 200 {} (the id is kept a while).
    assert server.post("/predictions/sse-3/cancel").status == 200


def test_a_streaming_put_joins_a_prediction_started_without_a_stream(server):
    """However a @streaming model's prediction was started (here async, without SSE), a
    streaming PUT of its id joins its stream and replays what happened so far."""
    response = server.put("/predictions/sse-5", {"input": {"count": 3, "seconds": 0.15}},
                          headers={"Prefer": "respond-async"})
    assert response.status == 202
    wait_for(lambda: server.health()["status"] == "BUSY")
    time.sleep(0.2)
    status, headers, events = server.stream({"input": {}}, path="/predictions/sse-5", method="PUT")
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert events[0] == ("start", {"id": "sse-5", "status": "processing"})
    assert [d["chunk"] for n, d in events if n == "output"] == ["item 0", "item 1", "item 2"]
    assert events[-1][0] == "completed" and events[-1][1]["status"] == "succeeded"


def test_history_disabled_truncates_replay():
    with Server("serve_model", config="stream.yaml",
                env={"COG_STREAM_HISTORY_CAPACITY": "0"}) as s:
        result = {}
        thread = threading.Thread(target=lambda: result.update(first=s.stream(
            {"input": {"count": 3, "seconds": 0.15}}, path="/predictions/sse-4", method="PUT")))
        thread.start()
        wait_for(lambda: s.health()["status"] == "BUSY")
        time.sleep(0.1)
        status, _, events = s.stream({}, path="/predictions/sse-4", method="PUT")
        thread.join(10)
        assert status == 200
        assert events[0][0] == "error"
        assert events[0][1]["error"] == "SSE stream replay truncated; events were dropped"
        assert events[0][1]["skipped"] >= 1
        assert result["first"][2][-1][0] == "completed"
