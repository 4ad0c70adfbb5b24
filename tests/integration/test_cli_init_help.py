"""`pinion init`, help, version, and NO_COLOR."""
import os
import pty
import subprocess

import pytest

from conftest import FIXTURES, PINION, ROOT, TEST_PYTHON, run_pinion


def test_init_writes_a_starter_that_predict_runs_without_warnings(tmp_path):
    result = run_pinion("init", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "Wrote cog.yaml\nWrote predict.py\n\nTry it: pinion predict -i name=you\n"
    result = run_pinion("predict", "-i", "name=you", cwd=tmp_path, timeout=20)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello you\n", "")
    result = run_pinion("predict", cwd=tmp_path, timeout=20)
    assert result.stdout == "hello world\n"


def test_init_leaves_existing_files_alone(tmp_path):
    (tmp_path / "cog.yaml").write_text("mine\n")
    result = run_pinion("init", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stderr.startswith("Skipped cog.yaml: it already exists\nWrote predict.py\n")
    assert (tmp_path / "cog.yaml").read_text() == "mine\n"


def test_init_takes_no_arguments(tmp_path):
    result = run_pinion("init", "x", cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "pinion init: unexpected argument \"x\". Run 'pinion help init'.\n")
    assert os.listdir(tmp_path) == []


def _version():
    with open(os.path.join(ROOT, "VERSION")) as f:
        return f.read().strip()


@pytest.mark.parametrize("args", [["--version"], ["-v"], ["version"]])
def test_version(args):
    result = run_pinion(*args)
    assert (result.returncode, result.stdout, result.stderr) == (0, "pinion %s (cog 0.22.0)\n" % _version(), "")


@pytest.mark.parametrize("command", ["predict", "run", "schema", "init"])
def test_help_for_each_command_three_ways(command):
    outputs = [run_pinion("help", command), run_pinion(command, "--help"), run_pinion(command, "-h")]
    for result in outputs:
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout.startswith("Usage: pinion %s" % ("predict" if command == "run" else command))
    assert outputs[0].stdout == outputs[1].stdout == outputs[2].stdout


def test_help_lists_every_command():
    result = run_pinion("--help")
    assert result.returncode == 0
    for command in ("predict", "run", "schema", "init", "help", "version"):
        assert "\n  %-10s " % command in result.stdout


def test_predict_help_documents_its_flags():
    result = run_pinion("help", "predict")
    for flag in ("-i, --input", "--json", "-o, --output", "-e, --env", "-f, --file", "--python", "--setup-timeout"):
        assert flag in result.stdout


def _stderr_on_a_terminal(extra_env):
    env = dict(os.environ, PINION_PYTHON=TEST_PYTHON, PINION_LOG_LEVEL="debug", **extra_env)
    if "NO_COLOR" not in extra_env:
        env.pop("NO_COLOR", None)
    controller, terminal = pty.openpty()
    try:
        subprocess.run([PINION, "predict"], cwd=os.path.join(FIXTURES, "cli_killed"), env=env,
                       stdout=subprocess.DEVNULL, stderr=terminal, timeout=20)
    finally:
        os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks).decode()


def test_no_color_is_honoured_on_a_terminal():
    # The runner's log line about the dead worker is coloured on a terminal...
    assert "\x1b[31merror:\x1b[0m the worker was killed" in _stderr_on_a_terminal({})
    # ...and plain when NO_COLOR is set (no-color.org: any value).
    plain = _stderr_on_a_terminal({"NO_COLOR": "1"})
    assert "error: the worker was killed" in plain
    assert "\x1b[" not in plain
