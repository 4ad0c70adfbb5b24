"""pinion's `cog` package: what predictors import (`from cog import BasePredictor, Input, Path`).

It mirrors Cog's public surface (spec §2.1) and stays independent of pydantic: it works
with pydantic absent, v1 or v2. The worker (`pinion_worker`) does the rest.
"""
from __future__ import annotations

import sys as _sys

from .decorators import batch, concurrent, streaming
from .exceptions import CancelationException
from .input import FieldInfo, Input
from .model import BaseModel
from .predictor import BasePredictor, BaseRunner
from .scope import current_scope, emit_metric
from .types import (
    AsyncConcatenateIterator,
    ConcatenateIterator,
    File,
    Opaque,
    Path,
    Secret,
    URLFile,
    URLPath,
)

__version__ = "0.22.0+pinion"

__all__ = [
    "AsyncConcatenateIterator",
    "BaseModel",
    "BasePredictor",
    "BaseRunner",
    "CancelationException",
    "ConcatenateIterator",
    "ExperimentalFeatureWarning",
    "FieldInfo",
    "File",
    "Input",
    "Opaque",
    "Path",
    "Secret",
    "URLFile",
    "URLPath",
    "__version__",
    "batch",
    "concurrent",
    "current_scope",
    "emit_metric",
    "streaming",
]

_warned = set()


def _deprecated_once(name, line):
    if name not in _warned:
        _warned.add(name)
        print(line, file=_sys.stderr)


def __getattr__(name):
    # Python 3.7+ module __getattr__: the shim prints its deprecation line when used.
    if name == "ExperimentalFeatureWarning":
        _deprecated_once(name, "cog.ExperimentalFeatureWarning is deprecated and has no effect")
        from .types import ExperimentalFeatureWarning

        return ExperimentalFeatureWarning
    raise AttributeError("module 'cog' has no attribute %r" % name)
