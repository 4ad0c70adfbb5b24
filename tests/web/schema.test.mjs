// Unit tests for web/schema.js, the pages' form and output logic, against sample
// OpenAPI documents as Cog writes them (cog-compat §3).
import { test } from "node:test";
import assert from "node:assert/strict";
import { apiSnippets, buildInput, coerce, fieldErrors, fieldFacts, formatSeconds, inputFields, mediaKind, outputView, streamsText } from "../../web/schema.js";

const worked = {
  components: {
    schemas: {
      Input: {
        properties: {
          api_token: { description: "Upstream key", format: "password", title: "Api Token", type: "string", writeOnly: true, "x-cog-secret": true, "x-order": 4 },
          caption: { description: "What to draw", title: "Caption", type: "string", "x-order": 0 },
          mask: { default: null, format: "uri", nullable: true, title: "Mask", type: "string", "x-order": 3 },
          palette: { allOf: [{ $ref: "#/components/schemas/palette" }], default: "warm", "x-order": 2 },
          steps: { default: 20, maximum: 50, minimum: 1, title: "Steps", type: "integer", "x-order": 1 },
          words: { type: "array", items: { type: "string" }, title: "Words", "x-order": 5 },
          scales: { type: "array", items: { type: "number" }, title: "Scales", "x-order": 6 },
          frames: { type: "array", items: { type: "string", format: "uri" }, "x-order": 7 },
          fast: { type: "boolean", default: true, "x-order": 8 },
          extra: { type: "object", "x-order": 9 },
          guidance: { type: "number", minimum: 0, maximum: 2, default: 0.5, "x-order": 10 },
          seed: { type: "integer", "x-order": 11 },
        },
        required: ["caption", "api_token"],
        title: "Input",
        type: "object",
      },
      Output: { items: { format: "uri", type: "string" }, title: "Output", type: "array", "x-cog-array-type": "iterator" },
      palette: { description: "An enumeration.", enum: ["warm", "cool"], title: "palette", type: "string" },
    },
  },
};

const concatenate = { components: { schemas: { Output: { items: { type: "string" }, type: "array", "x-cog-array-type": "iterator", "x-cog-array-display": "concatenate" } } } };

test("fields follow x-order, not key order", () => {
  assert.deepEqual(inputFields(worked).map((f) => f.name), ["caption", "steps", "palette", "mask", "api_token", "words", "scales", "frames", "fast", "extra", "guidance", "seed"]);
});

test("each kind of input gets its control", () => {
  const byName = Object.fromEntries(inputFields(worked).map((f) => [f.name, f]));
  assert.equal(byName.caption.kind, "textarea");
  assert.equal(byName.caption.required, true);
  assert.equal(byName.caption.help, "What to draw");
  assert.deepEqual([byName.steps.kind, byName.steps.min, byName.steps.max, byName.steps.default, byName.steps.slider, byName.steps.step], ["integer", 1, 50, 20, true, 1]);
  assert.deepEqual([byName.palette.kind, byName.palette.choices, byName.palette.default, byName.palette.help], ["select", ["warm", "cool"], "warm", ""]);
  assert.equal(byName.palette.label, "Palette");
  assert.deepEqual([byName.mask.kind, byName.mask.nullable, byName.mask.required], ["file", true, false]);
  assert.equal(byName.api_token.kind, "secret");
  assert.equal(byName.api_token.label, "Api Token");
  assert.deepEqual([byName.words.kind, byName.words.itemKind], ["list", "string"]);
  assert.deepEqual([byName.scales.kind, byName.scales.itemKind], ["list", "number"]);
  assert.deepEqual([byName.frames.kind, byName.frames.itemKind], ["list", "file"]);
  assert.deepEqual([byName.fast.kind, byName.fast.default], ["boolean", true]);
  assert.equal(byName.extra.kind, "json");
  assert.deepEqual([byName.guidance.kind, byName.guidance.step, byName.guidance.slider], ["number", 0.01, true]);
  assert.deepEqual([byName.seed.kind, byName.seed.slider], ["integer", false]);
  assert.equal(byName.seed.label, "Seed");
});

