"""examples/embed's output without its model: each prediction returns 64 floats
rounded to 4 places (a fixed unit vector's), in batches of one at concurrency 1
(`max_wait_ms=0`). Against bench/models/trivial_batch it gives the server's and the
worker's cost of carrying an embedding (bench/run's instruction count)."""
import math

from cog import BasePredictor, batch

VECTOR = [round(math.sin(i + 1) / 5.66, 4) for i in range(64)]


class Predictor(BasePredictor):
    @batch(max_size=8, max_wait_ms=0)
    def predict(self, text: str = "x") -> list[float]:
        return [list(VECTOR) for _ in text]
