// What the pages know about a model's OpenAPI document, with no DOM: the form's fields
// (from components.schemas.Input, ordered by x-order), the input object a filled form
// becomes, where a 422 puts each error, and how an output should be shown (from
// components.schemas.Output and the value itself). render.js turns these into elements;
// tests/web/ checks them under node.

const TEXTAREA_NAMES = /prompt|text|caption|description|message|content|question|context|system/i;

// The component a property refers to through allOf/$ref (how Cog writes choices).
function resolve(document, schema) {
  if (!schema || typeof schema !== "object") return {};
  let merged = { ...schema };
  const parts = [...(schema.allOf || []), ...(schema.$ref ? [{ $ref: schema.$ref }] : [])];
  for (const part of parts) {
    const ref = part && part.$ref;
    if (typeof ref === "string" && ref.startsWith("#/components/schemas/")) {
      const target = document?.components?.schemas?.[ref.slice(21)];
      if (target) merged = { ...target, ...merged };
    } else if (part) {
      merged = { ...part, ...merged };
    }
  }
  delete merged.allOf;
  delete merged.$ref;
  if (Array.isArray(merged.anyOf)) {
    const member = merged.anyOf.find((m) => m && m.type !== "null");
    if (member) merged = { ...resolve(document, member), ...merged, nullable: true };
    delete merged.anyOf;
  }
  return merged;
}

function titleOf(name) {
  return name
    .split("_")
    .map((piece) => (piece ? piece[0].toUpperCase() + piece.slice(1) : piece))
    .join(" ");
}

function isFileSchema(schema) {
  return schema && schema.type === "string" && schema.format === "uri";
}

// One descriptor per input, in x-order: {name, label, kind, type, required, help,
// default, choices, min, max, exclusiveMin, exclusiveMax, step, itemKind, nullable};
// type is the input's type as the form shows it (string, integer, file[], ...). kind is one of text, textarea, integer,
// number, boolean, select, file, secret, list, json.
export function inputFields(document) {
  const input = resolve(document, document?.components?.schemas?.Input);
  const properties = input.properties || {};
  const required = new Set(input.required || []);
  const names = Object.keys(properties);
  names.sort((a, b) => {
    const x = properties[a]?.["x-order"], y = properties[b]?.["x-order"];
    return (Number.isFinite(x) ? x : 1e9) - (Number.isFinite(y) ? y : 1e9) || names.indexOf(a) - names.indexOf(b);
  });
  return names.map((name) => fieldOf(document, name, properties[name], required.has(name)));
}

function fieldOf(document, name, property, required) {
  const schema = resolve(document, property);
  const field = {
    name,
    label: property.title || titleOf(name),
    required,
    help: property.description || (schema.description !== "An enumeration." ? schema.description : "") || "",
    nullable: Boolean(schema.nullable),
  };
  if ("default" in property) field.default = property.default;
  if (Array.isArray(schema.enum)) {
    field.kind = "select";
    field.choices = schema.enum;
    field.valueType = schema.type || "string";
  } else if (schema.type === "boolean") {
    field.kind = "boolean";
  } else if (schema.type === "integer" || schema.type === "number") {
    field.kind = schema.type;
    if (Number.isFinite(schema.minimum)) field.min = schema.minimum;
    if (Number.isFinite(schema.maximum)) field.max = schema.maximum;
    if (Number.isFinite(schema.exclusiveMinimum)) [field.min, field.exclusiveMin] = [schema.exclusiveMinimum, true];
    if (Number.isFinite(schema.exclusiveMaximum)) [field.max, field.exclusiveMax] = [schema.exclusiveMaximum, true];
    field.step = schema.type === "integer" ? 1 : stepFor(field.min, field.max);
    field.slider = field.min !== undefined && field.max !== undefined;
  } else if (schema["x-cog-secret"] || schema.format === "password") {
    field.kind = "secret";
  } else if (isFileSchema(schema)) {
    field.kind = "file";
    if (property["x-cog-accept"]) field.accept = property["x-cog-accept"];
  } else if (schema.type === "array") {
    const items = resolve(document, schema.items);
    field.kind = "list";
    field.itemKind = isFileSchema(items) ? "file" : items.type === "integer" || items.type === "number" ? items.type : items.type === "boolean" ? "boolean" : items.type === "string" ? "string" : "json";
  } else if (schema.type === "string") {
    field.kind = TEXTAREA_NAMES.test(name) || (schema.maxLength || 0) > 200 ? "textarea" : "text";
    if (Number.isFinite(schema.minLength)) field.minLength = schema.minLength;
    if (Number.isFinite(schema.maxLength)) field.maxLength = schema.maxLength;
    if (schema.pattern) field.pattern = schema.pattern;
  } else {
    field.kind = "json";
  }
  field.type = typeOf(field, schema);
  return field;
}

