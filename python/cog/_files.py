"""cog.File and cog.URLFile (spec §2.4, §2.5): file-like inputs and outputs."""
import io


class File(io.IOBase):
    """Deprecated input/output type: a binary file-like object."""


class URLFile(io.RawIOBase):
    """A file-like object that fetches `url` on first read."""

    def __init__(self, url, name=None):
        super().__init__()
        self.url = url
        self.name = name or url.rstrip("/").rsplit("/", 1)[-1] or "file"
        self._body = None

    def _open(self):
        if self._body is None:
            import os
            import urllib.request

            headers = {}
            agent = os.environ.get("COG_USER_AGENT")
            if agent:
                headers["User-Agent"] = agent
            self._body = urllib.request.urlopen(urllib.request.Request(self.url, headers=headers), timeout=10)
        return self._body

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._open().read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        if self._body is not None:
            self._body.close()
        super().close()

    def __str__(self):
        return self.url

    def __repr__(self):
        return "URLFile(%r)" % self.url


File.__module__ = URLFile.__module__ = "cog.types"  # where Cog defines them
