"""Issue #14 item 4: long work shows progress on a terminal (clig.dev) — `pinion build`
(steps and layers), `pinion push` (bytes sent), `pinion predict` (input downloads) — on
stderr, redrawn in place with \\r at most ten times a second; nothing of it when
stdout or stderr is not a terminal, or with --quiet."""
import http.server
import os
import pty
import re
import select
import shutil
import subprocess
import threading
import time

import pytest

from conftest import EXAMPLES, PINION, ROOT, TEST_PYTHON
from hub_harness import Hub

FILE_INPUT = os.path.join(ROOT, "tests", "fixtures", "cli_file_input")


def on_a_terminal(args, cwd, env=None, timeout=120):
    """Runs pinion with stdout and stderr on one pseudo-terminal; returns (returncode,
    the raw bytes the terminal got, seconds it ran)."""
    full_env = dict(os.environ, PINION_PYTHON=TEST_PYTHON, NO_COLOR="1", TERM="xterm")
    full_env.update(env or {})
    controller, terminal = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen([PINION, *args], cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal)
    os.close(terminal)
    shown = b""
    deadline = started + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process is done writing
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    os.close(controller)
    process.wait(timeout=max(1, deadline - time.monotonic()))
    return process.returncode, shown.decode(errors="replace"), time.monotonic() - started


def piped(args, cwd, env=None, timeout=120):
    full_env = dict(os.environ, PINION_PYTHON=TEST_PYTHON, NO_COLOR="1", TERM="xterm")
    full_env.update(env or {})
    return subprocess.run([PINION, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def assert_throttled(shown, marker, seconds):
    redraws = shown.count("\r" + marker)
    assert 1 <= redraws <= seconds * 10 + 3, (redraws, seconds)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = Hub(tmp_path_factory.mktemp("hub") / "data").start()
    yield server
    server.stop()


def test_push_shows_the_bytes_sent_on_a_terminal_only(hub, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(os.path.join(EXAMPLES, "hello"), folder)
    (folder / "weights.bin").write_bytes(os.urandom(24 << 20))
    token = hub.token("alice")
    args = ["push", "--hub", hub.url, "--token", token, "alice/big"]
    rc, shown, seconds = on_a_terminal(args, cwd=folder)
    assert rc == 0, shown
    assert re.search(r"\rUploading \d+\.\d MiB / 24\.\d MiB \(\d+%\)\x1b\[K", shown), shown
    assert_throttled(shown, "Uploading ", seconds)
    # The line is erased before the version id is printed.
    version = shown.rsplit("\r\x1b[K", 1)[1].strip()
    assert re.fullmatch(r"[0-9a-f]{64}", version), shown
    # Piped, or with --quiet: no progress at all.
    result = piped(args, cwd=folder)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, version, "")
    rc, shown, _ = on_a_terminal(args + ["--quiet"], cwd=folder)
    assert (rc, shown.strip()) == (0, version)


class SlowFile(http.server.BaseHTTPRequestHandler):
    """4 MiB in 16 pieces a little apart, so a download lasts about a second."""

    def do_GET(self):
        piece = b"x" * (256 << 10)
        self.send_response(200)
        self.send_header("Content-Length", str(16 * len(piece)))
        self.end_headers()
        for _ in range(16):
            self.wfile.write(piece)
            self.wfile.flush()
            time.sleep(0.06)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowFile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_predict_shows_input_downloads_on_a_terminal_only(slow_server):
    args = ["predict", "-i", "document=%s/notes.txt" % slow_server]
    rc, shown, seconds = on_a_terminal(args, cwd=FILE_INPUT)
    assert rc == 0, shown
    assert re.search(r"\rDownloading notes\.txt \d+\.\d (KiB|MiB) / 4\.0 MiB \(\d+%\)\x1b\[K",
                     shown), shown
    assert_throttled(shown, "Downloading ", seconds)
    # The line is erased before the output is printed.
    assert "\x1b[K" + "x" * (4 << 20) + "\r\n" in shown
    result = piped(args, cwd=FILE_INPUT)
    assert result.returncode == 0, result.stderr
    assert "Downloading" not in result.stderr and "\r" not in result.stderr
    rc, shown, _ = on_a_terminal(args + ["-q"], cwd=FILE_INPUT)
    assert rc == 0 and "Downloading" not in shown


FAKE_PODMAN = """#!/bin/sh
# A container engine that only pretends, for the build's progress view.
case "$1" in
build)
  case "$*" in *labels*) exit 0 ;; esac
  for i in 1 2 3; do
    echo "STEP $i/3: RUN make part-$i"
    echo "compiling part $i"
    sleep 0.3
    echo "--> 00$i"
  done ;;
run) echo '{"openapi": "3.0.2"}'; echo '--- pinion: pip freeze ---'; echo 'cog==0.0' ;;
esac
exit 0
"""


def test_build_shows_steps_and_layers_on_a_terminal_only(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(FAKE_PODMAN)
    (bin_dir / "podman").chmod(0o755)
    env = {"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    args = ["build", "--engine", "podman", "-t", "localhost/progress-test"]
    hello = os.path.join(EXAMPLES, "hello")
    rc, shown, seconds = on_a_terminal(args, cwd=hello, env=env)
    assert rc == 0, shown
    # Each step stays as a line; the status line under it shows the step, the time,
    # the layers done and the engine's latest line.
    for i in (1, 2, 3):
        assert "  STEP %d/3: RUN make part-%d\r\n" % (i, i) in shown, shown
    assert "\r  step 1/3 · 0:00 · 0 layers · \x1b[K" in shown, shown
    assert "\r  step 2/3 · 0:00 · 1 layer · \x1b[K" in shown, shown
    assert "\r  step 3/3 · 0:00 · 2 layers · \x1b[K" in shown, shown
    # The engine's lines show in the status, throttled: "compiling" comes right after a
    # redraw and is skipped; "--> 001", 0.3 s later, is drawn.
    assert "\r  step 1/3 · 0:00 · 1 layer · --> 001\x1b[K" in shown, shown
    assert_throttled(shown, "  step ", seconds)
    assert "Built localhost/progress-test in" in shown
    # Piped: the steps as lines, no status line; --quiet: nothing.
    result = piped(args, cwd=hello, env=env)
    assert result.returncode == 0, result.stderr
    assert "  STEP 2/3: RUN make part-2\n" in result.stderr
    assert "\r" not in result.stderr and "layers" not in result.stderr
    rc, shown, _ = on_a_terminal(args + ["--quiet"], cwd=hello, env=env)
    assert (rc, shown) == (0, "")
