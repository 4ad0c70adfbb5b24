"""current_scope(): the running prediction's metrics and context (spec §2.6).

The worker opens a Scope around each prediction (a ContextVar, so concurrent async
predictions each see their own). Each record is checked here, applied to the
prediction's nested metrics object, and sent to the server as a `metric` frame.
Outside a prediction every call is a silent no-op.
"""
import contextvars
import sys

_MODES = {"replace": "replace", "incr": "increment", "increment": "increment", "append": "append"}
_TYPE_NAMES = ((bool, "bool"), ((int, float), "number"), (str, "string"), (list, "array"), (dict, "object"))


def _type_name(value):
    for types, name in _TYPE_NAMES:
        if isinstance(value, types):
            return name
    return type(value).__name__


def check_metric_name(name, deleting=False):
    """Raises ValueError, in Cog's wording and order, when `name` breaks the metric name
    rules. Deleting skips the reserved-name checks, as Cog does: removing a key that
    cannot exist is harmless."""
    if not isinstance(name, str):
        raise TypeError("metric name must be a string")
    if not deleting:
        if name == "predict_time":
            raise ValueError("'predict_time' is reserved by the runtime")
        if name.startswith("cog."):
            raise ValueError("the 'cog.' prefix is reserved for system metrics")
    if not name:
        raise ValueError("metric name must not be empty")
    if len(name) > 128:
        raise ValueError("metric name must be 128 characters or fewer (got %d characters)" % len(name))
    segments = name.split(".")
    if len(segments) > 4:
        raise ValueError("metric name must have at most 4 dot-separated segments (got %d)" % len(segments))
    for index, segment in enumerate(segments):
        if not segment:
            if index == 0:
                raise ValueError("metric name must not start with a dot")
            if index == len(segments) - 1:
                raise ValueError("metric name must not end with a dot")
            raise ValueError("metric name must not contain empty segments (consecutive dots)")
        if not (segment[0].isascii() and segment[0].isalpha()):
            raise ValueError("metric name segment '%s' must start with a letter" % segment)
        previous = ""
        for character in segment[1:]:
            if character == "_" and previous == "_":
                raise ValueError("metric name segment '%s' must not contain consecutive underscores" % segment)
            if character != "_" and not (character.isascii() and character.isalnum()):
                raise ValueError("metric name segment '%s' contains invalid character '%s'" % (segment, character))
            previous = character
        if segment[-1] == "_":
            raise ValueError("metric name segment '%s' must end with a letter or digit" % segment)
    return segments


def _check_value(value):
    if value is None or isinstance(value, (bool, int, float, str, list, dict)):
        return
    raise TypeError("metric value must be a bool, int, float, str, list or dict, not %s" % type(value).__name__)


class Metrics:
    """The prediction's metrics: `scope.metrics[name] = v`, `del`, `.record(...)`."""

    __slots__ = ("_scope",)

    def __init__(self, scope):
        self._scope = scope

    def record(self, name, value, mode="replace"):
        self._scope.record_metric(name, value, mode)

    def __setitem__(self, name, value):
        self._scope.record_metric(name, value, "replace")

    def __delitem__(self, name):
        self._scope.record_metric(name, None, "replace")

    def __getitem__(self, name):
        node = self._scope.values
        for segment in name.split("."):
            node = node[segment]
        return node

    def __contains__(self, name):
        try:
            self[name]
        except (KeyError, TypeError):
            return False
        return True

    def to_dict(self):
        return self._scope.values


class Scope:
    """One prediction's scope. `send` is called with (name, value, mode) for each record."""

    __slots__ = ("context", "values", "_send", "_types", "metrics")

    def __init__(self, context=None, send=None):
        self.context = context if context is not None else {}
        self.values = {}
        self._send = send
        self._types = {}
        self.metrics = Metrics(self)

    def record_metric(self, name, value, mode="replace"):
        if self._send is None:
            return
        wire_mode = _MODES.get(mode)
        if wire_mode is None:
            raise ValueError("invalid metric mode '%s' (expected replace, incr or append)" % mode)
        deleting = wire_mode == "replace" and value is None
        segments = check_metric_name(name, deleting=deleting)
        _check_value(value)
        parent = self.values
        for segment in segments[:-1]:
            child = parent.get(segment)
            if not isinstance(child, dict):
                if deleting:  # nothing to delete; never build parents for it
                    parent = {}
                    break
                child = parent[segment] = {}
            parent = child
        leaf = segments[-1]
        if wire_mode == "replace":
            if value is None:
                parent.pop(leaf, None)
                self._types.pop(name, None)
            else:
                self._check_type(name, value)
                parent[leaf] = value
        elif wire_mode == "increment":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError("Metric '%s': incr needs a number, got %s" % (name, _type_name(value)))
            self._check_type(name, value)
            parent[leaf] = parent.get(leaf, 0) + value
        else:
            current = parent.get(leaf)
            if current is None:
                parent[leaf] = [value]
            elif isinstance(current, list):
                current.append(value)
            else:
                parent[leaf] = [current, value]
            self._types[name] = "array"
        self._send(name, value, wire_mode)

    def _check_type(self, name, value):
        kind = _type_name(value)
        known = self._types.get(name)
        if known is None:
            self._types[name] = kind
        elif known != kind:
            raise TypeError(
                "Metric '%s' has type %s, cannot set to %s without deleting first" % (name, known, kind)
            )


_NO_SCOPE = Scope()
_current = contextvars.ContextVar("cog_scope", default=_NO_SCOPE)


def current_scope():
    """The running prediction's scope; outside a prediction, one whose calls do nothing."""
    return _current.get()


def enter_scope(scope):
    """Makes `scope` current (worker use); returns the token for exit_scope."""
    return _current.set(scope)


def exit_scope(token):
    _current.reset(token)


_emit_warned = False


def emit_metric(name, value):
    """Deprecated: `current_scope().record_metric(name, value)`."""
    global _emit_warned
    if not _emit_warned:
        _emit_warned = True
        print("cog.emit_metric is deprecated, use current_scope().record_metric() instead", file=sys.stderr)
    current_scope().record_metric(name, value)
