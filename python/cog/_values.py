"""cog.Secret and the cog.Opaque marker (spec §2.4): plain classes, no imports."""

class Secret:
    """A string input that is not shown in logs: str() and repr() hide it."""

    __slots__ = ("_secret_value",)

    def __init__(self, secret_value=None):
        self._secret_value = secret_value

    def get_secret_value(self):
        return self._secret_value

    def __str__(self):
        return "**********" if self._secret_value else ""

    def __repr__(self):
        return "Secret(%s)" % self

    def __eq__(self, other):
        return isinstance(other, Secret) and other._secret_value == self._secret_value

    def __hash__(self):
        return hash(self._secret_value)


class Opaque:
    """Marker for `Annotated[X, Opaque]`: the value passes through undescribed."""


Secret.__module__ = Opaque.__module__ = "cog.types"  # where Cog defines them
