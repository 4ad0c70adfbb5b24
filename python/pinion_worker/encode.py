"""Turns a handler's return value into JSON plus file pointers (spec §2.5, §6.2).

`Encoder(prediction_dir).encode(value)` returns `(json_value, files)`, where `files` lists
RFC 6901 pointers to the strings that are local file paths. Returned file-like objects
are first written to `<counter>.<ext>` under a per-prediction temporary folder.
"""
import io
import os
import sys

_SCALARS = (str, int, float, bool, type(None))


def _loaded(name):
    """The module `name` if something imported it, else None. A value can only be an
    instance of a class from a loaded module, so the encoder never imports enum,
    datetime or dataclasses to learn that a value is not one of theirs."""
    return sys.modules.get(name)


def _pointer_token(key):
    return str(key).replace("~", "~0").replace("/", "~1")


class Encoder:
    """Encodes one prediction's values; files written for file-like outputs are
    numbered from 0 across the whole prediction."""

    __slots__ = ("counter", "directory")

    def __init__(self):
        self.counter = 0
        self.directory = None

    def encode(self, value):
        """(json_value, files) for `value`."""
        if type(value) in _SCALARS:
            return value, []
        files = []
        return self._encode(value, "", files), files

    def _encode(self, value, pointer, files):
        kind = type(value)
        if kind in _SCALARS:
            return value
        if kind is list or kind is tuple:
            for v in value:
                if type(v) not in _SCALARS:
                    return [self._encode(v, "%s/%d" % (pointer, i), files) for i, v in enumerate(value)]
            return list(value)  # scalars only (an embedding, a batch's outputs): nothing to name
        if kind is dict:
            return {str(k): self._encode(v, pointer + "/" + _pointer_token(k), files) for k, v in value.items()}
        enum = _loaded("enum")
        if enum is not None and isinstance(value, enum.Enum):
            return self._encode(value.value, pointer, files)
        if isinstance(value, str):  # subclasses of the scalars, after enums
            return str(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, os.PathLike):
            files.append(pointer)
            return os.path.abspath(os.fspath(value))
        if isinstance(value, io.IOBase):
            files.append(pointer)
            return self._write_file(value)
        datetime = _loaded("datetime")
        if datetime is not None and isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return value.isoformat()
        if hasattr(type(value), "__dataclass_fields__"):  # dataclasses.is_dataclass(), an instance
            import dataclasses

            return {
                f.name: self._encode(getattr(value, f.name), pointer + "/" + _pointer_token(f.name), files)
                for f in dataclasses.fields(value)
            }
        dump = getattr(value, "model_dump", None)  # pydantic v2
        if dump is None and hasattr(value, "__fields__"):
            dump = getattr(value, "dict", None)  # pydantic v1
        if callable(dump):
            fields = dump()
            return {k: self._encode(v, pointer + "/" + _pointer_token(k), files) for k, v in fields.items()}
        if isinstance(value, dict):
            return {str(k): self._encode(v, pointer + "/" + _pointer_token(k), files) for k, v in value.items()}
        if type(value).__module__ == "numpy":
            return self._encode(value.tolist(), pointer, files)
        if isinstance(value, (list, tuple, set, frozenset)) or hasattr(value, "__next__"):
            return [self._encode(v, "%s/%d" % (pointer, i), files) for i, v in enumerate(value)]
        item = getattr(value, "item", None)
        if callable(item) and hasattr(value, "dtype"):
            return self._encode(item(), pointer, files)
        raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)

    def _write_file(self, stream):
        import shutil
        import tempfile

        if self.directory is None:
            self.directory = tempfile.mkdtemp(prefix="pinion-output-")
        name = os.path.basename(str(getattr(stream, "name", "") or ""))
        extension = os.path.splitext(name)[1].lstrip(".") or "bin"
        path = os.path.join(self.directory, "%d.%s" % (self.counter, extension))
        self.counter += 1
        if stream.seekable():
            stream.seek(0)
        with open(path, "wb") as target:
            if isinstance(stream, io.TextIOBase):
                target.write(stream.read().encode("utf-8"))
            else:
                shutil.copyfileobj(stream, target)
        return path
