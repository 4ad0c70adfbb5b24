"""cog.ConcatenateIterator and cog.AsyncConcatenateIterator (spec §2.5): return
annotations for token streams. They are `typing` generics, so this module imports
typing; a predictor that does not name them never does."""
import typing

_T = typing.TypeVar("_T", covariant=True)


class ConcatenateIterator(typing.Iterator[_T]):
    """Return annotation for token streams: the UI concatenates the yielded strings."""

    __slots__ = ()


class AsyncConcatenateIterator(typing.AsyncIterator[_T]):
    """The async form of ConcatenateIterator."""

    __slots__ = ()


ConcatenateIterator.__module__ = AsyncConcatenateIterator.__module__ = "cog.types"  # where Cog defines them