function typeOf(field, schema) {
  if (field.kind === "select") return field.valueType;
  if (field.kind === "list") return field.itemKind === "json" ? "array" : `${field.itemKind}[]`;
  if (field.kind === "text" || field.kind === "textarea") return "string";
  if (field.kind === "json") return typeof schema.type === "string" ? schema.type : "any";
  return field.kind;
}

function factValue(value) {
  if (typeof value === "string") return value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(value);
}

// What the form shows beside a field: its type, its default and its bounds, e.g.
// ["integer", "default 320", "minimum 16", "maximum 1024"]. A secret's default and an
// empty default (null, "", []) are not shown.
export function fieldFacts(field) {
  const facts = [field.type || field.kind];
  const value = field.default;
  const empty = value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
  if (!empty && field.kind !== "secret") facts.push(`default ${factValue(value)}`);
  if (field.min !== undefined) facts.push(`${field.exclusiveMin ? "greater than" : "minimum"} ${field.min}`);
  if (field.max !== undefined) facts.push(`${field.exclusiveMax ? "less than" : "maximum"} ${field.max}`);
  if (field.minLength !== undefined) facts.push(`at least ${field.minLength} characters`);
  if (field.maxLength !== undefined) facts.push(`at most ${field.maxLength} characters`);
  return facts;
}

function stepFor(min, max) {
  if (min === undefined || max === undefined) return "any";
  const span = max - min;
  return span > 0 && span <= 10 ? 0.01 : span > 0 && span <= 100 ? 0.1 : 1;
}