test("enums of integers keep their type; anyOf unions use their non-null member", () => {
  const doc = { components: { schemas: { Input: { properties: { n: { allOf: [{ $ref: "#/components/schemas/n" }], "x-order": 0 }, u: { anyOf: [{ type: "integer" }, { type: "null" }], "x-order": 1 } } }, n: { enum: [1, 2, 4], type: "integer" } } } };
  const [n, u] = inputFields(doc);
  assert.deepEqual([n.kind, n.valueType], ["select", "integer"]);
  assert.deepEqual(buildInput([n], { n: "4" }), { n: 4 });
  assert.deepEqual([u.kind, u.nullable], ["integer", true]);
});

test("a form's values become the input object", () => {
  const fields = inputFields(worked);
  const input = buildInput(fields, { caption: "a cat", steps: "30", palette: "cool", mask: "", api_token: "k", words: "one\n two \n\n", scales: "1.5\n2", fast: false, extra: '{"a": 1}', guidance: "0.25", seed: "" });
  assert.deepEqual(input, { caption: "a cat", steps: 30, palette: "cool", api_token: "k", words: ["one", "two"], scales: [1.5, 2], fast: false, extra: { a: 1 }, guidance: 0.25 });
});

test("text that is not a number stays text so the API can say what is wrong", () => {
  assert.equal(coerce("integer", "abc"), "abc");
  assert.equal(coerce("integer", "1.5"), "1.5");
  assert.equal(coerce("number", "1e3"), 1000);
  assert.equal(coerce("number", " "), " ");
  assert.equal(coerce("json", "{bad"), "{bad");
});

test("422 bodies map to their fields", () => {
  const fields = inputFields(worked);
  const cog = { detail: [{ loc: ["body", "input", "steps"], msg: "0 is less than the minimum of 1", type: "value_error" }, { loc: ["body", "input", "caption"], msg: "Field required", type: "value_error.missing" }, { loc: ["body", "input", "words/1"], msg: "1 is not of type \"string\"", type: "value_error" }, { loc: ["body", "input", "__root__"], msg: "bad", type: "value_error" }] };
  assert.deepEqual(fieldErrors(cog, fields), { steps: "0 is less than the minimum of 1", caption: "Field required", words: '1 is not of type "string"', "": "bad" });
  assert.deepEqual(fieldErrors({ detail: "Version not found", status: 404 }, fields), { "": "Version not found" });
  const hub = { title: "Input validation failed", detail: "The input is invalid: steps: 0 is less than the minimum of 1.", status: 422, errors: [{ loc: ["body", "input", "steps"], msg: "0 is less than the minimum of 1", type: "value_error" }] };
  assert.deepEqual(fieldErrors(hub, fields), { steps: "0 is less than the minimum of 1" });
  assert.deepEqual(fieldErrors({ error: "At capacity", status: "failed" }, fields), { "": "At capacity" });
});

test("outputs are shown by type", () => {
  assert.deepEqual(outputView(concatenate, ["hello ", "there, ", "you"]), { kind: "text", text: "hello there, you" });
  assert.ok(streamsText(concatenate));
  assert.ok(!streamsText(worked));
  const gallery = outputView(worked, ["https://h/a.png", "data:image/jpeg;base64,AAA"]);
  assert.deepEqual(gallery, { kind: "list", items: [{ kind: "media", url: "https://h/a.png", media: "image" }, { kind: "media", url: "data:image/jpeg;base64,AAA", media: "image" }] });
  const path = { components: { schemas: { Output: { type: "string", format: "uri" } } } };
  assert.equal(outputView(path, "http://h/speech.wav").media, "audio");
  assert.equal(outputView(path, "http://h/v1/files/x/download?sig=1").media, "file");
  assert.equal(outputView(path, "data:video/mp4;base64,AA").media, "video");
  const object = { components: { schemas: { Output: { type: "object", properties: { label: { type: "integer" } } } } } };
  assert.deepEqual(outputView(object, { label: 8 }), { kind: "json", value: { label: 8 } });
  const text = { components: { schemas: { Output: { type: "string" } } } };
  assert.deepEqual(outputView(text, "plain words"), { kind: "text", text: "plain words" });
  assert.deepEqual(outputView(text, null), { kind: "empty" });
});

