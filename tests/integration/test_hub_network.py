"""Sandboxed folder versions and the network (docs/security.md, "The network"): a pushed
model (tests/fixtures/network_model) tries to connect to a listener of the test's on the
host's 127.0.0.1, to the hub's public port and to its internal listener's TCP port, and
every attempt fails: the sandbox has a network namespace of its own. Its input file and
its output file still travel through the hub (over the hub's unix socket). With
`--isolation none` (the control) the same model reaches all three, so the test fails
against a hub whose sandboxes share the host's network."""
import os
import shutil
import socket
import threading
import time

import requests

from hub_harness import ROOT, Hub

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "network_model")
TIMEOUT = 60


class Greeter:
    """A TCP listener on `host` that greets every connection with "hello"."""

    def __init__(self, host):
        self.socket = socket.create_server((host, 0))
        self.address = "%s:%d" % (host, self.socket.getsockname()[1])
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"hello\n")

    def stop(self):
        self.stopped = True
        self.socket.close()


def wait_done(hub, prediction_id, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = hub.get("/v1/predictions/" + prediction_id).json()
        if prediction["status"] in ("succeeded", "failed", "canceled"):
            return prediction
        time.sleep(0.05)
    raise AssertionError("the prediction did not finish within %s s" % timeout)


def run(hub, version, **inputs):
    response = hub.post("/v1/predictions", json={"version": version, "input": inputs})
    assert response.status_code == 201, response.text
    prediction = wait_done(hub, response.json()["id"])
    assert prediction["status"] == "succeeded", prediction["error"]
    return prediction["output"]


def push(hub, tmp_path):
    folder = tmp_path / "network_model"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns(".cog", "__pycache__"))
    return hub.push(None, "alice/network", cwd=str(folder))


def loopback_targets(hub, greeter):
    internal = hub.internal_url[len("http://"):]
    return {"listener": greeter.address, "public": "127.0.0.1:%d" % hub.port,
            "internal": internal}


def probe(hub, version, targets):
    reached = run(hub, version, targets=",".join(targets.values()))
    return {name: reached[address] for name, address in targets.items()}


def files_travel_through_the_hub(hub, version):
    file = hub.post("/v1/files", files={"content": ("in.txt", b"input bytes", "text/plain")})
    assert file.status_code == 201, file.text
    output = run(hub, version, source=file.json()["urls"]["get"])
    response = requests.get(output, timeout=10)
    assert response.status_code == 200, response.text
    assert response.content == b"the model read: input bytes"


def test_a_sandboxed_model_reaches_nothing_on_the_hosts_loopback(tmp_path):
    greeter = Greeter("127.0.0.1")
    hub = Hub(str(tmp_path / "data")).start()
    try:
        version = push(hub, tmp_path)
        results = probe(hub, version, loopback_targets(hub, greeter))
        assert sorted(results) == ["internal", "listener", "public"]
        for name, result in results.items():
            assert result.startswith("failed: "), (name, result)
        files_travel_through_the_hub(hub, version)
    finally:
        hub.stop()
        greeter.stop()


def test_without_isolation_the_same_model_reaches_the_hosts_loopback(tmp_path):
    """The control: the attempts are real."""
    greeter = Greeter("127.0.0.1")
    hub = Hub(str(tmp_path / "data"), args=["--isolation", "none"]).start()
    try:
        version = push(hub, tmp_path)
        results = probe(hub, version, loopback_targets(hub, greeter))
        assert results == {"listener": "hello", "public": "connected", "internal": "connected"}
        files_travel_through_the_hub(hub, version)
    finally:
        hub.stop()
        greeter.stop()
