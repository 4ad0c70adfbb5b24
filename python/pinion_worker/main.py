"""The worker's life: describe the predictor, run setup, then answer predictions
(docs/internals/worker-protocol.md; the design is in docs/internals/worker.md).

Sync handlers run in the main thread, one prediction at a time, while the worker is
otherwise blocked in `Channel.recv()`; the server cancels them with SIGUSR1, whose
handler raises cog.CancelationException only while a prediction runs. Async handlers
run on one asyncio loop, one task per prediction, the socket read through
`loop.add_reader`; a `cancel` frame cancels the task.
"""
import contextvars
import io
import os
import sys

import _pinion
import cog
from cog.scope import Scope, enter_scope, exit_scope

from . import wire
from .encode import Encoder
from .loader import LoadError, load
from .signature import DescribeError, describe_handler, parameters_of

try:  # the same class as collections.abc.Iterator, without importing `collections`
    from _collections_abc import Iterator as _Iterator
except ImportError:  # pragma: no cover - another Python implementation
    from collections.abc import Iterator as _Iterator

try:  # `signal` wraps these in enums (importing `enum`); the worker needs neither
    import _signal as _signals
except ImportError:  # pragma: no cover
    import signal as _signals

# Only what every predictor needs is imported at start (docs/internals/worker.md,
# "Start-up"): inspect, traceback, asyncio and the rest come in when something uses them.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_dumps = wire.dumps


def _loads(frame):
    """A frame's JSON object: the C scanner called directly skips json.loads's Python
    layers, which matters most when the worker wakes up cold after a long prediction."""
    return wire.loads(frame.decode("utf-8"))


def _isawaitable(value):
    if value is None:  # what setup(), healthcheck() and most handlers return: no import
        return False
    import inspect

    return inspect.isawaitable(value)


def error_text(exc):
    """`<Type>: <message>`, or just `<Type>` when the message is empty (worker-protocol.md)."""
    if isinstance(exc, SystemExit):
        return "SystemExit: %s" % (exc.code,)
    message = str(exc)
    name = type(exc).__name__
    return "%s: %s" % (name, message) if message else name


# The running async prediction's log sender, per task (None outside predictions).
LOG_TARGET = contextvars.ContextVar("pinion_log_target", default=None)


