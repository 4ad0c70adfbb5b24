"""The canary model: greets whoever it is given, in one sentence.

It is the model Replicate's client tests call as replicate/canary: strings in, a string
out, so the API's output reads "hello there, <text>". `text` is the canary's input;
`name` is accepted too. For output that grows token by token, see examples/stream.
"""
from cog import BasePredictor, Input


class Predictor(BasePredictor):
    def predict(
        self,
        text: str = Input(description="Who to greet", default=None),
        name: str = Input(description="Who to greet (another name for text)", default=None),
    ) -> str:
        who = text if text is not None else name
        return "hello there, " + (who if who is not None else "world")
