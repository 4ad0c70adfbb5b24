"""Drives `pinion hub` with Replicate's Python client (replicate 1.0.7), changing only
REPLICATE_BASE_URL and REPLICATE_API_TOKEN. Prints one JSON object of results for
tests/integration/test_hub_python_client.py to check. Argument: a JSON object of the
version ids the test pushed (greeter, files, path_input, trainer, raises, slow)."""
import asyncio
import http.server
import io
import json
import sys
import tempfile
import threading
import time

import replicate
from replicate.exceptions import ModelError, ReplicateError

versions = json.loads(sys.argv[1])
GREETER = "alice/greeter:" + versions["greeter"]
results = {}


def text(output):
    return output if isinstance(output, str) else "".join(output)


def problem(call):
    try:
        call()
    except ReplicateError as error:
        return {"status": error.status, "title": error.title, "detail": error.detail}
    return None


# --- run, predictions, streams ------------------------------------------------------------

results["run_version"] = text(replicate.run(GREETER, input={"text": "py"}))
results["run_model"] = text(replicate.run("alice/greeter", input={"text": "latest"}))
results["run_polled"] = replicate.run("alice/slow:" + versions["slow"],
                                      input={"n": 7, "seconds": 2}, wait=1)
try:
    replicate.run("alice/raises:" + versions["raises"], input={"text": "boom"})
except ModelError as error:
    results["model_error"] = {"status": error.prediction.status, "error": error.prediction.error}

prediction = replicate.predictions.create(version=versions["greeter"], input={"text": "w"})
results["get_same_id"] = replicate.predictions.get(prediction.id).id == prediction.id
prediction.wait()
results["waited"] = {"status": prediction.status, "output": text(prediction.output)}
results["listed"] = prediction.id in [p.id for p in replicate.predictions.list().results]
slow = replicate.predictions.create(version=versions["slow"], input={"seconds": 30})
slow.cancel()
slow.reload()
results["canceled"] = slow.status
events = list(replicate.stream(GREETER, input={"text": "s"}))
results["stream"] = [[event.event.value, str(event)] for event in events]
results["prediction_stream"] = "".join(
    str(event) for event in replicate.predictions.create(
        version=versions["greeter"], input={"text": "ps"}, stream=True).stream())

# --- files in and out ---------------------------------------------------------------------

with tempfile.NamedTemporaryFile("w", suffix=".txt") as handle:
    handle.write("from python\n")
    handle.flush()
    with open(handle.name, "rb") as upload:
        results["file_input"] = replicate.run("alice/path-input:" + versions["path_input"],
                                              input={"source": upload})
output = replicate.run("alice/files:" + versions["files"], input={"kind": "png"})
results["file_output"] = {"type": type(output).__name__, "url": output.url,
                          "head": list(output.read()[:4])}
uploaded = replicate.files.create(io.BytesIO(b"hello file"), metadata={"from": "py"})
results["file"] = {"size": uploaded.size, "metadata": uploaded.metadata,
                   "listed": uploaded.id in [f.id for f in replicate.files.list()],
                   "deleted": replicate.files.delete(uploaded.id)}

# --- models, versions, deployments, trainings, pagination -----------------------------

model = replicate.models.get("alice/greeter")
results["model"] = {"url": model.url, "latest": model.latest_version.id}
results["versions"] = [v.id for v in model.versions.list().results]
results["version_schema"] = sorted(model.versions.get(versions["greeter"]).openapi_schema)
replicate.models.create(owner="alice", name="from-py", visibility="private", hardware="cpu")
names = []
for page in replicate.paginate(replicate.models.list):
    names += [m.name for m in page.results]
results["paginated"] = sorted(names)
deployment = replicate.deployments.create(name="py-deployment", model="alice/greeter",
                                          version=versions["greeter"], hardware="cpu",
                                          min_instances=0, max_instances=1)
on_deployment = deployment.predictions.create(input={"text": "d"})
on_deployment.wait()
results["deployment"] = {"release": deployment.current_release.number,
                         "output": text(on_deployment.output),
                         "deleted": replicate.deployments.delete("alice", "py-deployment")}
replicate.models.create(owner="alice", name="trained", visibility="private", hardware="cpu")
training = replicate.trainings.create(version="alice/trainer:" + versions["trainer"],
                                      input={"word": "hi"}, destination="alice/trained")
deadline = time.monotonic() + 60
while training.status not in ("succeeded", "failed", "canceled") and time.monotonic() < deadline:
    time.sleep(0.2)
    training.reload()
results["training"] = {"status": training.status,
                       "version": (training.output or {}).get("version", "")}

# --- webhooks and errors ------------------------------------------------------------------

received = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((dict(self.headers.items()), body.decode()))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
replicate.predictions.create(version=versions["greeter"], input={"text": "hook"},
                             webhook="http://127.0.0.1:%d/" % server.server_port,
                             webhook_events_filter=["completed"])
deadline = time.monotonic() + 30
while not received and time.monotonic() < deadline:
    time.sleep(0.1)
server.shutdown()
secret = replicate.webhooks.default.secret()
headers, body = received[0]
replicate.webhooks.validate(headers=headers, body=body, secret=secret)  # raises if invalid
results["webhook_valid"] = True
results["not_found"] = problem(lambda: replicate.models.get("alice/nowhere"))
results["invalid_input"] = problem(lambda: replicate.predictions.create(
    version=versions["path_input"], input={"source": 5}))

# --- async variants -----------------------------------------------------------------------


async def asynchronous():
    found = {}
    output = await replicate.async_run(GREETER, input={"text": "a"})
    found["run"] = "".join([piece async for piece in output]) if hasattr(output, "__aiter__") \
        else text(output)
    found["stream"] = "".join([str(event) async for event in
                               await replicate.async_stream(GREETER, input={"text": "as"})])
    created = await replicate.predictions.async_create(version=versions["greeter"],
                                                       input={"text": "ac"})
    await created.async_wait()
    found["waited"] = created.status
    file_output = await replicate.async_run("alice/files:" + versions["files"],
                                            input={"kind": "png"})
    found["file_head"] = list((await file_output.aread())[:4])
    names = []
    async for page in replicate.async_paginate(replicate.models.async_list):
        names += [m.name for m in page.results]
    found["paginated"] = sorted(names)
    return found


results["async"] = asyncio.run(asynchronous())
print(json.dumps(results))
