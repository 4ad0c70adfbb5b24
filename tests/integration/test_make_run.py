"""`make run`'s main job (scripts/run-main): it stops at a port that is taken, with how
to pick another and no banner, and it shows the same token on every run."""
import os
import re
import signal
import socket
import subprocess
import time

import requests

from conftest import ROOT

RUN_MAIN = os.path.join(ROOT, "scripts", "run-main")


def start(port, data):
    env = dict(os.environ, PORT=str(port), PINION_DATA=str(data), NO_COLOR="1")
    env.pop("PINION_LISTEN", None)
    return subprocess.Popen([RUN_MAIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_taken_port_stops_make_run_with_what_to_do(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        process = start(port, tmp_path / "data")
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "127.0.0.1:%d is taken by another program" % port in stderr
    assert "make run PORT=8081" in stderr
    assert "API token" not in stdout and "pinion hub is serving" not in stdout
    assert not (tmp_path / "data" / "make-run.token").exists()


def run_until_banner(port, data, while_running=None):
    """Starts run-main, waits for its banner, calls while_running(url, token) if given,
    stops it with Ctrl-C; returns the token."""
    process = start(port, data)
    lines = []
    deadline = time.monotonic() + 240
    try:
        for line in process.stdout:
            lines.append(line)
            if "Press Ctrl-C to stop." in line or time.monotonic() > deadline:
                break
        banner = "".join(lines)
        found = re.search(r"API token: (r8_\S+)", banner)
        assert found, banner
        if while_running:
            while_running("http://127.0.0.1:%d" % port, found.group(1))
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=60)
    return found.group(1)


def test_each_run_shows_the_same_token(tmp_path):
    data = tmp_path / "data"
    first = run_until_banner(free_port(), data)
    second = run_until_banner(free_port(), data)
    assert first == second
    assert (data / "make-run.token").read_text().strip() == first
    assert oct((data / "make-run.token").stat().st_mode & 0o777) == "0o600"


def test_the_demo_publishes_each_example_once_with_a_description(tmp_path):
    """Issue #14 item 3: the canary answers a sentence, the streaming model is `stream`,
    and every example is published once, with a description."""
    def check(url, token):
        auth = {"Authorization": "Bearer " + token}
        models = requests.get(url + "/v1/models", headers=auth, timeout=10).json()["results"]
        described = {m["name"]: m["description"] for m in models}
        assert described == {
            "canary": "The canary: greets whoever you name, in one sentence",
            "stream": "Streams a prompt back token by token, as a language model does",
            "digits": "Reads a handwritten digit, with scikit-learn's bundled digits data",
            "ocr": "Reads printed English text in an image, with tesseract",
            "tts": "Speaks text aloud into a WAV file, with espeak-ng",
        }
        assert all(m["owner"] == "replicate" and m["visibility"] == "public" for m in models)
        prediction = requests.post(url + "/v1/models/replicate/canary/predictions", timeout=90,
                                   headers=dict(auth, Prefer="wait=60"),
                                   json={"input": {"text": "world"}}).json()
        assert (prediction["status"], prediction["output"]) == ("succeeded", "hello there, world")
        stream = requests.get(url + "/v1/models/replicate/stream", headers=auth, timeout=10).json()
        output = stream["latest_version"]["openapi_schema"]["components"]["schemas"]["Output"]
        assert output["x-cog-array-display"] == "concatenate"
    run_until_banner(free_port(), tmp_path / "data", check)
