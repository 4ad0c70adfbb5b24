"""Starts `python -m pinion_worker` on a fixture model and speaks the worker protocol
to it (docs/internals/worker-protocol.md): the server's side of the socketpair."""
import json
import os
import select
import socket
import struct
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, os.environ.get("BUILD", "build"), "lib", "pinion", "python")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
DEBIAN_PYTHON = "/usr/bin/python3"


def fixture_predictor(name, mode="predict"):
    """The `predict:`/`train:` reference from a fixture's cog.yaml (a flat, quoted value)."""
    with open(os.path.join(FIXTURES, name, "cog.yaml")) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == mode:
                return value.strip().strip('"')
    raise KeyError(mode)


class Worker:
    """One worker process; `send()` and `recv()` move frames, `lines` collects output."""

    def __init__(self, fixture, predictor=None, mode="predict", action="serve", python=DEBIAN_PYTHON, env=None):
        self.sock, theirs = socket.socketpair()
        model_dir = os.path.join(FIXTURES, fixture)
        full_env = dict(os.environ)
        full_env.update(
            {
                "PYTHONPATH": LIB + os.pathsep + model_dir,
                "PYTHONUNBUFFERED": "1",
                "PINION_IPC_FD": str(theirs.fileno()),
                "PINION_PREDICTOR": predictor or fixture_predictor(fixture, mode),
                "PINION_MODE": mode,
                "PINION_WORKER_ACTION": action,
            }
        )
        full_env.pop("COG_WEIGHTS", None)
        full_env.update(env or {})
        self.process = subprocess.Popen(
            [python, "-u", "-m", "pinion_worker"],
            cwd=model_dir,
            env=full_env,
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        theirs.close()
        self.stdout = []
        self.stderr = []
        self._readers = [
            threading.Thread(target=self._drain, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._drain, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(pipe, lines):
        for line in pipe:
            lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    def logs(self, stream="stdout", count=1, timeout=5):
        """The lines read so far from stdout or stderr, waiting until there are `count`:
        the worker flushes before each done, but the reader threads may lag behind."""
        lines = getattr(self, stream)
        deadline = time.monotonic() + timeout
        while len(lines) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(lines)

    def send(self, message):
        payload = json.dumps(message).encode()
        self.sock.sendall(struct.pack(">I", len(payload)) + payload)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _read_exact(self, count, deadline):
        data = b""
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
                raise TimeoutError("no frame from the worker; stderr: %s" % "\n".join(self.stderr))
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise EOFError("worker closed the socket; stderr: %s" % "\n".join(self.stderr))
            data += chunk
        return data

    def recv(self, timeout=20):
        deadline = time.monotonic() + timeout
        (length,) = struct.unpack(">I", self._read_exact(4, deadline))
        return json.loads(self._read_exact(length, deadline))

    def recv_until(self, kind, timeout=20):
        """Frames up to and including the first of type `kind`."""
        frames = []
        while True:
            frame = self.recv(timeout)
            frames.append(frame)
            if frame["type"] == kind:
                return frames

    def start(self):
        """Reads describe and setup_done; returns (describe, setup_done)."""
        describe = self.recv()
        assert describe["type"] == "describe", describe
        return describe, self.recv()

    def predict(self, inputs=None, prediction_id="p1", context=None, timeout=20):
        """Runs one prediction; returns (frames before done, done)."""
        self.send({"type": "predict", "id": prediction_id, "input": inputs or {}, "context": context or {}})
        frames = self.recv_until("done", timeout)
        return frames[:-1], frames[-1]

    def close(self, timeout=10):
        """Closes the socket (EOF) and returns the exit code."""
        self.sock.close()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        for reader in self._readers:
            reader.join(5)
        return code
