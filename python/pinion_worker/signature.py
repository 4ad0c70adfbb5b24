"""Builds the neutral signature description of a handler (worker-protocol.md, "The
signature description"): inputs with their Input(...) metadata, and TYPE trees for
inputs and the output. The server turns it into the OpenAPI document; no schema work
happens here.

Annotations are resolved one by one: `eval` in the module's namespace first, and for
strings that older Pythons cannot evaluate (`int | None`, `list[str]` on 3.8) a small
AST evaluator that rewrites them into `typing` forms.
"""
import os
import sys

import cog
from cog.input import FieldInfo

# Nothing heavy is imported here (docs/internals/worker.md, "Start-up"): a predictor
# whose parameters are plain classes (str, int, cog.Path, ...) is described from its
# function's code object and annotations alone. `typing`, `inspect`, `ast`, `json` and
# the rest come in only for what needs them: a generic or union annotation, a callable
# that is not a plain function, an annotation string older Pythons cannot evaluate.
# Whether a value can be of a class from some module is asked of sys.modules (`_loaded`):
# if the module was never imported, nothing can be an instance of its classes.


class DescribeError(Exception):
    """The handler cannot be described; the message is Cog's one-line error."""


class _EMPTY:
    """No annotation or no default (inspect.Parameter.empty's role)."""


_NONE_TYPE = type(None)
_FUNCTION = type(lambda: None)
_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08
_CO_GENERATOR = 0x20
_CO_COROUTINE = 0x80
_CO_ASYNC_GENERATOR = 0x200


class _Bound:
    def method(self):
        pass


_METHOD = type(_Bound().method)


def _loaded(name):
    return sys.modules.get(name)


class _Typing:
    """What describing a `typing` form needs, gathered on first use: only an annotation
    that is not a plain class gets here, and the predictor imported typing (or built a
    `list[int]` / `int | None`) to write it."""

    def __init__(self):
        import collections.abc
        import typing

        self.typing = typing
        self.ext = _loaded("typing_extensions")  # a form of its can only come from it loaded
        self.unions = [typing.Union]
        if sys.version_info >= (3, 10):
            import types

            self.unions.append(types.UnionType)
        self.literals = [typing.Literal]
        if self.ext is not None:
            self.literals.append(self.ext.Literal)
        self.old_generics = {
            list: typing.List,
            dict: typing.Dict,
            set: typing.Set,
            frozenset: typing.FrozenSet,
            tuple: typing.Tuple,
            type: typing.Type,
        }
        self.iterators = {
            collections.abc.Iterator: (False, False),
            collections.abc.Generator: (False, False),
            collections.abc.Iterable: (False, False),
            collections.abc.AsyncIterator: (True, False),
            collections.abc.AsyncGenerator: (True, False),
            collections.abc.AsyncIterable: (True, False),
        }
        self.lists = (list, typing.List)
        self.dicts = (dict, typing.Dict, collections.abc.Mapping)

    def iterator_kinds(self):
        """The iterator classes and their (async, concatenate), cog's markers included
        once something has imported them."""
        kinds = self.iterators
        markers = _loaded("cog._iterators")
        if markers is not None:
            kinds = dict(kinds)
            kinds[markers.ConcatenateIterator] = (False, True)
            kinds[markers.AsyncConcatenateIterator] = (True, True)
        return kinds


_typing_forms = None


def _typing_tables():
    global _typing_forms
    if _typing_forms is None or _typing_forms.ext is not _loaded("typing_extensions"):
        _typing_forms = _Typing()
    return _typing_forms


# ---------------------------------------------------------------- signatures


class Parameter:
    """One parameter, as inspect.Parameter has it: `name`, `kind`, `annotation` and
    `default` (`_EMPTY` when absent)."""

    __slots__ = ("name", "kind", "annotation", "default")
    POSITIONAL = "positional"
    VAR_POSITIONAL = "var_positional"
    KEYWORD_ONLY = "keyword_only"
    VAR_KEYWORD = "var_keyword"

    def __init__(self, name, kind, annotation=_EMPTY, default=_EMPTY):
        self.name = name
        self.kind = kind
        self.annotation = annotation
        self.default = default


