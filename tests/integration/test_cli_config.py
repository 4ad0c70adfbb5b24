"""cog.yaml as `pinion predict` and `pinion schema` load it (spec §1): every problem at
once, each with the file, line, column and field; found in a parent folder; -f."""
import shutil

import pytest

from conftest import FIXTURES, run_fixture, run_pinion

GOOD = 'build:\n  python_version: "3.11"\nrun: "predict.py:Predictor"\n'


@pytest.fixture
def project(tmp_path):
    """A folder with a working predict.py; the test writes cog.yaml."""
    shutil.copy(FIXTURES + "/cli_no_inputs/predict.py", tmp_path / "predict.py")
    return tmp_path


CASES = [
    (
        'unknown keys and a bad type, all reported',
        'build:\n  python_version: "3.11"\n  gpu: maybe\n  bogus: 1\nrun: "predict.py:Predictor"\nfoo: bar\n',
        '{f}:3:8: error: schema error in "build.gpu": must be a boolean (true or false)\n{f}:4:3: error: schema error in "build": Additional property bogus is not allowed; allowed: python_version, python_requirements, python_packages, system_packages, gpu, cuda, cudnn, run, sdk_version, pre_install\n{f}:6:1: error: schema error in "cog.yaml": Additional property foo is not allowed; allowed: build, run, predict, train, image, model, concurrency, environment, weights\n',
    ),
    (
        'invalid YAML',
        'build: [\n',
        '{f}:2:1: error: failed to parse {f}: invalid YAML: did not find expected node content while parsing a flow node\n',
    ),
    (
        'empty file',
        '',
        'error: {f} has no \'run\' (or \'predict\') entry: add run: "predict.py:Predictor"\n',
    ),
    (
        'run and predict together',
        'build:\n  python_version: "3.11"\nrun: "predict.py:Predictor"\npredict: "predict.py:Predictor"\n',
        '{f}:4:1: warning: deprecated field "predict": use "run" instead\n{f}:4:1: error: only one of run or predict can be set\n',
    ),
    (
        'environment and concurrency',
        'build:\n  python_version: "3.11"\nrun: "predict.py:Predictor"\nenvironment:\n  - PATH=/x\n  - NOEQUALS\n  - A=1\n  - A=2\nconcurrency:\n  max: 0\n',
        '{f}:5:5: error: invalid environment: environment variable "PATH" is not allowed: reserved for internal use\n{f}:6:5: error: invalid environment: environment variable "NOEQUALS" is not in the KEY=VALUE format (KEY is letters, digits and underscores, not starting with a digit)\n{f}:8:5: error: invalid environment: environment variable "A" is already defined (at line 7)\n{f}:10:3: warning: deprecated field "concurrency.max": use "@cog.concurrent(max=N)" instead\n{f}:10:8: error: invalid concurrency.max "0": must be at least 1\n',
    ),
    (
        'old python',
        'build:\n  python_version: "3.7"\nrun: "predict.py:Predictor"\n',
        '{f}:2:19: error: invalid build.python_version "3.7": minimum supported Python version is 3.8\n',
    ),
    (
        'wrong shapes',
        'build: 3\nrun: 5\n',
        '{f}:1:8: error: schema error in "build": must be a mapping\n{f}:2:6: error: invalid run "5": must be in the form \'predict.py:Predictor\' or \'predict.py\'\n',
    ),
]


@pytest.mark.parametrize("text, stderr", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["predict", "schema"])
def test_config_errors(project, command, text, stderr):
    (project / "cog.yaml").write_text(text)
    result = run_pinion(command, cwd=project, timeout=20)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == stderr.format(f=project / "cog.yaml")


def test_deprecated_predict_key_warns_and_runs():
    result = run_fixture("cli_legacy_predict", "predict")
    assert (result.returncode, result.stdout) == (0, "predict() legacy\n")
    assert result.stderr == (
        '%s/cli_legacy_predict/cog.yaml:3:1: warning: deprecated field "predict": use "run" instead\n'
        % FIXTURES
    )


def test_cog_yaml_is_found_in_a_parent_folder():
    result = run_fixture("cli_nested_config/sub/deeper", "predict")
    assert (result.returncode, result.stdout, result.stderr) == (0, "found from a subfolder\n", "")


def test_f_selects_another_config_file():
    result = run_fixture("cli_custom_config", "predict", "-f", "other.yaml")
    assert (result.returncode, result.stdout) == (0, "custom config\n")


def test_no_config_anywhere(tmp_path):
    for command in ("predict", "schema"):
        result = run_pinion(command, cwd=tmp_path)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == "error: No cog.yaml found in parent directories.\n"
    result = run_pinion("predict", "-f", "nope.yaml", cwd=tmp_path)
    assert result.stderr == "error: No nope.yaml found in parent directories.\n"
