"""A small text embedding model in PyTorch, on the CPU, that batches with pinion's
@cog.batch (docs/batching.md).

Words are hashed into a vocabulary, averaged into a vector, and sent through a
three-layer network to a 64-dimensional unit vector. The weights are random but
deterministic (seeded at setup), so the model needs no download and gives the same
embedding everywhere. Like a real model, most of its time goes to reading its weights
(about 80 MB): one text at a time reads them once per text, a batch reads them once.

`Predictor` takes batches; `Unbatched` (unbatched.yaml) is the same model one text at
a time.

Its matrix products run on one OpenBLAS thread unless OPENBLAS_NUM_THREADS says
otherwise. OpenBLAS starts as many threads as the machine has cores, and a product split
over them waits for the slowest: where the server, its clients or anything else share
those cores, one thread descheduled stalls the whole call (on a 2-core machine with one
other busy process, a call of 16 texts took 36 ms at the median and 104 ms at the 90th
percentile on two threads, against 14 / 15 ms on one; bench/RESULTS.md, 2026-12-06).
On a machine with cores to spare for the model alone, set OPENBLAS_NUM_THREADS higher."""
import os
import re
import zlib

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when torch loads OpenBLAS, so before it

import torch  # noqa: E402

from cog import BasePredictor, Input, batch

VOCABULARY = 32768
WIDTH = 512
HIDDEN = 4096
DIMENSIONS = 64
WORD = re.compile(r"[a-z0-9']+")


class Embedder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.words = torch.nn.EmbeddingBag(VOCABULARY, WIDTH, mode="mean")
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(WIDTH, HIDDEN), torch.nn.GELU(),
            torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.GELU(),
            torch.nn.Linear(HIDDEN, DIMENSIONS))
        with torch.no_grad():
            for parameter in self.parameters():
                scale = 1.0 / parameter.shape[-1] ** 0.5 if parameter.dim() > 1 else 0.01
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)

    def forward(self, texts):
        ids, offsets = [], []
        for text in texts:
            offsets.append(len(ids))
            words = WORD.findall(text.lower()) or [""]
            ids.extend(zlib.crc32(word.encode()) % VOCABULARY for word in words)
        vectors = self.words(torch.tensor(ids), torch.tensor(offsets))
        return torch.nn.functional.normalize(self.layers(vectors), dim=1)


def rounded(vector):
    return [round(value, 4) for value in vector.tolist()]


class Predictor(BasePredictor):
    def setup(self):
        torch.set_grad_enabled(False)
        self.model = Embedder().eval()

    @batch(max_size=32, max_wait_ms=5)
    def predict(self, text: str = Input(description="Text to embed")) -> list[float]:
        # `text` is the batch's texts, one per prediction; one output each, in order.
        return [rounded(vector) for vector in self.model(text)]


class Unbatched(Predictor):
    def predict(self, text: str = Input(description="Text to embed")) -> list[float]:
        return rounded(self.model([text])[0])
