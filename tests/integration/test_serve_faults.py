"""`pinion serve`: faults in the model (raise, exit, crash, kill), worker restarts,
setup failures and timeouts, and shutdown (spec §4.4-4.5, §4.12, §7.1, §10 item 1)."""
import os
import re
import signal
import time

import pytest

from serve_harness import Server, wait_for


@pytest.fixture(scope="module")
def server():
    with Server("serve_model") as s:
        yield s


def test_raise_fails_only_that_prediction(server):
    body = server.predict({"mode": "raise"})
    assert body["status"] == "failed"
    assert body["error"] == "Prediction failed: Prediction failed: ValueError: boom"
    assert body["logs"] == "about to raise\n"  # kept on failure (pinion's choice 5)
    assert body["output"] is None
    assert "predict_time" in body["metrics"]
    assert server.health()["status"] == "READY"
    assert server.predict({"text": "after"})["output"] == "after None"


def test_sys_exit_fails_prediction_and_worker_survives(server):
    started = server.health()["setup"]["started_at"]
    body = server.predict({"mode": "exit"})
    assert body["status"] == "failed"
    assert body["error"] == "Prediction failed: Prediction failed: SystemExit: 3"
    assert server.health()["status"] == "READY"
    assert server.health()["setup"]["started_at"] == started  # no restart


@pytest.mark.parametrize("mode, cause", [
    ("os_exit", r"^Worker crashed: the worker exited with code 7 \(peak memory [0-9.]+ [KMG]iB\): "
                r"the model's code, or a library it uses, ended the process"),
    ("segfault", r"^Worker crashed: the worker was killed by signal 11 \(SIGSEGV\) with a peak "
                 r"memory of [0-9.]+ [KMG]iB: native code in the model or one of its libraries "
                 r"crashed \(a memory fault\)$"),
    ("kill", r"^Worker crashed: the worker was killed by signal 9 \(SIGKILL\) with a peak "
             r"memory of [0-9.]+ [KMG]iB: something outside the worker killed it; the kernel's "
             r"out-of-memory killer"),
])
def test_worker_death_fails_and_restarts(mode, cause):
    with Server("serve_model") as server:
        check_death_and_restart(server, mode, cause)


def check_death_and_restart(server, mode, cause):
    before = server.health()["setup"]["started_at"]
    body = server.predict({"mode": mode})
    assert body["status"] == "failed"
    assert body["error"].startswith("Worker crashed: "), body["error"]
    assert re.search(cause, body["error"]), body["error"]
    waiting = server.health()
    if waiting["status"] == "STARTING":  # the restart's backoff: no stale end of setup
        assert "completed_at" not in waiting["setup"], waiting
        assert waiting["setup"]["status"] == "starting"
    health = server.wait_status("READY")
    assert health["setup"]["status"] == "succeeded"
    assert health["setup"]["started_at"] > before  # setup ran again
    assert health["setup"]["logs"] == "setting up\n"
    assert server.predict({"text": "back"})["output"] == "back None"


def test_three_deaths_in_a_minute_go_defunct():
    with Server("serve_model") as s:
        for _ in range(3):
            body = s.predict({"mode": "os_exit"})
            assert body["error"].startswith("Worker crashed: ")
            s.wait_status(("READY", "DEFUNCT"))
        assert s.wait_status("DEFUNCT")["status"] == "DEFUNCT"
        r = s.post("/predictions", {"input": {}})
        assert r.status == 503
        assert r.json() == {"status": "failed", "error":
                            "The model's worker died repeatedly and the server is DEFUNCT; "
                            "restart it. GET /health-check for details."}


def test_no_restart_goes_defunct_at_once():
    with Server("serve_model", args=["--no-restart"]) as s:
        body = s.predict({"mode": "segfault"})
        assert body["error"].startswith("Worker crashed: the worker was killed by signal 11")
        assert s.wait_status("DEFUNCT")["status"] == "DEFUNCT"
        assert s.post("/predictions", {"input": {}}).status == 503
        assert s.get("/").status == 200


