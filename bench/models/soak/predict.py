"""bench/soak-hub's model: concurrent, streaming, with file outputs. Each prediction
yields `files` small files holding `text` and the size of its file inputs (`source`,
`sources`), so that hostile input URLs and floods of data: URIs reach serve's inputs."""
import os
import tempfile
from typing import AsyncIterator, List

from cog import BasePredictor, Path, concurrent, streaming


class Predictor(BasePredictor):
    def setup(self):
        self.folder = tempfile.mkdtemp(prefix="soak-")
        self.count = 0

    @concurrent(max=8)
    @streaming
    async def run(self, text: str = "x", files: int = 2, source: Path = None,
                  sources: List[Path] = None) -> AsyncIterator[Path]:
        size = os.path.getsize(source) if source else 0
        size += sum(os.path.getsize(path) for path in sources or [])
        for index in range(files):
            self.count += 1
            path = os.path.join(self.folder, "out-%d.txt" % self.count)
            with open(path, "w") as handle:
                handle.write("%s %d %d" % (text, index, size))
            yield Path(path)
