// Validates Kubernetes objects against their schemas, offline: reads a JSON array of
// objects on stdin (the test turns YAML into it) and checks each with the model class
// of its apiVersion and kind, from `kubernetes-models` (Kubernetes' own OpenAPI
// schemas) and `@kubernetes-models/keda` (KEDA's CRDs). Prints one line per object,
// "ok KIND NAME" or "invalid KIND NAME: WHY", and exits 1 when any is invalid or of a
// kind these packages do not know.
import { readFileSync } from "node:fs";

function modulePath(apiVersion) {
  const slash = apiVersion.indexOf("/");
  if (slash < 0) return `kubernetes-models/${apiVersion}`; // the core group: "v1"
  const group = apiVersion.slice(0, slash);
  const version = apiVersion.slice(slash + 1);
  if (group === "keda.sh") return `@kubernetes-models/keda/${group}/${version}`;
  return `kubernetes-models/${group}/${version}`;
}

const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const object of objects) {
  const name = `${object.kind} ${object.metadata && object.metadata.name}`;
  let Model;
  try {
    Model = (await import(modulePath(object.apiVersion)))[object.kind];
  } catch (error) {
    Model = undefined;
  }
  if (!Model) {
    console.log(`invalid ${name}: no schema for ${object.apiVersion} ${object.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`ok ${name}`);
  } catch (error) {
    console.log(`invalid ${name}: ${error.message.replace(/\s+/g, " ")}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
