"""`cog.coder.Coder`: the base class Cog models subclass to encode custom types.

pinion encodes outputs itself (pinion_worker.encode); this module exists so that models
which define and register a Coder import and run unchanged. Registered coders are kept
and can be looked up, as in Cog.
"""
from __future__ import annotations

import typing


class Coder:
    """Subclass it and implement `factory`, `encode` and `decode`; `Coder.register(cls)`."""

    _coders: typing.Set[type] = set()

    @staticmethod
    def register(coder):
        Coder._coders.add(coder)

    @staticmethod
    def lookup(tpe):
        for coder in Coder._coders:
            found = coder.factory(tpe)
            if found is not None:
                return found
        return None

    @staticmethod
    def factory(tpe):
        raise NotImplementedError

    def encode(self, x):
        raise NotImplementedError

    def decode(self, x):
        raise NotImplementedError
