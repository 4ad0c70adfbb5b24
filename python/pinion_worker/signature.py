"""Builds the neutral signature description of a handler (worker-protocol.md, "The
signature description"): inputs with their Input(...) metadata, and TYPE trees for
inputs and the output. The server turns it into the OpenAPI document; no schema work
happens here.

Annotations are resolved one by one: `eval` in the module's namespace first, and for
strings that older Pythons cannot evaluate (`int | None`, `list[str]` on 3.8) a small
AST evaluator that rewrites them into `typing` forms.
"""
from __future__ import annotations

import ast
import builtins
import collections.abc
import dataclasses
import enum
import inspect
import json
import os
import pathlib
import sys
import typing

import cog
from cog.input import FieldInfo

try:  # Annotated and friends on 3.8 come from typing_extensions when installed.
    import typing_extensions as _typing_ext
except ImportError:  # pragma: no cover - depends on the model's environment
    _typing_ext = None


class DescribeError(Exception):
    """The handler cannot be described; the message is Cog's one-line error."""


_EMPTY = inspect.Parameter.empty
_NONE_TYPE = type(None)
_UNION_TYPES = [typing.Union]
if sys.version_info >= (3, 10):
    import types as _types

    _UNION_TYPES.append(_types.UnionType)
_LITERALS = [typing.Literal]
if _typing_ext is not None:
    _LITERALS.append(_typing_ext.Literal)
_OLD_GENERICS = {
    list: typing.List,
    dict: typing.Dict,
    set: typing.Set,
    frozenset: typing.FrozenSet,
    tuple: typing.Tuple,
    type: typing.Type,
}
_ITERATORS = {
    collections.abc.Iterator: (False, False),
    collections.abc.Generator: (False, False),
    collections.abc.Iterable: (False, False),
    collections.abc.AsyncIterator: (True, False),
    collections.abc.AsyncGenerator: (True, False),
    collections.abc.AsyncIterable: (True, False),
    cog.ConcatenateIterator: (False, True),
    cog.AsyncConcatenateIterator: (True, True),
}


# ---------------------------------------------------------------- annotations


def _get_origin(tp):
    origin = typing.get_origin(tp)
    if origin is None and _typing_ext is not None:
        origin = _typing_ext.get_origin(tp)
    return origin


def _get_args(tp):
    args = typing.get_args(tp)
    if not args and _typing_ext is not None:
        args = _typing_ext.get_args(tp)
    return tuple(a for a in args if not isinstance(a, typing.TypeVar))


class _AstEvaluator:
    """Evaluates an annotation string, mapping `A | B` to Union and builtin generics
    to their typing forms, for Pythons whose runtime does not support them."""

    def __init__(self, namespace):
        self.namespace = namespace

    def eval(self, node):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise DescribeError("cannot evaluate annotation %s" % ast.dump(node))
        return method(node)

    def _Expression(self, node):
        return self.eval(node.body)

    def _Name(self, node):
        if node.id in self.namespace:
            return self.namespace[node.id]
        if hasattr(builtins, node.id):
            return getattr(builtins, node.id)
        raise DescribeError("name '%s' is not defined" % node.id)

    def _Attribute(self, node):
        return getattr(self.eval(node.value), node.attr)

    def _Constant(self, node):
        if isinstance(node.value, str):
            return self.eval(ast.parse(node.value, mode="eval"))
        return node.value

    def _Index(self, node):  # Python 3.8's wrapper around subscripts
        return self.eval(node.value)

    def _Tuple(self, node):
        return tuple(self.eval(e) for e in node.elts)

    def _List(self, node):
        return [self.eval(e) for e in node.elts]

    def _BinOp(self, node):
        if not isinstance(node.op, ast.BitOr):
            raise DescribeError("cannot evaluate annotation operator %s" % type(node.op).__name__)
        return typing.Union[self.eval(node.left), self.eval(node.right)]

    def _Subscript(self, node):
        base = self.eval(node.value)
        index = node.slice.value if type(node.slice).__name__ == "Index" else node.slice
        if base in _LITERALS:
            values = ast.literal_eval(index)
            return base[values]
        args = self.eval(index)
        base = _OLD_GENERICS.get(base, base)
        return base[args]


