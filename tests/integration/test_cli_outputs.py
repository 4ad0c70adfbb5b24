"""`pinion predict` outputs (spec §7.4, §6.2): text printed as is, numbers and JSON
printed as JSON (object keys sorted, as Cog's CLI prints them), iterators printed as
Cog prints them (the final JSON array) unless stdout is a terminal, where items stream
as they come; files written to the current folder as output.<ext> / output.<i>.<ext> or
to -o, logs on stderr."""
import json

import pytest

from conftest import FIXTURES, copy_fixture, run_fixture, run_pinion, run_pinion_on_a_terminal


@pytest.mark.parametrize(
    "name, args, stdout, stderr",
    [
        ("cli_iterator", [], "[\n  0,\n  10,\n  20\n]\n", ""),
        ("cli_iterator", ["-i", "count=0"], "[]\n", ""),
        ("cli_concatenate", [], '[\n  "one ",\n  "two ",\n  "three "\n]\n', ""),
        ("cli_async_concatenate", [], '[\n  "tok0 ",\n  "tok1 ",\n  "tok2 "\n]\n', ""),
        ("cli_async_iterator", [], '[\n  "item 0",\n  "item 1"\n]\n', ""),
        ("cli_streaming_concurrent", [], '[\n  "chunk 0",\n  "chunk 1"\n]\n', ""),
        ("cli_object_output", [], '{\n  "label": "cat",\n  "note": null,\n  "score": 0.75,\n  "tags": [\n    "a",\n    "b"\n  ]\n}\n', ""),
        ("cli_dict_output", [], '{\n  "a": 1,\n  "b": 2\n}\n', ""),
        ("cli_list_output", [], '[\n  "x",\n  "y"\n]\n', ""),
        ("cli_none_output", [], "", "No output generated\n"),
        ("cli_bool", ["-i", "flag=false"], "true\n", ""),
        ("cli_logs", [], "result x\n", "setup log\nto stdout x\nto stderr\n"),
        ("cli_metrics", [], "measured\n",
         "cog.emit_metric is deprecated, use current_scope().record_metric() instead\n"),
        ("cli_setup_weights", [], "NoneType None\n", ""),
        ("cli_large_output", ["-i", "size=100000"], "x" * 100000 + "\n", ""),
    ],
)
def test_printed_outputs(name, args, stdout, stderr):
    result = run_fixture(name, "predict", *args)
    assert (result.returncode, result.stdout, result.stderr) == (0, stdout, stderr)


@pytest.mark.parametrize(
    "name, args, shown",
    [
        ("cli_iterator", [], "0\n10\n20\n"),
        ("cli_concatenate", [], "one two three \n"),
        ("cli_async_concatenate", [], "tok0 tok1 tok2 \n"),
        ("cli_async_iterator", [], "item 0\nitem 1\n"),
        ("cli_dict_output", [], '{\n  "a": 1,\n  "b": 2\n}\n'),
    ],
)
def test_iterators_stream_on_a_terminal(name, args, shown):
    returncode, terminal, stderr = run_pinion_on_a_terminal("predict", *args, cwd=FIXTURES + "/" + name,
                                                            timeout=20)
    assert (returncode, terminal, stderr) == (0, shown, "")


def test_an_empty_iterator_on_a_terminal_says_so():
    returncode, terminal, stderr = run_pinion_on_a_terminal("predict", "-i", "count=0",
                                                            cwd=FIXTURES + "/cli_iterator", timeout=20)
    assert (returncode, terminal, stderr) == (0, "", "No output generated\n")


def test_generator_items_are_shown_before_a_failure_on_a_terminal():
    returncode, terminal, _ = run_pinion_on_a_terminal("predict", cwd=FIXTURES + "/cli_generator_raises",
                                                       timeout=20)
    assert (returncode, terminal) == (1, "first\n")
    result = run_fixture("cli_generator_raises", "predict")
    assert (result.returncode, result.stdout) == (1, "")


