"""Starts a real Redis (Debian's redis-server) for the hub's queue tests: a server in a
temporary folder, on a free loopback port, no other listener, persistence as asked
(append-only file, fsync on every write, for the restart tests). Each hub gets a
database number of its own (fresh_url), so that hubs of different tests never take each
other's messages. Everything stops and is removed at teardown."""
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = "/usr/bin/redis-server"
TIMEOUT = 10
DATABASES = 4096
_numbers = itertools.count(1)


def available():
    return os.path.exists(REDIS_SERVER)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Redis:
    """One server; start() and stop() may repeat (with appendonly, the data stays)."""

    def __init__(self, appendonly=False, bind=("127.0.0.1",)):
        """`bind`: the addresses it listens on (the first is the one url() names)."""
        self.folder = tempfile.mkdtemp(prefix="pinion-redis-")
        self.port = free_port()
        self.appendonly = appendonly
        self.bind = list(bind)
        self.process = None
        self.log = os.path.join(self.folder, "redis.log")

    def start(self):
        arguments = [REDIS_SERVER, "--port", str(self.port), "--bind", *self.bind,
                     "--dir", self.folder, "--databases", str(DATABASES), "--save", "",
                     "--daemonize", "no", "--logfile", self.log,
                     "--appendonly", "yes" if self.appendonly else "no",
                     "--appendfsync", "always"]
        if self.bind != ["127.0.0.1"]:
            # Reached from a test's network namespace over a private veth pair only
            # (netns_harness): protected mode would refuse every client not on loopback.
            arguments += ["--protected-mode", "no"]
        self.process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert self.process.poll() is None, "redis-server exited: " + self.read_log()
            try:
                if self.command("PING") == "PONG":
                    return self
            except (OSError, RuntimeError):
                pass  # not listening yet, or LOADING its append-only file
            assert time.monotonic() < deadline, "redis-server did not answer: " + self.read_log()
            time.sleep(0.02)

    def read_log(self):
        try:
            with open(self.log) as log:
                return log.read()[-3000:]
        except OSError:
            return ""

    def kill(self):
        """SIGKILL: what was not on disk is gone (with appendonly and fsync always, nothing
        acknowledged is)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=TIMEOUT)
        self.process = None

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=TIMEOUT)
        self.process = None

    def url(self, database=0, host="127.0.0.1"):
        return "redis://%s:%d/%d" % (host, self.port, database)

    def command(self, *words, database=0):
        """One command over RESP; the reply as text (arrays joined by newlines)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as connection:
            request = b""
            for command in (("SELECT", str(database)), words):
                request += b"*%d\r\n" % len(command)
                for word in command:
                    data = word.encode() if isinstance(word, str) else word
                    request += b"$%d\r\n%s\r\n" % (len(data), data)
            connection.sendall(request)
            reader = connection.makefile("rb")
            _read_reply(reader)
            return _read_reply(reader)

    def close(self):
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_reply(reader):
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind in (b"+", b":"):
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b"$":
        length = int(rest)
        if length < 0:
            return None
        data = reader.read(length + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        count = int(rest)
        return "\n".join(str(_read_reply(reader)) for _ in range(max(count, 0)))
    raise RuntimeError("unexpected reply %r" % line)


def fresh_url(server_url):
    """The URL of an unused database number on the server `server_url` names."""
    base = server_url.rsplit("/", 1)[0]
    return "%s/%d" % (base, next(_numbers) % DATABASES)
