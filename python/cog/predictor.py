"""BaseRunner (and its deprecated alias BasePredictor): optional base classes for a
model's class. Subclassing is not required; any class with run()/predict() works."""
from .scope import current_scope


class BaseRunner:
    """Base for a model's class: define `setup()` (optional) and `run()`."""

    def record_metric(self, name, value, mode="replace"):
        """Records a metric on the running prediction (a no-op outside one)."""
        current_scope().record_metric(name, value, mode)

    @property
    def scope(self):
        return current_scope()


class BasePredictor(BaseRunner):
    """Deprecated alias of BaseRunner; older models define `predict()`."""
