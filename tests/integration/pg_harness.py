"""Starts a real PostgreSQL 15 for the hub's tests: a cluster in a temporary folder,
listening on a free loopback port and a socket in that folder, run by an unprivileged
user (PostgreSQL refuses root; as root the cluster runs as `nobody`). Each hub gets a
database of its own (fresh_database). Everything stops and is removed at teardown."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

PG_BIN = "/usr/lib/postgresql/15/bin"
SUPERUSER = "pinion"
TIMEOUT = 30


def available():
    return os.path.exists(os.path.join(PG_BIN, "initdb"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_owner(command):
    """`command` run as the cluster's owner: nobody when the tests run as root."""
    return ["runuser", "-u", "nobody", "--", *command] if os.getuid() == 0 else list(command)


class Postgres:
    """One cluster; start() and stop() may repeat (the data stays)."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="pinion-pg-")
        os.chmod(self.folder, 0o755)
        self.data = os.path.join(self.folder, "data")
        self.log = os.path.join(self.folder, "postgres.log")
        self.sockets = os.path.join(self.folder, "sockets")
        self.port = free_port()
        os.mkdir(self.data, 0o700)
        os.mkdir(self.sockets, 0o700)
        if os.getuid() == 0:
            shutil.chown(self.data, "nobody", "nogroup")
            shutil.chown(self.sockets, "nobody", "nogroup")
            open(self.log, "w").close()
            shutil.chown(self.log, "nobody", "nogroup")
        subprocess.run(as_owner([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust",
                                 "-U", SUPERUSER, "-E", "UTF8", "--locale", "C.UTF-8",
                                 "--no-sync"]),
                       check=True, capture_output=True, timeout=120)

    def start(self):
        options = ("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off" % (self.sockets, self.port))
        subprocess.run(as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log,
                                 "-w", "-t", str(TIMEOUT), "-o", options, "start"]),
                       check=True, capture_output=True, timeout=TIMEOUT + 10)
        return self

    def stop(self):
        subprocess.run(as_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast",
                                 "-w", "-t", str(TIMEOUT), "stop"]),
                       capture_output=True, timeout=TIMEOUT + 10)

    def url(self, database="postgres"):
        return "postgres://%s@127.0.0.1:%d/%s" % (SUPERUSER, self.port, database)

    def psql(self, sql, database="postgres"):
        result = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v",
                                 "ON_ERROR_STOP=1", "-d", self.url(database), "-c", sql],
                                capture_output=True, text=True, timeout=TIMEOUT)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def close(self):
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def fresh_database(server_url):
    """A new empty database on the server `server_url` names (its own path is ignored);
    returns its URL."""
    base = server_url.rsplit("/", 1)[0]
    name = "hub_" + uuid.uuid4().hex[:16]
    deadline = time.monotonic() + TIMEOUT
    while True:
        result = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-d", base + "/postgres",
                                 "-c", "CREATE DATABASE " + name],
                                capture_output=True, text=True, timeout=TIMEOUT)
        if result.returncode == 0:
            return base + "/" + name
        assert time.monotonic() < deadline, result.stderr
        time.sleep(0.2)
