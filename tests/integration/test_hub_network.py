"""Sandboxed folder versions and the network (docs/security.md, "The network"): a pushed
model (tests/fixtures/network_model) tries to connect to a listener of the test's on the
host's 127.0.0.1, to the hub's public port and to its internal listener's TCP port, to a
listener on an address of the host that is not loopback, to the cloud's metadata
address (169.254.169.254) and to the hub's image containers' networks, and every attempt
fails: the sandbox has a network namespace
of its own, slirp4netns, which gives it the outside world, refuses the host's loopback,
and the sandbox's routes refuse the host's other addresses and 169.254.0.0/16. A
listener on another machine (a network namespace the test makes, behind a veth pair) is
reached, and so is an input URL there, while one on the host's address is refused. Its
input file and its output file still travel through the hub (over the hub's unix
socket). With `--isolation none` (the control) the same model reaches the loopback
listeners and the host's address, so the test fails against a hub whose sandboxes share
the host's network."""
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


class Outside:
    """Another machine: a network namespace behind a veth pair whose far end has
    `address`, with a greeter on port 7001 and a file server (/in.txt) on port 7002
    there. Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); `error` says why not."""

    SERVER = (
        "import http.server, socket, sys, threading\n"
        "greeter = socket.create_server((sys.argv[1], 7001))\n"
        "def greet():\n"
        "    while True:\n"
        "        connection, _ = greeter.accept()\n"
        "        connection.sendall(b'hello\\n'); connection.close()\n"
        "threading.Thread(target=greet, daemon=True).start()\n"
        "class Handler(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = b'bytes from outside' if self.path == '/in.txt' else b''\n"
        "        self.send_response(200 if body else 404)\n"
        "        self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "    def log_message(self, *args): pass\n"
        "server = http.server.ThreadingHTTPServer((sys.argv[1], 7002), Handler)\n"
        "print('ready', flush=True)\n"
        "server.serve_forever()\n")

    def __init__(self):
        tag = os.getpid() % 100000
        self.namespace = "pn-out-%d" % tag
        self.near, self.far = "pno%d" % tag, "pnf%d" % tag
        base = 4 * (os.getpid() % 64)  # a /30 of TEST-NET-2 per test process
        near_address = "198.51.100.%d" % (base + 1)
        self.address = "198.51.100.%d" % (base + 2)
        self.server = None
        self.error = None
        steps = [["ip", "netns", "add", self.namespace],
                 ["ip", "link", "add", self.near, "type", "veth", "peer", "name", self.far],
                 ["ip", "link", "set", self.far, "netns", self.namespace],
                 ["ip", "addr", "add", near_address + "/30", "dev", self.near],
                 ["ip", "link", "set", self.near, "up"],
                 ["ip", "-n", self.namespace, "addr", "add", self.address + "/30", "dev",
                  self.far],
                 ["ip", "-n", self.namespace, "link", "set", self.far, "up"]]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                self.error = "%s: %s" % (" ".join(step), done.stderr.strip())
                return
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, "/usr/bin/python3", "-c", self.SERVER,
             self.address], stdout=subprocess.PIPE, text=True)
        assert self.server.stdout.readline().strip() == "ready"
        self.greeter = "%s:7001" % self.address
        self.url = "http://%s:7002/in.txt" % self.address

    def stop(self):
        if self.server:
            self.server.kill()
            self.server.wait()
        subprocess.run(["ip", "link", "del", self.near], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)


@pytest.fixture
def outside():
    machine = Outside()
    try:
        if machine.error:
            pytest.skip("cannot make a network namespace for another machine (needs root): "
                        + machine.error)
        yield machine
    finally:
        machine.stop()


METADATA = "169.254.169.254:80"
REFUSED = "failed: Permission denied"  # a prohibit route's EACCES


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