def _plain(function):
    """A function made by `def` or `lambda` that nothing rewrote: its code object and
    attributes say what inspect.signature would."""
    return type(function) is _FUNCTION and not any(
        hasattr(function, name)
        for name in ("__wrapped__", "__signature__", "_partialmethod", "__partialmethod__", "_is_coroutine_marker")
    )


def _code_signature(function):
    """inspect._signature_from_function's reading of a plain function: positional
    parameters, *args, keyword-only parameters, **kwargs."""
    code = function.__code__
    names = code.co_varnames
    positional = code.co_argcount
    keyword_only = code.co_kwonlyargcount
    annotations = function.__annotations__ or {}
    defaults = function.__defaults__ or ()
    kwdefaults = function.__kwdefaults__ or {}
    parameters = []
    first_default = positional - len(defaults)
    for index, name in enumerate(names[:positional]):
        default = defaults[index - first_default] if index >= first_default else _EMPTY
        parameters.append(Parameter(name, Parameter.POSITIONAL, annotations.get(name, _EMPTY), default))
    index = positional + keyword_only
    if code.co_flags & _CO_VARARGS:
        parameters.append(Parameter(names[index], Parameter.VAR_POSITIONAL, annotations.get(names[index], _EMPTY)))
        index += 1
    for name in names[positional : positional + keyword_only]:
        default = kwdefaults.get(name, _EMPTY)
        parameters.append(Parameter(name, Parameter.KEYWORD_ONLY, annotations.get(name, _EMPTY), default))
    if code.co_flags & _CO_VARKEYWORDS:
        parameters.append(Parameter(names[index], Parameter.VAR_KEYWORD, annotations.get(names[index], _EMPTY)))
    return parameters, annotations.get("return", _EMPTY)


def _inspect_signature(function):
    import inspect

    signature = inspect.signature(function)
    kinds = {
        inspect.Parameter.VAR_POSITIONAL: Parameter.VAR_POSITIONAL,
        inspect.Parameter.KEYWORD_ONLY: Parameter.KEYWORD_ONLY,
        inspect.Parameter.VAR_KEYWORD: Parameter.VAR_KEYWORD,
    }
    empty = inspect.Parameter.empty

    def value(x):
        return _EMPTY if x is empty else x

    parameters = [
        Parameter(p.name, kinds.get(p.kind, Parameter.POSITIONAL), value(p.annotation), value(p.default))
        for p in signature.parameters.values()
    ]
    return parameters, value(signature.return_annotation)


def signature_of(function):
    """([Parameter], return annotation) of a callable, as inspect.signature gives them;
    raises TypeError or ValueError as it does."""
    if _plain(function):
        return _code_signature(function)
    if type(function) is _METHOD and _plain(function.__func__):
        parameters, returns = _code_signature(function.__func__)
        if parameters and parameters[0].kind == Parameter.POSITIONAL:
            parameters = parameters[1:]  # the bound self
        return parameters, returns
    return _inspect_signature(function)


def parameters_of(function):
    """{name: Parameter} of a callable (its setup(), for `weights`)."""
    return {parameter.name: parameter for parameter in signature_of(function)[0]}


def _function_kind(function):
    """(is_async, is_generator) as inspect's iscoroutinefunction, isgeneratorfunction and
    isasyncgenfunction say."""
    if _plain(function):
        flags = function.__code__.co_flags
        is_async_generator = bool(flags & _CO_ASYNC_GENERATOR)
        return bool(flags & _CO_COROUTINE) or is_async_generator, bool(flags & _CO_GENERATOR) or is_async_generator
    import inspect

    is_async_generator = inspect.isasyncgenfunction(function)
    return (inspect.iscoroutinefunction(function) or is_async_generator,
            inspect.isgeneratorfunction(function) or is_async_generator)


# ---------------------------------------------------------------- annotations


def _get_origin(tp):
    forms = _typing_tables()
    origin = forms.typing.get_origin(tp)
    if origin is None and forms.ext is not None:
        origin = forms.ext.get_origin(tp)
    return origin


