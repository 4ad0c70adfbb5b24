"""Legacy import location (`cog.server.scope`), kept for models written against Cog's
Python server: the same scope as `cog.current_scope()`."""
from ..scope import Scope, current_scope

__all__ = ["Scope", "current_scope"]
