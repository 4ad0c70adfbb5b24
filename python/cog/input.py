"""`Input(...)`: the metadata of one handler parameter (spec §2.3). It returns a
FieldInfo that the worker reads when it describes the signature; nothing is
validated here, the server does that in C."""
_MISSING = object()


class FieldInfo:
    """What `Input(...)` returns: the default and the constraint keywords."""

    __slots__ = (
        "default",
        "description",
        "ge",
        "le",
        "min_length",
        "max_length",
        "regex",
        "choices",
        "deprecated",
        "accept",
    )

    def __init__(
        self,
        default=_MISSING,
        description=None,
        ge=None,
        le=None,
        min_length=None,
        max_length=None,
        regex=None,
        choices=None,
        deprecated=None,
        accept=None,
    ):
        self.default = default
        self.description = description
        self.ge = ge
        self.le = le
        self.min_length = min_length
        self.max_length = max_length
        self.regex = regex
        self.choices = None if choices is None else list(choices)
        self.deprecated = deprecated
        self.accept = accept

    @property
    def has_default(self):
        return self.default is not _MISSING

    def __repr__(self):
        parts = []
        for name in self.__slots__:
            value = getattr(self, name)
            if value is not None and value is not _MISSING:
                parts.append("%s=%r" % (name, value))
        return "FieldInfo(%s)" % ", ".join(parts)


def Input(  # noqa: N802 - Cog's public name
    default=_MISSING,
    *,
    description=None,
    ge=None,
    le=None,
    min_length=None,
    max_length=None,
    regex=None,
    choices=None,
    deprecated=None,
    accept=None,
    **unsupported,
):
    """Describes one input: `x: int = Input(default=3, ge=0, description="...")`."""
    if "default_factory" in unsupported:
        raise TypeError("default_factory is not supported in Input()")
    if unsupported:
        name = sorted(unsupported)[0]
        raise TypeError("Input() got an unexpected keyword argument %r" % name)
    return FieldInfo(
        default=default,
        description=description,
        ge=ge,
        le=le,
        min_length=min_length,
        max_length=max_length,
        regex=regex,
        choices=choices,
        deprecated=deprecated,
        accept=accept,
    )
