"""Exceptions predictors may see. CancelationException derives from BaseException
(pinion decision #12), so `except Exception` in user code does not swallow a cancel."""


class CancelationException(BaseException):
    """Raised inside a running sync prediction when it is canceled."""
