"""The value types of Cog's surface: Path, File, Secret, URLPath, URLFile, the
iterator markers and Opaque (spec §2.4, §2.5)."""
from __future__ import annotations

import io
import pathlib
import typing

_T = typing.TypeVar("_T", covariant=True)


class Path(type(pathlib.Path())):  # the concrete flavour, so it instantiates before 3.12
    """A file path handed to or returned by a handler (a pathlib.Path)."""

    __slots__ = ()


class URLPath(Path):
    """A path that stands for a URL (Cog fetches it lazily); str() is the URL."""

    __slots__ = ()


class File(io.IOBase):
    """Deprecated input/output type: a binary file-like object."""


class URLFile(io.RawIOBase):
    """A file-like object that fetches `url` on first read."""

    def __init__(self, url, name=None):
        super().__init__()
        self.url = url
        self.name = name or url.rstrip("/").rsplit("/", 1)[-1] or "file"
        self._body = None

    def _open(self):
        if self._body is None:
            import urllib.request

            headers = {}
            import os

            agent = os.environ.get("COG_USER_AGENT")
            if agent:
                headers["User-Agent"] = agent
            self._body = urllib.request.urlopen(urllib.request.Request(self.url, headers=headers), timeout=10)
        return self._body

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._open().read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        if self._body is not None:
            self._body.close()
        super().close()

    def __str__(self):
        return self.url

    def __repr__(self):
        return "URLFile(%r)" % self.url


class Secret:
    """A string input that is not shown in logs: str() and repr() hide it."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value=None):
        self._secret_value = secret_value

    def get_secret_value(self):
        return self._secret_value

    def __str__(self):
        return "**********" if self._secret_value else ""

    def __repr__(self):
        return "Secret(%s)" % self

    def __eq__(self, other):
        return isinstance(other, Secret) and other._secret_value == self._secret_value

    def __hash__(self):
        return hash(self._secret_value)


class ConcatenateIterator(typing.Iterator[_T]):
    """Return annotation for token streams: the UI concatenates the yielded strings."""

    __slots__ = ()


class AsyncConcatenateIterator(typing.AsyncIterator[_T]):
    """The async form of ConcatenateIterator."""

    __slots__ = ()


class Opaque:
    """Marker for `Annotated[X, Opaque]`: the value passes through undescribed."""


# Older homes of names that public models still import (Cog 0.13-0.16): thin aliases.
Weights = typing.Union[File, Path, str]


class ExperimentalFeatureWarning(Warning):
    """Deprecated: kept so that `warnings.filterwarnings(..., ExperimentalFeatureWarning)` works."""