test("media kinds come from types, data URIs and extensions", () => {
  assert.equal(mediaKind("http://h/x", "audio/wav"), "audio");
  assert.equal(mediaKind("http://h/x", "application/zip"), "file");
  assert.equal(mediaKind("data:image/png;base64,AA"), "image");
  assert.equal(mediaKind("http://h/clip.webm?x=1"), "video");
  assert.equal(mediaKind("report.pdf"), "file");
});

test("snippets call the hub's URL", () => {
  const snippets = apiSnippets("http://127.0.0.1:8080", "acme/hello", "ab12", { text: "it's", fast: true });
  assert.match(snippets.curl, /curl -s -X POST http:\/\/127\.0\.0\.1:8080\/v1\/models\/acme\/hello\/predictions/);
  assert.match(snippets.curl, /'\\''/);
  assert.match(snippets.javascript, /baseUrl: "http:\/\/127\.0\.0\.1:8080\/v1"/);
  assert.match(snippets.javascript, /replicate\.run\("acme\/hello:ab12"/);
  assert.match(snippets.python, /base_url="http:\/\/127\.0\.0\.1:8080"/);
  assert.match(snippets.python, /"fast": True/);
});

test("durations read naturally", () => {
  assert.equal(formatSeconds(0.25), "250 ms");
  assert.equal(formatSeconds(1.234), "1.23 s");
  assert.equal(formatSeconds(125), "2 min 5 s");
  assert.equal(formatSeconds(undefined), "");
});

test("each field shows its type, default and bounds, as Replicate's form does", () => {
  const facts = Object.fromEntries(inputFields(worked).map((field) => [field.name, fieldFacts(field)]));
  assert.deepEqual(facts.steps, ["integer", "default 20", "minimum 1", "maximum 50"]);
  assert.deepEqual(facts.guidance, ["number", "default 0.5", "minimum 0", "maximum 2"]);
  assert.deepEqual(facts.palette, ["string", "default warm"]);
  assert.deepEqual(facts.caption, ["string"]);
  assert.deepEqual(facts.mask, ["file"]);
  assert.deepEqual(facts.api_token, ["secret"]);
  assert.deepEqual(facts.words, ["string[]"]);
  assert.deepEqual(facts.scales, ["number[]"]);
  assert.deepEqual(facts.frames, ["file[]"]);
  assert.deepEqual(facts.fast, ["boolean", "default true"]);
  assert.deepEqual(facts.extra, ["object"]);
  assert.deepEqual(facts.seed, ["integer"]);
});

test("exclusive bounds, lengths and a secret's default read as such", () => {
  const document = { components: { schemas: { Input: { properties: {
    ratio: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.25 },
    code: { type: "string", minLength: 2, maxLength: 8, default: "ab" },
    key: { type: "string", format: "password", "x-cog-secret": true, default: "hunter2" },
  } } } } };
  const facts = Object.fromEntries(inputFields(document).map((field) => [field.name, fieldFacts(field)]));
  assert.deepEqual(facts.ratio, ["number", "default 0.25", "greater than 0", "less than 1"]);
  assert.deepEqual(facts.code, ["string", "default ab", "at least 2 characters", "at most 8 characters"]);
  assert.deepEqual(facts.key, ["secret"]);
});