def test_a_sandboxed_model_reaches_nothing_of_the_host_nor_the_metadata_address(
        tmp_path, host_address):
    greeter = Greeter("127.0.0.1")
    on_host = Greeter(host_address)
    files = FileServer(host_address)
    hub = Hub(str(tmp_path / "data")).start()
    try:
        version = push(hub, tmp_path)
        targets = loopback_targets(hub, greeter)
        # slirp4netns's name for the host, which would lead to its loopback.
        targets["gateway"] = "10.0.2.2:%s" % greeter.address.split(":")[1]
        targets["host"] = on_host.address
        targets["metadata"] = METADATA
        # An image version's container on the hub's first container network.
        targets["container"] = "10.89.192.2:5000"
        results = probe(hub, version, targets)
        assert sorted(results) == ["container", "gateway", "host", "internal", "listener",
                                   "metadata", "public"]
        # The sandbox's routes refuse these at once, before slirp4netns sees them.
        assert results.pop("host") == REFUSED
        assert results.pop("metadata") == REFUSED
        assert results.pop("container") == REFUSED
        for name, result in results.items():
            assert result.startswith("failed: "), (name, result)
        files_travel_through_the_hub(hub, version)
        # An input URL on the host's address is refused too.
        response = hub.post("/v1/predictions",
                            json={"version": version, "input": {"source": files.url}})
        prediction = wait_done(hub, response.json()["id"])
        assert prediction["status"] == "failed"
        assert files.url in prediction["error"], prediction["error"]
    finally:
        hub.stop()
        greeter.stop()
        on_host.stop()
        files.stop()


def test_a_sandboxed_model_reaches_another_machine(tmp_path, outside):
    """What the network is for: a listener and an input URL off the host are reached
    (slirp4netns connects from the host, which routes to the other machine)."""
    hub = Hub(str(tmp_path / "data")).start()
    try:
        version = push(hub, tmp_path)
        assert probe(hub, version, {"outside": outside.greeter}) == {"outside": "hello"}
        output = run(hub, version, source=outside.url)
        assert requests.get(output, timeout=10).content == b"the model read: bytes from outside"
    finally:
        hub.stop()


def test_without_isolation_the_same_model_reaches_the_host(tmp_path, host_address):
    """The control: the attempts are real."""
    greeter = Greeter("127.0.0.1")
    on_host = Greeter(host_address)
    hub = Hub(str(tmp_path / "data"), args=["--isolation", "none"]).start()
    try:
        version = push(hub, tmp_path)
        targets = loopback_targets(hub, greeter)
        targets["host"] = on_host.address
        targets["metadata"] = METADATA
        results = probe(hub, version, targets)
        # No metadata service here: whatever the host's network says, not the refusal.
        assert results.pop("metadata") != REFUSED
        assert results == {"listener": "hello", "public": "connected", "internal": "connected",
                           "host": "hello"}
        files_travel_through_the_hub(hub, version)
    finally:
        hub.stop()
        greeter.stop()
        on_host.stop()


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


def test_serve_waits_for_the_hubs_go_before_the_model_starts(tmp_path):
    """A sandbox's `pinion serve` starts while its network is set up, and starts nothing
    of the model's until the hub writes to --x-wait-fd; when the hub closes it instead
    (the network failed), it exits saying so."""
    from hub_harness import PINION
    hello = os.path.join(ROOT, "examples", "hello")
    socket_path = str(tmp_path / "cog.sock")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [PINION, "serve", hello, "--unix-socket", socket_path, "--x-wait-fd", str(read_end)],
        pass_fds=(read_end,), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    os.close(read_end)
    try:
        time.sleep(1.5)
        assert server.poll() is None
        assert not os.path.exists(socket_path)  # the model is not even opened yet
        os.write(write_end, b"1")
        os.close(write_end)
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(socket_path):
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "pinion serve did not listen after the go"
            time.sleep(0.05)
    finally:
        server.kill()
        server.wait()
    read_end, write_end = os.pipe()
    os.close(write_end)
    refused = subprocess.run(
        [PINION, "serve", hello, "--unix-socket", socket_path + "2", "--x-wait-fd",
         str(read_end)], pass_fds=(read_end,), capture_output=True, text=True, timeout=TIMEOUT)
    os.close(read_end)
    assert refused.returncode == 1
    assert ("error: the hub did not let the model start (--x-wait-fd %d: closed)" % read_end
            in refused.stderr), refused.stderr