def traceback_text(exc):
    """The formatted traceback without the worker's own frames."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


class LogSender:
    """One async prediction's prints (or a batch's: each of its predictions gets them),
    sent as `log` frames a line at a time (print() writes its pieces separately; a frame
    per piece would be wasteful)."""

    def __init__(self, send, prediction_ids):
        self._send = send
        self._ids = prediction_ids
        self._pending = {"stdout": "", "stderr": ""}

    def _send_all(self, source, data):
        for prediction_id in self._ids:
            self._send({"type": "log", "id": prediction_id, "source": source, "data": data})

    def write(self, source, text):
        pending = self._pending[source] + text
        end = pending.rfind("\n") + 1
        if end:
            self._send_all(source, pending[:end])
        self._pending[source] = pending[end:]

    def flush(self):
        for source, pending in self._pending.items():
            if pending:
                self._send_all(source, pending)
                self._pending[source] = ""


class PredictionStream:
    """sys.stdout / sys.stderr while async predictions run: what a prediction's own code
    prints goes to that prediction as `log` frames (several may run at once, so the
    shared pipe could not tell them apart); anything else, and output written to the
    file descriptor directly (C extensions, subprocesses), goes to the pipe as before."""

    def __init__(self, original, source):
        self._original = original
        self._source = source

    def write(self, text):
        sender = LOG_TARGET.get()
        if sender is None or not isinstance(text, str):
            return self._original.write(text)
        sender.write(self._source, text)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        sender = LOG_TARGET.get()
        if sender is not None:
            sender.flush()
        self._original.flush()

    def __getattr__(self, name):  # fileno, encoding, isatty, buffer, ...
        return getattr(self._original, name)


def polling_selector(poll_us, idle):
    """The default selector, polling for up to `poll_us` microseconds before it sleeps
    while `idle()` says no prediction runs, as the sync worker's `recv()` does
    (docs/internals/serve.md, "Polling instead of sleeping")."""
    import selectors
    import time

    class PollingSelector(selectors.DefaultSelector):
        def select(self, timeout=None):
            if (timeout is not None and timeout <= 0) or not idle():
                return super().select(timeout)
            deadline = time.perf_counter() + poll_us / 1e6
            while True:
                ready = super().select(0)
                if ready or time.perf_counter() >= deadline:
                    return ready or super().select(timeout)
                os.sched_yield()

    return PollingSelector()


def flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _open_file(value, opened):
    stream = open(value, "rb")  # noqa: SIM115 - closed when the prediction ends
    opened.append(stream)
    return stream


def _converter(described):
    """A function (value, opened) -> value for inputs that need conversion, else None."""
    kind = described["kind"]
    if kind == "path" and not described.get("pathlib"):
        return lambda value, opened: cog.Path(value)
    if kind == "file":
        return _open_file
    if kind == "secret":
        return lambda value, opened: cog.Secret(value)
    if kind == "optional":
        return _converter(described["inner"])
    if kind == "list":
        inner = _converter(described["items"])
        if inner is not None:
            return lambda values, opened: [None if v is None else inner(v, opened) for v in values]
    return None


def _is_iterator(value):
    if isinstance(value, (str, bytes, dict, list, tuple, io.IOBase)):
        return False
    return isinstance(value, _Iterator)


def _canceled(prediction_id):
    return {"type": "done", "id": prediction_id, "status": "canceled"}


class _NoMetrics:
    """The scope of a batch's prediction that was not in its call: no metrics."""

    values = {}


_NO_METRICS = _NoMetrics()


def _batch_result_error(result, count):
    """The ValueError that fails every prediction of a batch of `count` whose handler
    returned `result`: not a list (or tuple) of one output per prediction."""
    if isinstance(result, (list, tuple)):
        returned = "a %s of %d" % (type(result).__name__, len(result))
    else:
        returned = "a value of type %s" % type(result).__name__
    return ValueError(
        "a @cog.batch handler must return a list with one output per prediction: it "
        "returned %s for a batch of %d" % (returned, count)
    )


