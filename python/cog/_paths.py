"""cog.Path and cog.URLPath (spec §2.4): pathlib paths. Imported only when a predictor
names them, so that a model without path inputs never imports pathlib."""
import pathlib


class Path(type(pathlib.Path())):  # the concrete flavour, so it instantiates before 3.12
    """A file path handed to or returned by a handler (a pathlib.Path)."""

    __slots__ = ()


class URLPath(Path):
    """A path that stands for a URL (Cog fetches it lazily); str() is the URL."""

    __slots__ = ()


Path.__module__ = URLPath.__module__ = "cog.types"  # where Cog defines them