def test_setup_weights_from_cog_weights():
    result = run_fixture("cli_setup_weights", "predict", env={"COG_WEIGHTS": "https://example.com/w.bin"})
    assert (result.returncode, result.stdout) == (0, "str https://example.com/w.bin\n"), result.stderr


def test_setup_weights_from_a_weights_folder(tmp_path):
    # pinion's choice 18: ./weights is passed as a Path when COG_WEIGHTS is unset.
    folder = copy_fixture("cli_setup_weights", tmp_path)
    (folder / "weights").write_text("w")
    result = run_pinion("predict", cwd=folder, timeout=20)
    assert (result.returncode, result.stdout) == (0, "Path weights\n"), result.stderr


def test_environment_from_cog_yaml_and_from_e():
    result = run_fixture("cli_environment", "predict", "-e", "FROM_FLAG=yes")
    assert (result.returncode, result.stdout) == (0, "bonjour yes\n"), result.stderr


def test_one_file_output_is_written_to_output_ext(tmp_path):
    folder = copy_fixture("cli_path_output", tmp_path)
    result = run_pinion("predict", "-i", "text=hello file", cwd=folder, timeout=20)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "Written output to: output.txt\n")
    assert (folder / "output.txt").read_text() == "hello file"


def test_several_file_outputs_are_numbered(tmp_path):
    folder = copy_fixture("cli_list_path_output", tmp_path)
    result = run_pinion("predict", cwd=folder, timeout=20)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "Written output to: output.0.txt\nWritten output to: output.1.txt\n"
    assert (folder / "output.0.txt").read_text() == "part 0"
    assert (folder / "output.1.txt").read_text() == "part 1"


def test_a_one_element_file_list_is_still_numbered(tmp_path):
    folder = copy_fixture("cli_list_path_output", tmp_path)
    result = run_pinion("predict", "-i", "count=1", cwd=folder, timeout=20)
    assert (result.returncode, result.stderr) == (0, "Written output to: output.0.txt\n")
    assert (folder / "output.0.txt").read_text() == "part 0"


def test_iterator_file_outputs_are_numbered(tmp_path):
    folder = copy_fixture("cli_iterator_paths", tmp_path)
    result = run_pinion("predict", cwd=folder, timeout=20)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "Written output to: output.0.txt\nWritten output to: output.1.txt\n"
    assert (folder / "output.1.txt").read_text() == "frame 1"


def test_worked_example_writes_two_pngs_and_logs(tmp_path):
    folder = copy_fixture("cli_worked_example", tmp_path)
    result = run_pinion("predict", "-i", "caption=x", "-i", "api_token=k", cwd=folder, timeout=20)
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "drawing\nWritten output to: output.0.png\nWritten output to: output.1.png\n"
    assert (folder / "output.0.png").read_bytes() == b"\x89PNG\r\n"


def test_o_names_the_file_output(tmp_path):
    target = tmp_path / "result.txt"
    result = run_fixture("cli_path_output", "predict", "-o", str(target))
    assert (result.returncode, result.stderr) == (0, "Written output to: %s\n" % target)
    assert target.read_text() == "hello file"


def test_o_with_several_files_numbers_them_before_the_extension(tmp_path):
    target = tmp_path / "frames.txt"
    result = run_fixture("cli_list_path_output", "predict", "-o", str(target))
    assert result.returncode == 0
    assert (tmp_path / "frames.0.txt").read_text() == "part 0"
    assert (tmp_path / "frames.1.txt").read_text() == "part 1"


def test_o_writes_text_and_json_outputs_to_the_file(tmp_path):
    target = tmp_path / "out.txt"
    result = run_fixture("cli_str", "predict", "-i", "text=a", "-o", str(target))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "Written output to: %s\n" % target)
    assert target.read_text() == "A"  # the bytes of the output, as Cog writes them
    target = tmp_path / "out.json"
    result = run_fixture("cli_dict_output", "predict", "-o", str(target))
    assert target.read_text() == '{\n  "a": 1,\n  "b": 2\n}'


