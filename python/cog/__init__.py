"""pinion's `cog` package: what predictors import (`from cog import BasePredictor, Input, Path`).

It mirrors Cog's public surface (spec §2.1) and stays independent of pydantic: it works
with pydantic absent, v1 or v2. The worker (`pinion_worker`) does the rest.

Names are resolved on first use (a module `__getattr__`): `from cog import
BasePredictor` imports the few lines that define it, not pathlib and typing, which
`cog.Path` and `cog.ConcatenateIterator` need. Each name is still the one object, from
`cog`, `from cog import *` or `cog.types`.
"""
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

# Where each name lives (a module of this package).
_HOMES = {
    "AsyncConcatenateIterator": "_iterators",
    "BaseModel": "model",
    "BasePredictor": "predictor",
    "BaseRunner": "predictor",
    "CancelationException": "exceptions",
    "ConcatenateIterator": "_iterators",
    "FieldInfo": "input",
    "File": "_files",
    "Input": "input",
    "Opaque": "_values",
    "Path": "_paths",
    "Secret": "_values",
    "URLFile": "_files",
    "URLPath": "_paths",
    "batch": "decorators",
    "concurrent": "decorators",
    "current_scope": "scope",
    "emit_metric": "scope",
    "streaming": "decorators",
}
# Submodules that `import cog` made reachable as attributes when it imported them all.
_SUBMODULES = ("decorators", "exceptions", "input", "model", "predictor", "scope", "types")

_warned = set()


def _deprecated_once(name, line):
    if name not in _warned:
        _warned.add(name)
        import sys

        print(line, file=sys.stderr)


def _import(name):
    import sys

    __import__(__name__ + "." + name)  # importlib would import itself and warnings first
    return sys.modules[__name__ + "." + name]


def __getattr__(name):
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(_import(home), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    if name in _SUBMODULES:
        return _import(name)
    # The shim prints its deprecation line when used.
    if name == "ExperimentalFeatureWarning":
        _deprecated_once(name, "cog.ExperimentalFeatureWarning is deprecated and has no effect")
        return _import("types").ExperimentalFeatureWarning
    raise AttributeError("module 'cog' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
