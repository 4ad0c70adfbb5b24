"""Black-box tests of the worker at the IPC level: each starts `python -m pinion_worker`
on a fixture model (tests/fixtures/) and plays the server's side of the protocol
(docs/internals/worker-protocol.md)."""
import json
import os
import shutil
import signal
import struct
import time

import pytest

from worker_harness import FIXTURES, Worker

NO_PACKAGES_PYTHON = os.path.expanduser("~/.pyenv/versions/3.11.7/bin/python3")
OLDEST_PYTHON = os.path.expanduser("~/.pyenv/versions/3.8.18/bin/python3")


def describe(fixture, predictor=None, mode="predict", python="/usr/bin/python3"):
    worker = Worker(fixture, predictor=predictor, mode=mode, action="describe", python=python)
    message = worker.recv()
    assert worker.close() == (0 if message["type"] == "describe" else 1)
    return message


def input_named(signature, name):
    return next(i for i in signature["inputs"] if i["name"] == name)


@pytest.fixture
def started():
    workers = []

    def start(fixture, **kwargs):
        worker = Worker(fixture, **kwargs)
        workers.append(worker)
        describe_message, setup_done = worker.start()
        assert setup_done == {"type": "setup_done", "status": "succeeded"}, setup_done
        return worker

    yield start
    for worker in workers:
        worker.close()


# ---------------------------------------------------------------- describe


def test_describe_hello():
    message = describe("hello")
    assert message["python"].count(".") == 2
    assert message["sdk"]
    assert message["signature"] == {
        "handler": "class",
        "method": "run",
        "is_async": False,
        "is_generator": False,
        "streaming": False,
        "concurrency_max": None,
        "batch": None,
        "has_setup": True,
        "setup_weights": False,
        "has_healthcheck": False,
        "inputs": [
            {"name": "text", "type": {"kind": "str"}, "has_default": True, "default": "world",
             "description": "Who to greet", "ge": None, "le": None, "min_length": None, "max_length": None,
             "regex": None, "choices": None, "deprecated": False, "accept": None}
        ],
        "output": {"kind": "str"},
        "warnings": [],
    }


def test_describe_every_input_type():
    signature = describe("input_types")["signature"]
    types = {i["name"]: i["type"] for i in signature["inputs"]}
    assert types == {
        "text": {"kind": "str"},
        "mode": {"kind": "str"},
        "steps": {"kind": "int"},
        "scale": {"kind": "float"},
        "flag": {"kind": "bool"},
        "image": {"kind": "path"},
        "document": {"kind": "file"},
        "token": {"kind": "secret"},
        "numbers": {"kind": "list", "items": {"kind": "int"}},
        "images": {"kind": "list", "items": {"kind": "path"}},
        "maybe": {"kind": "optional", "inner": {"kind": "str"}},
        "pep604": {"kind": "optional", "inner": {"kind": "str"}},
        "either": {"kind": "union", "members": [{"kind": "int"}, {"kind": "str"}], "nullable": False},
        "pick": {"kind": "literal", "values": ["a", "b"]},
        "options": {"kind": "dict"},
        "anything": {"kind": "any"},
        "blob": {"kind": "opaque"},
        "seed": {"kind": "int"},
    }
    assert [i["name"] for i in signature["inputs"]] == list(types)
    text = input_named(signature, "text")
    assert (text["has_default"], text["min_length"], text["max_length"], text["regex"], text["description"]) == (
        False, 1, 10, "^[a-z]+$", "Some text")
    assert input_named(signature, "mode")["choices"] == ["fast", "slow"]
    steps = input_named(signature, "steps")
    assert (steps["default"], steps["ge"], steps["le"]) == (20, 1, 50)
    assert input_named(signature, "scale")["default"] == 7.5
    assert input_named(signature, "image")["accept"] == "image/*"
    assert input_named(signature, "options")["deprecated"] is True
    seed = input_named(signature, "seed")
    assert (seed["has_default"], seed["default"]) == (True, None)
    assert input_named(signature, "numbers")["default"] == [1, 2]
    assert signature["output"] == {"kind": "dict"}
    assert "deprecated: cog.File; use cog.Path instead" in signature["warnings"]


def test_describe_object_output_with_recursion():
    output = describe("object_output")["signature"]["output"]
    assert output == {
        "kind": "object",
        "name": "Output",
        "fields": [
            {"name": "boxes", "required": True, "type": {"kind": "list", "items": {
                "kind": "object", "name": "Box", "fields": [
                    {"name": "label", "type": {"kind": "str"}, "required": True},
                    {"name": "score", "type": {"kind": "float"}, "required": True}]}}},
            # Optional, so never required in the schema, default or not (spec §3.4).
            {"name": "caption", "required": False, "type": {"kind": "optional", "inner": {"kind": "str"}}},
            {"name": "mask", "required": True, "type": {"kind": "path"}},
            {"name": "counts", "required": True, "type": {"kind": "dict_of", "values": {"kind": "int"}}},
            {"name": "parent", "required": False, "type": {"kind": "optional", "inner": {"kind": "dict"}}},
        ],
    }


