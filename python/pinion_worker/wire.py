"""JSON for the worker's frames, straight from the `_json` C accelerator.

`json.dumps`/`json.loads` use the same C scanner and encoder, but importing `json`
imports `re` and compiles its patterns (a few milliseconds of the worker's start, for
nothing a frame needs). `dumps` and `loads` behave as `json.JSONEncoder(separators=(",",
":"), allow_nan=False).encode` and `json.loads` do; where `_json` is missing (another
Python implementation) they are exactly those.
"""
try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None

_scan = None
_encode = None


class _DecoderContext:
    """What the C scanner reads from a `json.JSONDecoder()` with its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo = {}


def _not_serializable(value):
    # json.JSONEncoder.default's message, word for word.
    raise TypeError("Object of type %s is not JSON serializable" % value.__class__.__name__)


if _json is not None:
    try:
        _scan = _json.make_scanner(_DecoderContext())
        _encode_string = _json.encode_basestring_ascii
        _arguments = (_not_serializable, _encode_string, None, ":", ",", False, False, False)
        _json.make_encoder({}, *_arguments)({}, 0)
        _encode = True
    except (AttributeError, TypeError):  # pragma: no cover - an accelerator of another shape
        _scan = _encode = None


def dumps(value):
    """Compact JSON text; NaN and infinities raise ValueError, a circular value too."""
    if _encode is None:
        import json

        return json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode(value)
    if isinstance(value, str):
        return _encode_string(value)
    return "".join(_json.make_encoder({}, *_arguments)(value, 0))


def loads(text):
    """One JSON value from `text` (str); anything else raises json.JSONDecodeError, with
    json.loads's message."""
    if _scan is not None:
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            end = -1
        if end == len(text):
            return value
    import json

    return json.loads(text)  # not one JSON value: json.loads says what is wrong
