"""`pinion schema`: whole OpenAPI documents compared with the ones the spec (§3) says
Cog 0.22 generates, plus pinion's decisions of §10 (choices 8 and 13). The expected
documents live beside each fixture as expected_schema.json; key order is ignored, but
the order of `Input` properties is checked separately (choice 16)."""
import json
import os

import pytest

from conftest import FIXTURES, run_fixture

DOCUMENTED = sorted(
    name
    for name in os.listdir(FIXTURES)
    if name.startswith("cli_") and os.path.exists(os.path.join(FIXTURES, name, "expected_schema.json"))
)


def test_enough_whole_documents_are_checked():
    assert len(DOCUMENTED) >= 20


@pytest.mark.parametrize("name", DOCUMENTED)
def test_schema_document_matches_the_spec(name):
    result = run_fixture(name, "schema")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with open(os.path.join(FIXTURES, name, "expected_schema.json")) as f:
        expected = json.load(f)
    document = json.loads(result.stdout)
    assert document == expected
    # Properties keep parameter order, and x-order numbers them from 0 with no gaps.
    properties = document["components"]["schemas"]["Input"]["properties"]
    assert list(properties) == list(expected["components"]["schemas"]["Input"]["properties"])
    assert [p["x-order"] for p in properties.values()] == list(range(len(properties)))


def test_schema_is_pretty_printed_json_on_stdout():
    result = run_fixture("cli_function", "schema")
    assert result.stdout.startswith("{\n  ")
    assert result.stdout.endswith("}\n")


def test_schema_does_not_run_setup():
    # cli_setup_raises fails in setup(); describing it only imports it.
    result = run_fixture("cli_setup_raises", "schema")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["components"]["schemas"]["Output"] == {"title": "Output", "type": "string"}


def test_schema_with_another_config_file():
    result = run_fixture("cli_custom_config", "schema", "-f", "other.yaml")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["info"] == {"title": "Cog", "version": "0.22.0"}


@pytest.mark.parametrize(
    "name, message",
    [
        ("cli_import_error", "error: ModuleNotFoundError: No module named 'module_that_does_not_exist'\n"),
        ("cli_missing_class", "error: AttributeError: module 'predict' has no attribute 'Predictor'\n"),
        ("cli_syntax_error", "error: SyntaxError: expected ':' (predict.py, line 3)\n"),
    ],
)
def test_schema_of_a_predictor_that_cannot_be_imported(name, message):
    result = run_fixture(name, "schema")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.endswith(message)


def test_schema_of_an_unsupported_return_type():
    result = run_fixture("cli_optional_return", "schema")
    assert result.returncode == 1
    assert result.stderr == "error: unsupported output type: Optional is not allowed as a return type\n"


def test_optional_fields_of_an_output_object_are_not_required():
    """An Optional[...] field of an output BaseModel is absent from `required` even with no
    default (spec §3.4); the other fields stay required."""
    result = run_fixture("cli_object_optional_field", "schema")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)["components"]["schemas"]["Output"]
    assert output["required"] == ["label"]
    assert output["properties"]["score"] == {"nullable": True, "title": "Score", "type": "number"}