class Worker:
    """One loaded predictor and the channel to the server."""

    def __init__(self, channel, handler, signature, poll_us=0):
        self.channel = channel
        self.poll_us = poll_us
        self.handler = handler
        self.signature = signature
        self.description = signature.description
        self.names = frozenset(signature.names)
        self.defaults = list(signature.defaults.items())
        self.converters = []
        for entry in self.description["inputs"]:
            convert = _converter(entry["type"])
            if convert is not None:
                self.converters.append((entry["name"], convert))
        self.error_kind = "train" if handler.method == "train" else "run"
        self.batched = self.description.get("batch") is not None
        self.instance = None
        self.function = None
        self.running = False
        self.loop = None
        self.tasks = {}

    def send(self, message):
        self.channel.send(_dumps(message).encode("utf-8"))

    # ------------------------------------------------------------ setup

    def _weights_argument(self, parameter):
        weights = os.environ.get("COG_WEIGHTS")
        if weights:
            return weights
        if os.path.exists("weights"):  # pinion decision #18, as Cog 0.9 did
            annotation = parameter.annotation
            if annotation is cog.File or annotation == "File":
                return open("weights", "rb")  # noqa: SIM115 - the model keeps it
            return cog.Path("weights")
        return None

    def setup(self):
        concurrency = os.environ.get("COG_MAX_CONCURRENCY", "")
        if concurrency.isdigit() and int(concurrency) > 1 and not (self.description["is_async"] or self.batched):
            raise RuntimeError("COG_MAX_CONCURRENCY > 1 requires an async run() or predict() method")
        if self.handler.kind == "function":
            self.function = self.handler.function
            return
        self.instance = self.handler.target()
        self.function = getattr(self.instance, self.handler.method)
        setup = getattr(self.instance, "setup", None)
        if setup is None:
            return
        arguments = ()
        parameters = parameters_of(setup)
        if "weights" in parameters:
            arguments = (self._weights_argument(parameters["weights"]),)
        result = setup(*arguments)
        if _isawaitable(result):
            self.event_loop().run_until_complete(result)

    def event_loop(self):
        # asyncio costs ~30 ms to import: only async predictors pay for it.
        import asyncio

        if self.loop is None:
            if self.poll_us > 0:
                self.loop = asyncio.SelectorEventLoop(polling_selector(self.poll_us, lambda: not self.tasks))
            else:
                self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
        return self.loop

    def run_setup(self):
        try:
            self.setup()
        except BaseException as exc:  # noqa: BLE001 - any failure is reported, SystemExit too
            flush_output()
            self.send(
                {"type": "setup_done", "status": "failed", "error": error_text(exc), "traceback": traceback_text(exc)}
            )
            return False
        flush_output()
        self.send({"type": "setup_done", "status": "succeeded"})
        return True

    # ------------------------------------------------------------ inputs

    def prepare_inputs(self, inputs, opened):
        if not self.signature.accepts_extra:
            for key in [k for k in inputs if k not in self.names]:
                del inputs[key]
        for name, default in self.defaults:
            if name not in inputs:
                inputs[name] = default
        for name, convert in self.converters:
            value = inputs.get(name)
            if value is not None:
                inputs[name] = convert(value, opened)
        return inputs

    def _scope(self, message):
        prediction_id = message["id"]
        send = self.send

        def send_metric(name, value, mode):
            send({"type": "metric", "id": prediction_id, "name": name, "value": value, "mode": mode})

        return Scope(message.get("context") or {}, send_metric)

    def _send_output(self, prediction_id, encoder, item):
        value, files = encoder.encode(item)
        self.send({"type": "output", "id": prediction_id, "value": value, "files": files})

    def _finish(self, done, scope):
        done["metrics"] = scope.values
        flush_output()
        try:
            payload = _dumps(done)
        except (TypeError, ValueError) as exc:  # e.g. NaN in the output or metrics
            payload = _dumps(
                {"type": "done", "id": done["id"], "status": "failed", "error": error_text(exc),
                 "kind": self.error_kind, "traceback": "", "metrics": {}}
            )
        self.channel.send(payload.encode("utf-8"))

    @staticmethod
    def _failed(prediction_id, exc, kind):
        return {
            "type": "done",
            "id": prediction_id,
            "status": "failed",
            "error": error_text(exc),
            "kind": kind,
            "traceback": traceback_text(exc),
        }

    # ------------------------------------------------------------ sync

    def _on_cancel_signal(self, signum, frame):
        if self.running:
            raise cog.CancelationException()

    def predict_sync(self, message, batched=False):
        """One `predict`, or (`batched`) the one item of a `predict_batch`."""
        prediction_id = message["id"]
        scope = self._scope(message)
        token = enter_scope(scope)
        opened = []
        try:
            try:
                done = self._run_sync(message, prediction_id, opened, batched)
            except cog.CancelationException:  # arrived while a failure was being recorded
                done = {"type": "done", "id": prediction_id, "status": "canceled"}
        finally:
            exit_scope(token)
            for stream in opened:
                stream.close()
        self._finish(done, scope)

    def _run_sync(self, message, prediction_id, opened, batched):
        kind = "input"
        try:
            kwargs = self.prepare_inputs(message.get("input") or {}, opened)
            kind = self.error_kind
            if batched:  # a batch of one: each parameter gets a list of one value
                for name in kwargs:
                    kwargs[name] = [kwargs[name]]
            self.running = True
            if self._cancel_waiting((prediction_id,)):
                raise cog.CancelationException()
            result = self.function(**kwargs)
            if batched:  # the call returned a list of one output (docs/batching.md)
                self.running = False  # the server cancels the call, not the encoding after it
                if not isinstance(result, (list, tuple)) or len(result) != 1:
                    return self._failed(prediction_id, _batch_result_error(result, 1), kind)
                result = result[0]
                if isinstance(result, BaseException):  # this prediction's own failure
                    return self._failed(prediction_id, result, kind)
            elif _is_iterator(result):
                if kind == "run":
                    kind = "iterate"
                encoder = Encoder()
                for item in result:
                    self._send_output(prediction_id, encoder, item)
                return {"type": "done", "id": prediction_id, "status": "succeeded"}
            value, files = Encoder().encode(result)
            return {"type": "done", "id": prediction_id, "status": "succeeded", "output": value, "files": files}
        except cog.CancelationException:
            self.running = False
            return {"type": "done", "id": prediction_id, "status": "canceled"}
        except BaseException as exc:  # noqa: BLE001 - SystemExit fails the prediction only
            self.running = False
            return self._failed(prediction_id, exc, kind)
        finally:
            self.running = False

    def healthcheck_sync(self, message):
        result = self._healthcheck_call()
        if _isawaitable(result):
            try:
                result = self.event_loop().run_until_complete(result)
            except BaseException as exc:  # noqa: BLE001
                result = exc
        self._send_health(message["id"], result)

    def _healthcheck_call(self):
        check = getattr(self.instance, "healthcheck", None)
        if check is None:
            return True
        try:
            return check()
        except BaseException as exc:  # noqa: BLE001
            return exc

    def _send_health(self, check_id, result):
        if isinstance(result, BaseException):
            self.send({"type": "healthcheck_result", "id": check_id, "healthy": False, "error": error_text(result)})
        elif result is False:
            self.send({"type": "healthcheck_result", "id": check_id, "healthy": False, "error": "healthcheck returned False"})
        else:
            self.send({"type": "healthcheck_result", "id": check_id, "healthy": True})

    def serve_sync(self):
        _signals.signal(_signals.SIGUSR1, self._on_cancel_signal)
        recv = self.channel.recv
        self.pending = []
        while True:
            frame = self.pending.pop(0) if self.pending else recv()
            if frame is None:
                return 0
            message = _loads(frame)
            kind = message.get("type")
            if kind == "predict":
                self.predict_sync(message)
            elif kind == "predict_batch":
                self.predict_batch_sync(message)
            elif kind == "healthcheck":
                self.healthcheck_sync(message)
            # A `cancel` read here is for a prediction that already ended: nothing to do.

    def _cancel_waiting(self, prediction_ids):
        """The server cancels a sync prediction with a `cancel` frame, then SIGUSR1. A
        signal that lands before the prediction is marked running is ignored, but its
        frame is on the socket by then: look for it once `running` is set (any signal
        after that raises). Returns the ids of `prediction_ids` canceled so (a batch
        handed over while the one before it sent its results may have some)."""
        frames = self.channel.try_recv()
        canceled = set()
        for frame in frames or ():
            message = _loads(frame)
            if message.get("type") == "cancel":
                if message.get("id") in prediction_ids:
                    canceled.add(message["id"])
            else:
                self.pending.append(frame)
        if frames is None:
            self.pending.append(None)  # end of file after these frames
        return canceled

    # ------------------------------------------------------------ batches (docs/batching.md)

    def _batch_scope(self, items):
        """One scope for the batch: a metric recorded during it belongs to each
        prediction in its call. The context is the predictions' when they all share one,
        else empty. Returns (scope, members): `members`, every id at first, is the list
        the metrics go to; the caller narrows it in place to the predictions the call
        gets (not those whose inputs failed, nor those canceled before it)."""
        members = [item["id"] for item in items]
        contexts = [item.get("context") or {} for item in items]
        context = contexts[0] if all(c == contexts[0] for c in contexts) else {}
        send = self.send

        def send_metric(name, value, mode):
            for prediction_id in members:
                send({"type": "metric", "id": prediction_id, "name": name, "value": value, "mode": mode})

        return Scope(context, send_metric), members

    def _batch_arguments(self, items, opened, dones):
        """Prepares each prediction's inputs on its own (one that fails, fails alone, kind
        `input`) and makes one list per parameter of the rest. Returns (ids, kwargs)."""
        prediction_ids, prepared = [], []
        for item in items:
            try:
                prepared.append(self.prepare_inputs(item.get("input") or {}, opened))
                prediction_ids.append(item["id"])
            except BaseException as exc:  # noqa: BLE001
                dones[item["id"]] = self._failed(item["id"], exc, "input")
        names = dict.fromkeys(name for kwargs in prepared for name in kwargs)
        return prediction_ids, {name: [kwargs.get(name) for kwargs in prepared] for name in names}

    def _batch_outputs(self, prediction_ids, result, dones, kind):
        """Maps the returned list back to the predictions, in order: an exception object
        fails its own prediction, anything else is its output."""
        if not isinstance(result, (list, tuple)) or len(result) != len(prediction_ids):
            error = _batch_result_error(result, len(prediction_ids))
            for prediction_id in prediction_ids:
                dones[prediction_id] = self._failed(prediction_id, error, kind)
            return
        for prediction_id, value in zip(prediction_ids, result):
            if isinstance(value, BaseException):
                dones[prediction_id] = self._failed(prediction_id, value, kind)
                continue
            try:
                output, files = Encoder().encode(value)
            except BaseException as exc:  # noqa: BLE001 - this output only
                dones[prediction_id] = self._failed(prediction_id, exc, kind)
                continue
            dones[prediction_id] = {"type": "done", "id": prediction_id, "status": "succeeded",
                                    "output": output, "files": files}

    def _finish_batch(self, items, dones, scope, members):
        """Sends each prediction's `done`: the batch's metrics for those in its call, none
        for the others (they never ran)."""
        members = frozenset(members)
        for item in items:
            done = dones[item["id"]]
            if item["id"] in members:
                self._finish(done, scope)
            else:
                self._finish(done, _NO_METRICS)

    def predict_batch_sync(self, message):
        items = message["items"]
        if len(items) == 1:
            # A batch of one is a plain prediction whose inputs and output are lists of
            # one: the path below costs ~20k instructions more (its per-batch objects).
            self.predict_sync(items[0], True)
            return
        scope, members = self._batch_scope(items)
        token = enter_scope(scope)
        opened = []
        dones = {}
        try:
            try:
                self._run_batch_sync(items, opened, dones, members)
            except cog.CancelationException:  # arrived while a failure was being recorded
                for item in items:
                    dones.setdefault(item["id"], _canceled(item["id"]))
        finally:
            exit_scope(token)
            for stream in opened:
                stream.close()
        self._finish_batch(items, dones, scope, members)

    def _run_batch_sync(self, items, opened, dones, members):
        prediction_ids, kwargs = self._batch_arguments(items, opened, dones)
        members[:] = prediction_ids
        if not prediction_ids:
            return
        kind = self.error_kind
        try:
            self.running = True
            canceled = self._cancel_waiting(prediction_ids)
            if canceled:  # those leave the batch before the call; none left, no call
                for prediction_id in canceled:
                    dones[prediction_id] = _canceled(prediction_id)
                keep = [i for i, prediction_id in enumerate(prediction_ids) if prediction_id not in canceled]
                if not keep:
                    return
                prediction_ids = [prediction_ids[i] for i in keep]
                members[:] = prediction_ids
                kwargs = {name: [values[i] for i in keep] for name, values in kwargs.items()}
            result = self.function(**kwargs)
            self.running = False  # the server cancels the call, not the encoding after it
            self._batch_outputs(prediction_ids, result, dones, kind)
        except cog.CancelationException:
            self.running = False
            for prediction_id in prediction_ids:
                dones[prediction_id] = _canceled(prediction_id)
        except BaseException as exc:  # noqa: BLE001 - the whole batch fails with it
            self.running = False
            for prediction_id in prediction_ids:
                dones[prediction_id] = self._failed(prediction_id, exc, kind)
        finally:
            self.running = False

    async def predict_batch_async(self, message):
        import asyncio

        items = message["items"]
        every_id = [item["id"] for item in items]
        scope, members = self._batch_scope(items)
        enter_scope(scope)  # the task runs in its own copy of the context
        LOG_TARGET.set(LogSender(self.send, every_id))
        opened = []
        dones = {}
        prediction_ids = []
        kind = "train" if self.error_kind == "train" else "async"
        try:
            prediction_ids, kwargs = self._batch_arguments(items, opened, dones)
            members[:] = prediction_ids
            if prediction_ids:
                result = self.function(**kwargs)
                if _isawaitable(result):
                    result = await result
                self._batch_outputs(prediction_ids, result, dones, kind)
        except asyncio.CancelledError:
            for prediction_id in prediction_ids:
                dones[prediction_id] = _canceled(prediction_id)
        except BaseException as exc:  # noqa: BLE001 - the whole batch fails with it
            for prediction_id in prediction_ids:
                dones[prediction_id] = self._failed(prediction_id, exc, kind)
        finally:
            for prediction_id in every_id:
                self.tasks.pop(prediction_id, None)
            for stream in opened:
                stream.close()
        self._finish_batch(items, dones, scope, members)

    # ------------------------------------------------------------ async

    async def predict_async(self, message):
        import asyncio

        prediction_id = message["id"]
        scope = self._scope(message)
        enter_scope(scope)  # the task runs in its own copy of the context
        LOG_TARGET.set(LogSender(self.send, (prediction_id,)))
        opened = []
        kind = "input"
        try:
            kwargs = self.prepare_inputs(message.get("input") or {}, opened)
            kind = "train" if self.error_kind == "train" else "async"
            result = self.function(**kwargs)
            if _isawaitable(result):
                result = await result
            encoder = Encoder()
            if hasattr(result, "__anext__"):
                async for item in result:
                    self._send_output(prediction_id, encoder, item)
                done = {"type": "done", "id": prediction_id, "status": "succeeded"}
            elif _is_iterator(result):
                for item in result:
                    self._send_output(prediction_id, encoder, item)
                done = {"type": "done", "id": prediction_id, "status": "succeeded"}
            else:
                value, files = encoder.encode(result)
                done = {"type": "done", "id": prediction_id, "status": "succeeded", "output": value, "files": files}
        except asyncio.CancelledError:
            done = {"type": "done", "id": prediction_id, "status": "canceled"}
        except BaseException as exc:  # noqa: BLE001
            done = self._failed(prediction_id, exc, kind)
        finally:
            self.tasks.pop(prediction_id, None)
            for stream in opened:
                stream.close()
        self._finish(done, scope)

    def _on_task_done(self, prediction_ids, task):
        """A task canceled before its first step never runs predict_async's body (the
        cancel arrived in the same read as its predict): end its predictions here."""
        if task.cancelled() and self.tasks.pop(prediction_ids[0], None) is task:
            for prediction_id in prediction_ids:
                self.tasks.pop(prediction_id, None)
                self.send({"type": "done", "id": prediction_id, "status": "canceled", "metrics": {}})

    async def healthcheck_async(self, message):
        result = self._healthcheck_call()
        if _isawaitable(result):
            try:
                result = await result
            except BaseException as exc:  # noqa: BLE001
                result = exc
        self._send_health(message["id"], result)

    def _dispatch_async(self, message):
        kind = message.get("type")
        if kind in ("predict", "predict_batch"):
            if kind == "predict":
                prediction_ids = (message["id"],)
                task = self.loop.create_task(self.predict_async(message))
            else:
                prediction_ids = tuple(item["id"] for item in message["items"])
                task = self.loop.create_task(self.predict_batch_async(message))
            task.add_done_callback(lambda done: self._on_task_done(prediction_ids, done))
            for prediction_id in prediction_ids:
                self.tasks[prediction_id] = task  # a cancel for any of them cancels the batch
        elif kind == "cancel":
            task = self.tasks.get(message.get("id"))
            if task is not None:
                task.cancel()
        elif kind == "healthcheck":
            self.loop.create_task(self.healthcheck_async(message))

    def serve_async(self):
        sys.stdout = PredictionStream(sys.stdout, "stdout")
        sys.stderr = PredictionStream(sys.stderr, "stderr")
        loop = self.event_loop()
        finished = loop.create_future()
        fd = self.channel.fileno()

        def on_readable():
            try:
                frames = self.channel.try_recv()
            except BaseException as exc:  # noqa: BLE001 - a protocol error ends the worker
                loop.remove_reader(fd)
                finished.set_exception(exc)
                return
            if frames is None:
                loop.remove_reader(fd)
                finished.set_result(0)
                return
            for frame in frames:
                self._dispatch_async(_loads(frame))

        loop.add_reader(fd, on_readable)
        return loop.run_until_complete(finished)