def test_o_into_a_missing_folder_fails(tmp_path):
    target = tmp_path / "no" / "such" / "out.txt"
    result = run_fixture("cli_str", "predict", "-i", "text=a", "-o", str(target))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: could not write %s\n" % target


def test_run_is_the_same_command_as_predict():
    result = run_fixture("cli_str", "run", "-i", "text=alias")
    assert (result.returncode, result.stdout) == (0, "ALIAS\n")


@pytest.mark.parametrize(
    "kind, stdout, files",
    [
        ("nested", '{\n  "caption": "a picture",\n  "image": "output.png"\n}\n', {"output.png": b"png"}),
        ("filelike", '{\n  "blob": "output.bin"\n}\n', {"output.bin": b"bytes"}),
        ("list", '{\n  "images": [\n    "output.0.png",\n    "output.1.png"\n  ]\n}\n',
         {"output.0.png": b"png", "output.1.png": b"png"}),
    ],
)
def test_files_inside_objects_are_written_and_named_in_the_printed_json(tmp_path, kind, stdout, files):
    folder = copy_fixture("cli_mixed_outputs", tmp_path)
    result = run_pinion("predict", "-i", "kind=" + kind, cwd=folder, timeout=20)
    assert (result.returncode, result.stdout) == (0, stdout)
    assert result.stderr == "".join("Written output to: %s\n" % name for name in files)
    for name, data in files.items():
        assert (folder / name).read_bytes() == data


# ---------------------------------------------------------------- --json: Cog's response object


def test_json_prints_the_whole_response_indented_as_cog_does():
    result = run_fixture("cli_metrics", "predict", "--json", "{}")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert list(response) == ["status", "output", "error", "logs", "metrics"]
    assert (response["status"], response["output"], response["error"]) == ("succeeded", "measured", "")
    assert list(response["metrics"]) == ["legacy", "predict_time", "tokens"]  # sorted, as Go writes maps
    assert (response["metrics"]["tokens"], response["metrics"]["legacy"]) == (3, 1)
    assert response["metrics"]["predict_time"] > 0
    assert '\n  "status": "succeeded",\n  "output": "measured",\n' in result.stdout


def test_json_of_a_failed_prediction_is_printed_and_exits_1():
    result = run_fixture("cli_raises", "predict", "--json", '{"text": "now"}')
    assert result.returncode == 1
    response = json.loads(result.stdout)
    assert (response["status"], response["output"]) == ("failed", None)
    assert response["error"] == "Prediction failed: Prediction failed: ValueError: boom now"  # Cog's wording
    assert 'ValueError: boom now' in result.stderr  # the traceback still goes to stderr


def test_json_writes_files_as_output_ext_and_names_them_in_the_response(tmp_path):
    folder = copy_fixture("cli_path_output", tmp_path)
    result = run_pinion("predict", "--json", '{"text": "in json"}', cwd=folder, timeout=20)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == "output.txt"
    assert (folder / "output.txt").read_text() == "in json"


def test_json_with_o_writes_the_response_there_and_files_beside_it(tmp_path):
    folder = copy_fixture("cli_path_output", tmp_path)
    result = run_pinion("predict", "--json", "{}", "-o", "result.json", cwd=folder, timeout=20)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert result.stderr == "Written output to: result.txt\nWritten output to: result.json\n"
    response = json.loads((folder / "result.json").read_text())
    assert (response["status"], response["output"]) == ("succeeded", "result.txt")
    assert (folder / "result.txt").read_text() == "hello file"


def test_json_iterator_output_is_the_array():
    result = run_fixture("cli_concatenate", "predict", "--json", "{}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == ["one ", "two ", "three "]