def _get_args(tp):
    forms = _typing_tables()
    args = forms.typing.get_args(tp)
    if not args and forms.ext is not None:
        args = forms.ext.get_args(tp)
    return tuple(a for a in args if not isinstance(a, forms.typing.TypeVar))


class _AstEvaluator:
    """Evaluates an annotation string, mapping `A | B` to Union and builtin generics
    to their typing forms, for Pythons whose runtime does not support them."""

    def __init__(self, namespace):
        import ast

        self.ast = ast
        self.forms = _typing_tables()
        self.namespace = namespace

    def eval(self, node):
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise DescribeError("cannot evaluate annotation %s" % self.ast.dump(node))
        return method(node)

    def _Expression(self, node):
        return self.eval(node.body)

    def _Name(self, node):
        if node.id in self.namespace:
            return self.namespace[node.id]
        import builtins

        if hasattr(builtins, node.id):
            return getattr(builtins, node.id)
        raise DescribeError("name '%s' is not defined" % node.id)

    def _Attribute(self, node):
        return getattr(self.eval(node.value), node.attr)

    def _Constant(self, node):
        if isinstance(node.value, str):
            return self.eval(self.ast.parse(node.value, mode="eval"))
        return node.value

    def _Index(self, node):  # Python 3.8's wrapper around subscripts
        return self.eval(node.value)

    def _Tuple(self, node):
        return tuple(self.eval(e) for e in node.elts)

    def _List(self, node):
        return [self.eval(e) for e in node.elts]

    def _BinOp(self, node):
        if not isinstance(node.op, self.ast.BitOr):
            raise DescribeError("cannot evaluate annotation operator %s" % type(node.op).__name__)
        return self.forms.typing.Union[self.eval(node.left), self.eval(node.right)]

    def _Subscript(self, node):
        base = self.eval(node.value)
        index = node.slice.value if type(node.slice).__name__ == "Index" else node.slice
        if base in self.forms.literals:
            values = self.ast.literal_eval(index)
            return base[values]
        args = self.eval(index)
        base = self.forms.old_generics.get(base, base)
        return base[args]


def resolve_annotation(annotation, namespace):
    """The annotation as an object; strings are evaluated in `namespace`."""
    typing = _loaded("typing")  # a ForwardRef can only come from it loaded
    if typing is not None and isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if not isinstance(annotation, str):
        return annotation
    try:
        return eval(annotation, namespace)  # noqa: S307 - annotations are the model's code
    except TypeError:
        pass  # `X | None` or `list[int]` on an older Python
    except NameError as exc:
        raise DescribeError("cannot resolve type annotation '%s': %s" % (annotation, exc)) from None
    evaluator = _AstEvaluator(namespace)
    return evaluator.eval(evaluator.ast.parse(annotation, mode="eval"))


def _namespace_of(obj):
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    namespace = dict(vars(module)) if module is not None else {}
    if isinstance(obj, type):  # inspect.isclass
        namespace.update(vars(obj))
    return namespace


# ---------------------------------------------------------------- types


def type_name(tp):
    if tp is _NONE_TYPE or tp is None:
        return "None"
    if type(tp) is type or (isinstance(tp, type) and not _get_args(tp)):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _is_typeddict(tp):
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def _is_pydantic(tp):
    return any(getattr(k, "__module__", "").startswith("pydantic") for k in tp.__mro__[1:])


def _is_object_class(tp):
    if not isinstance(tp, type):
        return False
    model = _loaded("cog.model")
    return (
        (model is not None and issubclass(tp, model.BaseModel))
        or hasattr(tp, "__dataclass_fields__")  # dataclasses.is_dataclass
        or _is_typeddict(tp)
        or ((hasattr(tp, "model_fields") or hasattr(tp, "__fields__")) and _is_pydantic(tp))
    )


