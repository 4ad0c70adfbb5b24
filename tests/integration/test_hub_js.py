"""Replicate's JavaScript client (replicate 1.4.0 from npm, in tests/js) against
`pinion hub`, with only its base URL changed. scripts/install-deps installs node and the
client, so a missing one fails the tests."""
import json
import os
import shutil
import subprocess

import pytest

from hub_harness import ROOT, Hub

CLIENT = os.path.join(ROOT, "tests", "js", "client.mjs")
MODULE = os.path.join(ROOT, "tests", "js", "node_modules", "replicate")
# A greeter whose output streams, for run and stream (examples/hello answers in one string).
GREETER = os.path.join(ROOT, "tests", "fixtures", "hub_greeter")

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
        version = hub.push(None, "alice/hello", cwd=GREETER)
        args = ["node", CLIENT, hub.url, hub.token("alice"), version, "run"]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        data["version_id"] = version
        data["hub_url"] = hub.url
        yield data
    finally:
        hub.stop()


def test_account_hardware_and_secret(results):
    assert results["account"]["username"] == "alice"
    assert results["hardware"][0]["sku"] == "cpu"
    assert results["secret"]["key"].startswith("whsec_")


def test_models_create_get_search_and_paginate(results):
    assert results["created"]["name"] == "from-js"
    assert results["model"]["latest_version"]["id"] == results["version_id"]
    assert [m["name"] for m in results["search"]["results"]] == ["from-js"]
    assert [v["id"] for v in results["versions"]["results"]] == [results["version_id"]]
    assert results["version"]["openapi_schema"]["components"]["schemas"]["Input"]
    assert sorted(results["paginated"]) == ["from-js", "hello"]
    assert results["collections"]["results"] == []


def test_files_through_the_js_multipart_shape(results):
    file = results["file"]
    assert file["size"] == len("hello from js")
    assert file["content_type"] == "text/plain"
    assert file["metadata"] == {"source": "js"}
    assert results["file_get"]["id"] == file["id"]
    assert results["file_list"]["results"][0]["id"] == file["id"]
    assert results["file_delete"] is True  # JS says true only on 204


def test_deployments(results):
    assert results["deployment"]["current_release"]["number"] == 1
    assert results["deployment_update"]["current_release"]["number"] == 2
    assert [d["name"] for d in results["deployments"]["results"]] == ["js-deployment"]
    assert results["deployment_delete"] is True


def test_predictions_create_get_list(results):
    prediction = results["prediction"]
    assert prediction["version"] == results["version_id"]
    assert results["prediction_get"]["id"] == prediction["id"]
    assert prediction["id"] in [p["id"] for p in results["predictions"]["results"]]
    assert results["model_prediction"]["model"] == "alice/hello"


def test_errors_and_webhook_validation(results):
    assert results["missing"]["status"] == 404
    assert results["webhook_valid"] is True


def test_run_and_stream(results):
    assert "".join(results["run"]) == "hello there, js"
    assert results["stream"] == "hello there, s"
