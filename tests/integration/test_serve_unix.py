"""`pinion serve` over unix sockets, as the hub's sandboxed instances use it: the server
listens on `--unix-socket PATH` (also a path longer than a socket's address holds), and
with `--x-hub-url ORIGIN --x-hub-socket PATH` its requests to URLs of ORIGIN (input
files, output uploads, webhooks) go through that socket instead of the network, while
URLs of any other origin do not."""
import http.client
import http.server
import json
import os
import socket
import socketserver
import subprocess
import tempfile
import threading

from serve_harness import FIXTURES, PINION, TEST_PYTHON, TIMEOUT, wait_for

# Port 9 (discard): nothing listens there, so only the socket can answer these URLs.
HUB_ORIGIN = "http://127.0.0.1:9"


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self):
        """A path too long for a socket's address is reached through its folder's
        descriptor, as pinion does."""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        folder = os.open(os.path.dirname(self.path), os.O_PATH)
        try:
            self.sock.connect("/proc/self/fd/%d/%s" % (folder, os.path.basename(self.path)))
        finally:
            os.close(folder)


def call(path, method, url, body=None):
    connection = UnixConnection(path)
    try:
        data = json.dumps(body).encode() if body is not None else None
        connection.request(method, url, body=data,
                           headers={"Content-Type": "application/json"} if data else {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


class UnixHub:
    """A stand-in for the hub's internal listener on a unix socket: serves GET
    /files/in.txt and records every request."""

    def __init__(self, path):
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                owner.requests.append((self.command, self.path, b""))
                self.answer(200, b"through the socket") if self.path == "/files/in.txt" \
                    else self.answer(404)

            def do_PUT(self):
                length = int(self.headers.get("Content-Length") or 0)
                owner.requests.append((self.command, self.path, self.rfile.read(length)))
                self.answer(201 if self.command == "PUT" else 200, b"{}")

            do_POST = do_PUT

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_serve_listens_and_reaches_the_hub_through_unix_sockets():
    tmp = tempfile.mkdtemp(prefix="pinion-unix-")
    deep = os.path.join(tmp, "a-folder-name-long-enough-" * 4)
    os.makedirs(deep)
    serve_socket = os.path.join(deep, "cog.sock")
    assert len(serve_socket) > 107  # past what a socket's address holds
    hub = UnixHub(os.path.join(tmp, "hub.sock"))
    log = open(os.path.join(tmp, "log"), "wb")
    env = dict(os.environ, PINION_PYTHON=TEST_PYTHON, NO_COLOR="1", TMPDIR=tmp,
               COG_THROTTLE_RESPONSE_INTERVAL="0")
    server = subprocess.Popen(
        [PINION, "serve", os.path.join(FIXTURES, "serve_model"), "--file", "files.yaml",
         "--unix-socket", serve_socket, "--upload-url", HUB_ORIGIN + "/up/",
         "--x-hub-url", HUB_ORIGIN, "--x-hub-socket", os.path.join(tmp, "hub.sock")],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ready():
            assert server.poll() is None, open(os.path.join(tmp, "log")).read()
            try:
                return call(serve_socket, "GET", "/health-check")[1]["status"] == "READY"
            except OSError:
                return False

        wait_for(ready, what="the server to be READY on its unix socket")
        status, body = call(serve_socket, "POST", "/predictions", {
            "input": {"mode": "input", "source": HUB_ORIGIN + "/files/in.txt"},
            "webhook": HUB_ORIGIN + "/hook", "webhook_events_filter": ["completed"]})
        assert status == 200 and body["status"] == "succeeded", body
        assert body["output"]["contents"] == ["through the socket"]
        status, body = call(serve_socket, "POST", "/predictions", {"input": {"mode": "one"}})
        assert status == 200 and body["status"] == "succeeded", body
        assert body["output"] == HUB_ORIGIN + "/up/result.txt"
        wait_for(lambda: len(hub.requests) >= 3, what="the webhook")
        assert sorted((method, path) for method, path, _ in hub.requests) == [
            ("GET", "/files/in.txt"), ("POST", "/hook"), ("PUT", "/up/result.txt")]
        assert [body for method, _, body in hub.requests if method == "PUT"] == [b"hello file"]
        assert json.loads([body for method, _, body in hub.requests
                           if method == "POST"][0])["status"] == "succeeded"
        # Another origin (another port of the same host) goes to the network: refused.
        status, body = call(serve_socket, "POST", "/predictions", {
            "input": {"mode": "input", "source": "http://127.0.0.1:10/files/in.txt"}})
        assert body["status"] == "failed" and "127.0.0.1:10" in body["error"], body
        assert len(hub.requests) == 3
    finally:
        server.terminate()
        server.wait(timeout=TIMEOUT)
        hub.stop()
        log.close()


def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path):
    path = tmp_path / "cog.sock"
    path.write_text("precious")
    result = subprocess.run(
        [PINION, "serve", os.path.join(FIXTURES, "serve_model"), "--unix-socket", str(path)],
        env=dict(os.environ, PINION_PYTHON=TEST_PYTHON, NO_COLOR="1"), capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 1
    assert ('cannot listen on the unix socket "%s": a file that is not a socket is there' % path
            in result.stderr), result.stderr
    assert path.read_text() == "precious"
