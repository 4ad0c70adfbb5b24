"""The `cog` package's surface as predictors see it (spec §2.1-§2.6), checked in a fresh
interpreter with pydantic v1 (Debian's Python) and without pydantic (pyenv's)."""
import os
import subprocess

import pytest

from conftest import FIXTURES, run_pinion

from worker_harness import LIB, Worker

PYTHONS = ["/usr/bin/python3", os.path.expanduser("~/.pyenv/versions/3.11.7/bin/python3"),
           os.path.expanduser("~/.pyenv/versions/3.8.18/bin/python3")]

CHECKS = r'''
import dataclasses, pathlib, sys
import cog
from cog import *
from cog.server.exceptions import CancelationException as Legacy

assert issubclass(cog.CancelationException, BaseException)
assert not issubclass(cog.CancelationException, Exception)
assert Legacy is cog.CancelationException
s = cog.Secret("pw")
assert (str(s), repr(s), s.get_secret_value()) == ("**********", "Secret(**********)", "pw")
assert isinstance(cog.Path("x"), pathlib.Path)
info = cog.Input(default=3, ge=1, le=5, description="d", choices=[1, 2], deprecated=True, accept=None)
assert isinstance(info, cog.FieldInfo)
assert (info.default, info.ge, info.le, info.description, info.choices, info.deprecated) == (3, 1, 5, "d", [1, 2], True)
assert cog.Input(default=None).has_default and not cog.Input().has_default
try:
    cog.Input(default_factory=list)
    raise AssertionError("default_factory accepted")
except TypeError:
    pass

class Out(cog.BaseModel):
    a: int
    b: str = "x"

assert dataclasses.is_dataclass(Out) and Out(a=1) == Out(1, "x")
assert isinstance(cog.BasePredictor(), cog.BaseRunner)
cog.current_scope().record_metric("outside", 1)  # silent no-op
cog.BasePredictor().record_metric("outside", 1)
assert cog.current_scope().context == {}

@cog.streaming
def f(): pass
@cog.concurrent(max=3)
async def g(): pass
assert f._cog_streaming and g._cog_concurrency_max == 3
assert cog.__version__
cog.ExperimentalFeatureWarning
cog.ExperimentalFeatureWarning
print("ok", "pydantic" in sys.modules)
'''


@pytest.mark.parametrize("python", PYTHONS)
def test_cog_surface(python):
    if not os.path.exists(python):
        pytest.skip("%s not here" % python)
    result = subprocess.run([python, "-c", CHECKS], env={"PYTHONPATH": LIB, "PATH": os.environ["PATH"]},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok False\n"
    assert result.stderr.count("deprecated") == 1


def test_bad_file_input_fails_with_kind_input():
    worker = Worker("input_types")
    worker.start()
    done = worker.predict({"text": "a", "image": "/x.png", "document": "/does/not/exist"})[1]
    assert (done["status"], done["kind"]) == ("failed", "input")
    assert done["error"] == "FileNotFoundError: [Errno 2] No such file or directory: '/does/not/exist'"
    assert worker.close() == 0


def test_older_import_paths_load_and_run():
    """cog.types.Weights, cog.types.ExperimentalFeatureWarning, cog.server.scope and
    cog.coder (Cog 0.13-0.16 homes that public models still import) load and work."""
    result = run_pinion("predict", "-i", "degrees=30.5", cwd=FIXTURES + "/legacy_imports")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "30.5 None\n"
