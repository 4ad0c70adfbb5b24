"""Predictors that fail: an exception in run(), a generator or async run(), setup() or
the import, sys.exit, a killed or exiting worker, a setup timeout. Each gives a clear
message (with the traceback naming the file and line when there is one), exit code 1
and never a hang (every call has a timeout)."""
import os
import signal
import subprocess
import time

import pytest

from conftest import FIXTURES, PINION, TEST_PYTHON, run_fixture


def _predict_py(name):
    return os.path.join(FIXTURES, name, "predict.py")


@pytest.mark.parametrize(
    "name, line, code, error",
    [
        ("cli_raises", 5, 'raise ValueError("boom " + text)', "Prediction failed: Prediction failed: ValueError: boom x"),
        ("cli_generator_raises", 7, 'raise ValueError("midway")',
         "Prediction failed: Generator iteration error: ValueError: midway"),
        ("cli_async_raises", 5, 'raise ValueError("async boom")',
         "Prediction failed: Async prediction failed: ValueError: async boom"),
        ("cli_sys_exit", 6, "sys.exit(code)", "Prediction failed: Prediction failed: SystemExit: 3"),
        ("cli_setup_raises", 5, 'raise RuntimeError("no weights found")',
         "Model setup failed: RuntimeError: no weights found"),
    ],
)
def test_python_failures_show_the_traceback_and_the_error(name, line, code, error):
    result = run_fixture(name, "predict")
    assert result.returncode == 1
    frame = '  File "%s", line %d, in ' % (_predict_py(name), line)
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert frame in result.stderr
    assert "    %s\n" % code in result.stderr
    assert result.stderr.endswith("\nerror: %s\n" % error)
    # The worker's own frames are not shown.
    assert "pinion_worker" not in result.stderr


def test_import_error_names_the_file_and_line():
    result = run_fixture("cli_import_error", "predict")
    assert result.returncode == 1
    assert '  File "%s", line 2, in <module>\n' % _predict_py("cli_import_error") in result.stderr
    assert result.stderr.endswith(
        "ModuleNotFoundError: No module named 'module_that_does_not_exist'\n"
        "error: Model setup failed: ModuleNotFoundError: No module named 'module_that_does_not_exist'\n"
    )


def test_syntax_error_names_the_file_and_line():
    result = run_fixture("cli_syntax_error", "predict")
    assert result.returncode == 1
    assert '  File "%s", line 3\n    class Predictor(BasePredictor)\n' % _predict_py("cli_syntax_error") in result.stderr
    assert result.stderr.endswith(
        "SyntaxError: expected ':'\nerror: Model setup failed: SyntaxError: expected ':' (predict.py, line 3)\n"
    )


def test_missing_predictor_class():
    result = run_fixture("cli_missing_class", "predict")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: Model setup failed: AttributeError: module 'predict' has no attribute 'Predictor'\n"


def test_missing_predictor_file():
    result = run_fixture("cli_custom_config", "predict")
    assert result.returncode == 1
    assert result.stderr == "error: Model setup failed: FileNotFoundError: predictor file missing.py not found\n"


def test_worker_killed_during_a_prediction_is_reported_once():
    result = run_fixture("cli_killed", "predict")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("error: Worker crashed: the worker was killed by signal 9 (SIGKILL)")
    assert result.stderr.count("\n") == 1


def test_worker_exiting_during_setup():
    result = run_fixture("cli_exit_in_setup", "predict")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(
        "error: Model setup failed: the worker died during setup: the worker exited with code 7"
    )
    assert result.stderr.count("\n") == 1


def test_setup_timeout_gives_up_quickly():
    started = time.monotonic()
    result = run_fixture("cli_setup_slow", "predict", "--setup-timeout", "0.2")
    assert time.monotonic() - started < 0.75
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: Model setup failed: worker setup timed out\n"


def test_slow_setup_within_the_timeout_succeeds():
    result = run_fixture("cli_setup_slow", "predict", "--setup-timeout", "5")
    assert (result.returncode, result.stdout) == (0, "ready\n")


def test_cancelation_exception_raised_by_the_predictor_cancels():
    result = run_fixture("cli_cancel_exception", "predict")
    assert (result.returncode, result.stdout, result.stderr) == (130, "", "Prediction canceled.\n")


def test_unsupported_return_type_stops_before_setup():
    result = run_fixture("cli_optional_return", "predict")
    assert result.returncode == 1
    assert result.stderr == (
        "error: Model setup failed: unsupported output type: Optional is not allowed as a return type\n"
    )


def _start_sleeper():
    env = dict(os.environ, PINION_PYTHON=TEST_PYTHON, NO_COLOR="1")
    process = subprocess.Popen(
        [PINION, "predict"], cwd=os.path.join(FIXTURES, "cli_sleeps"), env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr.readline() == "started\n"
    return process


def test_ctrl_c_cancels_the_running_prediction():
    process = _start_sleeper()
    process.send_signal(signal.SIGINT)
    try:
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 130
    assert stdout == ""
    assert stderr == "\nCanceling the prediction (press Ctrl-C again to quit at once)...\nPrediction canceled.\n"


def test_a_second_ctrl_c_quits_at_once():
    process = _start_sleeper()
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    try:
        process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 130


def test_what_the_model_leaves_running_does_not_keep_pinion_waiting():
    started = time.monotonic()
    result = run_fixture("cli_lingering", "predict")
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
    assert time.monotonic() - started < 5
    # The model's child process went with the worker.
    leftovers = subprocess.run(["pgrep", "-f", "sleep 29.25"], capture_output=True, text=True)
    assert leftovers.stdout == ""
