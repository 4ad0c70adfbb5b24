"""A token-by-token generator, like a language model's output, for streaming.

Each word of the prompt comes back as its own token after a short delay, so a
client watching the stream sees the text grow.
"""
import time

from cog import BasePredictor, ConcatenateIterator, Input


class Predictor(BasePredictor):
    def predict(
        self,
        prompt: str = Input(description="Text to stream back", default="the quick brown fox jumps over the lazy dog"),
        delay: float = Input(description="Seconds between tokens", default=0.05, ge=0, le=2),
    ) -> ConcatenateIterator[str]:
        words = prompt.split()
        for index, word in enumerate(words):
            if index:
                time.sleep(delay)
            yield word if index == 0 else " " + word
