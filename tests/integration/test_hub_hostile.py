"""`pinion hub` against hostile clients (issue 11): bundles that unpack without end,
QUERY requests whose body never comes, and the loop staying responsive while a large
push unpacks. Everything on 127.0.0.1, each wait bounded."""
import gzip
import io
import json
import os
import re
import socket
import tarfile
import threading
import time

import pytest
import requests
import urllib3

from hub_harness import Hub, problem, sse_events

SCHEMA = json.dumps({"openapi": "3.0.2", "info": {"title": "Cog", "version": "0.1.0"},
                     "paths": {}, "components": {"schemas": {}}}).encode()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    data = tmp_path_factory.mktemp("hostile") / "data"
    # Small ceilings, one by flag and one by environment variable, so that the bombs
    # stay small too.
    server = Hub(data, args=["--bundle-max-size", str(8 << 20)],
                 extra_env={"PINION_BUNDLE_MAX_ENTRIES": "5000"}).start()
    yield server
    server.stop()


def add_file(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def member(name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + bytes(-len(data) % 512)


def zeros_bundle(zeros):
    """A .tar.gz with the schema and a file of `zeros` zero bytes (a multiple of 16 MiB),
    made cheaply: gzip members of the same block, one after another, are one stream."""
    block = 16 << 20
    assert zeros % block == 0
    info = tarfile.TarInfo("weights.bin")
    info.size = zeros
    head = member(".cog/openapi_schema.json", SCHEMA) + info.tobuf(format=tarfile.USTAR_FORMAT)
    zero_block = gzip.compress(bytes(block), compresslevel=1)
    return (gzip.compress(head) + zero_block * (zeros // block)
            + gzip.compress(bytes(1024)))


def bundle(files=(), entries=0):
    """A tar with the schema, `files` and `entries` empty files."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        add_file(archive, ".cog/openapi_schema.json", SCHEMA)
        for name, data in files:
            add_file(archive, name, data)
        for index in range(entries):
            add_file(archive, "many/%d" % index, b"")
    return out.getvalue()


def push(hub, model, body, timeout=30):
    return requests.post(hub.url + "/v1/models/alice/%s/versions" % model, data=body,
                         headers={"Content-Type": "application/x-tar",
                                  "Authorization": "Bearer " + hub.token("alice")},
                         timeout=timeout)


def leftovers(hub):
    return os.listdir(os.path.join(hub.data, "tmp"))


def test_a_gzip_bomb_is_refused_with_the_size_limit_named(hub):
    body = zeros_bundle(64 << 20)  # 64 MiB of zeros in ~64 KiB
    assert len(body) < 1 << 20
    response = push(hub, "bomb", body)
    detail = problem(response, 413)["detail"]
    assert "more than 8388608 bytes" in detail, detail
    assert "--bundle-max-size" in detail and "PINION_BUNDLE_MAX_SIZE" in detail, detail
    assert hub.get("/v1/models/alice/bomb/versions").json().get("results", []) == []
    assert leftovers(hub) == []


def test_a_tar_of_many_entries_is_refused_with_the_entry_limit_named(hub):
    body = bundle(entries=50000)
    response = push(hub, "many", body)
    detail = problem(response, 413)["detail"]
    assert "more than 5000 entries" in detail, detail
    assert "--bundle-max-entries" in detail and "PINION_BUNDLE_MAX_ENTRIES" in detail, detail
    assert leftovers(hub) == []


def test_a_bundle_within_the_limits_is_published(hub):
    body = bundle(files=[("predict.py", b"print('hi')\n"), ("weights.bin", bytes(4 << 20))],
                  entries=100)
    response = push(hub, "fits", body)
    assert response.status_code == 201, response.text
    version = response.json()["id"]
    assert len(version) == 64
    # The same bytes again: the same version, unpacked once.
    again = push(hub, "fits", body)
    assert again.status_code == 201 and again.json()["id"] == version
    assert os.path.getsize(os.path.join(hub.data, "bundles", version, "weights.bin")) == 4 << 20
    assert leftovers(hub) == []


def test_bad_limit_flags_are_refused(tmp_path):
    from hub_harness import pinion
    result = pinion("hub", "--data", str(tmp_path / "d"), "--bundle-max-size", "ten")
    assert result.returncode == 2
    assert '--bundle-max-size takes a whole number from 1 (got "ten")' in result.stderr


def latencies_while(hub, busy, minimum=20):
    """GET /v1/account round trips (seconds) while `busy` (a thread) runs; at least
    `minimum` of them."""
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + hub.token("alice")
    times = []
    deadline = time.monotonic() + 120
    while (busy.is_alive() or len(times) < minimum) and time.monotonic() < deadline:
        started = time.monotonic()
        assert session.get(hub.url + "/v1/account", timeout=10).status_code == 200
        times.append(time.monotonic() - started)
        time.sleep(0.005)
    return sorted(times)


def p99(times):
    return times[min(len(times) - 1, int(len(times) * 0.99))]


def latencies_while_sending(hub, send):
    """Runs `send()` (one request, returning its response) in a thread and measures GET
    /v1/account meanwhile: (response, seconds it took, sorted latencies)."""
    result = {}

    def sender_thread():
        started = time.monotonic()
        result["response"] = send()
        result["seconds"] = time.monotonic() - started

    sender = threading.Thread(target=sender_thread)
    hub.token("alice")
    sender.start()
    times = latencies_while(hub, sender)
    sender.join(timeout=120)
    return result["response"], result["seconds"], times


def test_the_hub_answers_while_a_large_push_unpacks(tmp_path):
    hub = Hub(tmp_path / "data").start()  # the default limits
    try:
        body = zeros_bundle(1 << 30)
        response, seconds, times = latencies_while_sending(
            hub, lambda: push(hub, "large", body, timeout=120))
        assert response.status_code == 201, response.text
        print("push took %.2f s; GET /v1/account during it: %d requests, p99 %.1f ms, max %.1f ms"
              % (seconds, len(times), p99(times) * 1000, times[-1] * 1000))
        assert p99(times) < 0.2, times[-10:]
    finally:
        hub.stop()


def raw_query(hub, length):
    """A QUERY request whose headers promise `length` bytes of body; none is sent."""
    connection = socket.create_connection(("127.0.0.1", hub.port), timeout=10)
    connection.sendall(("QUERY /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Authorization: Bearer %s\r\nContent-Type: text/plain\r\n"
                        "Content-Length: %d\r\n\r\n" % (hub.token("alice"), length)).encode())
    return connection


def read_reply(connection):
    connection.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        rest += chunk
    return int(head.split(b" ")[1]), rest


def test_query_requests_without_their_body_do_not_hold_the_hub(hub):
    stalled = [raw_query(hub, 100) for _ in range(5)]
    try:
        time.sleep(0.1)  # the hub has seen every header
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + hub.token("alice")
        times = []
        for _ in range(20):
            started = time.monotonic()
            assert session.get(hub.url + "/v1/account", timeout=10).status_code == 200
            times.append(time.monotonic() - started)
        times.sort()
        print("GET /v1/account beside 5 stalled QUERY requests: p99 %.1f ms, max %.1f ms"
              % (p99(times) * 1000, times[-1] * 1000))
        assert times[-1] < 0.2, times
        # The body, sent late and in two pieces, is read and answered; the connection
        # stays usable.
        body = b'"nothing-matches-this-query"'.ljust(100)
        stalled[0].sendall(body[:40])
        time.sleep(0.05)
        stalled[0].sendall(body[40:])
        status, reply = read_reply(stalled[0])
        assert status == 200, reply
        assert json.loads(reply)["results"] == []
        stalled[0].sendall(b"GET /v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
                           + hub.token("alice").encode() + b"\r\n\r\n")
        status, reply = read_reply(stalled[0])
        assert status == 200 and json.loads(reply)["username"] == "alice"
        # A client that gives up halfway leaves the hub as it was.
        stalled[1].sendall(b"x" * 10)
        stalled[1].close()
        assert session.get(hub.url + "/v1/account", timeout=10).status_code == 200
    finally:
        for connection in stalled:
            connection.close()


def test_a_query_body_over_its_limit_is_refused_before_it_is_read(hub):
    connection = raw_query(hub, 1 << 30)
    try:
        status, reply = read_reply(connection)
        assert status == 413
        assert "over the limit of 65536 bytes" in json.loads(reply)["detail"]
    finally:
        connection.close()


# --- streams ---------------------------------------------------------------------------

FLOOD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures",
                     "hub_flood")


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    data = tmp_path_factory.mktemp("streams") / "data"
    server = Hub(data, extra_env={
        "PINION_STREAM_SUBSCRIBERS": "2", "PINION_STREAM_ACCOUNT_SUBSCRIBERS": "3",
        "PINION_STREAM_READER_BUFFER": str(1 << 20),
        "PINION_STREAM_HISTORY_BYTES": str(1 << 20)}).start()
    server.flood = server.push(None, "alice/flood", cwd=FLOOD)
    yield server
    server.stop()


def start(hub, **inputs):
    response = hub.post("/v1/predictions", json={"version": hub.flood, "input": inputs,
                                                 "stream": True})
    assert response.status_code == 201, response.text
    return response.json()


def open_stream(prediction):
    return requests.get(prediction["urls"]["stream"], stream=True, timeout=10,
                        headers={"Accept": "text/event-stream"})


def test_stream_readers_are_limited_per_prediction_and_per_account(streams):
    first = start(streams, pause=30)
    second = start(streams, pause=30)
    opened = []
    try:
        opened = [open_stream(first), open_stream(first)]
        assert [r.status_code for r in opened] == [200, 200]
        third = open_stream(first)
        detail = problem(third, 429)["detail"]
        assert "PINION_STREAM_SUBSCRIBERS" in detail and "has 2 readers" in detail, detail
        opened.append(open_stream(second))
        assert opened[-1].status_code == 200
        over = open_stream(second)
        detail = problem(over, 429)["detail"]
        assert "PINION_STREAM_ACCOUNT_SUBSCRIBERS" in detail and "3 readers" in detail, detail
        # A reader that leaves frees its place.
        opened.pop(0).close()
        deadline = time.monotonic() + 10
        while True:
            again = open_stream(first)
            if again.status_code == 200:
                opened.append(again)
                break
            assert time.monotonic() < deadline, again.text
            time.sleep(0.1)
    finally:
        for response in opened:
            response.close()
        for prediction in (first, second):
            streams.post("/v1/predictions/%s/cancel" % prediction["id"])


def test_a_reader_that_stops_reading_is_dropped_and_history_is_bounded(streams):
    prediction = start(streams, count=200, size=50000, pause=2, interval=0.02)
    path = "/" + prediction["urls"]["stream"].split("/", 3)[3]
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", streams.port))
    slow.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
                  % path).encode())
    try:
        fast = open_stream(prediction)
        assert fast.status_code == 200
        body = b"".join(fast.iter_content(1 << 16))
        assert body.rstrip().endswith(b"event: done\ndata: {}"), body[-200:]
        assert body.count(b"event: output") == 200
        # The slow reader was cut off: its connection ends without `done`.
        slow.settimeout(10)
        received = b""
        while True:
            chunk = slow.recv(1 << 16)
            if not chunk:
                break
            received += chunk
        assert b"event: done" not in received
        assert len(received) < 10000000
        assert "dropped a stream reader that stopped reading" in streams.read_log()
        # A late reader gets the newest events that fit the history, then done.
        replay = requests.get(prediction["urls"]["stream"], timeout=10).content
        assert replay.rstrip().endswith(b"event: done\ndata: {}")
        assert len(replay) < (1 << 20) + 60000
        assert not replay.startswith(b"id: 1\n")
    finally:
        slow.close()


def retained_streams(hub, expected, timeout=10):
    """Scrapes /metrics (each text at most a second old) until pinion_streams_retained
    reads `expected`; returns the samples."""
    from test_hub_metrics import scrape
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(hub)
        if samples.get("pinion_streams_retained") == expected:
            return samples
        assert time.monotonic() < deadline, (samples.get("pinion_streams_retained"), expected)
        time.sleep(0.2)


def run_streamed(hub, **inputs):
    """Creates a flood prediction and reads its stream live, from creation to `done`."""
    prediction = start(hub, **inputs)
    response = open_stream(prediction)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    assert events[-1][0] == "done", events
    return prediction, events


# What a stream rebuilt from the row of a prediction of flood(count=3, log=True) holds:
# the logs in one event first, then each output, then done; its ids are its own.
REBUILT = [("logs", "row-1", "line 0\nline 1\nline 2\n"), ("output", "row-2", "0:"),
           ("output", "row-3", "1:"), ("output", "row-4", "2:"), ("done", "row-5", "{}")]


def is_live_shape(events):
    """Read live, flood(count=3, log=True) has its logs between the outputs, each event
    numbered from 1, and ends with done."""
    assert [e[0] for e in events].count("logs") >= 2, events
    assert [e[2] for e in events if e[0] == "output"] == ["0:", "1:", "2:"], events
    assert [e[1] for e in events] == [str(i) for i in range(1, len(events) + 1)], events
    assert events[-1] == ("done", str(len(events)), "{}"), events
    return True


def get_stream(prediction, last_event_id=None):
    """Reads a finished prediction's stream to its end; asserts it ends at once."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    began = time.monotonic()
    response = requests.get(prediction["urls"]["stream"], headers=headers, timeout=10)
    assert time.monotonic() - began < 5
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream"
    return sse_events(response.text)


def metrics_hub(tmp_path, env):
    from test_hub_metrics import TOKEN
    token_file = tmp_path / "metrics.token"
    token_file.write_text(TOKEN + "\n")
    return Hub(tmp_path / "data", args=["--metrics-listen", "127.0.0.1:0",
                                        "--metrics-token-file", str(token_file)],
               extra_env=env)


def start_metrics_hub(server):
    server.start()
    server.metrics_url = re.findall(r"metrics on (http://[0-9.]+:[0-9]+/metrics)",
                                    server.read_log())[-1]
    return server


def test_finished_streams_kept_are_capped_and_the_oldest_goes_first(tmp_path):
    """PINION_STREAM_RETAIN_MAX=3: the fourth finished prediction's stream evicts the
    first's, whose readers then get the stream rebuilt from the row (ids `row-N`); the
    other three replay the events their readers saw live, with the same ids. A reader
    that resumes the evicted stream with one of its ids gets an `error` event saying it
    is gone, then `done`: never a gap, never an end without `done`."""
    server = start_metrics_hub(metrics_hub(tmp_path, {"PINION_STREAM_RETAIN_MAX": "3"}))
    try:
        server.flood = server.push(None, "alice/flood", cwd=FLOOD)
        assert retained_streams(server, 0)["pinion_streams_retained_bytes"] == 0
        runs = [run_streamed(server, count=3, interval=0.2, log=True) for _ in range(4)]
        assert all(is_live_shape(live) for _, live in runs)
        samples = retained_streams(server, 3)
        # Three small streams: their structs, events and indexes, well under 64 KiB.
        assert 3 * 200 < samples["pinion_streams_retained_bytes"] < 65536
        replays = [get_stream(p) for p, _ in runs]
        assert replays[0] == REBUILT
        assert replays[1:] == [live for _, live in runs[1:]]
        # Last-Event-ID: a kept stream resumes after it, in its own numbering...
        assert get_stream(runs[1][0], "3") == runs[1][1][3:]
        # ...a rebuilt one after one of its own ids...
        assert get_stream(runs[0][0], "row-3") == REBUILT[3:]
        # ...and an id of the stream that went cannot be honoured: it says so and ends.
        for stale in ("3", runs[0][1][-1][1], "expired-2", "1733:5"):
            events = get_stream(runs[0][0], stale)
            assert [(e[0], e[1]) for e in events] == [("error", "expired-1"),
                                                       ("done", "expired-2")], (stale, events)
            detail = json.loads(events[0][2])["detail"]
            assert "no longer keeps" in detail and "PINION_STREAM_RETAIN_MAX" in detail
            assert events[1][2] == '{"reason":"error"}'
        assert retained_streams(server, 3)["pinion_streams_retained"] == 3
    finally:
        server.stop()


def test_live_streams_are_never_evicted_even_when_nothing_is_kept(tmp_path):
    """PINION_STREAM_RETAIN_BYTES=0 keeps no finished stream, yet a prediction still
    queued or running when another finishes (and evicts) keeps its live stream: readers
    opened before and after get its events as they come, logs between outputs."""
    server = start_metrics_hub(metrics_hub(tmp_path, {"PINION_STREAM_RETAIN_BYTES": "0"}))
    try:
        server.flood = server.push(None, "alice/flood", cwd=FLOOD)
        first = start(server, count=3, interval=0.3, log=True)
        second = start(server, count=3, interval=0.3, log=True)
        early = open_stream(second)
        assert early.status_code == 200, early.text
        first_live = sse_events(open_stream(first).text)
        assert is_live_shape(first_live)
        # The first finished and was evicted at once; the second is still live.
        late = open_stream(second)
        assert late.status_code == 200, late.text
        late_events, early_events = sse_events(late.text), sse_events(early.text)
        assert is_live_shape(early_events) and late_events == early_events
        assert retained_streams(server, 0)["pinion_streams_retained_bytes"] == 0
        assert get_stream(first) == REBUILT
        assert get_stream(second) == REBUILT
    finally:
        server.stop()


# --- bodies and rate limits --------------------------------------------------------------

def test_each_route_has_its_own_body_limit(hub):
    # A JSON route takes 10 MiB; the limit is checked before the body is parsed.
    body = b'{"version": "' + b"x" * (11 << 20) + b'"}'
    response = hub.post("/v1/predictions", data=body, headers={"Content-Type": "application/json"})
    detail = problem(response, 413)["detail"]
    assert "over the limit of 10485760 bytes for /v1/predictions" in detail, detail
    assert response.headers.get("Connection", "").lower() == "close"
    # The same bytes are fine where the route takes files.
    response = hub.post("/v1/files", files={"content": ("big.bin", bytes(11 << 20))})
    assert response.status_code == 201, response.text


def test_a_body_without_a_token_is_refused_and_the_connection_closed(hub):
    response = requests.post(hub.url + "/v1/predictions", data=bytes(1 << 20), timeout=10)
    assert problem(response, 401)["title"] == "Unauthenticated"
    assert response.headers.get("Connection", "").lower() == "close"


def test_unauthenticated_requests_are_rate_limited_by_address(tmp_path):
    server = Hub(tmp_path / "data", args=["--rate-limit", "5"]).start()
    try:
        statuses = [requests.get(server.url + "/v1/account", timeout=10).status_code
                    for _ in range(7)]
        assert statuses[:5] == [401] * 5
        assert statuses[5:] == [429, 429]
        response = requests.get(server.url + "/v1/account", timeout=10)
        detail = problem(response, 429)["detail"]
        assert "this address may make 5 requests a minute" in detail, detail
        assert int(response.headers["Retry-After"]) > 0
        # An account has its own window.
        assert server.get("/v1/account").status_code == 200
    finally:
        server.stop()


def test_the_hub_answers_while_a_large_file_is_stored(tmp_path):
    hub = Hub(tmp_path / "data").start()
    try:
        content = os.urandom(1 << 20) * 95  # 95 MB: hashing and writing take a while
        # Encoded here: building it in the sender's thread would hold Python's GIL and
        # delay the measuring thread, not the hub.
        body, content_type = urllib3.encode_multipart_formdata(
            {"content": ("large.bin", content)})
        response, seconds, times = latencies_while_sending(hub, lambda: requests.post(
            hub.url + "/v1/files", data=body, timeout=120,
            headers={"Authorization": "Bearer " + hub.token("alice"),
                     "Content-Type": content_type}))
        assert response.status_code == 201, response.text
        assert response.json()["size"] == len(content)
        print("upload took %.2f s; GET /v1/account during it: %d requests, p99 %.1f ms, max %.1f ms"
              % (seconds, len(times), p99(times) * 1000, times[-1] * 1000))
        # Requests go one after another: one of them would wait as long as the loop was held.
        assert times[-1] < 0.25, times[-10:]
    finally:
        hub.stop()


def test_the_hub_answers_while_a_training_publishes_large_weights(tmp_path):
    """A finished training's weights become a new version: reading them, packing them
    with the trained version's bundle, hashing and unpacking that run on the pool, so a
    GET during a 256 MiB publish is answered at once."""
    from hub_harness import ROOT
    hub = Hub(tmp_path / "data").start()
    try:
        trainer = hub.push(None, "alice/heavy",
                           cwd=os.path.join(ROOT, "tests", "fixtures", "hub_large_trainer"))
        hub.post("/v1/models", json={"owner": "alice", "name": "heavier", "visibility": "private"})
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + hub.token("alice")

        def train():
            training = session.post(
                hub.url + "/v1/models/alice/heavy/versions/%s/trainings" % trainer, timeout=10,
                json={"destination": "alice/heavier", "input": {"megabytes": 256}}).json()
            deadline = time.monotonic() + 110
            while training["status"] not in ("succeeded", "failed", "canceled"):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
                training = session.get(hub.url + "/v1/trainings/" + training["id"],
                                       timeout=10).json()
            return training

        training, seconds, times = latencies_while_sending(hub, train)
        assert training["status"] == "succeeded", training
        version = training["output"]["version"].split(":", 1)[1]
        weights = os.path.join(hub.data, "bundles", version, "weights")
        assert os.path.getsize(weights) == 256 << 20
        print("training took %.2f s; GET /v1/account during it: %d requests, p99 %.1f ms, "
              "max %.1f ms" % (seconds, len(times), p99(times) * 1000, times[-1] * 1000))
        # Requests go one after another: one of them would wait as long as the loop was
        # held (3.5 s when the publishing ran on the loop). Generous: the pool's threads,
        # the model and the store's writes share two busy cores and one disk here.
        assert times[-1] < 0.5, times[-10:]
    finally:
        hub.stop()


def test_trained_weights_past_the_bundle_limit_fail_the_training_with_the_limit_named(hub):
    """The publishing runs on the pool with the bundle limits of a push: a training whose
    weights would make a bundle over --bundle-max-size (8 MiB here) fails, saying why,
    and records no version."""
    from hub_harness import ROOT
    trainer = hub.push(None, "alice/overweight",
                       cwd=os.path.join(ROOT, "tests", "fixtures", "hub_large_trainer"))
    hub.post("/v1/models", json={"owner": "alice", "name": "too-heavy", "visibility": "private"})
    training = hub.post("/v1/models/alice/overweight/versions/%s/trainings" % trainer,
                        json={"destination": "alice/too-heavy", "input": {"megabytes": 16}}).json()
    deadline = time.monotonic() + 90
    while training["status"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, training
        time.sleep(0.1)
        training = hub.get("/v1/trainings/" + training["id"]).json()
    assert training["status"] == "failed", training
    assert training["error"].startswith("the trained weights could not become a version: "), \
        training["error"]
    assert "more than 8388608 bytes" in training["error"], training["error"]
    assert hub.get("/v1/models/alice/too-heavy").json()["latest_version"] is None
    assert leftovers(hub) == []
