"""The value types of Cog's surface: Path, File, Secret, URLPath, URLFile, the
iterator markers and Opaque (spec §2.4, §2.5), where Cog keeps them. Each is defined in
a small module of its own (`_paths`, `_files`, `_values`, `_iterators`), so that `from
cog import Secret` does not import pathlib and typing; importing `cog.types` imports
them all."""
from __future__ import annotations

import typing

from ._files import File, URLFile  # noqa: F401 - re-exported
from ._iterators import AsyncConcatenateIterator, ConcatenateIterator  # noqa: F401
from ._paths import Path, URLPath  # noqa: F401
from ._values import Opaque, Secret  # noqa: F401

# Older homes of names that public models still import (Cog 0.13-0.16): thin aliases.
Weights = typing.Union[File, Path, str]


class ExperimentalFeatureWarning(Warning):
    """Deprecated: kept so that `warnings.filterwarnings(..., ExperimentalFeatureWarning)` works."""