@pytest.mark.parametrize(
    "predictor, output",
    [
        ("predict.py:Predictor", {"kind": "iterator", "items": {"kind": "str"}, "concatenate": False, "async": False}),
        ("predict.py:Tokens", {"kind": "iterator", "items": {"kind": "str"}, "concatenate": True, "async": False}),
        ("predict.py:Files", {"kind": "iterator", "items": {"kind": "path"}, "concatenate": False, "async": False}),
    ],
)
def test_describe_iterators(predictor, output):
    signature = describe("iterators", predictor=predictor)["signature"]
    assert signature["output"] == output
    assert signature["is_generator"] is True


def test_describe_function_predictor():
    signature = describe("function_predictor")["signature"]
    assert (signature["handler"], signature["method"], signature["has_setup"]) == ("function", "run", False)
    assert [(i["name"], i["has_default"], i["default"]) for i in signature["inputs"]] == [("a", False, None), ("b", True, 2)]
    assert signature["output"] == {"kind": "int"}


def test_describe_legacy_predict_with_pydantic_output():
    signature = describe("legacy_predict")["signature"]
    assert signature["method"] == "predict"
    assert signature["warnings"] == ["deprecated: predict(); define run() instead"]
    assert signature["output"] == {"kind": "object", "name": "Output", "fields": [
        {"name": "text", "type": {"kind": "str"}, "required": True},
        {"name": "length", "type": {"kind": "int"}, "required": True}]}


def test_describe_train():
    signature = describe("train", mode="train")["signature"]
    assert (signature["handler"], signature["method"]) == ("function", "train")
    assert signature["output"] == {"kind": "object", "name": "TrainingOutput", "fields": [
        {"name": "weights", "type": {"kind": "path"}, "required": True}]}
    assert input_named(signature, "epochs")["ge"] == 1


def test_describe_async_concurrent_and_streaming():
    signature = describe("async_model")["signature"]
    assert (signature["is_async"], signature["is_generator"], signature["concurrency_max"]) == (True, False, 4)
    assert signature["has_healthcheck"] is True
    stream = describe("async_model", predictor="predict.py:Streamer")["signature"]
    assert (stream["is_async"], stream["is_generator"], stream["streaming"]) == (True, True, True)
    assert stream["output"] == {"kind": "iterator", "items": {"kind": "str"}, "concatenate": False, "async": True}


def test_describe_setup_weights():
    signature = describe("setup_weights")["signature"]
    assert (signature["has_setup"], signature["setup_weights"]) == (True, True)


@pytest.mark.parametrize(
    "name, error",
    [
        ("Both", "Both must define either run() or predict(), not both"),
        ("Neither", "run or predict method not found: Neither"),
        ("NoAnnotation", "parameter 'x' on run has no type annotation"),
        ("BareList", "unsupported type: list"),
        ("OptionalOutput", "unsupported output type: Optional is not allowed as a return type"),
        ("UnionOutput", "unsupported type: union types are not supported as output"),
        ("AcceptOnStr", "accept is only valid on Path or File inputs (parameter 'x')"),
        ("NoneOutput", "unsupported output type: None is not a resolvable type"),
        ("Missing", "AttributeError: module 'predict' has no attribute 'Missing'"),
    ],
)
def test_describe_failed_messages(name, error):
    message = describe("describe_errors", predictor="predict.py:" + name)
    assert message == {"type": "describe_failed", "error": error, "traceback": ""}


def test_import_failure_is_describe_failed_and_exit_1():
    worker = Worker("import_fails")
    message = worker.recv()
    assert message["type"] == "describe_failed"
    assert message["error"] == "ModuleNotFoundError: No module named 'torchx'"
    assert "predict.py" in message["traceback"] and "line 1" in message["traceback"]
    assert worker.close() == 1


def test_pep604_annotations_on_python_38():
    if not os.path.exists(OLDEST_PYTHON):
        pytest.skip("no Python 3.8 here")
    signature = describe("pep604", python=OLDEST_PYTHON)["signature"]
    assert [i["type"] for i in signature["inputs"]] == [
        {"kind": "optional", "inner": {"kind": "str"}},
        {"kind": "optional", "inner": {"kind": "list", "items": {"kind": "int"}}},
        {"kind": "optional", "inner": {"kind": "path"}},
    ]
    assert signature["output"] == {"kind": "dict_of", "values": {"kind": "int"}}


# ---------------------------------------------------------------- setup


def test_setup_logs_then_prediction_logs(started):
    worker = started("hello")
    frames, done = worker.predict({"text": "bob"})
    assert frames == []
    assert done == {"type": "done", "id": "p1", "status": "succeeded", "output": "hello bob", "files": [], "metrics": {}}
    assert worker.logs(count=2) == ["setting up", "greeting bob"]


