"""Replicate's JavaScript client running models on `pinion hub` (tests/js/predictions.mjs):
examples/hello published as replicate/canary, examples/stream and examples/tts."""
import json
import os
import shutil
import subprocess

import pytest

from hub_harness import ROOT, Hub

SCRIPT = os.path.join(ROOT, "tests", "js", "predictions.mjs")
MODULE = os.path.join(ROOT, "tests", "js", "node_modules", "replicate")

@pytest.fixture(scope="module", autouse=True)
def js_client_installed():
    """scripts/install-deps installs node and the client: their absence is a failure."""
    assert shutil.which("node"), "node is not installed: run scripts/install-deps"
    assert os.path.isdir(MODULE), ("the replicate npm package is not in tests/js/node_modules: "
                                   "run scripts/install-deps")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    try:
        token = hub.token("replicate")
        for example, model in (("hello", "replicate/canary"), ("stream", "replicate/stream"),
                               ("tts", "replicate/tts")):
            hub.push(example, model, "replicate", "--public")
        done = subprocess.run(["node", SCRIPT, hub.url, token], capture_output=True, text=True,
                              timeout=240)
        assert done.returncode == 0, done.stderr + hub.read_log()[-3000:]
        yield json.loads(done.stdout)
    finally:
        hub.stop()


def test_run_on_the_canary(results):
    assert results["canary"] == "hello there, Alice"


def test_stream_yields_tokens_as_produced(results):
    assert results["stream_tokens"] == ["one", " two", " three"]


def test_deployment_predictions(results):
    assert results["deployment"] == {"status": "succeeded", "output": "hello there, deployed",
                                     "deployment": "replicate/greeter"}


def test_cancel(results):
    assert results["canceled"] == "canceled"


def test_file_output_fetched_back(results):
    audio = results["audio"]
    assert audio["status"] == 200
    assert audio["type"] == "audio/wav"
    assert audio["magic"] == "RIFF" and audio["size"] > 1000


def test_validate_webhook_on_a_delivered_webhook(results):
    assert results["webhook_valid"] is True
    assert results["webhook_tampered"] is False
