"""`pinion predict` inputs: `-i name=value` read as each input's type, `-i name=@file`,
`--json` inline / @file / stdin, and the checks made in C before the model runs, printed
as Cog's 422 messages (spec §4.6) in a readable form."""
import json
import http.server
import threading

import pytest

from conftest import run_fixture


@pytest.mark.parametrize(
    "name, args, stdout",
    [
        ("cli_str", ["-i", "text=hello"], "HELLO\n"),
        ("cli_str", ["-i", "text=two words = ok"], "TWO WORDS = OK\n"),
        ("cli_int", ["-i", "number=21"], "42\n"),
        ("cli_int", ["-i", "number=-5"], "-10\n"),
        ("cli_float", [], "0.375\n"),
        ("cli_float", ["-i", "scale=1"], "0.25\n"),
        ("cli_float", ["-i", "scale=0.1"], "0.025\n"),
        ("cli_float", ["-i", "scale=1e1"], "2.5\n"),
        ("cli_bool", ["-i", "flag=true"], "false\n"),
        ("cli_bool", ["-i", "flag=False"], "true\n"),
        ("cli_bool", ["-i", "flag=1"], "false\n"),
        ("cli_secret", ["-i", "token=s3cret"], "********** Secret(**********) s3cret\n"),
        ("cli_optional", [], "None None None\n"),
        ("cli_optional", ["-i", "prefix=p", "-i", "count=2", "-i", "seed=5"], "'p' 2 5\n"),
        # pinion's choice 9: an explicit null is accepted for an optional input
        ("cli_constraints", ["-i", "code=ab-12"], "ab-12 abc 20 0.5\n"),
        ("cli_constraints", ["-i", "code=ab-12", "-i", "name=zz", "-i", "steps=50", "-i", "strength=0"],
         "ab-12 zz 50 0\n"),
        ("cli_choices", [], "warm 512\n"),
        ("cli_choices", ["-i", "palette=cool", "-i", "size=256"], "cool 256\n"),
        ("cli_literal_union", ["-i", "mode=b", "-i", "either=x"], "b 'x'\n"),
        ("cli_literal_union", ["-i", "either=7"], "a 7\n"),
        ("cli_deprecated", ["-i", "old_prompt=yo"], "yo\n"),
        ("cli_no_inputs", [], "nothing needed\n"),
        ("cli_dict_any", ["-i", 'options={"a": [1, 2]}', "-i", 'extra={"b": null}'],
         '{\n  "extra": {\n    "b": null\n  },\n  "options": {\n    "a": [\n      1,\n      2\n    ]\n  }\n}\n'),
        ("cli_lists", ["-i", "words=a", "-i", "words=b", "-i", "counts=3", "-i", "ratios=0.25", "-i", "flags=true"],
         '{\n  "counts": [\n    3\n  ],\n  "files": [],\n  "flags": [\n    true\n  ],\n  "ratios": [\n    0.25\n  ],\n'
         '  "words": [\n    "a",\n    "b"\n  ]\n}\n'),
        ("cli_lists", ["-i", 'words=["x", "y"]', "-i", "counts=[]"],
         '{\n  "counts": [],\n  "files": [],\n  "flags": [],\n  "ratios": [\n    0.5\n  ],\n'
         '  "words": [\n    "x",\n    "y"\n  ]\n}\n'),
        ("cli_async", ["-i", "text=hi"], "hi!\n"),
        ("cli_function", [], "function says fn\n"),
        ("cli_function", ["--input=text=flag form"], "function says flag form\n"),
        ("cli_base_runner", ["-i", "step=4"], "runner 4\n"),
        ("cli_legacy_predict", [], "predict() legacy\n"),
    ],
)
def test_inputs_reach_the_predictor(name, args, stdout):
    result = run_fixture(name, "predict", *args)
    assert (result.returncode, result.stdout) == (0, stdout), result.stderr


