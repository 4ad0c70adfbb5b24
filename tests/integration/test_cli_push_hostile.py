"""`pinion push --hub URL` against a server that is not a pinion hub: whatever answers
at URL is untrusted, so a 200 without the expected fields, a body that is not JSON or a
huge body each end the push with a clear error naming the URL, never a crash."""
import http.server
import os
import threading

import pytest

from conftest import EXAMPLES, run_pinion

HUGE = 64 << 20  # more than the push keeps of an answer (16 MiB)


class Liar(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the status and body the test chose, and the PATCH that
    publishes the folder's README.md with the model (200)."""
    status = 200
    body = b"{}"
    content_type = "application/json"

    def do_POST(self):
        remaining = int(self.headers.get("Content-Length", "0"))
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        body = self.body
        self.send_response(self.status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(body) if body is not None else HUGE))
        self.end_headers()
        try:
            if body is not None:
                self.wfile.write(body)
            else:
                block = b"x" * (1 << 20)
                for _ in range(HUGE >> 20):
                    self.wfile.write(block)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_PATCH(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def liar():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def push(url):
    return run_pinion("push", "--hub", url, "--token", "r8_test", "alice/hello",
                      cwd=os.path.join(EXAMPLES, "hello"), timeout=60)


@pytest.mark.parametrize("status, body, content_type, expected", [
    (200, b"{}", "application/json", 'without the new version\'s "id"'),
    (201, b"[]", "application/json", 'without the new version\'s "id"'),
    (200, b'{"id": 42}', "application/json", 'without the new version\'s "id"'),
    (200, b'{"id": ""}', "application/json", 'without the new version\'s "id"'),
    (200, b"<html>It works!</html>", "text/html", "not with JSON"),
    (200, b"", "text/plain", "not with JSON (an empty body)"),
    (200, b'{"id": "abc"', "application/json", "not with JSON"),
    (200, None, "application/json", "the response is larger than"),
    (500, b"\x00\x01 not json", "application/octet-stream", "refused the push (HTTP 500)"),
])
def test_push_to_a_server_that_is_not_a_hub_fails_clearly(liar, status, body, content_type,
                                                          expected):
    Liar.status, Liar.body, Liar.content_type = status, body, content_type
    url = "http://127.0.0.1:%d" % liar.server_address[1]
    result = push(url)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert expected in result.stderr, result.stderr
    assert url in result.stderr, result.stderr
    assert result.stdout == ""


def test_push_prints_the_id_a_hub_answers(liar):
    Liar.status, Liar.body, Liar.content_type = 201, b'{"id": "v123"}', "application/json"
    result = push("http://127.0.0.1:%d" % liar.server_address[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "v123\n"