def test_missing_input_gets_default(started):
    worker = started("hello")
    assert worker.predict({})[1]["output"] == "hello world"


def test_setup_failure():
    worker = Worker("setup_fails")
    worker.recv()
    setup_done = worker.recv()
    assert setup_done["status"] == "failed"
    assert setup_done["error"] == "RuntimeError: no weights"
    assert 'predict.py", line 7, in setup' in setup_done["traceback"]
    assert worker.logs() == ["loading"]
    assert worker.close() == 0


def test_setup_weights_from_environment(started):
    worker = started("setup_weights", env={"COG_WEIGHTS": "https://example.com/w.tar"})
    assert worker.predict()[1]["output"] == "str:https://example.com/w.tar"


def test_setup_weights_none(started):
    assert started("setup_weights").predict()[1]["output"] == "NoneType:None"


def test_setup_weights_folder_fallback(started, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(os.path.join(FIXTURES, "setup_weights"), str(model))
    (model / "weights").write_text("w")
    worker = started(str(model))  # an absolute path is used as the model folder
    assert worker.predict()[1]["output"] == "Path:weights"


def test_sync_handler_with_concurrency_fails_setup():
    worker = Worker("hello", env={"COG_MAX_CONCURRENCY": "2"})
    worker.recv()
    setup_done = worker.recv()
    assert setup_done["error"] == "RuntimeError: COG_MAX_CONCURRENCY > 1 requires an async run() or predict() method"
    worker.close()


# ---------------------------------------------------------------- predictions


def test_input_conversion(started, tmp_path):
    image = tmp_path / "in.png"
    image.write_bytes(b"png")
    document = tmp_path / "doc.txt"
    document.write_text("document text")
    worker = started("input_types")
    _, done = worker.predict({
        "text": "abc", "image": str(image), "document": str(document), "token": "s3cret",
        "images": [str(image), str(image)], "blob": {"k": [1]}, "unknown": 1,
    })
    assert done["status"] == "succeeded", done
    assert done["output"] == {
        "text": "abc", "steps": 20, "image": ["Path", str(image)], "document": "document text",
        "token": ["**********", "Secret(**********)", "s3cret"], "numbers": [1, 2], "images": ["Path", "Path"],
        "maybe": None, "seed": None, "blob": {"k": [1]},
    }


@pytest.mark.parametrize(
    "kind, output",
    [
        ("none", None),
        ("tuple", [1, "two", 3.0]),
        ("set", [5]),
        ("enum", {"color": "red"}),
        ("datetime", "2024-01-02T03:04:05"),
        ("dataclass", {"x": 1, "y": 2}),
        ("basemodel", {"left": "l", "right": 2}),
        ("pydantic", {"name": "m", "size": 3}),
        ("numpy", {"array": [0, 1, 2], "scalar": 1.5}),
        ("generator_in_dict", {"items": [0, 1, 2]}),
    ],
)
def test_output_encoding(started, kind, output):
    _, done = started("output_types").predict({"kind": kind})
    assert done == {"type": "done", "id": "p1", "status": "succeeded", "output": output, "files": [], "metrics": {}}


def test_file_outputs(started):
    worker = started("output_types")
    done = worker.predict({"kind": "path"})[1]
    assert done["files"] == [""]
    assert os.path.basename(done["output"]) == "result.txt"
    assert open(done["output"]).read() == "hello file"
    done = worker.predict({"kind": "paths"})[1]
    assert done["files"] == ["/0", "/1"]
    assert [os.path.basename(p) for p in done["output"]] == ["a.txt", "b.txt"]
    done = worker.predict({"kind": "nested"})[1]
    assert done["files"] == ["/images/0"] and done["output"]["caption"] == "x"


def test_file_like_outputs_are_written_to_numbered_files(started):
    worker = started("output_types")
    done = worker.predict({"kind": "bytesio"})[1]
    assert os.path.basename(done["output"]) == "0.bin"
    assert open(done["output"], "rb").read() == b"bytes"
    done = worker.predict({"kind": "named"})[1]
    assert [os.path.basename(p) for p in done["output"]] == ["0.json", "1.bin"]
    assert open(done["output"][1]).read() == "text"
    assert done["files"] == ["/0", "/1"]


def test_object_output_with_file_field(started):
    done = started("object_output").predict()[1]
    assert done["output"] == {"boxes": [{"label": "a", "score": 0.5}], "caption": "cat",
                              "mask": os.path.join(FIXTURES, "object_output", "mask.txt"), "counts": {"a": 1},
                              "parent": None}
    assert done["files"] == ["/mask"]


@pytest.mark.parametrize(
    "kind, error",
    [
        ("nan", "ValueError: Out of range float values are not JSON compliant"),
        ("unserializable", "TypeError: Object of type object is not JSON serializable"),
    ],
)
def test_unencodable_outputs_fail(started, kind, error):
    done = started("output_types").predict({"kind": kind})[1]
    assert (done["status"], done["error"]) == ("failed", error)


def test_function_predictor(started):
    assert started("function_predictor").predict({"a": 3})[1]["output"] == 6


def test_iterator_outputs_stream_then_done_without_output(started):
    worker = started("iterators")
    frames, done = worker.predict({"count": 2})
    assert frames == [
        {"type": "output", "id": "p1", "value": "item 0", "files": []},
        {"type": "output", "id": "p1", "value": "item 1", "files": []},
    ]
    assert done == {"type": "done", "id": "p1", "status": "succeeded", "metrics": {}}
    assert worker.logs(count=2) == ["yield 0", "yield 1"]


def test_iterator_failure_kind_iterate(started):
    frames, done = started("iterators").predict({"count": 3, "fail_at": 1})
    assert len(frames) == 1
    assert (done["status"], done["error"], done["kind"]) == ("failed", "ValueError: boom at 1", "iterate")


def test_iterator_of_files(started):
    frames, _ = started("iterators", predictor="predict.py:Files").predict()
    assert frames == [{"type": "output", "id": "p1", "value": os.path.join(FIXTURES, "iterators", "predict.py"),
                       "files": [""]}]


def test_legacy_predict_pydantic_output(started):
    assert started("legacy_predict").predict({"text": "abc"})[1]["output"] == {"text": "abc", "length": 3}


def test_train(started):
    worker = started("train", mode="train")
    done = worker.predict({"epochs": 2})[1]
    assert done["output"] == {"weights": "/tmp/pinion-train-weights.bin"} and done["files"] == ["/weights"]
    done = worker.predict({"fail": True}, prediction_id="p2")[1]
    assert (done["error"], done["kind"]) == ("RuntimeError: diverged", "train")


# ---------------------------------------------------------------- metrics and context


def test_metrics_and_context(started):
    worker = started("metrics")
    frames, done = worker.predict(context={"user": "u1"})
    assert [(f["name"], f["value"], f["mode"]) for f in frames] == [
        ("tokens", 3, "replace"), ("tokens", 2, "increment"), ("timing.preprocess", 0.5, "replace"),
        ("timing.total", 1.5, "replace"), ("steps", "a", "append"), ("steps", "b", "append"),
        ("gone", 1, "replace"), ("gone", None, "replace"), ("cog.reserved", None, "replace"),
        ("legacy", True, "replace"),
    ]
    assert all(f["type"] == "metric" and f["id"] == "p1" for f in frames)
    assert done["output"] == {"user": "u1"}
    assert done["metrics"] == {"tokens": 5, "timing": {"preprocess": 0.5, "total": 1.5}, "steps": ["a", "b"],
                               "legacy": True}
    assert "emit_metric is deprecated" in worker.logs("stderr")[0]
    worker.predict(prediction_id="p2")
    assert sum("deprecated" in line for line in worker.stderr) == 1


@pytest.mark.parametrize(
    "name, error",
    [
        ("1abc", "ValueError: metric name segment '1abc' must start with a letter"),
        ("_invalid", "ValueError: metric name segment '_invalid' must start with a letter"),
        ("a.b.c.d.e", "ValueError: metric name must have at most 4 dot-separated segments (got 5)"),
        ("predict_time", "ValueError: 'predict_time' is reserved by the runtime"),
        ("cog.x", "ValueError: the 'cog.' prefix is reserved for system metrics"),
        ("a..b", "ValueError: metric name must not contain empty segments (consecutive dots)"),
        (".a", "ValueError: metric name must not start with a dot"),
        ("a.", "ValueError: metric name must not end with a dot"),
        ("a_", "ValueError: metric name segment 'a_' must end with a letter or digit"),
        ("foo__bar", "ValueError: metric name segment 'foo__bar' must not contain consecutive underscores"),
        ("a-b", "ValueError: metric name segment 'a-b' contains invalid character '-'"),
        ("x" * 129, "ValueError: metric name must be 128 characters or fewer (got 129 characters)"),
    ],
)
def test_metric_name_rules_fail_the_prediction(started, name, error):
    done = started("metrics").predict({"bad_name": name})[1]
    assert (done["status"], done["error"], done["kind"]) == ("failed", error, "run")


def test_metric_type_is_sticky(started):
    done = started("metrics").predict({"conflict": True})[1]
    assert done["error"] == "TypeError: Metric 'tokens' has type number, cannot set to string without deleting first"


# ---------------------------------------------------------------- failures and cancellation


def test_exception_fails_with_text_kind_and_traceback(started):
    worker = started("failures")
    done = worker.predict({"what": "raise"})[1]
    assert (done["status"], done["error"], done["kind"]) == ("failed", "ValueError: boom", "run")
    assert 'predict.py", line 10, in run' in done["traceback"]
    assert "pinion_worker" not in done["traceback"]
    assert worker.predict({"what": "empty"}, prediction_id="p2")[1]["error"] == "KeyError"
    assert worker.predict({"what": "ok"}, prediction_id="p3")[1]["output"] == "ok"


def test_system_exit_fails_only_the_prediction(started):
    worker = started("failures")
    done = worker.predict({"what": "exit"})[1]
    assert (done["status"], done["error"]) == ("failed", "SystemExit: 3")
    assert worker.predict({"what": "ok"}, prediction_id="p2")[1]["status"] == "succeeded"


def test_sync_cancel_with_sigusr1(started):
    worker = started("failures")
    worker.send({"type": "predict", "id": "p1", "input": {"what": "swallow"}, "context": {}})
    time.sleep(0.5)
    began = time.monotonic()
    worker.process.send_signal(signal.SIGUSR1)
    done = worker.recv(timeout=5)
    assert time.monotonic() - began < 2
    assert done == {"type": "done", "id": "p1", "status": "canceled", "metrics": {}}
    worker.process.send_signal(signal.SIGUSR1)  # nothing running: ignored
    time.sleep(0.1)
    assert worker.predict({"what": "ok"}, prediction_id="p2")[1]["output"] == "ok"


def test_legacy_cancel_exception_reaches_the_model(started):
    worker = started("legacy_predict")
    worker.send({"type": "predict", "id": "p1", "input": {"sleep": 10}, "context": {}})
    time.sleep(0.5)
    worker.process.send_signal(signal.SIGUSR1)
    assert worker.recv(timeout=5)["status"] == "canceled"
    assert worker.logs() == ["cleaning up"]


def test_eof_exits_zero(started):
    worker = Worker("hello")
    worker.start()
    assert worker.close() == 0


def test_oversized_frame_is_a_protocol_error():
    worker = Worker("hello")
    worker.start()
    worker.send_raw(struct.pack(">I", 65 * 1024 * 1024))
    assert worker.process.wait(10) != 0
    worker.close()


# ---------------------------------------------------------------- async


def test_async_predictions_overlap(started):
    worker = started("async_model")
    began = time.monotonic()
    worker.send({"type": "predict", "id": "a", "input": {"sleep": 1.0, "text": "a"}, "context": {}})
    worker.send({"type": "predict", "id": "b", "input": {"sleep": 1.0, "text": "b"}, "context": {}})
    frames = [worker.recv(), worker.recv(), worker.recv(), worker.recv()]
    assert time.monotonic() - began < 1.8
    done = {f["id"]: f for f in frames if f["type"] == "done"}
    assert done["a"] == {"type": "done", "id": "a", "status": "succeeded", "output": "a", "files": [],
                         "metrics": {"slept": 1.0}}
    assert done["b"]["output"] == "b"


def test_async_cancel(started):
    worker = started("async_model")
    worker.send({"type": "predict", "id": "a", "input": {"sleep": 10, "text": "x"}, "context": {}})
    assert worker.recv()["type"] == "metric"
    worker.send({"type": "cancel", "id": "a"})
    # An async prediction's prints come as `log` frames tagged with its id (several may
    # run at once), then the prediction ends.
    assert worker.recv(timeout=3) == {"type": "log", "id": "a", "source": "stdout", "data": "canceled x\n"}
    assert worker.recv(timeout=3) == {"type": "done", "id": "a", "status": "canceled", "metrics": {"slept": 10}}
    assert worker.logs() == []


@pytest.mark.parametrize("fixture", ["hello", "async_model"])
def test_polling_worker_serves_and_cancels(started, fixture):
    # PINION_POLL_US: the sync worker polls in Channel.recv(), the async one in its
    # selector, before sleeping; neither may change what the server sees.
    worker = started(fixture, env={"PINION_POLL_US": "3000"})
    for index in range(20):
        frames, done = worker.predict({"text": "t%d" % index}, prediction_id="p%d" % index)
        assert done["output"] == ("t%d" if fixture == "async_model" else "hello t%d") % index, done
    if fixture == "async_model":
        worker.send({"type": "predict", "id": "slow", "input": {"sleep": 10, "text": "x"}, "context": {}})
        assert worker.recv()["type"] == "metric"
        worker.send({"type": "cancel", "id": "slow"})
        assert worker.recv_until("done", timeout=3)[-1]["status"] == "canceled"


def test_async_cancel_that_arrives_with_its_predict(started):
    # Both frames in one read: the task is canceled before it ever runs, so the
    # handler's own `except CancelledError` never sees it. It must still end with
    # `done`, or its slot stays taken until the server restarts the worker.
    worker = started("async_model")
    frames = b""
    for message in ({"type": "predict", "id": "a", "input": {"sleep": 10, "text": "x"}, "context": {}},
                    {"type": "cancel", "id": "a"}):
        payload = json.dumps(message).encode()
        frames += struct.pack(">I", len(payload)) + payload
    worker.send_raw(frames)
    assert worker.recv(timeout=3) == {"type": "done", "id": "a", "status": "canceled", "metrics": {}}
    frames, done = worker.predict({"text": "after"}, prediction_id="b")
    assert done["output"] == "after"


def test_async_failure_and_healthcheck(started):
    worker = started("async_model")
    frames, done = worker.predict({"text": "fail"})
    assert (done["error"], done["kind"]) == ("ValueError: async boom", "async")
    worker.send({"type": "healthcheck", "id": "h1"})
    assert worker.recv() == {"type": "healthcheck_result", "id": "h1", "healthy": True}


def test_async_generator_streams(started):
    frames, done = started("async_model", predictor="predict.py:Streamer").predict({"count": 2})
    assert [f["value"] for f in frames] == ["0", "1"]
    assert done["status"] == "succeeded" and "output" not in done


def test_sync_healthcheck_without_method(started):
    worker = started("hello")
    worker.send({"type": "healthcheck", "id": "h1"})
    assert worker.recv() == {"type": "healthcheck_result", "id": "h1", "healthy": True}


# ---------------------------------------------------------------- pydantic absent


@pytest.mark.skipif(not os.path.exists(NO_PACKAGES_PYTHON), reason="no package-free Python here")
@pytest.mark.parametrize("fixture, inputs, output", [
    ("hello", {"text": "x"}, "hello x"),
    ("object_output", {}, None),
    ("function_predictor", {"a": 2, "b": 5}, 10),
])
def test_without_pydantic(started, fixture, inputs, output):
    worker = started(fixture, python=NO_PACKAGES_PYTHON)
    done = worker.predict(inputs)[1]
    assert done["status"] == "succeeded", done
    if output is not None:
        assert done["output"] == output


@pytest.mark.skipif(not os.path.exists(OLDEST_PYTHON), reason="no Python 3.8 here")
def test_python_38_serves_predictions(started):
    worker = started("pep604", python=OLDEST_PYTHON)
    assert worker.predict({"name": "abc", "sizes": [1, 2]})[1]["output"] == {"name": 3, "sizes": 3, "where": 0}


def test_python_38_polls_sync_and_async(started):
    worker = started("hello", python=OLDEST_PYTHON, env={"PINION_POLL_US": "500"})
    assert worker.predict({"text": "a"})[1]["output"] == "hello a"
    assert worker.predict({"text": "b"}, prediction_id="p2")[1]["output"] == "hello b"
    worker = started("async_model", python=OLDEST_PYTHON, env={"PINION_POLL_US": "500"})
    assert worker.predict({"text": "c"})[1]["output"] == "c"
    assert worker.predict({"text": "d"}, prediction_id="p2")[1]["output"] == "d"


# ---------------------------------------------------------------- batches (docs/batching.md)


def batch_items(*texts, **inputs):
    return [{"id": text, "input": dict(inputs, text=text), "context": {}} for text in texts]


def recv_dones(worker, count, timeout=10):
    frames = []
    while len([f for f in frames if f["type"] == "done"]) < count:
        frames.append(worker.recv(timeout))
    return frames


def test_describe_batch():
    signature = describe("batch_model", predictor="predict.py:Predictor")["signature"]
    assert signature["batch"] == {"max_size": 4, "max_wait_ms": 500}
    # The schema is one prediction's: the annotations as written.
    assert [(i["name"], i["type"]) for i in signature["inputs"]] == [
        ("text", {"kind": "str"}), ("fail", {"kind": "bool"}), ("seconds", {"kind": "float"})]
    assert signature["output"] == {"kind": "str"}


def test_sync_batch_maps_outputs_and_failures_back_in_order(started, tmp_path):
    log = str(tmp_path / "batches.jsonl")
    worker = started("batch_model", predictor="predict.py:Predictor", env={"BATCH_LOG": log})
    items = batch_items("a", "b", "c")
    items[1]["input"]["fail"] = True
    worker.send({"type": "predict_batch", "items": items})
    frames = recv_dones(worker, 3)
    # A metric recorded during the batch belongs to each of its predictions.
    assert [f for f in frames if f["type"] == "metric"] == [
        {"type": "metric", "id": id, "name": "batched", "value": 3, "mode": "replace"} for id in "abc"]
    dones = [f for f in frames if f["type"] == "done"]
    assert dones[0] == {"type": "done", "id": "a", "status": "succeeded", "output": "A", "files": [],
                        "metrics": {"batched": 3}}
    assert dones[1]["id"] == "b" and dones[1]["status"] == "failed"
    assert (dones[1]["error"], dones[1]["kind"]) == ("ValueError: bad item b", "run")
    assert dones[2]["output"] == "C"
    with open(log) as f:
        assert [json.loads(line) for line in f] == [{"size": 3, "texts": ["a", "b", "c"]}]


def test_sync_batch_exception_fails_every_item(started, tmp_path):
    worker = started("batch_model", predictor="predict.py:Predictor",
                     env={"BATCH_LOG": str(tmp_path / "log")})
    worker.send({"type": "predict_batch", "items": batch_items("x", "raise")})
    dones = [f for f in recv_dones(worker, 2) if f["type"] == "done"]
    assert [(d["id"], d["status"], d["error"], d["kind"]) for d in dones] == [
        ("x", "failed", "RuntimeError: the whole batch failed", "run"),
        ("raise", "failed", "RuntimeError: the whole batch failed", "run")]
    assert "raise RuntimeError" in dones[0]["traceback"]


def test_batch_returning_the_wrong_count_fails_every_item(started):
    worker = started("batch_model", predictor="predict.py:Short")
    worker.send({"type": "predict_batch", "items": batch_items("x", "y")})
    dones = [f for f in recv_dones(worker, 2) if f["type"] == "done"]
    assert [d["error"] for d in dones] == [
        "ValueError: a @cog.batch handler must return a list with one output per prediction: it "
        "returned a list of 1 for a batch of 2"] * 2


def test_sync_batch_cancel_with_sigusr1(started, tmp_path):
    worker = started("batch_model", predictor="predict.py:Predictor",
                     env={"BATCH_LOG": str(tmp_path / "log")})
    worker.send({"type": "predict_batch", "items": batch_items("x", "y", seconds=10)})
    assert worker.recv()["type"] == "metric"
    worker.send({"type": "cancel", "id": "y"})
    worker.process.send_signal(signal.SIGUSR1)
    dones = [f for f in recv_dones(worker, 2, timeout=3) if f["type"] == "done"]
    assert [(d["id"], d["status"]) for d in dones] == [("x", "canceled"), ("y", "canceled")]


def test_a_sync_batch_sent_ahead_leaves_its_canceled_items_out_of_the_call(started, tmp_path):
    # The server hands the next batch over when the running one's first `done` arrives,
    # and cancels an item of it with a `cancel` frame only (no signal): the worker reads
    # the frames when it takes the batch, and leaves the canceled items out of the call.
    log = str(tmp_path / "batches.jsonl")
    worker = started("batch_model", predictor="predict.py:Predictor", env={"BATCH_LOG": log})
    for running, ahead, canceled in (("a", ("m", "n", "o"), ("n",)), ("b", ("x", "y"), ("x", "y"))):
        worker.send({"type": "predict_batch", "items": batch_items(running, seconds=1)})
        frames = [worker.recv()]
        assert frames[0]["type"] == "metric"  # that batch runs
        worker.send({"type": "predict_batch", "items": batch_items(*ahead)})
        for id in canceled:
            worker.send({"type": "cancel", "id": id})
        frames += recv_dones(worker, 1 + len(ahead))
        assert [(f["id"], f["status"], f.get("output")) for f in frames if f["type"] == "done"] == [
            (running, "succeeded", running.upper())] + [
            (id, "canceled", None) if id in canceled else (id, "succeeded", id.upper()) for id in ahead]
        # The call, if one ran, had the items not canceled (its metric: its batch's size),
        # and its metrics went to those alone: a canceled item never ran.
        called = [id for id in ahead if id not in canceled]
        assert [(f["id"], f["value"]) for f in frames if f["type"] == "metric"] == [(running, 1)] + [
            (id, len(called)) for id in called]
        assert {f["id"]: f["metrics"] for f in frames if f["type"] == "done"} == dict(
            {running: {"batched": 1}}, **{id: {} if id in canceled else {"batched": len(called)} for id in ahead})
    with open(log) as f:  # the second call without n; none for x and y
        assert [json.loads(line)["texts"] for line in f] == [["a"], ["m", "o"], ["b"]]
    worker.send({"type": "predict_batch", "items": batch_items("after")})  # it serves on
    assert recv_dones(worker, 1)[-1]["output"] == "AFTER"


# A batch of one takes the worker's shortcut (a plain prediction's path with lists of
# one): each outcome below must be the one a larger batch gives its items.


def test_a_sync_batch_of_one_answers_as_a_larger_batch_does(started, tmp_path):
    log = str(tmp_path / "batches.jsonl")
    worker = started("batch_model", predictor="predict.py:Predictor", env={"BATCH_LOG": log})
    worker.send({"type": "predict_batch", "items": batch_items("a")})
    assert recv_dones(worker, 1) == [
        {"type": "metric", "id": "a", "name": "batched", "value": 1, "mode": "replace"},
        {"type": "done", "id": "a", "status": "succeeded", "output": "A", "files": [], "metrics": {"batched": 1}}]
    items = batch_items("b")
    items[0]["input"]["fail"] = True
    worker.send({"type": "predict_batch", "items": items})
    done = recv_dones(worker, 1)[-1]
    assert sorted(done) == ["error", "id", "kind", "metrics", "status", "traceback", "type"]
    assert (done["id"], done["status"], done["error"], done["kind"], done["metrics"]) == (
        "b", "failed", "ValueError: bad item b", "run", {"batched": 1})
    worker.send({"type": "predict_batch", "items": batch_items("raise")})
    done = recv_dones(worker, 1)[-1]
    assert (done["status"], done["error"], done["kind"]) == ("failed", "RuntimeError: the whole batch failed", "run")
    assert "raise RuntimeError" in done["traceback"]
    with open(log) as f:  # the handler got lists of one, with the defaults filled in
        assert [json.loads(line) for line in f] == [
            {"size": 1, "texts": ["a"]}, {"size": 1, "texts": ["b"]}, {"size": 1, "texts": ["raise"]}]


def test_a_batch_of_one_returning_the_wrong_count_fails(started):
    worker = started("batch_model", predictor="predict.py:Short")
    worker.send({"type": "predict_batch", "items": batch_items("x")})
    done = recv_dones(worker, 1)[-1]
    assert (done["status"], done["error"], done["kind"]) == ("failed", (
        "ValueError: a @cog.batch handler must return a list with one output per prediction: it "
        "returned a list of 0 for a batch of 1"), "run")


@pytest.mark.parametrize("size", [1, 2])
def test_a_batch_item_whose_input_or_output_fails_fails_alone(started, tmp_path, size):
    good = tmp_path / "good.txt"
    good.write_text("fine")
    unencodable = tmp_path / "unencodable.txt"
    unencodable.write_text("unencodable")
    worker = started("batch_model", predictor="predict.py:Documents")
    for path in (str(tmp_path / "missing.txt"), str(unencodable)):
        items = [{"id": "bad", "input": {"document": path}, "context": {}}]
        items += [{"id": "good", "input": {"document": str(good)}, "context": {}}][:size - 1]
        worker.send({"type": "predict_batch", "items": items})
        dones = {d["id"]: d for d in recv_dones(worker, size) if d["type"] == "done"}
        if path.endswith("missing.txt"):
            assert (dones["bad"]["error"], dones["bad"]["kind"]) == (
                "FileNotFoundError: [Errno 2] No such file or directory: '%s'" % path, "input")
        else:
            assert (dones["bad"]["error"], dones["bad"]["kind"]) == (
                "TypeError: Object of type object is not JSON serializable", "run")
        assert dones["bad"]["status"] == "failed"
        if size == 2:
            assert dones["good"]["output"] == "FINE"


def test_a_batch_item_whose_input_fails_gets_none_of_the_calls_metrics(started, tmp_path):
    # n's file is missing: it fails alone (kind `input`) before the call, so the metric
    # the call records (its size) goes to m and o only, and n's `done` has no metrics.
    for name in "mo":
        (tmp_path / name).write_text(name)
    worker = started("batch_model", predictor="predict.py:Documents")
    worker.send({"type": "predict_batch", "items": [
        {"id": name, "input": {"document": str(tmp_path / name)}, "context": {}} for name in "mno"]})
    frames = recv_dones(worker, 3)
    assert [(f["id"], f["value"]) for f in frames if f["type"] == "metric"] == [("m", 2), ("o", 2)]
    dones = {f["id"]: f for f in frames if f["type"] == "done"}
    assert (dones["n"]["status"], dones["n"]["kind"], dones["n"]["metrics"]) == ("failed", "input", {})
    assert [(dones[id]["output"], dones[id]["metrics"]) for id in "mo"] == [("M", {"batched": 2}), ("O", {"batched": 2})]


def test_a_sync_batch_of_one_is_canceled_with_sigusr1(started, tmp_path):
    worker = started("batch_model", predictor="predict.py:Predictor",
                     env={"BATCH_LOG": str(tmp_path / "log")})
    worker.send({"type": "predict_batch", "items": batch_items("x", seconds=10)})
    assert worker.recv()["type"] == "metric"
    worker.send({"type": "cancel", "id": "x"})
    worker.process.send_signal(signal.SIGUSR1)
    done = recv_dones(worker, 1, timeout=3)[-1]
    assert (done["id"], done["status"], done["metrics"]) == ("x", "canceled", {"batched": 1})
    worker.send({"type": "predict_batch", "items": batch_items("after")})  # it serves on
    assert recv_dones(worker, 1)[-1]["output"] == "AFTER"


def test_async_batch_and_its_cancel(started):
    worker = started("batch_model", predictor="predict.py:AsyncPredictor")
    worker.send({"type": "predict_batch", "items": batch_items("p", "q")})
    frames = recv_dones(worker, 2)
    # Its prints come as `log` frames for each prediction of the batch.
    assert [f for f in frames if f["type"] == "log"] == [
        {"type": "log", "id": id, "source": "stdout", "data": "async batch of 2\n"} for id in "pq"]
    assert [(f["id"], f["output"]) for f in frames if f["type"] == "done"] == [("p", "P"), ("q", "Q")]
    worker.send({"type": "predict_batch", "items": batch_items("r", "s", seconds=10)})
    assert worker.recv()["type"] == "metric"
    worker.send({"type": "cancel", "id": "s"})
    dones = [f for f in recv_dones(worker, 2, timeout=3) if f["type"] == "done"]
    assert [(d["id"], d["status"]) for d in dones] == [("r", "canceled"), ("s", "canceled")]
