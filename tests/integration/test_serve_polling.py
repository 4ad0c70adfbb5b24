"""Adaptive polling (src/core/loop.h): PINION_POLL_US reaches the worker, a bad value is
reported and replaced by the default, and predictions work with polling on or off."""
import pytest

from serve_harness import Server


@pytest.mark.parametrize("value, seen", [("37", "37"), ("0", "0"), ("100000", "100000")])
def test_budget_reaches_the_worker(value, seen):
    with Server("serve_env", env={"PINION_POLL_US": value}) as server:
        for _ in range(20):
            assert server.predict({"name": "PINION_POLL_US"})["output"] == seen


def test_default_budget():
    with Server("serve_env") as server:
        assert server.predict({"name": "PINION_POLL_US"})["output"] == "200"


def test_bad_budget_is_reported_and_replaced_by_the_default():
    with Server("serve_env", env={"PINION_POLL_US": "fast"}) as server:
        assert server.predict({"name": "PINION_POLL_US"})["output"] == "200"
        assert ("warning: PINION_POLL_US=fast is not a number of microseconds from 0 to 100000; "
                "using 200") in server.output()
