"""Legacy home of CancelationException (Cog 0.9 models import it from here)."""
from ..exceptions import CancelationException

__all__ = ["CancelationException"]