@pytest.mark.parametrize(
    "name, args, stderr",
    [
        ("cli_str", [], 'error: missing required input "text"\n'),
        ("cli_int", ["-i", "number=abc"], 'error: invalid input "number": "abc" is not of type "integer"\n'),
        ("cli_int", ["-i", "number=101"], 'error: invalid input "number": 101 is greater than the maximum of 100\n'),
        ("cli_int", ["-i", "number=-6"], 'error: invalid input "number": -6 is less than the minimum of -5\n'),
        ("cli_bool", ["-i", "flag=maybe"], 'error: invalid input "flag": "maybe" is not of type "boolean"\n'),
        ("cli_float", ["-i", "scale=big"], 'error: invalid input "scale": "big" is not of type "number"\n'),
        (
            "cli_constraints",
            ["-i", "code=xx", "-i", "name=a", "-i", "steps=0", "-i", "strength=2"],
            'error: invalid input "code": "xx" does not match "^[a-z]{2}-[0-9]{2}$"\n'
            'error: invalid input "name": "a" is shorter than 2 characters\n'
            'error: invalid input "steps": 0 is less than the minimum of 1\n'
            'error: invalid input "strength": 2 is greater than the maximum of 1\n',
        ),
        ("cli_constraints", ["-i", "code=ab-12", "-i", "name=abcdefghijklm"],
         'error: invalid input "name": "abcdefghijklm" is longer than 12 characters\n'),
        ("cli_constraints", ["-i", "code=ab-12", "-i", "steps=51"],
         'error: invalid input "steps": 51 is greater than the maximum of 50\n'),
        (
            "cli_choices",
            ["-i", "palette=neon", "-i", "size=128"],
            'error: invalid input "palette": "neon" is not one of ["warm","cool"]\n'
            'error: invalid input "size": 128 is not one of [256,512]\n',
        ),
        ("cli_literal_union", ["-i", "mode=c"], 'error: invalid input "mode": "c" is not one of ["a","b"]\n'),
        ("cli_optional", ["-i", "count=-1"], 'error: invalid input "count": -1 is less than the minimum of 0\n'),
        ("cli_lists", ["-i", "words=a", "-i", "counts=x"],
         'error: invalid input "counts/0": "x" is not of type "integer"\n'),
        ("cli_dict_any", ["-i", "options=notjson"], 'error: invalid input "options": "notjson" is not of type "object"\n'),
        # Any is {"type":"object"} in Cog's schema, so a number is refused (spec §2.4)
        ("cli_dict_any", ["-i", "options={}", "-i", "extra=7"], 'error: invalid input "extra": 7 is not of type "object"\n'),
        ("cli_str", ["--json", '{"text": 5}'], 'error: invalid input "text": 5 is not of type "string"\n'),
        ("cli_no_inputs", ["-i", "x=1"], 'error: unknown input "x"\nThis model takes no inputs.\n'),
        ("cli_str", ["-i", "txet=1"], 'error: unknown input "txet"\nThis model\'s inputs: text\n'),
        # pinion's choice 10: the CLI refuses unknown inputs from --json too
        ("cli_str", ["--json", '{"text": "a", "txet": 1}'], 'error: unknown input "txet"\nThis model\'s inputs: text\n'),
        ("cli_str", ["-i", "textnoequals"], 'error: -i takes name=value, got "textnoequals"\n'),
        ("cli_str", ["-i", "=x"], 'error: -i takes name=value, got "=x"\n'),
        ("cli_path_input", ["-i", "source=@missing.txt"], 'error: input "source": file "missing.txt" not found\n'),
        ("cli_str", ["--json", "{bad"],
         "error: --json is not valid JSON (line 1, column 4): string or '}' expected near 'bad'\n"),
        ("cli_str", ["--json", "[1]"], 'error: --json must hold a JSON object of inputs, like {"name": "value"}\n'),
        ("cli_str", ["--json", "@missing.json"], 'error: --json: cannot read "missing.json": no such file\n'),
    ],
)
def test_invalid_inputs_are_refused_before_the_model_runs(name, args, stderr):
    result = run_fixture(name, "predict", *args)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", stderr)


def test_validation_happens_before_setup_runs():
    # cli_logs prints in setup(); a bad input must stop pinion before that.
    result = run_fixture("cli_logs", "predict", "-i", "nope=1")
    assert result.returncode == 1
    assert "setup log" not in result.stderr


