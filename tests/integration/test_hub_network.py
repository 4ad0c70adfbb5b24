"""Sandboxed folder versions and the network (docs/security.md, "The network"): a pushed
model (tests/fixtures/network_model) tries to connect to a listener of the test's on the
host's 127.0.0.1, to the hub's public port and to its internal listener's TCP port, and
every attempt fails: the sandbox has a network namespace of its own, and slirp4netns,
which gives it the outside world, refuses the host's loopback. A listener on an address
of the host that is not loopback is reached (slirp4netns connects from the host), and so
is an input URL there. Its input file and its output file still travel through the hub
(over the hub's unix socket). With `--isolation none` (the control) the same model
reaches all three loopback listeners, so the test fails against a hub whose sandboxes
share the host's network."""
import http.server
import ipaddress
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
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


DUMMY_INTERFACE = "pinion-test0"
DUMMY_ADDRESS = "192.0.2.77"  # TEST-NET-1, on an interface of the test's own


def global_addresses():
    text = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                          capture_output=True, text=True).stdout
    return [line.split()[3].split("/")[0] for line in text.splitlines()]


@pytest.fixture(scope="module")
def host_address():
    """An IPv4 address of this host that is not loopback: the first global one, else one
    on a dummy interface the test makes (and removes)."""
    for address in global_addresses():
        if not ipaddress.ip_address(address).is_loopback:
            yield address
            return
    made = subprocess.run(["ip", "link", "add", DUMMY_INTERFACE, "type", "dummy"],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail("this host has no IPv4 address but loopback, and the test cannot make "
                    "a dummy interface (it needs root or CAP_NET_ADMIN): " + made.stderr)
    try:
        subprocess.run(["ip", "addr", "add", DUMMY_ADDRESS + "/32", "dev", DUMMY_INTERFACE],
                       check=True)
        subprocess.run(["ip", "link", "set", DUMMY_INTERFACE, "up"], check=True)
        yield DUMMY_ADDRESS
    finally:
        subprocess.run(["ip", "link", "del", DUMMY_INTERFACE])


class FileServer:
    """Serves /in.txt over HTTP on `host`."""

    def __init__(self, host):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"bytes from the host" if self.path == "/in.txt" else b""
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = "http://%s:%d/in.txt" % (host, self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


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


def test_a_sandboxed_model_reaches_the_outside_but_not_the_hosts_loopback(tmp_path,
                                                                         host_address):
    greeter = Greeter("127.0.0.1")
    outside = Greeter(host_address)
    files = FileServer(host_address)
    hub = Hub(str(tmp_path / "data")).start()
    try:
        version = push(hub, tmp_path)
        targets = loopback_targets(hub, greeter)
        # slirp4netns's name for the host, which would lead to its loopback.
        targets["gateway"] = "10.0.2.2:%s" % greeter.address.split(":")[1]
        targets["outside"] = outside.address
        results = probe(hub, version, targets)
        assert sorted(results) == ["gateway", "internal", "listener", "outside", "public"]
        assert results.pop("outside") == "hello"
        for name, result in results.items():
            assert result.startswith("failed: "), (name, result)
        files_travel_through_the_hub(hub, version)
        output = run(hub, version, source=files.url)
        assert requests.get(output, timeout=10).content == b"the model read: bytes from the host"
    finally:
        hub.stop()
        greeter.stop()
        outside.stop()
        files.stop()


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


def test_with_the_network_off_a_model_reaches_only_the_hub(tmp_path, host_address):
    """--instance-network off: no slirp4netns, only the sandbox's own loopback. The hub's
    files still come and go (over its unix socket); an input URL elsewhere cannot be
    fetched."""
    greeter = Greeter("127.0.0.1")
    outside = Greeter(host_address)
    files = FileServer(host_address)
    hub = Hub(str(tmp_path / "data"), args=["--instance-network", "off"]).start()
    try:
        version = push(hub, tmp_path)
        targets = loopback_targets(hub, greeter)
        targets["outside"] = outside.address
        results = probe(hub, version, targets)
        assert sorted(results) == ["internal", "listener", "outside", "public"]
        for name, result in results.items():
            assert result.startswith("failed: "), (name, result)
        files_travel_through_the_hub(hub, version)
        response = hub.post("/v1/predictions",
                            json={"version": version, "input": {"source": files.url}})
        prediction = wait_done(hub, response.json()["id"])
        assert prediction["status"] == "failed"
        assert files.url in prediction["error"], prediction["error"]
        assert "without network (--instance-network off)" in hub.read_log()
    finally:
        hub.stop()
        greeter.stop()
        outside.stop()
        files.stop()


def test_instance_network_takes_on_or_off_and_needs_a_sandbox(tmp_path):
    from hub_harness import pinion
    result = pinion("hub", "--data", str(tmp_path / "data"), "--instance-network", "maybe")
    assert result.returncode == 2
    assert ("--instance-network (or PINION_INSTANCE_NETWORK) takes on or off, got \"maybe\""
            in result.stderr)
    result = pinion("hub", "--data", str(tmp_path / "data"), "--isolation", "none",
                    "--instance-network", "off")
    assert result.returncode == 2
    assert "--instance-network off needs a sandbox" in result.stderr
    assert not os.path.exists(tmp_path / "data" / "hub.db")
    help_text = pinion("hub", "--help").stdout
    assert "--instance-network on|off" in help_text and "PINION_SLIRP4NETNS" in help_text
