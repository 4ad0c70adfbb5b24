"""`@cog.streaming` and `@cog.concurrent(max=N)`: markers the worker reads from the
handler (spec §2.2). They set attributes and return the function unchanged."""
from __future__ import annotations


def streaming(fn=None):
    """Marks the handler as streaming (SSE); usable as `@streaming` or `@streaming()`."""

    def mark(target):
        target._cog_streaming = True
        return target

    if fn is None:
        return mark
    return mark(fn)


def concurrent(fn=None, *, max=1):  # noqa: A002 - Cog's keyword is `max`
    """Sets the handler's default slot count: `@concurrent(max=4)`."""
    if isinstance(max, bool) or not isinstance(max, int) or max < 1:
        raise ValueError("concurrent(max=...) must be an integer >= 1")

    def mark(target):
        target._cog_concurrency_max = max
        return target

    if fn is None:
        return mark
    return mark(fn)
