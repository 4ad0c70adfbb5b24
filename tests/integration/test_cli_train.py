"""`pinion train`: Cog's deprecated `cog train`, which people still use: Cog's notice
first, then the model's train run once with -i/--json inputs and its output written to
./weights (or -o)."""
import json

from conftest import copy_fixture, run_pinion

NOTICE = 'Command "train" is deprecated, the train command will be removed in a future version of Cog\n'


def test_train_writes_its_output_to_weights(tmp_path):
    folder = copy_fixture("cli_train_class", tmp_path)
    result = run_pinion("train", "-i", "s=world", cwd=folder, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(NOTICE)
    assert "Trainer is setting up.\n" in result.stderr
    assert (folder / "weights").read_text() == "hello train world"


def test_train_copies_a_weights_file_and_takes_o(tmp_path):
    folder = copy_fixture("cli_train", tmp_path)
    result = run_pinion("train", "-i", "epochs=3", "-o", "trained.bin", cwd=folder, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (folder / "trained.bin").read_text() == "www"
    assert json.loads(result.stdout) == {"weights": "trained.bin"}


def test_train_with_json_prints_the_response(tmp_path):
    folder = copy_fixture("cli_train_class", tmp_path)
    result = run_pinion("train", "--json", '{"s": "json"}', "-o", "response.json", cwd=folder, timeout=30)
    assert result.returncode == 0, result.stderr
    response = json.loads((folder / "response.json").read_text())
    assert (response["status"], response["output"]) == ("succeeded", "hello train json")


def test_train_checks_the_training_inputs(tmp_path):
    folder = copy_fixture("cli_train", tmp_path)
    result = run_pinion("train", "-i", "epochs=0", cwd=folder, timeout=30)
    assert result.returncode == 1
    assert result.stderr == NOTICE + 'error: invalid input "epochs": 0 is less than the minimum of 1\n'
    assert not (folder / "weights").exists()


def test_train_without_cog_yaml_still_says_it_is_deprecated(tmp_path):
    result = run_pinion("train", cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith(NOTICE)