// A value typed into a field as the JSON the API expects. A text that is not a number
// stays text, so that the API's validation answers for it next to the field.
export function coerce(kind, text) {
  if (kind === "integer") return /^\s*-?\d+\s*$/.test(text) ? parseInt(text, 10) : text;
  if (kind === "number") return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
  if (kind === "boolean") return text === true || text === "true" || text === "on";
  if (kind === "json") {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

// The input object from raw field values: {name: string | boolean | string[] | url}.
// Empty optional fields are left out so that the model's default applies.
export function buildInput(fields, raw) {
  const input = {};
  for (const field of fields) {
    if (!(field.name in raw)) continue;
    const value = raw[field.name];
    if (field.kind === "boolean") {
      input[field.name] = Boolean(value);
      continue;
    }
    if (field.kind === "list") {
      const items = Array.isArray(value)
        ? value
        : String(value).split("\n").map((line) => line.trim()).filter((line) => line !== "");
      if (items.length === 0 && !field.required) continue;
      input[field.name] = field.itemKind === "file" || field.itemKind === "string" ? items : items.map((item) => coerce(field.itemKind, item));
      continue;
    }
    if (value === undefined || value === null || value === "") continue;
    if (field.kind === "select") input[field.name] = field.valueType === "integer" || field.valueType === "number" ? coerce(field.valueType, value) : value;
    else input[field.name] = coerce(field.kind, value);
  }
  return input;
}

// Cog's and the hub's 422 bodies as {field name: message}; errors about no one field
// (or about a field the form does not have) go under "".
export function fieldErrors(body, fields = []) {
  const known = new Set(fields.map((field) => field.name));
  const errors = {};
  const add = (name, message) => {
    const key = known.has(name) ? name : "";
    errors[key] = errors[key] ? `${errors[key]}; ${message}` : message;
  };
  // Cog: {detail: [entries]}; the hub: {detail: "sentence", errors: [entries]}.
  const detail = body && typeof body === "object" ? [body.errors, body.detail].find(Array.isArray) ?? body.detail : body;
  if (Array.isArray(detail)) {
    for (const entry of detail) {
      if (!entry || typeof entry !== "object") continue;
      const loc = Array.isArray(entry.loc) ? entry.loc : [];
      const at = loc[0] === "body" && loc[1] === "input" ? loc[2] : loc[loc.length - 1];
      const name = typeof at === "string" ? at.split("/")[0] : "";
      add(name, entry.msg || entry.message || JSON.stringify(entry));
    }
  } else if (typeof detail === "string") {
    add("", detail);
  } else if (body && typeof body === "object" && typeof body.error === "string") {
    add("", body.error);
  }
  return errors;
}

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|svg|avif)$/i;
const AUDIO = /\.(wav|mp3|ogg|oga|flac|m4a|aac|opus)$/i;
const VIDEO = /\.(mp4|webm|mov|mkv|ogv)$/i;

// What kind of file a URL holds, from a data: URI's type or the path's extension, or
// from a content type when one is known; "file" when none says.
export function mediaKind(url, contentType = "") {
  let type = contentType.toLowerCase();
  if (!type && url.startsWith("data:")) type = url.slice(5, url.search(/[;,]/)).toLowerCase();
  if (type.startsWith("image/")) return "image";
  if (type.startsWith("audio/")) return "audio";
  if (type.startsWith("video/")) return "video";
  if (type) return "file";
  let path = url;
  try {
    path = new URL(url).pathname;
  } catch {
    /* a relative or odd URL: look at it as it is */
  }
  if (IMAGE.test(path)) return "image";
  if (AUDIO.test(path)) return "audio";
  if (VIDEO.test(path)) return "video";
  return "file";
}

function isUrl(value) {
  return typeof value === "string" && /^(https?:|data:)/.test(value) && !/\s/.test(value.slice(0, 64));
}

// How to show an output: {kind: "text", text} | {kind: "media", url, media} |
// {kind: "list", items: [view]} | {kind: "json", value} | {kind: "empty"}.
// media is image, audio, video or "file" (a download link, or a kind still to learn
// from the server's Content-Type).
export function outputView(document, output) {
  const schema = resolve(document, document?.components?.schemas?.Output);
  return viewOf(schema, output);
}

function viewOf(schema, value) {
  if (value === null || value === undefined) return { kind: "empty" };
  if (Array.isArray(value)) {
    if (schema["x-cog-array-display"] === "concatenate") {
      return { kind: "text", text: value.join("") };
    }
    return { kind: "list", items: value.map((item) => viewOf(schema.items || {}, item)) };
  }
  if (typeof value === "string") {
    if (isUrl(value) && (isFileSchema(schema) || !schema.type || schema.type === "string")) return { kind: "media", url: value, media: mediaKind(value) };
    return { kind: "text", text: value };
  }
  return { kind: "json", value };
}

// Whether the output streams as text (the page shows tokens as they come).
export function streamsText(document) {
  const schema = resolve(document, document?.components?.schemas?.Output);
  return schema["x-cog-array-display"] === "concatenate";
}

// "1.2 s" / "340 ms" / "2 min 5 s".
export function formatSeconds(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

// The API tab: ready-to-paste snippets that call `base` (the hub's origin) for
// model owner/name with `input`. The token is left as an environment variable.
export function apiSnippets(base, model, version, input) {
  const body = JSON.stringify({ input }, null, 2);
  const pyInput = JSON.stringify(input, null, 4).replace(/\btrue\b/g, "True").replace(/\bfalse\b/g, "False").replace(/\bnull\b/g, "None");
  const ref = version ? `${model}:${version}` : model;
  return {
    curl: [
      `curl -s -X POST ${base}/v1/models/${model}/predictions \\`,
      `  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\`,
      `  -H "Content-Type: application/json" \\`,
      `  -H "Prefer: wait" \\`,
      `  -d '${body.replace(/'/g, "'\\''")}'`,
    ].join("\n"),
    javascript: [
      `import Replicate from "replicate";`,
      ``,
      `const replicate = new Replicate({`,
      `  auth: process.env.REPLICATE_API_TOKEN,`,
      `  baseUrl: "${base}/v1",`,
      `});`,
      `const output = await replicate.run("${ref}", {`,
      `  input: ${JSON.stringify(input, null, 2).replace(/\n/g, "\n  ")},`,
      `});`,
      `console.log(output);`,
    ].join("\n"),
    python: [
      `import os`,
      `import replicate`,
      ``,
      `client = replicate.Client(`,
      `    api_token=os.environ["REPLICATE_API_TOKEN"],`,
      `    base_url="${base}",`,
      `)`,
      `output = client.run(`,
      `    "${ref}",`,
      `    input=${pyInput.replace(/\n/g, "\n    ")},`,
      `)`,
      `print(output)`,
    ].join("\n"),
  };
}

export const TERMINAL = new Set(["succeeded", "failed", "canceled", "aborted"]);
