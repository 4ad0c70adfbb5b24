from cog import BasePredictor, batch


class Predictor(BasePredictor):
    # max_wait_ms=0: at concurrency 1 every batch holds one prediction, so the bench
    # measures the batching path's own cost against bench/models/trivial.
    @batch(max_size=8, max_wait_ms=0)
    def predict(self, text: str = "x") -> str:
        return text
