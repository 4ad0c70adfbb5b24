import time

from cog import BasePredictor


class Predictor(BasePredictor):
    def predict(self, seconds: float = 0.0) -> float:
        """When the model got the prediction (seconds since the epoch), for bench/scale's
        queue-to-start; then it sleeps `seconds` (a 100 ms model for its throughput)."""
        started = time.time()
        time.sleep(seconds)
        return started