def resolve_annotation(annotation, namespace):
    """The annotation as an object; strings are evaluated in `namespace`."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, namespace)  # noqa: S307 - annotations are the model's code
    except TypeError:
        pass  # `X | None` or `list[int]` on an older Python
    except NameError as exc:
        raise DescribeError("cannot resolve type annotation '%s': %s" % (annotation, exc)) from None
    return _AstEvaluator(namespace).eval(ast.parse(annotation, mode="eval"))


def _namespace_of(obj):
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    namespace = dict(vars(module)) if module is not None else {}
    if inspect.isclass(obj):
        namespace.update(vars(obj))
    return namespace


# ---------------------------------------------------------------- types


def type_name(tp):
    if tp is _NONE_TYPE or tp is None:
        return "None"
    if isinstance(tp, type) and not _get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _is_typeddict(tp):
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def _is_pydantic(tp):
    return any(getattr(k, "__module__", "").startswith("pydantic") for k in tp.__mro__[1:])


def _is_object_class(tp):
    if not isinstance(tp, type):
        return False
    return (
        issubclass(tp, cog.BaseModel)
        or dataclasses.is_dataclass(tp)
        or _is_typeddict(tp)
        or ((hasattr(tp, "model_fields") or hasattr(tp, "__fields__")) and _is_pydantic(tp))
    )


def _object_fields(tp):
    """[(name, annotation, required)] of a BaseModel, pydantic model, dataclass or TypedDict."""
    namespace = _namespace_of(tp)
    annotations = {}
    for klass in reversed(tp.__mro__):
        if klass.__module__.startswith("pydantic") or klass in (cog.BaseModel, object, dict):
            continue
        annotations.update(getattr(klass, "__dict__", {}).get("__annotations__", {}))
    if _is_typeddict(tp):
        annotations.update(tp.__annotations__)
        required = getattr(tp, "__required_keys__", None)
        if required is None:
            required = set(annotations) if tp.__total__ else set()
        return [(n, a, n in required) for n, a in annotations.items()]
    if dataclasses.is_dataclass(tp):
        fields = []
        for field in dataclasses.fields(tp):
            needed = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            fields.append((field.name, annotations.get(field.name, field.type), needed))
        return fields
    model_fields = getattr(tp, "model_fields", None)
    if isinstance(model_fields, dict) and model_fields:  # pydantic v2
        return [(n, f.annotation, f.is_required()) for n, f in model_fields.items()]
    v1_fields = getattr(tp, "__fields__", {})  # pydantic v1
    return [(n, annotations.get(n, f.outer_type_), bool(f.required)) for n, f in v1_fields.items()]


def _literal_values(tp):
    values = []
    for value in _get_args(tp):
        values.append(value.value if isinstance(value, enum.Enum) else value)
    return values


class _Describer:
    """Turns one resolved annotation into a TYPE; `output` selects output rules."""

    def __init__(self, output, namespace):
        self.output = output
        self.namespace = namespace
        self.seen = []

    def unsupported(self, tp):
        raise DescribeError("unsupported type: %s" % type_name(tp))

    def describe(self, tp, top=False):
        tp = resolve_annotation(tp, self.namespace)
        metadata = getattr(tp, "__metadata__", None)
        if metadata is not None:
            if any(m is cog.Opaque or isinstance(m, cog.Opaque) for m in metadata):
                return {"kind": "opaque"}
            return self.describe(tp.__origin__, top)
        if tp is typing.Any:
            return {"kind": "any"}
        origin = tp if tp in _ITERATORS else _get_origin(tp)  # a bare iterator class
        if isinstance(tp, type) and not origin:
            return self._describe_class(tp)
        args = _get_args(tp)
        if origin in _UNION_TYPES:
            return self._describe_union(tp, args, top)
        if origin in _LITERALS:
            return {"kind": "literal", "values": _literal_values(tp)}
        if origin in (list, typing.List):
            if not args:
                return self._describe_class(list)
            items = self.describe(args[0])
            if not self.output and items["kind"] in ("list", "optional", "union", "iterator", "dict_of", "literal"):
                raise DescribeError("unsupported type: %s (nested generics are not supported as input)" % type_name(tp))
            return {"kind": "list", "items": items}
        if origin in (dict, typing.Dict, collections.abc.Mapping):
            if self.output and len(args) == 2 and args[1] is not typing.Any:
                return {"kind": "dict_of", "values": self.describe(args[1])}
            return {"kind": "dict"}
        if origin in _ITERATORS:
            if not self.output or not top:
                self.unsupported(tp)
            is_async, concatenate = _ITERATORS[origin]
            items = self.describe(args[0]) if args else {"kind": "any"}
            return {"kind": "iterator", "items": items, "concatenate": concatenate, "async": is_async}
        self.unsupported(tp)

    def _describe_class(self, tp):
        if tp is _NONE_TYPE:
            raise DescribeError("unsupported type: None")
        for scalar in (bool, int, float, str):  # bool first: it is an int
            if tp is scalar:
                return {"kind": scalar.__name__}
        if issubclass(tp, cog.Path):
            return {"kind": "path"}
        if issubclass(tp, pathlib.PurePath):
            return {"kind": "path", "pathlib": True}
        if issubclass(tp, (cog.File, cog.URLFile)):
            return {"kind": "file"}
        if issubclass(tp, cog.Secret):
            return {"kind": "secret"}
        if tp is list:
            if not self.output:
                raise DescribeError("unsupported type: list")
            return {"kind": "list", "items": {"kind": "dict"}}
        if tp is dict:
            return {"kind": "dict"}
        if _is_typeddict(tp) and not self.output:
            return {"kind": "dict"}
        if _is_object_class(tp) and (self.output or _is_typeddict(tp)):
            return self._describe_object(tp)
        self.unsupported(tp)

    def _describe_object(self, tp):
        if tp in self.seen:
            return {"kind": "dict"}
        self.seen.append(tp)
        saved = self.namespace
        self.namespace = _namespace_of(tp)
        try:
            fields = []
            for name, annotation, required in _object_fields(tp):
                described = self.describe(annotation)
                # An Optional field is never required in the schema, default or not (spec §3.4).
                fields.append({"name": name, "type": described,
                               "required": required and described["kind"] != "optional"})
        finally:
            self.namespace = saved
            self.seen.pop()
        return {"kind": "object", "name": tp.__name__, "fields": fields}

    def _describe_union(self, tp, args, top):
        members = [a for a in args if a is not _NONE_TYPE]
        nullable = len(members) != len(args)
        if self.output and top:
            if nullable and len(members) == 1:
                raise DescribeError("unsupported output type: Optional is not allowed as a return type")
            raise DescribeError("unsupported type: union types are not supported as output")
        if nullable and len(members) == 1:
            return {"kind": "optional", "inner": self.describe(members[0])}
        described = [self.describe(m) for m in members]
        if not self.output:
            for member in described:
                if member["kind"] in ("path", "file", "secret", "object", "optional", "union"):
                    raise DescribeError("unsupported type: %s (unions may hold only str, int, float, bool, dict, Any and lists)" % type_name(tp))
        return {"kind": "union", "members": described, "nullable": nullable}


# ---------------------------------------------------------------- inputs


def _json_default(value):
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    if isinstance(value, enum.Enum):
        value = value.value
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _accepts_files(described):
    kind = described["kind"]
    if kind in ("list",):
        return _accepts_files(described["items"])
    if kind == "optional":
        return _accepts_files(described["inner"])
    return kind in ("path", "file")


def _describe_input(parameter, method, namespace):
    if parameter.annotation is _EMPTY:
        raise DescribeError("parameter '%s' on %s has no type annotation" % (parameter.name, method))
    described = _Describer(False, namespace).describe(parameter.annotation)
    default = parameter.default
    if isinstance(default, FieldInfo):
        info = default
    elif default is _EMPTY:
        info = FieldInfo()
    else:
        info = FieldInfo(default=default)
    if info.accept is not None and not _accepts_files(described):
        raise DescribeError("accept is only valid on Path or File inputs (parameter '%s')" % parameter.name)
    entry = {
        "name": parameter.name,
        "type": described,
        "has_default": info.has_default,
        "default": _json_default(info.default) if info.has_default else None,
        "description": info.description,
        "ge": info.ge,
        "le": info.le,
        "min_length": info.min_length,
        "max_length": info.max_length,
        "regex": info.regex,
        "choices": [_json_default(c) for c in info.choices] if info.choices is not None else None,
        "deprecated": bool(info.deprecated),
        "accept": info.accept,
    }
    return entry, (info.default if info.has_default else _EMPTY)


def _uses_file_type(described):
    kind = described["kind"]
    if kind == "file":
        return True
    # A literal's "values" are its allowed values, not a TYPE; dict_of's are a TYPE.
    for key in ("items", "inner", "values"):
        if isinstance(described.get(key), dict) and _uses_file_type(described[key]):
            return True
    return any(_uses_file_type(m) for m in described.get("members", ()))


# ---------------------------------------------------------------- the handler


class Signature:
    """The description sent to the server plus what the worker needs at run time:
    `defaults` (name → Python default) and `accepts_extra` (**kwargs present)."""

    def __init__(self, description, defaults, accepts_extra, names):
        self.description = description
        self.defaults = defaults
        self.accepts_extra = accepts_extra
        self.names = names


def _where(handler):
    """The handler's file, relative to the model's folder when it is inside it."""
    try:
        path = inspect.getsourcefile(handler.function) or "?"
    except TypeError:
        return "?"
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _handler_name(handler):
    if handler.kind == "class":
        return "%s.%s()" % (getattr(handler.target, "__name__", "?"), handler.method)
    return "%s()" % getattr(handler.function, "__name__", handler.method)


def describe_handler(handler):
    """Describes a loaded Handler; raises DescribeError with Cog's wording."""
    function = handler.function
    namespace = _namespace_of(function)
    namespace.update({k: v for k, v in _namespace_of(handler.target).items() if k not in namespace})
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError) as exc:
        raise DescribeError("cannot read the signature of %s: %s" % (handler.method, exc)) from None
    if handler.kind == "class" and parameters:
        parameters = parameters[1:]  # self
    inputs = []
    defaults = {}
    names = []
    accepts_extra = False
    for parameter in parameters:
        if parameter.kind == parameter.VAR_KEYWORD:
            accepts_extra = True
            continue
        if parameter.kind == parameter.VAR_POSITIONAL:
            continue
        entry, default = _describe_input(parameter, handler.method, namespace)
        inputs.append(entry)
        names.append(parameter.name)
        if default is not _EMPTY:
            defaults[parameter.name] = default

    return_annotation = inspect.signature(function).return_annotation
    if return_annotation is _EMPTY:
        raise DescribeError("%s has no return type annotation" % handler.method)
    if return_annotation is None or return_annotation == "None":
        raise DescribeError("unsupported output type: None is not a resolvable type")
    output = _Describer(True, namespace).describe(return_annotation, top=True)

    is_async = inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
    is_generator = inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function)
    streaming = bool(getattr(function, "_cog_streaming", False))
    concurrency_max = getattr(function, "_cog_concurrency_max", None)
    if streaming and output["kind"] != "iterator" and not is_generator:
        raise DescribeError("@streaming requires an iterator return type on %s" % handler.method)
    batch = getattr(function, "_cog_batch", None)
    if concurrency_max is not None and concurrency_max > 1 and not is_async and batch is None:
        raise DescribeError("@concurrent(max=%d) requires an async %s() method" % (concurrency_max, handler.method))
    if batch is not None and (is_generator or output["kind"] == "iterator"):  # @streaming is one of them
        how = "it is a generator" if is_generator else "it returns an iterator type"
        raise DescribeError(
            "%s: %s is marked @cog.batch but streams its output (%s): a batched handler returns "
            "one value per prediction; remove @cog.batch, or return a plain value instead of an "
            "iterator" % (_where(handler), _handler_name(handler), how)
        )

    has_setup = False
    setup_weights = False
    has_healthcheck = False
    if handler.kind == "class":
        setup = getattr(handler.target, "setup", None)
        has_setup = setup is not None
        if has_setup:
            try:
                setup_weights = "weights" in inspect.signature(setup).parameters
            except (TypeError, ValueError):
                setup_weights = False
        has_healthcheck = callable(getattr(handler.target, "healthcheck", None))

    warnings = list(handler.warnings)
    if any(_uses_file_type(i["type"]) for i in inputs) or _uses_file_type(output):
        warnings.append("deprecated: cog.File; use cog.Path instead")
    description = {
        "handler": handler.kind,
        "method": handler.method,
        "is_async": is_async,
        "is_generator": is_generator,
        "streaming": streaming,
        "concurrency_max": concurrency_max,
        "batch": batch,
        "has_setup": has_setup,
        "setup_weights": setup_weights,
        "has_healthcheck": has_healthcheck,
        "inputs": inputs,
        "output": output,
        "warnings": warnings,
    }
    return Signature(description, defaults, accepts_extra, names)
