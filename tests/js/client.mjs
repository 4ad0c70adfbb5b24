// Drives `pinion hub` with Replicate's JavaScript client (replicate 1.4.0), changing
// only its base URL. Prints one JSON object of results for test_hub_js.py to check.
import Replicate, { validateWebhook } from "replicate";

const [baseUrl, auth, version] = process.argv.slice(2);
const replicate = new Replicate({ auth, baseUrl: baseUrl + "/v1" });
const results = {};

results.account = await replicate.accounts.current();
results.hardware = await replicate.hardware.list();
results.secret = await replicate.webhooks.default.secret.get();
results.created = await replicate.models.create("alice", "from-js", {
  visibility: "public",
  hardware: "cpu",
  description: "made by the JS client",
});
results.model = await replicate.models.get("alice", "hello");
results.search = await replicate.models.search("from-js");
results.versions = await replicate.models.versions.list("alice", "hello");
results.version = await replicate.models.versions.get("alice", "hello", version);
const names = [];
for await (const page of replicate.paginate(replicate.models.list)) {
  for (const model of page) names.push(model.name);
}
results.paginated = names;
results.collections = await replicate.collections.list();

const blob = new Blob(["hello from js"], { type: "text/plain" });
const file = await replicate.files.create(blob, { source: "js" });
results.file = file;
results.file_get = await replicate.files.get(file.id);
results.file_list = await replicate.files.list();
results.file_delete = await replicate.files.delete(file.id);

results.deployment = await replicate.deployments.create({
  name: "js-deployment",
  model: "alice/hello",
  version,
  hardware: "cpu",
  min_instances: 0,
  max_instances: 1,
});
results.deployment_update = await replicate.deployments.update("alice", "js-deployment", {
  max_instances: 2,
});
results.deployments = await replicate.deployments.list();

results.prediction = await replicate.predictions.create({ version, input: { text: "js" } });
results.prediction_get = await replicate.predictions.get(results.prediction.id);
results.predictions = await replicate.predictions.list();
results.model_prediction = await replicate.predictions.create({
  model: "alice/hello",
  input: { text: "js" },
});
results.deployment_delete = await replicate.deployments.delete("alice", "js-deployment");
try {
  await replicate.models.get("alice", "does-not-exist");
  results.missing = "no error";
} catch (error) {
  results.missing = { status: error.response.status, message: String(error.message) };
}
results.webhook_valid = await validateWebhook(
  {
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp: "1614265330",
    signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    body: '{"test": 2432232314}',
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  },
);
if (process.argv[5] === "run") {
  results.run = await replicate.run(`alice/hello:${version}`, { input: { text: "js" } });
  const streamed = [];
  for await (const event of replicate.stream(`alice/hello:${version}`, { input: { text: "s" } })) {
    streamed.push(String(event));
  }
  results.stream = streamed.join("");
}
console.log(JSON.stringify(results));
