"""Replicate's Python client (replicate 1.0.7, replicate/replicate-python) against
`pinion hub`, changing only REPLICATE_BASE_URL and REPLICATE_API_TOKEN. The client is
not on Debian and this project fetches nothing at test time, so the test runs only when
REPLICATE_PYTHON_CLIENT names a folder holding its source (the folder with `replicate/`
in it, e.g. an unpacked release tag); it needs httpx and pydantic (Debian's
python3-httpx 0.23 and python3-pydantic 1.10 do). What the client relies on is also
tested without it, with plain requests, in test_hub_api.py and test_hub_predictions.py.

The hub sits behind a TLS front: the client makes FileOutput objects only of https:
URLs (see docs/compatibility.md)."""
import importlib.util
import json
import os
import re
import subprocess

import pytest

from hub_harness import ROOT, TEST_PYTHON, Hub
from tls_front import TlsFront

CLIENT = os.environ.get("REPLICATE_PYTHON_CLIENT")
CHECKS = os.path.join(ROOT, "tests", "python", "client_checks.py")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

if not CLIENT:  # one skip for the file, not one per test
    pytest.skip("REPLICATE_PYTHON_CLIENT is not set: point it at a checkout of "
                "replicate/replicate-python (the folder holding replicate/) to run its "
                "client against the hub", allow_module_level=True)

# Debian 12's typing_extensions is 4.4; the client imports `deprecated` (4.5) only to mark
# old methods, so a pass-through decorator is enough to load it.
TYPING_SHIM = '''_path = %r
exec(compile(open(_path).read(), _path, "exec"))
if "deprecated" not in globals():
    def deprecated(message, *, category=DeprecationWarning, stacklevel=1):
        return lambda thing: thing
'''


def probe(code, env):
    return subprocess.run([TEST_PYTHON, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)


def client_environment(folder):
    """PYTHONPATH for the client's source, with what an unpacked source lacks next to a
    pip install: package metadata (the client reads its version from it), and `deprecated`
    where typing_extensions is older than the client wants."""
    assert os.path.isdir(os.path.join(CLIENT, "replicate")), (
        "REPLICATE_PYTHON_CLIENT=%s holds no replicate/ package" % CLIENT)
    env = dict(os.environ, PYTHONPATH=CLIENT)
    for module in ("httpx", "pydantic"):
        assert probe("import " + module, env).returncode == 0, (
            "the client needs %s: apt-get install python3-%s" % (module, module))
    paths = [CLIENT]
    if probe("from typing_extensions import deprecated", env).returncode != 0:
        shim = folder / "shim"
        shim.mkdir()
        found = probe("import typing_extensions; print(typing_extensions.__file__)", env)
        (shim / "typing_extensions.py").write_text(TYPING_SHIM % found.stdout.strip())
        paths.insert(0, str(shim))
    if probe("import importlib.metadata as m; m.version('replicate')", env).returncode != 0:
        pyproject = os.path.join(CLIENT, "pyproject.toml")
        found = re.search(r'^version = "([^"]+)"', open(pyproject).read(), re.M) \
            if os.path.exists(pyproject) else None
        info = folder / "meta" / "replicate-0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: replicate\nVersion: %s\n"
                                       % (found.group(1) if found else "0"))
        paths.append(str(folder / "meta"))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pyclient")
    env = client_environment(folder)
    front = TlsFront(folder)
    hub = Hub(folder / "data", ["--public-url", front.url]).start()
    front.start(hub.port)
    try:
        versions = {
            "greeter": hub.push(None, "alice/greeter", cwd=os.path.join(FIXTURES, "hub_greeter")),
            "files": hub.push(None, "alice/files", cwd=os.path.join(FIXTURES, "hub_files")),
            "path_input": hub.push(None, "alice/path-input",
                                   cwd=os.path.join(FIXTURES, "cli_path_input")),
            "trainer": hub.push(None, "alice/trainer", cwd=os.path.join(FIXTURES, "hub_trainer")),
            "raises": hub.push(None, "alice/raises", cwd=os.path.join(FIXTURES, "hub_raises")),
            "slow": hub.push(None, "alice/slow", cwd=os.path.join(FIXTURES, "hub_slow")),
        }
        env.update(REPLICATE_BASE_URL=front.url, REPLICATE_API_TOKEN=hub.token("alice"),
                   SSL_CERT_FILE=front.cert, REPLICATE_POLL_INTERVAL="0.1")
        done = subprocess.run([TEST_PYTHON, CHECKS, json.dumps(versions)], env=env,
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-4000:]
        data = json.loads(done.stdout)
        data["pushed"] = versions
        data["url"] = front.url
        yield data
    finally:
        hub.stop()
        front.stop()


def test_run_by_version_and_by_model_and_with_polling(results):
    assert results["run_version"] == "hello there, py"
    assert results["run_model"] == "hello there, latest"
    assert results["run_polled"] == 7  # held 1 s, then polled until the model's 2 s passed
    assert results["model_error"]["status"] == "failed"
    assert "this model always fails: boom" in results["model_error"]["error"]


def test_predictions_create_get_wait_list_cancel(results):
    assert results["get_same_id"] is True
    assert results["waited"] == {"status": "succeeded", "output": "hello there, w"}
    assert results["listed"] is True
    assert results["canceled"] == "canceled"


def test_streams(results):
    assert results["stream"] == [["output", "hello "], ["output", "there, "], ["output", "s"],
                                 ["done", ""]]
    assert results["prediction_stream"] == "hello there, ps"


def test_files_in_and_out(results):
    # An open file is uploaded to /v1/files; the predictor gets it under its name.
    assert results["file_input"] == "Path .txt from python"
    output = results["file_output"]
    assert output["type"] == "FileOutput"
    assert output["url"].startswith(results["url"] + "/v1/outputs/")
    assert output["head"] == [0x89, ord("P"), ord("N"), ord("G")]
    assert results["file"] == {"size": 10, "metadata": {"from": "py"}, "listed": True,
                               "deleted": True}


def test_models_versions_deployments_trainings_and_pagination(results):
    pushed = results["pushed"]
    assert results["model"] == {"url": results["url"] + "/alice/greeter",
                                "latest": pushed["greeter"]}
    assert results["versions"] == [pushed["greeter"]]
    assert results["version_schema"] == ["components", "info", "openapi", "paths"]
    assert results["paginated"] == sorted(["greeter", "files", "path-input", "trainer",
                                           "raises", "slow", "from-py"])
    assert results["deployment"] == {"release": 1, "output": "hello there, d", "deleted": True}
    assert results["training"]["status"] == "succeeded"
    assert results["training"]["version"].startswith("alice/trained:")


def test_webhooks_and_errors(results):
    assert results["webhook_valid"] is True
    assert results["not_found"]["status"] == 404
    assert results["not_found"]["title"] == "Not found"
    assert "alice/nowhere" in results["not_found"]["detail"]
    assert results["invalid_input"]["status"] == 422
    assert results["invalid_input"]["detail"].startswith("The input is invalid: source:")


def test_async_variants(results):
    assert results["async"] == {"run": "hello there, a", "stream": "hello there, as",
                                "waited": "succeeded", "file_head": [0x89, 80, 78, 71],
                                "paginated": sorted(results["paginated"] + ["trained"])}
