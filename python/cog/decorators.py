"""`@cog.streaming` and `@cog.concurrent(max=N)`: markers the worker reads from the
handler (spec §2.2); `@cog.batch(max_size=N, max_wait_ms=T)` is pinion's own
(docs/batching.md). They set attributes and return the function unchanged."""

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


# The largest batch pinion forms (docs/limits.md); the server checks it again.
BATCH_SIZE_MAX = 1024
# The longest a batch waits for more items, in milliseconds (one minute).
BATCH_WAIT_MS_MAX = 60000


def batch(fn=None, *, max_size=8, max_wait_ms=10):
    """pinion's extension (docs/batching.md): the handler takes a batch. Each parameter
    receives a list (one value per prediction, in the same order) and the handler
    returns a list with one output per prediction; an exception object in that list
    fails only its prediction. The server groups predictions that arrive together, up
    to `max_size` of them or until `max_wait_ms` after the first arrived."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or not 1 <= max_size <= BATCH_SIZE_MAX:
        raise ValueError("batch(max_size=...) must be an integer from 1 to %d, not %r" % (BATCH_SIZE_MAX, max_size))
    if (
        isinstance(max_wait_ms, bool)
        or not isinstance(max_wait_ms, (int, float))
        or not 0 <= max_wait_ms <= BATCH_WAIT_MS_MAX
    ):
        raise ValueError(
            "batch(max_wait_ms=...) must be a number of milliseconds from 0 to %d, not %r"
            % (BATCH_WAIT_MS_MAX, max_wait_ms)
        )

    def mark(target):
        target._cog_batch = {"max_size": max_size, "max_wait_ms": max_wait_ms}
        return target

    if fn is None:
        return mark
    return mark(fn)
