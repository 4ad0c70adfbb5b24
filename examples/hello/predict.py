"""The canary model: greets whoever it is given, a few words at a time.

It is the model Replicate's client tests call as replicate/canary: its output is a
ConcatenateIterator, so the API returns ["hello ", "there, ", "<text>"] and clients
join the pieces. `text` is the canary's input; `name` is accepted too.
"""
from cog import BasePredictor, ConcatenateIterator, Input


class Predictor(BasePredictor):
    def predict(
        self,
        text: str = Input(description="Who to greet", default=None),
        name: str = Input(description="Who to greet (another name for text)", default=None),
    ) -> ConcatenateIterator[str]:
        who = text if text is not None else name
        for piece in ("hello ", "there, ", who if who is not None else "world"):
            yield piece