def _startup_mark(path, step):
    """A line "<step> <CLOCK_MONOTONIC ns>" in PINION_STARTUP_TRACE's file, as the server
    writes its own (src/core/startup_trace.h; bench/startup reads them)."""
    import time

    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, ("%s %d\n" % (step, time.monotonic_ns())).encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def main():
    trace = os.environ.get("PINION_STARTUP_TRACE")
    if trace:
        _startup_mark(trace, "worker_main")
    # SIGUSR1 is the server's cancel for sync predictions; its default action would
    # kill the worker, so it is ignored until a handler that can use it is installed.
    _signals.signal(_signals.SIGUSR1, _signals.SIG_IGN)
    poll_us = int(os.environ.get("PINION_POLL_US") or 0)
    channel = _pinion.Channel(int(os.environ["PINION_IPC_FD"]), poll_us)
    mode = os.environ.get("PINION_MODE", "predict")
    action = os.environ.get("PINION_WORKER_ACTION", "serve")
    send = lambda message: channel.send(_dumps(message).encode("utf-8"))  # noqa: E731
    try:
        handler = load(os.environ.get("PINION_PREDICTOR", "predict.py:Predictor"), mode)
        if trace:
            _startup_mark(trace, "predictor_imported")
        signature = describe_handler(handler)
    except (LoadError, DescribeError) as exc:
        flush_output()
        send({"type": "describe_failed", "error": str(exc), "traceback": ""})
        return 1
    except BaseException as exc:  # noqa: BLE001 - the model's import failed
        flush_output()
        send({"type": "describe_failed", "error": error_text(exc), "traceback": traceback_text(exc)})
        return 1
    flush_output()
    if trace:
        _startup_mark(trace, "described")
    send({"type": "describe", "signature": signature.description, "python": sys.version.split()[0],
          "sdk": cog.__version__})
    if action == "describe":
        return 0
    worker = Worker(channel, handler, signature, poll_us)
    setup_ok = worker.run_setup()
    if trace:
        _startup_mark(trace, "setup_done")
    if not setup_ok:
        while channel.recv() is not None:  # keep the channel open until the server ends it
            pass
        return 0
    if signature.description["is_async"]:
        code = worker.serve_async()
    else:
        code = worker.serve_sync()
    flush_output()
    os._exit(code)  # at end of file: do not wait for the model's non-daemon threads
