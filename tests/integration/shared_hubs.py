"""Hubs that share one PostgreSQL database and one Redis queue, for test_hub_redis.py
(two hosts of one hub, each with its own data folder) and test_hub_replicas.py
(replicas on one data folder): the servers as module fixtures, the hubs made on them,
and the waits those tests share. A test module takes the fixtures by importing them."""
import time

import pytest

import pg_harness
import redis_harness
from hub_harness import Hub

LEASE = "1"  # --queue-lease: short, so that a dead hub's work is taken over soon
TERMINAL = ("succeeded", "failed", "canceled")


@pytest.fixture(scope="module")
def redis():
    if not redis_harness.available():
        pytest.skip("redis-server is not installed (scripts/install-deps)")
    server = redis_harness.Redis().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def postgres():
    if not pg_harness.available():
        pytest.skip("PostgreSQL 15 is not installed (scripts/install-deps)")
    server = pg_harness.Postgres().start()
    yield server
    server.close()


def shared_hubs(tmp_path, postgres, queue, names, one_folder=False, args=None, extra_env=None):
    """Hubs called `names` (not started) on one fresh database of `postgres` and on the
    Redis database `queue` (redis_harness.fresh_url), each with --queue-lease LEASE and
    `args[name]`. Each keeps its data in tmp_path/NAME (two hosts of one hub); with
    `one_folder` all share tmp_path/data (replicas on one volume), their logs and port
    files kept apart as tmp_path/NAME.log and .port."""
    database = pg_harness.fresh_database(postgres.url())
    return [Hub(tmp_path / ("data" if one_folder else name), database=database, queue=queue,
                files=tmp_path / name if one_folder else None,
                args=["--queue-lease", LEASE, *(args or {}).get(name, ())],
                extra_env=dict(extra_env or {})) for name in names]


def stop_all(hubs):
    for hub in hubs:
        if hub.process:
            hub.stop()


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def wait_terminal(hub, ids, timeout):
    """The rows of predictions `ids` once all are terminal, read from `hub`."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {i: hub.get("/v1/predictions/" + i).json() for i in ids}
        if all(row["status"] in TERMINAL for row in rows.values()):
            return rows
        assert time.monotonic() < deadline, {i: row["status"] for i, row in rows.items()}
        time.sleep(0.1)


def took(hub, prediction_id):
    """Whether `hub` ran the prediction: it started an instance for it."""
    return ("prediction %s: starting an instance" % prediction_id) in hub.read_log()