@pytest.mark.parametrize(
    "args, stderr",
    [
        (["-i"], "pinion predict: -i needs a value. Run 'pinion help predict' for usage.\n"),
        (["--bogus"], "pinion predict: unknown flag \"--bogus\". Run 'pinion help predict' for usage.\n"),
        (["-e", "FOO"], 'pinion predict: -e takes KEY=VALUE, got "FOO"\n'),
        (["--setup-timeout", "abc"], 'pinion predict: --setup-timeout takes seconds, got "abc"\n'),
        (["--setup-timeout", "-1"], 'pinion predict: --setup-timeout takes seconds, got "-1"\n'),
    ],
)
def test_bad_flags_exit_two(args, stderr):
    result = run_fixture("cli_str", "predict", *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", stderr)


@pytest.mark.parametrize(
    "args, command",
    [
        (["serve", "--host"], "serve"), (["serve", "--port-file"], "serve"), (["build", "--engine"], "build"),
        (["build", "-t"], "build"), (["push", "--hub"], "push"), (["schema", "--python"], "schema"),
        (["hub", "--data"], "hub"), (["base", "build", "--mirror"], "base build"),
        (["exec", "--image"], "exec"), (["exec", "--engine"], "exec"), (["inspect", "--engine"], "inspect"),
        (["hub", "token", "create", "--account"], "hub token"),
    ],
)
def test_every_command_names_a_flag_without_its_value(args, command):
    result = run_fixture("cli_str", *args)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", "pinion %s: %s needs a value. Run 'pinion help %s' for usage.\n" % (command, args[-1], command))


def test_text_flags_take_the_equals_form():
    result = run_fixture("cli_str", "schema", "--python=/usr/bin/python3", "--file=cog.yaml")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["info"]["title"] == "Cog"


def output_of(result):
    """The output in the response object `predict --json` prints."""
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["status"] == "succeeded"
    return response["output"]


def test_json_nulls_reach_the_predictor_as_none():
    result = run_fixture("cli_optional", "predict", "--json", '{"prefix": null, "count": null}')
    assert output_of(result) == "None None None"


def test_json_from_a_file_and_from_stdin(tmp_path):
    (tmp_path / "in.json").write_text('{"text": "from file"}')
    result = run_fixture("cli_str", "predict", "--json", "@" + str(tmp_path / "in.json"))
    assert output_of(result) == "FROM FILE"
    # A whole request body is accepted too, from `-` and `@-` (Cog's two spellings).
    result = run_fixture("cli_str", "predict", "--json", "-", input='{"input": {"text": "stdin"}}')
    assert output_of(result) == "STDIN"
    result = run_fixture("cli_str", "predict", "--json", "@-", input='{"text": "at stdin"}')
    assert output_of(result) == "AT STDIN"


def test_i_adds_to_json_and_wins():
    result = run_fixture("cli_constraints", "predict", "--json", '{"code": "ab-12", "name": "json"}', "-i", "name=flag")
    assert output_of(result) == "ab-12 flag 20 0.5"


def test_at_file_on_path_file_and_list_inputs(tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("hi there\n")
    result = run_fixture("cli_path_input", "predict", "-i", "source=@" + str(source))
    assert (result.returncode, result.stdout) == (0, "Path .txt hi there\n"), result.stderr
    result = run_fixture("cli_file_input", "predict", "-i", "document=@" + str(source))
    assert (result.returncode, result.stdout) == (0, "hi there\n"), result.stderr
    result = run_fixture("cli_lists", "predict", "-i", "words=w", "-i", "files=@" + str(source), "-i", "files=@" + str(source))
    assert result.returncode == 0, result.stderr
    assert '  "files": [\n    "hi there",\n    "hi there"\n  ],\n' in result.stdout


def test_relative_at_file_is_read_from_the_current_folder():
    # The predictor prints the file's first line; cog.yaml's is "build:".
    result = run_fixture("cli_path_first_line", "predict", "-i", "source=@cog.yaml")
    assert (result.returncode, result.stdout) == (0, "Path .yaml build:\n"), result.stderr


def test_data_uri_file_input_is_decoded_before_the_model_runs():
    result = run_fixture("cli_path_input", "predict", "-i", "source=data:text/plain;base64,aGVsbG8=")
    assert (result.returncode, result.stdout) == (0, "Path .txt hello\n"), result.stderr


def test_bad_data_uri_fails_with_cogs_input_validation_error():
    result = run_fixture("cli_path_input", "predict", "-i", "source=data:text/plain;base64,@@@")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: Input validation error: the data URI's base64 payload is not valid base64\n"


class _Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/remote.txt":
            body = b"from the web\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def file_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_url_file_input_is_downloaded(file_server):
    result = run_fixture("cli_path_input", "predict", "-i", "source=%s/remote.txt" % file_server)
    assert (result.returncode, result.stdout) == (0, "Path .txt from the web\n"), result.stderr


def test_url_file_input_that_is_missing_fails_with_the_http_status(file_server):
    url = "%s/gone.txt" % file_server
    result = run_fixture("cli_path_input", "predict", "-i", "source=" + url)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: Input validation error: 404 Client Error: Not Found for url: %s\n" % url


def test_json_takes_at_file_for_file_inputs(tmp_path):
    result = run_fixture("cli_path_first_line", "predict", "--json", '{"source": "@cog.yaml"}')
    assert output_of(result) == "Path .yaml build:"
    (tmp_path / "a.txt").write_text("first\n")
    result = run_fixture("cli_lists", "predict", "--json", '{"words": [], "files": ["@%s"]}' % (tmp_path / "a.txt"))
    assert output_of(result)["files"] == ["first"]
    result = run_fixture("cli_path_first_line", "predict", "--json", '{"source": "@nope.txt"}')
    assert (result.returncode, result.stderr) == (1, 'error: input "source": file "nope.txt" not found\n')


def test_at_on_a_text_input_is_the_text_itself():
    result = run_fixture("cli_str", "predict", "-i", "text=@cog.yaml")
    assert (result.returncode, result.stdout) == (0, "@COG.YAML\n")


def test_at_file_gives_the_predictor_a_private_copy_with_a_safe_name(tmp_path):
    """-i name=@file: the predictor gets its own copy under a safe name that keeps the
    extension (as it would get a downloaded file under Cog), never the user's path; a
    name with spaces works; what the predictor writes never reaches the user's file; the
    copy is gone afterwards."""
    source = tmp_path / "my notes #1.txt"
    source.write_text("original")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = run_fixture("cli_file_private", "predict", "-i", "source=@" + str(source),
                         env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert (seen["name"], seen["content"]) == ("my_notes__1.txt", "original")
    assert seen["path"] != str(source)
    assert seen["path"].startswith(str(scratch) + "/pinion-inputs-")
    assert source.read_text() == "original"
    assert list(scratch.iterdir()) == []
