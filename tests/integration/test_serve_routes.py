"""`pinion serve`: routes, statuses, the request envelope and error bodies (spec §4.1-4.8)."""
import re

import pytest

from serve_harness import Server, raw_request

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
SYNC_KEYS = ["completed_at", "created_at", "error", "id", "logs", "metrics", "output",
             "started_at", "status"]


@pytest.fixture(scope="module")
def server():
    with Server("serve_model") as s:
        yield s


def test_root_document(server):
    r = server.get("/")
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    assert r.json() == {
        "cog_version": "0.22.0", "docs_url": "/docs", "openapi_url": "/openapi.json",
        "shutdown_url": "/shutdown", "healthcheck_url": "/health-check",
        "predictions_url": "/predictions",
        "predictions_idempotent_url": "/predictions/{prediction_id}",
        "predictions_cancel_url": "/predictions/{prediction_id}/cancel"}


def test_health_ready(server):
    r = server.get("/health-check")
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    body = r.json()
    assert list(body) == ["status", "setup", "version"]
    assert body["status"] == "READY"
    setup = body["setup"]
    assert list(setup) == ["started_at", "completed_at", "status", "logs"]
    assert setup["status"] == "succeeded"
    assert setup["logs"] == "setting up\n"
    assert TIMESTAMP.match(setup["started_at"]) and TIMESTAMP.match(setup["completed_at"])
    assert setup["started_at"] <= setup["completed_at"]
    assert body["version"]["pinion"] and body["version"]["cog"] == "0.22.0"
    assert body["version"]["python_sdk"] == "0.22.0+pinion"


def test_openapi(server):
    r = server.get("/openapi.json")
    assert r.status == 200
    doc = r.json()
    props = doc["components"]["schemas"]["Input"]["properties"]
    assert list(props) == ["mode", "text", "seconds", "count"]
    assert doc["components"]["schemas"]["Output"] == {"title": "Output", "type": "string"}


def test_sync_success_exact(server):
    body = server.predict({"text": "hi", "count": 2}, id="fixed-1")
    assert sorted(body) == SYNC_KEYS
    assert body["id"] == "fixed-1"
    assert body["status"] == "succeeded"
    assert body["output"] == "hi 2"
    assert body["error"] is None
    assert body["logs"] == ""
    assert list(body["metrics"]) == ["predict_time"]
    assert isinstance(body["metrics"]["predict_time"], float)
    for key in ("created_at", "started_at", "completed_at"):
        assert TIMESTAMP.match(body[key]), body[key]
    assert body["created_at"] <= body["started_at"] <= body["completed_at"]


def test_generated_id_and_keys_alphabetical(server):
    r = server.post("/predictions", {"input": {}})
    assert r.status == 200
    assert re.match(rb'^\{"completed_at":', r.body)
    assert re.match(r"^pred_[0-9a-f]+$", r.json()["id"])
    assert r.json()["output"] == "hello None"


def test_explicit_null_for_optional_input(server):
    assert server.predict({"count": None})["output"] == "hello None"


def test_unknown_inputs_dropped(server):
    assert server.predict({"bogus": 1, "text": "x"})["output"] == "x None"


def test_no_content_type_means_empty_input(server):
    r = server.post("/predictions", b'{"input":{"text":"ignored"}}')
    assert r.status == 200
    assert r.json()["output"] == "hello None"


def test_null_and_missing_input(server):
    assert server.post("/predictions", {"input": None}).json()["output"] == "hello None"
    assert server.post("/predictions", {}).json()["output"] == "hello None"


def test_logs(server):
    body = server.predict({"mode": "print"})
    assert body["logs"] == "line 0\n"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_415(server, content_type):
    r = server.post("/predictions", b"{}", headers={"Content-Type": content_type})
    assert r.status == 415
    assert r.json() == {"detail": "Expected request with `Content-Type: application/json`"}


