"""`pinion serve` against hostile clients and hostile inputs (issue #11): input URLs
that redirect forever, drip or inflate; floods of data: URIs; slowloris; running out
of file descriptors; ambiguous framing; libevent's own errors; inputs too large for
the worker's frame; failures diagnosable from the server's log. Real sockets on
127.0.0.1; every wait is bounded."""
import base64
import http.server
import json
import os
import resource
import shutil
import socket
import threading
import time
import zlib

import pytest

from serve_harness import PINION, TIMEOUT, Server, raw_request, wait_for


class Hostile:
    """An HTTP server on 127.0.0.1 whose GET handler is `handler(request)`; it counts
    the requests it saw."""

    def __init__(self, handler):
        self.count = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.count += 1
                try:
                    handler(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- input downloads ---------------------------------------------------------------


@pytest.fixture(scope="module")
def files_server():
    env = {"PINION_INPUT_DOWNLOAD_TIMEOUT": "2", "PINION_INPUT_FILE_MAX": "10000000"}
    with Server("serve_model", config="files.yaml", env=env) as s:
        yield s


def test_a_redirect_loop_stops_after_ten_redirects(files_server):
    def loop(request):
        request.send_response(302)
        request.send_header("Location", "/again")
        request.send_header("Content-Length", "0")
        request.end_headers()

    with Hostile(loop) as target:
        started = time.monotonic()
        body = files_server.predict({"mode": "input", "source": target.url + "/start"})
        assert body["status"] == "failed"
        assert "more than 10 redirects" in body["error"], body["error"]
        assert target.count == 11  # the first request and ten redirects
        assert time.monotonic() - started < 5


def test_a_dripping_download_fails_after_the_total_time_and_the_slot_is_busy(files_server):
    stop = threading.Event()

    def drip(request):
        request.send_response(200)
        request.send_header("Content-Length", "100000")
        request.end_headers()
        while not stop.is_set():
            request.wfile.write(b"xx")
            request.wfile.flush()
            stop.wait(1)

    with Hostile(drip) as target:
        result = {}

        def run():
            started = time.monotonic()
            result["body"] = files_server.predict({"mode": "input", "source": target.url + "/f"})
            result["seconds"] = time.monotonic() - started

        thread = threading.Thread(target=run)
        thread.start()
        wait_for(lambda: target.count == 1, what="the download to start")
        assert files_server.health()["status"] == "BUSY"
        thread.join(TIMEOUT)
        stop.set()
    assert not thread.is_alive()
    body = result["body"]
    assert body["status"] == "failed"
    assert "timed out" in body["error"].lower(), body["error"]
    assert "PINION_INPUT_DOWNLOAD_TIMEOUT" in body["error"]
    assert 1.5 < result["seconds"] < 6, result["seconds"]
    assert files_server.health()["status"] == "READY"


GIB = 1024 * 1024 * 1024


@pytest.fixture(scope="module")
def gzip_bomb():
    """About 1 MB of gzip that inflates to 1 GiB of zeros."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(16 * 1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(GIB // len(zeros))]
    parts.append(compressor.flush())
    return b"".join(parts)


def test_a_gzip_bomb_stops_at_the_size_limit(files_server, gzip_bomb):
    def bomb(request):
        request.send_response(200)
        request.send_header("Content-Encoding", "gzip")
        request.send_header("Content-Length", str(len(gzip_bomb)))
        request.end_headers()
        request.wfile.write(gzip_bomb)

    largest = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for folder, _, names in os.walk(files_server.tmp):
                for name in names:
                    try:
                        largest[0] = max(largest[0], os.path.getsize(os.path.join(folder, name)))
                    except OSError:
                        pass
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with Hostile(bomb) as target:
            started = time.monotonic()
            body = files_server.predict({"mode": "input", "source": target.url + "/bomb.bin"})
            seconds = time.monotonic() - started
    finally:
        stop.set()
        watcher.join(TIMEOUT)
    assert body["status"] == "failed"
    assert "larger than the limit of 10000000 bytes" in body["error"], body["error"]
    assert largest[0] <= 10000000, largest[0]
    assert seconds < 5, seconds


def test_twenty_thousand_data_uris_are_refused_at_once_and_the_loop_stays_free(files_server):
    body = json.dumps({"input": {"mode": "input", "sources": ["data:,x"] * 20000}}).encode()
    latencies = []
    done = threading.Event()

    def poll():
        while not done.is_set() and len(latencies) < 2000:
            started = time.monotonic()
            files_server.get("/health-check")
            latencies.append(time.monotonic() - started)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        time.sleep(0.05)
        started = time.monotonic()
        response = files_server.post("/predictions", body,
                                     headers={"Content-Type": "application/json"})
        seconds = time.monotonic() - started
        time.sleep(0.05)
    finally:
        done.set()
        poller.join(TIMEOUT)
    assert response.status == 422, response.body
    message = response.json()["detail"][0]["msg"]
    assert "20000 input files" in message and "at most 1000" in message, message
    assert "PINION_INPUT_FILES_MAX" in message
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print("422 after %.1f ms; health-check p99 %.1f ms over %d requests" %
          (seconds * 1000, p99 * 1000, len(latencies)))
    assert seconds < 1, seconds
    assert p99 < 0.2, p99


def test_a_thousand_data_uris_are_decoded_off_the_loop(files_server):
    """The most a prediction may list: each is decoded and written on the worker pool
    while the loop keeps answering."""
    sources = ["data:text/plain;base64," + base64.b64encode(b"n%d" % i).decode()
               for i in range(1000)]
    latencies = []
    done = threading.Event()

    def poll():
        while not done.is_set() and len(latencies) < 5000:
            started = time.monotonic()
            files_server.get("/health-check")
            latencies.append(time.monotonic() - started)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        body = files_server.predict({"mode": "input", "sources": sources}, timeout=30)
    finally:
        done.set()
        poller.join(TIMEOUT)
    assert body["status"] == "succeeded", body.get("error")
    assert body["output"]["contents"] == ["n%d" % i for i in range(1000)]
    latencies.sort()
    print("health-check p99 %.1f ms, max %.1f ms over %d requests" %
          (latencies[int(len(latencies) * 0.99) - 1] * 1000, latencies[-1] * 1000,
           len(latencies)))
    assert latencies[int(len(latencies) * 0.99) - 1] < 0.2


# --- connections -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with Server("serve_model", env={"PINION_REQUEST_TIMEOUT": "2"}) as s:
        yield s


def test_slowloris_headers_are_closed_after_the_request_time(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /health-check HTTP/1.1\r\nHost: x\r\n")
        received = b""
        for i in range(8):
            try:
                sock.sendall(b"X")
            except OSError:
                break
            sock.settimeout(1)
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            received += chunk
            if not chunk:
                break
        seconds = time.monotonic() - started
    assert 1.5 < seconds < 4, seconds
    assert received.startswith(b"HTTP/1.1 408"), received
    body = json.loads(received.partition(b"\r\n\r\n")[2])
    assert "did not arrive in full within 2 seconds" in body["detail"]
    assert server.get("/health-check").status == 200


def test_a_trickled_body_is_closed_after_the_request_time(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 100\r\n\r\n{")
        received = b""
        for _ in range(8):
            try:
                sock.sendall(b" ")
            except OSError:
                break
            sock.settimeout(1)
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            received += chunk
            if not chunk:
                break
        seconds = time.monotonic() - started
    assert 1.5 < seconds < 4, seconds
    assert received.startswith(b"HTTP/1.1 408"), received


def test_a_kept_alive_connection_gets_the_same_time_for_each_request(server):
    connection = server.connect()
    try:
        for _ in range(3):
            connection.request("GET", "/health-check")
            assert connection.getresponse().read()
            time.sleep(1.2)  # 3.6 s in all: longer than one request may take
    finally:
        connection.close()


def test_two_content_lengths_get_a_json_400(server):
    status, headers, body = raw_request(
        server.port,
        b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}")
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert "more than one Content-Length" in json.loads(body)["detail"]


def test_content_length_beside_transfer_encoding_gets_a_json_400(server):
    status, headers, body = raw_request(
        server.port,
        b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert "could not be read" in json.loads(body)["detail"]


@pytest.mark.parametrize("request_bytes, status, words", [
    (b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501, "does not support the request's method"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 400,
     "longer than 65536 bytes"),
    (b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Length: 200000000\r\n\r\n", 413,
     "at most 104857600 bytes"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "could not be read"),
], ids=["unknown-method", "large-headers", "large-body", "malformed-header"])
def test_the_http_layers_own_errors_are_json(server, request_bytes, status, words):
    got, headers, body = raw_request(server.port, request_bytes)
    assert got == status, body
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert words in json.loads(body)["detail"], body


def test_an_input_too_large_for_the_worker_is_413_not_out_of_memory():
    text = "a" * (80 * 1024 * 1024)
    with Server("serve_model") as server:
        started = time.monotonic()
        response = server.post("/predictions", {"input": {"text": text}}, timeout=30)
        print("80 MiB input answered in %.2f s" % (time.monotonic() - started))
    assert response.status == 413, response.body[:200]
    detail = response.json()["detail"]
    assert detail.startswith("input too large (limit 63 MiB)"), detail
    assert "memory" not in detail


def test_a_failed_predictions_traceback_is_in_the_servers_log(server):
    body = server.predict({"mode": "raise"}, id="hostile-raise-1")
    assert body["status"] == "failed"
    log = wait_for(lambda: "ValueError: boom" in server.output() and server.output(),
                   what="the traceback in the log")
    line = [l for l in log.splitlines() if "hostile-raise-1" in l]
    assert line and line[0].endswith("failed: Prediction failed: Prediction failed: ValueError: boom")
    assert "Traceback (most recent call last)" in log


def test_running_out_of_descriptors_backs_off_without_spinning():
    """200 connections against a limit of 128 descriptors: the server pauses accepting
    instead of spinning, logs a little, and answers again once they close."""
    prlimit = shutil.which("prlimit")
    if not prlimit:
        pytest.fail("prlimit (util-linux) is missing")
    env = {"PINION_REQUEST_TIMEOUT": "60"}
    with Server("serve_model", env=env, wrapper=[prlimit, "--nofile=128:128"]) as s:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        assert soft >= 400, "the test needs 400 descriptors of its own"
        log_before = len(s.output())
        sockets = []
        try:
            for _ in range(200):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", s.port))
                sockets.append(sock)
            time.sleep(0.5)
            before = cpu_seconds(s.process.pid)
            time.sleep(3)
            spent = cpu_seconds(s.process.pid) - before
        finally:
            for sock in sockets:
                sock.close()
        print("CPU over 3 s while out of descriptors: %.2f s" % spent)
        assert spent < 1, spent
        response = wait_for(lambda: _health_or_none(s), timeout=TIMEOUT, what="an answer")
        assert response == 200
        logged = s.output()[log_before:]
        assert len(logged) < 100 * 1024, len(logged)
        assert "out of file descriptors" in logged, logged[-2000:]


def test_clients_that_send_their_request_in_two_segments_are_not_reset_at_the_cap():
    """At its connection cap the server stops accepting and clients wait in the kernel's
    queues. With a listen backlog of 128 a flood of the cap + 400 overflowed the queue of
    handshakes: the kernel answered with SYN cookies, dropped a cookie's handshake when
    the accept queue was full, and reset clients that had meanwhile sent a second
    segment (Python's http.client sends headers, then body), as bench/soak-hub's
    hostile hub client once saw. 3 floods, each beside 30 such clients started at the
    same moment: every client gets an answer."""
    cap, flood_size, flood_threads, clients, rounds = 20, 420, 3, 30, 3
    body = json.dumps({"input": {"text": "x"}}).encode()
    head = (b"POST /predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    outcomes = []
    lock = threading.Lock()

    def client(port, start):
        start.wait()
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(30)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(head)
            sock.sendall(body)
            outcome = sock.recv(12).decode() or "closed"
        except OSError as error:
            outcome = type(error).__name__
        finally:
            sock.close()
        with lock:
            outcomes.append(outcome)

    def flood(port, start):
        start.wait()
        sockets = []
        try:
            for _ in range(flood_size // flood_threads):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", port))
                sockets.append(sock)
            time.sleep(2)
        finally:
            for sock in sockets:
                sock.close()

    env = {"PINION_MAX_CONNECTIONS": str(cap), "PINION_REQUEST_TIMEOUT": "5"}
    with Server("serve_model", env=env) as s:
        for _ in range(rounds):
            start = threading.Barrier(flood_threads + clients)
            threads = [threading.Thread(target=flood, args=(s.port, start))
                       for _ in range(flood_threads)]
            threads += [threading.Thread(target=client, args=(s.port, start))
                        for _ in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert "not accepting more until one closes" in s.output()
    answered = [o for o in outcomes if o in ("HTTP/1.1 200", "HTTP/1.1 409")]
    assert len(answered) == rounds * clients, sorted(set(outcomes))


def _health_or_none(server):
    try:
        return server.get("/health-check", timeout=2).status
    except OSError:
        return None


# --- the hub listens through the same code (core/listen.c) ---------------------------


def test_the_hub_closes_slowloris_and_answers_its_http_errors_in_json(tmp_path):
    from hub_harness import Hub

    hub = Hub(tmp_path / "hub", extra_env={"PINION_REQUEST_TIMEOUT": "2"}).start()
    try:
        status, headers, body = raw_request(hub.port, b"GET / HTTP/1.1\r\nHost: x\r\nbad\r\n\r\n")
        assert status == 400 and headers["content-type"] == "application/json"
        assert "could not be read" in json.loads(body)["detail"]
        with socket.create_connection(("127.0.0.1", hub.port), timeout=TIMEOUT) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n")
            sock.settimeout(6)
            received = sock.recv(4096)
            seconds = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 408"), received
        assert 1.5 < seconds < 4, seconds
    finally:
        hub.stop()


def test_a_body_sent_with_head_is_never_read_as_the_next_request(server):
    """libevent reads no body for HEAD: the bytes after the headers would be taken as a
    second request on the connection (smuggled, behind a proxy). The connection closes
    after the HEAD's answer instead."""
    smuggled = b"GET /health-check HTTP/1.1\r\nHost: x\r\n\r\n"
    status, headers, body = raw_request(
        server.port,
        b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
        + smuggled)
    assert status == 405  # serve answers HEAD only under /static/
    assert headers["connection"] == "close"
    assert b"HTTP/1.1" not in body  # no second answer
    # Without a body, HEAD keeps the connection open as before.
    connection = server.connect()
    try:
        for _ in range(2):
            connection.request("HEAD", "/")
            response = connection.getresponse()
            response.read()
            assert response.status == 405 and response.getheader("Connection") != "close"
    finally:
        connection.close()
