"""`pinion director` beside its own `pinion serve` of a fixture, for the director and
scale-out tests: started on a free port, waited for until READY, stopped with SIGTERM
(or killed with -9) at teardown. `wrapper` runs both inside something, e.g.
["ip", "netns", "exec", NAME] for a director on a host of its own (netns_harness)."""
import os
import signal
import subprocess
import time

import requests

import redis_harness
import serve_harness
from hub_harness import PINION, env, pinion

LEASE = "1"
TIMEOUT = 10


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.05)


def director_credential(hub, folder, name="director"):
    """A director's credential made on `hub`'s store; (credential, path of a file
    holding it)."""
    result = pinion("hub", "token", "create", "--director", "--name", name, "--data", hub.data,
                    *hub.database_args)
    assert result.returncode == 0, result.stderr
    credential = result.stdout.strip()
    assert credential.startswith("pnd_"), credential
    os.makedirs(str(folder), exist_ok=True)
    path = os.path.join(str(folder), "credential")
    with open(path, "w") as out:
        out.write(credential + "\n")
    return credential, path


class Director:
    """`pinion director` beside its own `pinion serve` of `fixture`. `hub`: a Hub (its
    internal URL) or the URL itself; `host`: the address both listen on as the test sees
    them (the director's listener; the model server stays on the host's loopback);
    `environment`: added to the model server's, e.g. PINION_TEST_HOST."""

    def __init__(self, folder, hub, queue, credential_file, fixture, target_flags,
                 host="127.0.0.1", wrapper=(), environment=None, extra=(), lease=LEASE):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.host = host
        self.port = redis_harness.free_port()
        self.url = "http://%s:%d" % (host, self.port)
        hub_url = hub if isinstance(hub, str) else hub.internal_url
        self.serve = serve_harness.Server(fixture, args=["--upload-url", self.url + "/upload/"],
                                          env=environment, wrapper=wrapper, wait=not wrapper)
        self.log_path = os.path.join(folder, "director.log")
        self.log = open(self.log_path, "a")
        self.process = None
        try:
            self.process = subprocess.Popen(
                [*wrapper, PINION, "director", "--hub", hub_url, "--queue", queue,
                 "--credential", credential_file, "--model-url",
                 "http://127.0.0.1:%d" % self.serve.port, "--listen",
                 "%s:%d" % (host, self.port), "--queue-lease", lease, *target_flags, *extra],
                env=env(), stdout=self.log, stderr=self.log)
            wait_for(lambda: self.health().get("status") == "READY", 3 * TIMEOUT,
                     lambda: "the director did not become ready:\n" + self.read_log())
        except BaseException:
            self.stop()
            raise

    def health(self):
        assert self.process.poll() is None, "the director exited:\n" + self.read_log()
        try:
            return requests.get(self.url + "/health", timeout=TIMEOUT).json()
        except requests.ConnectionError:
            return {}

    def read_log(self):
        with open(self.log_path) as log:
            return log.read()

    def took(self, prediction_id):
        return ("took prediction %s" % prediction_id) in self.read_log()

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=TIMEOUT)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=TIMEOUT)
        self.log.close()
        self.serve.stop()
