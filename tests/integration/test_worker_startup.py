"""The worker's start: a trivial predictor pays for no module its signature does not
need (docs/internals/worker.md, "Start-up"), and the `cog` package that resolves its
names lazily is still Cog's surface."""
import os
import subprocess
import time

from conftest import TEST_PYTHON, run_fixture

from serve_harness import Server
from worker_harness import LIB, Worker

# What the worker imported before the predictor when this test was written: none of it
# is needed to serve `def predict(self, text: str = Input(...)) -> str`.
HEAVY = (
    "ast", "asyncio", "collections", "contextlib", "dataclasses", "datetime", "dis", "enum",
    "functools", "importlib.util", "inspect", "json", "linecache", "pathlib", "platform", "re",
    "shutil", "signal", "tempfile", "textwrap", "tokenize", "traceback", "typing",
    "typing_extensions", "urllib.parse",
)
# `python -m` loads these itself (runpy) before the worker's first line; the server
# starts the worker without it (src/runtime/worker.c), the test harness with it.
RUNPY = ("collections", "contextlib", "functools", "importlib.util")


def baseline():
    """The modules a bare `python3 -c pass` has imported here (site, sitecustomize, .pth
    files): the worker cannot be blamed for them."""
    result = subprocess.run([TEST_PYTHON, "-c", "import sys; print(','.join(sys.modules))"],
                            capture_output=True, text=True, timeout=60, check=True)
    return set(result.stdout.strip().split(","))


def test_the_server_starts_a_trivial_predictor_without_heavy_modules():
    """Through `pinion predict`, which starts the worker as `pinion serve` does; the
    prediction runs after describe, setup and the first predict frame, so whatever the
    worker imported on the way is in sys.modules by then."""
    wanted = [name for name in HEAVY if name not in baseline()]
    assert "inspect" in wanted and "typing" in wanted and "ast" in wanted
    result = run_fixture("startup_imports", "predict", "-i", "modules=" + ",".join(wanted))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "\n", "imported before the prediction ran: " + result.stdout


def test_the_worker_module_imports_nothing_heavy_before_the_predictor():
    """Through the harness (`python -m pinion_worker`): runpy's own imports aside, the
    same holds."""
    wanted = [name for name in HEAVY if name not in baseline() and name not in RUNPY]
    worker = Worker("startup_imports", predictor="predict.py:Predictor")
    describe, setup = worker.start()
    assert setup == {"type": "setup_done", "status": "succeeded"}
    assert describe["signature"]["inputs"][0]["type"] == {"kind": "str"}
    done = worker.predict({"modules": ",".join(wanted)})[1]
    assert (done["status"], done["output"]) == ("succeeded", "")
    assert worker.close() == 0


LAZY_CHECKS = r'''
import pickle, sys
import cog
assert "pathlib" not in sys.modules and "typing" not in sys.modules, sorted(sys.modules)
from cog import BasePredictor, Input, Secret, CancelationException
assert "pathlib" not in sys.modules and "typing" not in sys.modules, sorted(sys.modules)
assert cog.Secret is Secret and Secret.__module__ == "cog.types"
import cog.types
assert "pathlib" in sys.modules and "typing" in sys.modules
for name in ("Path", "URLPath", "File", "URLFile", "Secret", "Opaque", "ConcatenateIterator",
             "AsyncConcatenateIterator"):
    assert getattr(cog, name) is getattr(cog.types, name), name
    assert getattr(cog, name).__module__ == "cog.types", name
assert pickle.loads(pickle.dumps(cog.Path("a/b"))) == cog.Path("a/b")
assert set(cog.__all__) <= set(dir(cog)) and "types" in dir(cog)
try:
    cog.Nothing
    raise AssertionError("cog.Nothing resolved")
except AttributeError as exc:
    assert str(exc) == "module 'cog' has no attribute 'Nothing'", exc
print("ok")
'''


