"""Shared helpers for the black-box tests: they run the real `pinion` binary."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PINION = os.environ.get("PINION", os.path.join(ROOT, "build", "bin", "pinion"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
EXAMPLES = os.path.join(ROOT, "examples")
# Tests run models with Debian's Python, which sees Debian's packages.
TEST_PYTHON = "/usr/bin/python3"


def run_pinion(*args, cwd=None, env=None, timeout=60, input=None):
    # The timeout turns a hung CLI into a failed test (subprocess.TimeoutExpired)
    # instead of a blocked run.
    """Runs pinion with args; returns the CompletedProcess (text mode)."""
    full_env = dict(os.environ)
    full_env.setdefault("PINION_PYTHON", TEST_PYTHON)
    full_env["NO_COLOR"] = "1"
    if env:
        full_env.update(env)
    return subprocess.run(
        [PINION, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


@pytest.fixture
def pinion():
    return run_pinion


def fixture_dir(name):
    return os.path.join(FIXTURES, name)


def copy_fixture(name, tmp_path):
    """A private copy of a fixture folder, for runs that write files next to it."""
    target = tmp_path / name
    shutil.copytree(fixture_dir(name), target)
    return target


def run_fixture(name, *args, timeout=20, **kwargs):
    """Runs pinion in the fixture's folder (for commands that write nothing there)."""
    return run_pinion(*args, cwd=fixture_dir(name), timeout=timeout, **kwargs)


def run_pinion_on_a_terminal(*args, cwd=None, env=None, timeout=60):
    """Runs pinion with stdout on a pseudo-terminal (as a person at a terminal sees it);
    returns (returncode, what the terminal showed with \\r\\n made \\n, stderr)."""
    import pty
    import select
    import time

    full_env = dict(os.environ)
    full_env.setdefault("PINION_PYTHON", TEST_PYTHON)
    full_env["NO_COLOR"] = "1"
    if env:
        full_env.update(env)
    controller, terminal = pty.openpty()
    process = subprocess.Popen([PINION, *args], cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + timeout
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
    stderr = process.communicate(timeout=max(1, deadline - time.monotonic()))[1]
    return process.returncode, shown.decode().replace("\r\n", "\n"), stderr.decode()
