"""Finds the handler a predictor reference names (spec §2.2).

`load(ref, mode)` imports `file.py` (or a module path) and returns a Handler: the
class or function, which method runs predictions, and the functions to call. Errors
carry Cog's wording and surface as `describe_failed`.
"""
import os
import sys

import cog


def _spec_functions():
    """importlib.util's spec_from_file_location and module_from_spec. They live in the
    import system's bootstrap modules, loaded in every interpreter; importlib.util itself
    would import contextlib, functools and more first."""
    bootstrap = sys.modules.get("_frozen_importlib")
    external = sys.modules.get("_frozen_importlib_external")
    if bootstrap is not None and external is not None:
        spec_from_file = getattr(external, "spec_from_file_location", None)
        from_spec = getattr(bootstrap, "module_from_spec", None)
        if spec_from_file is not None and from_spec is not None:
            return spec_from_file, from_spec
    import importlib.util  # pragma: no cover - another Python implementation

    return importlib.util.spec_from_file_location, importlib.util.module_from_spec


class LoadError(Exception):
    """The reference names nothing usable; the message is the one-line error."""


class Handler:
    """What was loaded: `target` (class or function), `method` (run/predict/train),
    `function` (the unbound method or the function), `kind` ("class"/"function")."""

    def __init__(self, target, kind, method, function, warnings):
        self.target = target
        self.kind = kind
        self.method = method
        self.function = function
        self.warnings = warnings


def _import_module(path):
    if path.endswith(".py"):
        name = os.path.splitext(os.path.basename(path))[0]
        spec_from_file_location, module_from_spec = _spec_functions()
        spec = spec_from_file_location(name, os.path.abspath(path))
        if spec is None or spec.loader is None:
            raise LoadError("cannot load predictor file %s" % path)
        module = module_from_spec(spec)
        # Registered before running, as `import` would: dataclasses and pickling look it up.
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    import importlib

    return importlib.import_module(path)


def _defined_by_user(cls, name):
    """True when `name` comes from the user's class, not from cog's base classes."""
    for klass in cls.__mro__:
        if klass in (cog.BaseRunner, cog.BasePredictor, object):
            continue
        if name in klass.__dict__:
            return True
    return False


def load(ref, mode):
    """Imports the predictor `ref` ("predict.py:Predictor") for `mode` (predict/train)."""
    path, _, name = ref.partition(":")
    if not path:
        raise LoadError("invalid predictor reference %r" % ref)
    warnings = []
    if path.endswith(".py") and not os.path.exists(path):
        raise LoadError("FileNotFoundError: predictor file %s not found" % path)
    module = _import_module(path)
    if name:
        target = getattr(module, name, None)
        if target is None:
            raise LoadError("AttributeError: module '%s' has no attribute '%s'" % (module.__name__, name))
    else:
        target = getattr(module, "Runner", None)
        if target is None:
            target = getattr(module, "Predictor", None)
            if target is None:
                raise LoadError("no Runner or Predictor found in %s" % path)
            warnings.append("deprecated: the class name Predictor; name it Runner or give the name in cog.yaml")
    name = name or target.__name__

    if isinstance(target, type):
        if mode == "train":
            if not _defined_by_user(target, "train"):
                raise LoadError("train method not found: %s" % name)
            method = "train"
        else:
            has_run = _defined_by_user(target, "run")
            has_predict = _defined_by_user(target, "predict")
            if has_run and has_predict:
                raise LoadError("%s must define either run() or predict(), not both" % name)
            if not has_run and not has_predict:
                raise LoadError("run or predict method not found: %s" % name)
            method = "run" if has_run else "predict"
            if method == "predict":
                warnings.append("deprecated: predict(); define run() instead")
        return Handler(target, "class", method, getattr(target, method), warnings)
    if callable(target):
        method = "train" if mode == "train" else "run"
        return Handler(target, "function", method, target, warnings)
    raise LoadError("%s is neither a class nor a function" % name)