def test_json_suffix_content_type_accepted(server):
    r = server.post("/predictions", b'{"input":{"text":"v"}}',
                    headers={"Content-Type": "application/vnd.api+json; charset=utf-8"})
    assert r.status == 200 and r.json()["output"] == "v None"


def test_malformed_json_400(server):
    r = server.post("/predictions", b'{"input": ', headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert r.header("Content-Type") == "application/json"
    assert r.json()["detail"].startswith("Failed to parse the request body as JSON: ")


@pytest.mark.parametrize("body, detail", [
    ([1], "invalid type: expected a JSON object"),
    ({"id": 5}, "id: invalid type: expected a string"),
    ({"webhook": 1}, "webhook: invalid type: expected a string"),
    ({"context": {"a": 1}}, "context.a: invalid type: expected a string"),
    ({"context": "x"}, "context: invalid type: expected a map of strings"),
    ({"webhook_events_filter": ["start", "nope"]},
     'webhook_events_filter[1]: unknown variant "nope", expected one of '
     "`start`, `output`, `logs`, `completed`"),
])
def test_wrong_shape_422(server, body, detail):
    r = server.post("/predictions", body)
    assert r.status == 422
    assert r.json() == {
        "detail": "Failed to deserialize the JSON body into the target type: " + detail}


def test_input_validation_422(server):
    r = server.post("/predictions", {"input": {"seconds": -1, "mode": "neon"}})
    assert r.status == 422
    detail = sorted(r.json()["detail"], key=lambda d: d["loc"])
    assert detail == [
        {"loc": ["body", "input", "mode"], "type": "value_error",
         "msg": '"neon" is not one of ["echo","raise","exit","os_exit","segfault","kill","sleep","print"]'},
        {"loc": ["body", "input", "seconds"], "msg": "-1 is less than the minimum of 0",
         "type": "value_error"},
    ]
    r = server.post("/predictions", {"input": "x"})
    assert r.status == 422
    assert r.json() == {"detail": [{"loc": ["body", "input", "__root__"],
                                    "msg": '"x" is not of type "object"', "type": "value_error"}]}


def test_body_over_100_mib_413(server):
    size = 100 * 1024 * 1024 + 1
    head = ("POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % size).encode()
    status, headers, body = raw_request(server.port, head + b" " * 1024)
    assert status == 413
    assert server.predict({"text": "still"})["output"] == "still None"


@pytest.mark.parametrize("method, path", [
    ("GET", "/nope"), ("POST", "/predictions/x/y/z"), ("GET", "/predictions/"),
    ("POST", "/trainingsx"),
])
def test_unknown_route_404(server, method, path):
    r = server.request(method, path)
    assert r.status == 404
    assert r.json() == {"detail": "Not Found"}


@pytest.mark.parametrize("method, path", [
    ("GET", "/predictions"), ("POST", "/health-check"), ("DELETE", "/predictions/x"),
    ("GET", "/predictions/x/cancel"), ("PUT", "/"), ("GET", "/shutdown"),
    ("POST", "/openapi.json"), ("GET", "/predictions/x"),
])
def test_wrong_method_405(server, method, path):
    r = server.request(method, path)
    assert r.status == 405
    assert r.json() == {"detail": "Method Not Allowed"}


def test_cancel_unknown_404(server):
    r = server.post("/predictions/nothing-here/cancel")
    assert r.status == 404
    assert r.body == b"{}"


def test_cancel_of_a_prediction_that_just_finished_is_200(server):
    """Cog keeps a prediction's id until its predictor has returned, so a cancel racing the
    end answers 200 {}; an id never seen stays 404."""
    body = server.predict({"text": "done"}, id="just-finished")
    assert body["status"] == "succeeded"
    response = server.post("/predictions/just-finished/cancel")
    assert (response.status, response.body) == (200, b"{}")
    assert server.post("/predictions/never-seen/cancel").status == 404


def test_put_creates_and_checks_id(server):
    r = server.put("/predictions/put-1", {"input": {"text": "p"}})
    assert r.status == 200
    assert r.json()["id"] == "put-1" and r.json()["output"] == "p None"
    # Finished predictions are forgotten: the same id runs again.
    assert server.put("/predictions/put-1", {"input": {"text": "q"}}).json()["output"] == "q None"
    r = server.put("/predictions/put-2", {"id": "other", "input": {}})
    assert r.status == 422
    assert r.json() == {"detail": [{"loc": ["body", "id"], "type": "value_error",
                                    "msg": "prediction ID must match the ID supplied in the URL"}]}
    r = server.put("/predictions/put-3", {"id": "put-3"})
    assert r.status == 200 and r.json()["id"] == "put-3"


def test_put_in_flight_returns_snapshot(server):
    r = server.put("/predictions/inflight", {"input": {"mode": "sleep", "seconds": 0.6}},
                   headers={"Prefer": "respond-async"})
    assert r.status == 202
    r = server.put("/predictions/inflight", {"input": {"text": "ignored"}})
    assert r.status == 202
    body = r.json()
    assert body["id"] == "inflight"
    assert body["status"] in ("starting", "processing")
    # The validated input: schema defaults filled in, null for the optional `count`.
    assert body["input"] == {"mode": "sleep", "seconds": 0.6, "text": "hello", "count": None}
    assert body["completed_at"] is None
    # A different id while the only slot is busy.
    r = server.put("/predictions/other", {"input": {}})
    assert r.status == 409
    assert r.json() == {"error": "At capacity - all prediction slots busy", "status": "failed"}
    server.wait_status("READY")


def test_async_202_full_object(server):
    r = server.post("/predictions", {"id": "a-1", "input": {"text": "async"}},
                    headers={"Prefer": "respond-async"})
    assert r.status == 202
    body = r.json()
    assert sorted(body) == SYNC_KEYS
    assert body["status"] == "starting"
    assert body["id"] == "a-1"
    assert body["output"] is None and body["completed_at"] is None and body["started_at"] is None
    assert TIMESTAMP.match(body["created_at"])
    assert body["metrics"] == {}
    server.wait_status("READY")


def test_prefer_must_match_exactly(server):
    r = server.post("/predictions", {"input": {}}, headers={"Prefer": "respond-async, wait"})
    assert r.status == 200


def test_sse_on_non_streaming_406(server):
    status, headers, events = server.stream({"input": {}})
    assert status == 406
    assert events == []
    r = server.post("/predictions", {"input": {}}, headers={"Accept": "text/event-stream"})
    assert r.json() == {"error": "This model does not support streaming responses. "
                                 "Add @cog.streaming to predict() to enable SSE."}


def test_trainings_sse_406(server):
    r = server.post("/trainings", {"input": {}}, headers={"Accept": "text/event-stream"})
    assert r.status == 406
    assert r.json() == {"error": "Training endpoints do not support streaming responses."}


def test_server_still_serving(server):
    assert server.health()["status"] == "READY"
    assert server.predict({"text": "end"})["output"] == "end None"


def test_slow_clients_are_dropped_and_others_served():
    """A client that sends its headers a byte at a time, or nothing at all, is cut off
    after PINION_HTTP_TIMEOUT; everyone else is served meanwhile, and a sync prediction
    that runs longer than the timeout still gets its answer."""
    import socket
    import time

    with Server("serve_model", env={"PINION_HTTP_TIMEOUT": "1"}) as s:
        idle = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        slow = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        slow.sendall(b"POST /predictions HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert s.get("/health-check").json()["status"] == "READY"  # not blocked by them
        body = s.predict({"mode": "sleep", "seconds": 1.6})
        assert body["status"] == "succeeded"  # longer than the timeout, still answered
        for sock in (idle, slow):
            sock.settimeout(5)
            assert sock.recv(1024) == b""  # closed by the server
            sock.close()
        assert time.monotonic() - started < 5