def _object_fields(tp):
    """[(name, annotation, required)] of a BaseModel, pydantic model, dataclass or TypedDict."""
    model = _loaded("cog.model")
    skipped = (object, dict) if model is None else (model.BaseModel, object, dict)
    annotations = {}
    for klass in reversed(tp.__mro__):
        if klass.__module__.startswith("pydantic") or klass in skipped:
            continue
        annotations.update(getattr(klass, "__dict__", {}).get("__annotations__", {}))
    if _is_typeddict(tp):
        annotations.update(tp.__annotations__)
        required = getattr(tp, "__required_keys__", None)
        if required is None:
            required = set(annotations) if tp.__total__ else set()
        return [(n, a, n in required) for n, a in annotations.items()]
    if hasattr(tp, "__dataclass_fields__"):
        import dataclasses  # loaded already: it made the class

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
    enum = _loaded("enum")  # a member can only come from it loaded
    values = []
    for value in _get_args(tp):
        values.append(value.value if enum is not None and isinstance(value, enum.Enum) else value)
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
        if type(tp) is type and not hasattr(tp, "__metadata__"):  # a plain class: no typing
            return self._describe_class(tp)
        forms = _typing_tables()
        iterators = forms.iterator_kinds()
        metadata = getattr(tp, "__metadata__", None)
        if metadata is not None:
            if any(m is cog.Opaque or isinstance(m, cog.Opaque) for m in metadata):
                return {"kind": "opaque"}
            return self.describe(tp.__origin__, top)
        if tp is forms.typing.Any:
            return {"kind": "any"}
        origin = tp if tp in iterators else _get_origin(tp)  # a bare iterator class
        if isinstance(tp, type) and not origin:
            return self._describe_class(tp)
        args = _get_args(tp)
        if origin in forms.unions:
            return self._describe_union(tp, args, top)
        if origin in forms.literals:
            return {"kind": "literal", "values": _literal_values(tp)}
        if origin in forms.lists:
            if not args:
                return self._describe_class(list)
            items = self.describe(args[0])
            if not self.output and items["kind"] in ("list", "optional", "union", "iterator", "dict_of", "literal"):
                raise DescribeError("unsupported type: %s (nested generics are not supported as input)" % type_name(tp))
            return {"kind": "list", "items": items}
        if origin in forms.dicts:
            if self.output and len(args) == 2 and args[1] is not forms.typing.Any:
                return {"kind": "dict_of", "values": self.describe(args[1])}
            return {"kind": "dict"}
        if origin in iterators:
            if not self.output or not top:
                self.unsupported(tp)
            is_async, concatenate = iterators[origin]
            items = self.describe(args[0]) if args else {"kind": "any"}
            return {"kind": "iterator", "items": items, "concatenate": concatenate, "async": is_async}
        self.unsupported(tp)

    def _describe_class(self, tp):
        if tp is _NONE_TYPE:
            raise DescribeError("unsupported type: None")
        for scalar in (bool, int, float, str):  # bool first: it is an int
            if tp is scalar:
                return {"kind": scalar.__name__}
        # Each class below can only be a base of `tp` if its module was imported.
        paths, pathlib = _loaded("cog._paths"), _loaded("pathlib")
        files, values = _loaded("cog._files"), _loaded("cog._values")
        if paths is not None and issubclass(tp, paths.Path):
            return {"kind": "path"}
        if pathlib is not None and issubclass(tp, pathlib.PurePath):
            return {"kind": "path", "pathlib": True}
        if files is not None and issubclass(tp, (files.File, files.URLFile)):
            return {"kind": "file"}
        if values is not None and issubclass(tp, values.Secret):
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
    if type(value) in (str, int, float, bool, _NONE_TYPE):
        return value
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    enum = _loaded("enum")
    if enum is not None and isinstance(value, enum.Enum):
        value = value.value
    import json

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
    import inspect

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
        parameters, return_annotation = signature_of(function)
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

    if return_annotation is _EMPTY:
        raise DescribeError("%s has no return type annotation" % handler.method)
    if return_annotation is None or return_annotation == "None":
        raise DescribeError("unsupported output type: None is not a resolvable type")
    output = _Describer(True, namespace).describe(return_annotation, top=True)

    is_async, is_generator = _function_kind(function)
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
                setup_weights = "weights" in parameters_of(setup)
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
