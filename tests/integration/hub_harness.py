"""Starts `pinion hub` on a free port with a private data folder, creates tokens with
the CLI, publishes example models with `pinion push`, and offers a webhook receiver.
Everything runs on 127.0.0.1 and stops at teardown."""
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PINION = os.environ.get("PINION", os.path.join(ROOT, "build", "bin", "pinion"))
EXAMPLES = os.path.join(ROOT, "examples")
TEST_PYTHON = "/usr/bin/python3"
TIMEOUT = 10
# With PINION_TEST_DATABASE set to a PostgreSQL server's URL (postgres://USER@HOST:PORT/),
# every Hub keeps its state in a fresh database of its own there instead of SQLite
# (tests/integration/test_hub_postgres.py runs the hub's API tests that way).
TEST_DATABASE = os.environ.get("PINION_TEST_DATABASE")
# With PINION_TEST_QUEUE set to a Redis server's URL (redis://HOST:PORT/), every Hub
# queues its predictions there, in a database number of its own, with the lease in
# PINION_TEST_QUEUE_LEASE (tests/integration/test_hub_redis.py runs the prediction tests
# that way).
TEST_QUEUE = os.environ.get("PINION_TEST_QUEUE")


def env():
    full = dict(os.environ)
    full["PINION_PYTHON"] = TEST_PYTHON
    full["NO_COLOR"] = "1"
    return full


def pinion(*args, cwd=None, timeout=60):
    return subprocess.run([PINION, *args], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout)


class Hub:
    """One `pinion hub` process over `data`; start() and stop() may repeat."""

    def __init__(self, data, args=(), extra_env=None, database=None, queue=None, files=None):
        """`database`: a postgres:// URL for the hub's state (default: a fresh database
        when PINION_TEST_DATABASE is set, else SQLite in `data`). `queue`: a redis:// URL
        (default: a fresh database number when PINION_TEST_QUEUE is set, else embedded).
        `files`: where its log and port file go (FILES.log, FILES.port; default `data`),
        so that replicas sharing one data folder keep theirs apart."""
        self.data = str(data)
        self.files = str(files) if files else self.data
        self.args = list(args)
        self.extra_env = extra_env or {}
        self.process = None
        self.url = None
        self.tokens = {}
        if not database and TEST_DATABASE:
            import pg_harness
            database = pg_harness.fresh_database(TEST_DATABASE)
        self.database_args = ["--database", database] if database else []
        if not queue and TEST_QUEUE:
            import redis_harness
            queue = redis_harness.fresh_url(TEST_QUEUE)
        self.queue_args = ["--queue", queue] if queue else []
        if queue and os.environ.get("PINION_TEST_QUEUE_LEASE"):
            self.queue_args += ["--queue-lease", os.environ["PINION_TEST_QUEUE_LEASE"]]

    def start(self):
        port_file = os.path.join(self.files + ".port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log = open(self.files + ".log", "a")
        self.process = subprocess.Popen(
            [PINION, "hub", "--listen", "127.0.0.1:0", "--data", self.data, "--port-file",
             port_file, *self.database_args, *self.queue_args, *self.args], env=dict(env(), **self.extra_env), stdout=self.log,
            stderr=self.log)
        deadline = time.monotonic() + TIMEOUT
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            assert self.process.poll() is None, "pinion hub exited: " + self.read_log()
            assert time.monotonic() < deadline, "pinion hub did not start"
            time.sleep(0.01)
        self.port = int(open(port_file).read())
        self.url = "http://127.0.0.1:%d" % self.port
        # The internal listener's address (instances' routes), from the hub's log.
        found = re.findall(r"internal routes on ([0-9.]+:[0-9]+)", self.read_log())
        self.internal_url = "http://" + found[-1] if found else None
        self.container_internal_url = self.find_container_internal_url()
        return self

    def find_container_internal_url(self):
        """The internal listener's socket on the container engine's bridge, from the log
        (it opens once the hub has asked the engine), or None."""
        found = re.findall(r"internal routes for containers on ([0-9.]+:[0-9]+)", self.read_log())
        return "http://" + found[-1] if found else None

    def read_log(self):
        with open(self.files + ".log") as log:
            return log.read()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=TIMEOUT)
        self.process = None
        self.log.close()

    def token(self, account):
        if account not in self.tokens:
            result = pinion("hub", "token", "create", "--data", self.data, *self.database_args,
                            "--account", account)
            assert result.returncode == 0, result.stderr
            self.tokens[account] = result.stdout.strip()
        return self.tokens[account]

    def request(self, method, path, account="alice", **kwargs):
        headers = kwargs.pop("headers", {})
        if account:
            headers.setdefault("Authorization", "Bearer " + self.token(account))
        url = path if path.startswith("http") else self.url + path
        return requests.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def push(self, example, model, account="alice", *extra, cwd=None):
        result = pinion("push", "--hub", self.url, "--token", self.token(account), model, *extra,
                        cwd=cwd or os.path.join(EXAMPLES, example))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()


class WebhookReceiver:
    """Collects POSTs (headers and raw body) on 127.0.0.1."""

    def __init__(self, status=200):
        self.calls = []
        self.answered = []  # the status each call got, in the order of `calls`
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.status
                    receiver.calls.append((dict((k.lower(), v) for k, v in self.headers.items()),
                                           body))
                    receiver.answered.append(status)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.status = status
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            assert time.monotonic() < deadline, "only %d webhook calls" % len(self.calls)
            time.sleep(0.02)
        return self.calls

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def instance_credentials(pid):
    """The credentials in the upload URLs of the instances below process `pid` (read
    from their command lines, as a test may; the hub never shows them)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % name, "rb") as cmdline:
                arguments = cmdline.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        children.setdefault(parent, []).append((int(name), arguments))
    credentials, todo = set(), [pid]
    while todo:
        for child, arguments in children.get(todo.pop(), []):
            todo.append(child)
            for argument in arguments:
                match = re.search(r"/internal/uploads/([^/]+)/", argument)
                if match:
                    credentials.add(match.group(1))
    return credentials


def problem(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def sse_events(text):
    """Parses an SSE body into [(event, id, data)]."""
    events = []
    for block in text.split("\n\n"):
        fields = {"data": []}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            if name == "data":
                fields["data"].append(value)
            else:
                fields[name] = value
        if "event" in fields:
            events.append((fields["event"], fields.get("id"), "\n".join(fields["data"])))
    return events