def test_cog_names_resolve_lazily_and_are_the_same_objects():
    result = subprocess.run([TEST_PYTHON, "-c", LAZY_CHECKS], env={"PYTHONPATH": LIB, "PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, "ok\n"), result.stderr


def test_submodules_of_cog_are_attributes_after_import_cog():
    """`import cog` used to import every submodule; code that reaches `cog.types` or
    `cog.scope` through the package still does."""
    code = "import cog; print(cog.types.Path.__name__, cog.scope.current_scope is cog.current_scope)"
    result = subprocess.run([TEST_PYTHON, "-c", code], env={"PYTHONPATH": LIB, "PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, "Path True\n"), result.stderr


SIGNATURE_CHECKS = r'''
import functools, inspect
from pinion_worker.signature import _EMPTY, Parameter, _function_kind, _plain, signature_of

def a(self, x: int, y: "str" = "d", *rest: float, k: bool = True, m, **extra: dict) -> str: ...
def b(p, /, q=1, *, r: int = 2): ...
async def c(self, x: int = 3) -> int: ...
async def d(self): yield 1
def e(self): yield 1
def f(x, *, y): ...
lambda_ = lambda x, y=2: x
@functools.wraps(a)
def wrapped(*args, **kwargs): ...
class K:
    def setup(self, weights: str = None): ...
partial = functools.partial(a, None, 1)
kinds = {inspect.Parameter.VAR_POSITIONAL: Parameter.VAR_POSITIONAL,
         inspect.Parameter.KEYWORD_ONLY: Parameter.KEYWORD_ONLY,
         inspect.Parameter.VAR_KEYWORD: Parameter.VAR_KEYWORD}
fast = 0
for function in (a, b, c, d, e, f, lambda_, wrapped, K().setup, K.setup, partial):
    fast += _plain(function) or _plain(getattr(function, "__func__", None))
    expected = inspect.signature(function)
    parameters, returns = signature_of(function)
    empty = lambda v: _EMPTY if v is inspect.Parameter.empty else v
    assert [(p.name, kinds.get(p.kind, Parameter.POSITIONAL), empty(p.annotation), empty(p.default))
            for p in expected.parameters.values()] == \
        [(p.name, p.kind, p.annotation, p.default) for p in parameters], function
    assert empty(expected.return_annotation) is returns or empty(expected.return_annotation) == returns
    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    is_generator = inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)
    assert _function_kind(function) == (is_async, is_generator), function
assert fast == 9, fast  # all but the wrapped function and the partial took the fast path
print("ok")
'''


def test_the_code_object_reading_of_a_signature_matches_inspect():
    """signature_of reads plain functions from their code objects (no `inspect`): the
    same parameters, kinds, annotations, defaults and async/generator flags as inspect."""
    for python in (TEST_PYTHON, os.path.expanduser("~/.pyenv/versions/3.8.18/bin/python3"),
                   os.path.expanduser("~/.pyenv/versions/3.13.0/bin/python3")):
        if not os.path.exists(python):
            continue
        result = subprocess.run([python, "-c", SIGNATURE_CHECKS], env={"PYTHONPATH": LIB, "PATH": os.environ["PATH"]},
                                capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stdout) == (0, "ok\n"), (python, result.stderr)


# Every module the worker of `pinion serve` imports on the way to READY for the
# startup_imports predictor, beyond what a bare `python3 -c pass` imports: the worker's
# own modules, the three of `cog` that `from cog import BasePredictor, Input` and its
# description need, contextvars, the JSON accelerator and the channel's extension.
SERVE_IMPORTS = {
    "_contextvars", "contextvars", "_json", "_pinion", "cog", "cog.input", "cog.predictor",
    "cog.scope", "pinion_worker", "pinion_worker.encode", "pinion_worker.loader",
    "pinion_worker.main", "pinion_worker.signature", "pinion_worker.wire",
}


def imported(text):
    """The module names of `python -X importtime`'s report in `text`."""
    names = set()
    for line in text.splitlines():
        if line.startswith("import time:") and line.count("|") == 2 and "imported package" not in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_pinion_serve_s_worker_imports_exactly_what_a_trivial_predictor_needs(tmp_path):
    """`-X importtime` on the model's Python as `pinion serve` starts it: the list of
    modules imported up to READY is exact, so a new import on the start path (a `typing`
    or `inspect` at the top of a module) fails here with its name."""
    python = tmp_path / "python3"
    python.write_text('#!/bin/sh\nexec %s -X importtime "$@"\n' % TEST_PYTHON)
    python.chmod(0o755)
    bare = subprocess.run([TEST_PYTHON, "-X", "importtime", "-c", "pass"], capture_output=True, text=True,
                          timeout=60, check=True)
    with Server("startup_imports", env={"PINION_PYTHON": str(python)}) as server:
        assert server.predict({"modules": "typing,inspect"})["output"] == ""
        log = server.output()
    assert "import time:" in log and "pinion_worker.main" in log, log
    assert imported(log) - imported(bare.stderr) == SERVE_IMPORTS


STEPS_OF_SERVE = ["serve_main", "worker_spawn", "describe_received", "schema_built", "ready"]
STEPS_OF_WORKER = ["worker_main", "predictor_imported", "described", "setup_done"]


def test_pinion_startup_trace_marks_each_step_of_a_start_in_order(tmp_path):
    """PINION_STARTUP_TRACE=FILE (bench/startup): the server and its worker each append
    "<step> <CLOCK_MONOTONIC ns>", the clock of Python's time.monotonic_ns()."""
    trace = tmp_path / "trace"
    before = time.monotonic_ns()
    with Server("startup_imports", env={"PINION_STARTUP_TRACE": str(trace)}) as server:
        after = time.monotonic_ns()
        assert server.predict({"modules": "os"})["output"] == "os"
    lines = [line.split(" ") for line in trace.read_text().splitlines()]
    steps = {step: int(ns) for step, ns in lines}
    assert len(lines) == len(steps) == 9, lines  # one start, each step once
    assert sorted(steps) == sorted(STEPS_OF_SERVE + STEPS_OF_WORKER)
    for order in (STEPS_OF_SERVE, STEPS_OF_WORKER,
                  ["worker_spawn", "worker_main"], ["described", "describe_received"]):
        assert [steps[step] for step in order] == sorted(steps[step] for step in order), order
    assert before < steps["serve_main"] and steps["ready"] < after


def test_a_trace_file_that_cannot_be_written_changes_nothing(tmp_path):
    """The marks ignore their own failures: a start measured into a folder (open fails)
    still gets READY and predicts."""
    with Server("startup_imports", env={"PINION_STARTUP_TRACE": str(tmp_path)}) as server:
        assert server.predict({"modules": "cog"})["output"] == "cog"
