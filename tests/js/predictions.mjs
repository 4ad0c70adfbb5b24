// Predictions through Replicate's JavaScript client (replicate 1.4.0) against pinion hub:
// run on replicate/canary, stream on replicate/stream, a deployment's predictions,
// cancel, a file output fetched back, and validateWebhook on a webhook the hub really
// delivered. Prints one JSON object of results for tests/integration/test_hub_js_predictions.py.
// Usage: node predictions.mjs HUB_URL TOKEN
import http from "node:http";
import Replicate, { validateWebhook } from "replicate";

const [hub, token] = process.argv.slice(2);
const replicate = new Replicate({ auth: token, baseUrl: `${hub}/v1` });
const results = {};

// The canary, as Replicate's own integration tests call it: one sentence.
results.canary = await replicate.run("replicate/canary", { input: { text: "Alice" } });

// Token by token, as the model yields them.
const tokens = [];
for await (const event of replicate.stream("replicate/stream", {
  input: { prompt: "one two three", delay: 0.01 },
})) {
  if (event.event === "output") tokens.push(String(event));
}
results.stream_tokens = tokens;

// A deployment's predictions run on the deployment's own instances.
const model = await replicate.models.get("replicate", "canary");
await replicate.deployments.create({
  name: "greeter", model: "replicate/canary", version: model.latest_version.id,
  hardware: "cpu", min_instances: 0, max_instances: 1,
});
let deployed = await replicate.deployments.predictions.create("replicate", "greeter", {
  input: { text: "deployed" },
});
deployed = await replicate.wait(deployed, { interval: 100 });
results.deployment = { status: deployed.status, output: deployed.output, deployment: deployed.deployment };

// Cancel a prediction while it streams slowly.
let slow = await replicate.predictions.create({
  version: (await replicate.models.get("replicate", "stream")).latest_version.id,
  input: { prompt: "a b c d e f g h i j k l m n o p q r s t u v w x y z", delay: 0.5 },
});
const canceled = await replicate.predictions.cancel(slow.id);
slow = await replicate.wait(canceled, { interval: 100 });
results.canceled = slow.status;

// A file output: the URL is plain http on a test hub, so JS leaves it a string; fetch it.
const speech = await replicate.run("replicate/tts", { input: { text: "hello" }, useFileOutput: false });
const audio = await fetch(String(speech));
const bytes = new Uint8Array(await audio.arrayBuffer());
results.audio = {
  status: audio.status, type: audio.headers.get("content-type"),
  magic: String.fromCharCode(...bytes.slice(0, 4)), size: bytes.length,
};

// validateWebhook on what the hub delivered.
const secret = (await replicate.webhooks.default.secret.get()).key;
const delivered = await new Promise((resolve, reject) => {
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      response.end("ok");
      const status = JSON.parse(body).status;
      if (["succeeded", "failed", "canceled"].includes(status)) {
        server.close();
        resolve({ headers: request.headers, body });
      }
    });
  });
  server.listen(0, "127.0.0.1", async () => {
    const url = `http://127.0.0.1:${server.address().port}/hook`;
    try {
      await replicate.predictions.create({
        version: model.latest_version.id, input: { text: "hook" }, webhook: url,
        webhook_events_filter: ["completed"],
      });
    } catch (error) {
      reject(error);
    }
  });
  setTimeout(() => reject(new Error("no webhook within 60 s")), 60000).unref();
});
results.webhook_valid = await validateWebhook(
  new Request("http://example.invalid/hook", {
    method: "POST", headers: delivered.headers, body: delivered.body,
  }),
  secret,
);
results.webhook_tampered = await validateWebhook(
  new Request("http://example.invalid/hook", {
    method: "POST", headers: delivered.headers, body: delivered.body.replace("hook", "hooc"),
  }),
  secret,
);
console.log(JSON.stringify(results));
