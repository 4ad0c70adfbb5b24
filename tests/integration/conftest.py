"""Shared helpers for the black-box tests: they run the real `pinion` binary."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PINION = os.environ.get("PINION", os.path.join(ROOT, "build", "bin", "pinion"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
EXAMPLES = os.path.join(ROOT, "examples")
# Tests run models with Debian's Python, which sees Debian's packages.
TEST_PYTHON = "/usr/bin/python3"


def run_pinion(*args, cwd=None, env=None, timeout=60, input=None):
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
