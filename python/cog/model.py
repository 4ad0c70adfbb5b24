"""cog.BaseModel: Cog's auto-dataclass. Every subclass becomes a dataclass, so
output objects need no pydantic (it may be absent, v1 or v2)."""
import dataclasses


class BaseModel:
    """Subclass with annotated fields; instances are plain dataclasses.

    `class Output(BaseModel): text: str; score: float = 0.0` gives
    `Output(text="a", score=1.0)`. Pass `auto_dataclass=False` in the class
    statement to opt out.
    """

    def __init_subclass__(cls, *, auto_dataclass=True, init=True, **kwargs):
        super().__init_subclass__(**kwargs)
        if auto_dataclass:
            dataclasses.dataclass(cls, init=init)

    def dict(self):
        """The fields as a dict (pydantic v1 spelling, for older models)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def model_dump(self):
        """The fields as a dict (pydantic v2 spelling)."""
        return self.dict()
