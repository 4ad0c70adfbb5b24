import os
import tempfile

from cog import BasePredictor, Path


class Predictor(BasePredictor):
    def setup(self):
        self.folder = tempfile.mkdtemp(prefix="bench-")
        self.payload = os.urandom(1024 * 1024)

    def predict(self, name: str = "out") -> Path:
        path = os.path.join(self.folder, name + ".bin")
        with open(path, "wb") as handle:
            handle.write(self.payload)
        return Path(path)
