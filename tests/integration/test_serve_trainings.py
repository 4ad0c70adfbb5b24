"""A model with both `run` and `train` (tests/fixtures/cli_train): `pinion serve` serves
the merged OpenAPI document `pinion schema` prints, in either mode; /trainings is
checked against TrainingInput and / lists the trainings URLs (issue 12, item 4)."""
import json

import pytest

from conftest import run_fixture
from serve_harness import Server


@pytest.mark.parametrize("mode", ["predict", "train"])
def test_the_served_document_is_the_merged_one_in_either_mode(mode):
    printed = run_fixture("cli_train", "schema")
    assert printed.returncode == 0, printed.stderr
    with Server("cli_train", args=["--x-mode", mode]) as s:
        served = s.get("/openapi.json").json()
        discovery = s.get("/").json()
    assert served == json.loads(printed.stdout)
    assert "/trainings" in served["paths"] and "/predictions" in served["paths"]
    assert discovery["trainings_url"] == "/trainings"
    assert discovery["predictions_url"] == "/predictions"


def test_trainings_are_checked_against_training_input_in_predict_mode():
    with Server("cli_train") as s:
        response = s.post("/trainings", {"input": {"epochs": 0}})
        assert response.status == 422
        assert response.json()["detail"] == [{"loc": ["body", "input", "epochs"],
                                              "msg": "0 is less than the minimum of 1",
                                              "type": "value_error"}]
        assert s.predict({"prompt": "still predicts"})["output"] == "still predicts"


def test_predictions_are_checked_against_input_in_train_mode():
    with Server("cli_train", args=["--x-mode", "train"]) as s:
        response = s.post("/predictions", {"input": {"prompt": 3}})
        assert response.status == 422
        assert response.json()["detail"][0]["loc"] == ["body", "input", "prompt"]