def test_setup_timeout():
    with Server("serve_model", config="slowsetup.yaml", wait=False,
                env={"SETUP_SECONDS": "5", "COG_SETUP_TIMEOUT": "0.3"}) as s:
        health = s.wait_status("SETUP_FAILED")
        assert health["setup"]["status"] == "failed"
        assert "worker setup timed out" in health["setup"]["logs"]
        assert "completed_at" in health["setup"]
        r = s.post("/predictions", {"input": {}})
        assert r.status == 503
        assert r.json()["status"] == "failed"
        assert r.json()["error"].startswith("Setup failed")


def test_cog_settings_come_from_cog_yaml_environment_too():
    """cog.yaml's environment: is the image's ENV under Cog: the server's own settings
    (here COG_SETUP_TIMEOUT) read it, and the process's own environment wins."""
    with Server("serve_model", config="envsettings.yaml", wait=False) as s:
        assert "worker setup timed out" in s.wait_status("SETUP_FAILED")["setup"]["logs"]
    with Server("serve_model", config="envsettings.yaml", wait=False,
                env={"COG_SETUP_TIMEOUT": "60", "SETUP_SECONDS": "0.2"}) as s:
        assert s.wait_status("READY")["setup"]["status"] == "succeeded"


def test_setup_timeout_flag():
    with Server("serve_model", config="slowsetup.yaml", wait=False,
                args=["--setup-timeout", "0.3"], env={"SETUP_SECONDS": "5"}) as s:
        assert "worker setup timed out" in s.wait_status("SETUP_FAILED")["setup"]["logs"]


def test_starting_answers_503_and_openapi_early():
    with Server("serve_model", config="slowsetup.yaml", wait=False,
                env={"SETUP_SECONDS": "1.5"}) as s:
        health = s.wait_status("STARTING")
        assert health["setup"]["status"] == "starting"
        assert "completed_at" not in health["setup"]
        r = s.post("/predictions", {"input": {"bogus": "x"}})
        assert r.status == 503
        assert r.json() == {"status": "failed", "error":
                            "Setup has not finished yet. Wait until it has finished, or "
                            "GET /health-check for status."}
        wait_for(lambda: s.get("/openapi.json").status == 200, what="openapi during setup")
        s.wait_status("READY", timeout=10)
        assert s.predict()["output"] == "ok"


def test_setup_failure_keeps_serving():
    with Server("setup_fails", wait=False) as s:
        health = s.wait_status("SETUP_FAILED")
        assert health["setup"]["status"] == "failed"
        assert health["setup"]["logs"]
        assert s.post("/predictions", {"input": {}}).status == 503
        assert s.get("/").status == 200


def test_import_failure_openapi_503():
    with Server("import_fails", wait=False) as s:
        s.wait_status("SETUP_FAILED")
        r = s.get("/openapi.json")
        assert r.status == 503
        assert r.json() == {"error": "OpenAPI schema not available"}


def test_sigterm_drains_in_flight_work():
    s = Server("serve_model")
    try:
        r = s.post("/predictions", {"id": "drain", "input": {"mode": "sleep", "seconds": 0.5}},
                   headers={"Prefer": "respond-async"})
        assert r.status == 202
        wait_for(lambda: s.health()["status"] == "BUSY", what="BUSY")
        s.process.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        assert s.process.poll() is None  # still draining
        assert s.process.wait(timeout=10) == 0
        assert "shutting down" in s.output()
    finally:
        s.stop()


def test_sigterm_sync_request_still_answered():
    s = Server("serve_model")
    try:
        import threading
        result = {}
        thread = threading.Thread(target=lambda: result.update(
            body=s.predict({"mode": "sleep", "seconds": 0.4, "text": "drained"})))
        thread.start()
        wait_for(lambda: s.health()["status"] == "BUSY", what="BUSY")
        s.process.send_signal(signal.SIGTERM)
        thread.join(10)
        assert result["body"]["output"] == "drained None"
        assert s.process.wait(timeout=10) == 0
    finally:
        s.stop()


def test_await_explicit_shutdown_ignores_sigterm():
    s = Server("serve_model", args=["--await-explicit-shutdown", "true"])
    try:
        s.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert s.process.poll() is None
        assert s.health()["status"] == "READY"
        r = s.post("/shutdown")
        assert r.status == 200 and r.body == b"{}"
        assert s.process.wait(timeout=10) == 0
    finally:
        s.stop()


def test_shutdown_route():
    s = Server("serve_model")
    try:
        assert s.post("/shutdown").status == 200
        assert s.process.wait(timeout=10) == 0
    finally:
        s.stop()
