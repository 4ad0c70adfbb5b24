"""Starts `pinion serve` on a fixture model and gives tests what they need around it:
an HTTP client with timeouts, a webhook receiver, a PUT upload receiver and a file
server, all on 127.0.0.1 and all stopped at teardown."""
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PINION = os.environ.get("PINION", os.path.join(ROOT, "build", "bin", "pinion"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
TEST_PYTHON = "/usr/bin/python3"
TIMEOUT = 10  # seconds, for every HTTP call and every bounded wait


def wait_for(predicate, timeout=TIMEOUT, interval=0.02, what="condition"):
    """Polls predicate until it returns a truthy value; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


class Server:
    """One `pinion serve` process. Use as a context manager, or call stop()."""

    def __init__(self, fixture, args=(), env=None, config=None, wait=True):
        self.dir = os.path.join(FIXTURES, fixture)
        self.tmp = tempfile.mkdtemp(prefix="pinion-serve-test-")
        self.port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "server.log")
        full_env = dict(os.environ)
        for name in list(full_env):
            if name.startswith("COG_") or name in ("WEBHOOK_AUTH_TOKEN", "PORT"):
                del full_env[name]
        full_env["PINION_PYTHON"] = TEST_PYTHON
        full_env["NO_COLOR"] = "1"
        full_env["TMPDIR"] = self.tmp
        full_env.update(env or {})
        command = [PINION, "serve", self.dir, "--host", "127.0.0.1", "--port", "0",
                   "--port-file", self.port_file]
        if config:
            command += ["--file", config]
        command += list(args)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, env=full_env, stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        try:
            self.port = wait_for(self._read_port, what="the port file")
            if wait:
                self.wait_status("READY")
        except BaseException:
            self.stop()
            raise

    def _read_port(self):
        if self.process.poll() is not None:
            raise AssertionError("pinion serve exited early:\n" + self.output())
        try:
            with open(self.port_file) as f:
                text = f.read().strip()
            return int(text) if text else None
        except FileNotFoundError:
            return None

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Stops the server as Ctrl-C twice does (it exits through its own handlers, so a
        sanitizer build reports leaks at exit), then kills whatever is left of its session."""
        try:
            for _ in range(2):
                if self.process.poll() is None:
                    self.process.send_signal(signal.SIGINT)
                    try:
                        self.process.wait(timeout=0.5)
                    except subprocess.TimeoutExpired:
                        pass
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=TIMEOUT)
        finally:
            self.log.close()

    # --- HTTP -----------------------------------------------------------------

    def connect(self, timeout=TIMEOUT):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=TIMEOUT):
        """Sends one request; body may be a dict (sent as JSON), bytes or str."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        connection = self.connect(timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return Response(response.status,
                            {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            connection.close()

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def put(self, path, body=None, **kwargs):
        return self.request("PUT", path, body, **kwargs)

    def predict(self, input=None, timeout=TIMEOUT, headers=None, **envelope):
        """A sync prediction; returns the decoded body (asserting 200)."""
        envelope["input"] = input or {}
        response = self.post("/predictions", envelope, headers=headers, timeout=timeout)
        assert response.status == 200, (response.status, response.body)
        return response.json()

    def health(self):
        return self.get("/health-check").json()

    def wait_status(self, status, timeout=TIMEOUT):
        statuses = status if isinstance(status, tuple) else (status,)
        last = {}

        def check():
            if self.process.poll() is not None:
                raise AssertionError("pinion serve exited:\n" + self.output())
            last["health"] = self.health()
            return last["health"]["status"] in statuses and last["health"]

        try:
            return wait_for(check, timeout, interval=0.05, what="health %s" % (statuses,))
        except AssertionError:
            raise AssertionError("health never became %s: %s\n%s" %
                                 (statuses, last.get("health"), self.output()))

    def stream(self, body, path="/predictions", method="POST", timeout=TIMEOUT):
        """An SSE request: returns (status, headers, [(event, data)])."""
        connection = self.connect(timeout)
        try:
            connection.request(method, path, body=json.dumps(body).encode(),
                               headers={"Content-Type": "application/json",
                                        "Accept": "text/event-stream"})
            response = connection.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            text = response.read().decode()
            return response.status, headers, parse_events(text)
        finally:
            connection.close()


def parse_events(text):
    events = []
    for block in text.split("\n\n"):
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if name:
            events.append((name, data))
    return events


# --- local receivers ----------------------------------------------------------


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status, body=b"", headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Receiver:
    """A threaded http.server on 127.0.0.1 that records each request as a dict:
    method, path, headers (lower-case names), body (bytes) and json (when it is JSON).
    `fail_first` makes the first N requests answer 500."""

    def __init__(self, fail_first=0, handler=None):
        self.requests = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(_Quiet):
            def _record(self):
                body = self._body()
                record = {"method": self.command, "path": self.path, "body": body,
                          "headers": {k.lower(): v for k, v in self.headers.items()}}
                try:
                    record["json"] = json.loads(body)
                except ValueError:
                    record["json"] = None
                with receiver.lock:
                    receiver.requests.append(record)
                    failing = len(receiver.requests) <= receiver.fail_first
                return record, failing

            def do_POST(self):
                record, failing = self._record()
                if failing:
                    self._answer(500, b"failing on purpose")
                elif handler:
                    handler(self, record)
                else:
                    self._answer(200, b"{}")

            do_PUT = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self):
        with self.lock:
            return [r["json"] for r in self.requests]

    def wait_count(self, count, timeout=TIMEOUT):
        return wait_for(lambda: len(self.requests) >= count and list(self.requests), timeout,
                        what="%d requests to the receiver" % count)

    def wait_completed(self, timeout=TIMEOUT):
        """Waits for a request whose body has a terminal status; returns that body."""
        terminal = ("succeeded", "failed", "canceled")

        def done():
            with self.lock:
                for r in self.requests:
                    if r["json"] and r["json"].get("status") in terminal:
                        return r["json"]
            return None

        return wait_for(done, timeout, what="a completed webhook")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def upload_receiver(location_base=None, fail_first=0):
    """A PUT receiver; answers 201 with a Location header under location_base when given."""

    def handler(request, record):
        headers = {}
        if location_base:
            headers["Location"] = location_base + record["path"] + "?signature=x"
        request._answer(201, b"", headers)

    return Receiver(fail_first=fail_first, handler=handler)


class FileServer:
    """Serves a dict of path -> bytes over GET on 127.0.0.1; other paths are 404."""

    def __init__(self, files):
        self.files = files
        self.requests = []
        owner = self

        class Handler(_Quiet):
            def do_GET(self):
                owner.requests.append({"path": self.path,
                                       "headers": {k.lower(): v for k, v in self.headers.items()}})
                if self.path in owner.files:
                    self._answer(200, owner.files[self.path])
                else:
                    self._answer(404, b"not found")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def raw_request(port, data, timeout=TIMEOUT):
    """Sends raw bytes and returns (status, headers, body) from a one-shot connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
    text = b"".join(chunks)
    head, _, body = text.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
