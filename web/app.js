// The hub's pages (web/hub.html is their one shell): the model list with search, a
// model page (description, versions, run count, the form, an API tab), a prediction
// page followed live, the prediction history, deployments and tokens. They call the
// hub's /v1 API with the session cookie set at /login and the session's CSRF token
// (the shell's <meta name="csrf-token">) as X-CSRF-Token; nothing else is fetched.

import { apiSnippets, fieldErrors, inputFields, mediaKind, outputView, streamsText, TERMINAL } from "./schema.js";
import { createRunPanel, el, icon, probeContentType, renderForm, renderOutput, statusBadge, timingText } from "./render.js";

const main = document.getElementById("main");
const ORIGIN = location.origin;
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, { body, headers = {}, raw } = {}) {
  const options = { method, headers: { ...headers, "X-CSRF-Token": CSRF }, credentials: "same-origin" };
  if (raw !== undefined) options.body = raw;
  else if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path.startsWith("/v1/") || path.startsWith("/session/") ? path : `/v1${path}`, options);
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
    throw new ApiError(401, { detail: "Signed out" });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { detail: text };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

async function uploadFile(file) {
  const form = new FormData();
  form.append("content", file, file.name);
  const created = await api("POST", "/files", { raw: form });
  return created.urls.get;
}

// The signed-in account ({username, ...}), or null when it cannot be read.
const ACCOUNT = api("GET", "/account").catch(() => null);

function runs(count = 0) {
  return `${count ?? 0} ${count === 1 ? "run" : "runs"}`;
}

function setTitle(text) {
  document.title = text ? `${text} · pinion hub` : "pinion hub";
}

function when(timestamp) {
  if (!timestamp) return "";
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? timestamp : date.toLocaleString();
}

function errorBox(error) {
  return el("p", { class: "form-error", role: "alert" }, error.message || String(error));
}

// On a narrow screen the header is one line: the brand and a Menu button that opens
// the links, the account and Sign out (style.css hides the button on wide screens).
function setUpMenu() {
  const header = document.querySelector(".top");
  const toggle = header?.querySelector(".menu-toggle");
  toggle?.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    header.classList.toggle("open", open);
  });
}

function markNav() {
  const path = location.pathname;
  for (const link of document.querySelectorAll(".top nav a")) {
    const href = link.getAttribute("href");
    const current = href === "/" ? path === "/" || (!["/predictions", "/deployments", "/tokens"].includes(path) && !path.startsWith("/p/")) : path === href || (href === "/predictions" && path.startsWith("/p/"));
    if (current) link.setAttribute("aria-current", "page");
  }
}

// --- following a prediction -------------------------------------------------------

// Keeps `panel` in step with prediction `id` until it ends: GET every 500 ms for
// status, logs and output, and the SSE stream for text that arrives token by token.
function follow(initial, schemaDocument, panel, { onUpdate } = {}) {
  let prediction = initial;
  let stopped = false;
  let source = null;
  let lastOutput = undefined;
  const streaming = Boolean(initial.urls?.stream) && streamsText(schemaDocument);
  const show = () => {
    panel.setStatus(prediction.status);
    panel.setTiming(timingText(prediction));
    panel.setLogs(prediction.logs || "");
    panel.setError(prediction.error || "");
    const serialized = JSON.stringify(prediction.output ?? null);
    const final = TERMINAL.has(prediction.status);
    if (serialized !== lastOutput && (!streaming || final || panel.streamedText() === null)) {
      if (!(streaming && !final && (prediction.output ?? null) === null)) panel.setOutput(shownOutput(schemaDocument, prediction));
      lastOutput = serialized;
    }
    onUpdate?.(prediction);
  };
  if (streaming && !TERMINAL.has(initial.status)) {
    source = new EventSource(initial.urls.stream);
    source.addEventListener("output", (event) => {
      if (!TERMINAL.has(prediction.status)) panel.appendText(event.data);
    });
    source.addEventListener("done", () => source.close());
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED || TERMINAL.has(prediction.status)) source.close();
    });
  }
  show();
  const ticker = setInterval(() => panel.setTiming(timingText(prediction)), 200);
  const poll = async () => {
    while (!stopped && !TERMINAL.has(prediction.status)) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      try {
        prediction = await api("GET", `/predictions/${prediction.id}`);
        show();
      } catch (error) {
        panel.setError(`Lost touch with the hub: ${error.message}`);
      }
    }
    clearInterval(ticker);
    source?.close();
  };
  poll();
  return {
    async cancel() {
      try {
        prediction = await api("POST", `/predictions/${prediction.id}/cancel`);
        show();
      } catch (error) {
        panel.setError(error.message);
      }
    },
    stop() {
      stopped = true;
      clearInterval(ticker);
      source?.close();
    },
  };
}

// The output view of a prediction: while it runs with nothing yet, a "waiting" line;
// once it ended with none, a line only when it succeeded (a failure shows its error).
function shownOutput(schemaDocument, prediction) {
  const view = outputView(schemaDocument, prediction.output);
  if (view.kind !== "empty") return view;
  if (!TERMINAL.has(prediction.status)) return { kind: "empty", message: "Waiting for output…" };
  return { kind: "empty", message: prediction.status === "succeeded" ? "The model returned no output." : null };
}

// --- pages ---------------------------------------------------------------------------

// The card's cover: the model's cover_image_url when this hub serves it (the pages load
// nothing from elsewhere), else the first image its default example produced.
function coverOf(model) {
  const ours = (url) => typeof url === "string" && url.startsWith(`${ORIGIN}/`) && mediaKind(url) === "image";
  if (ours(model.cover_image_url)) return model.cover_image_url;
  const output = model.default_example?.output;
  return (Array.isArray(output) ? output : [output]).find(ours) || null;
}

function modelCard(model) {
  const name = `${model.owner}/${model.name}`;
  const cover = coverOf(model);
  return el(
    "li",
    { class: "card" },
    cover ? el("img", { class: "cover", src: cover, alt: "", loading: "lazy" }) : null,
    el("a", { href: `/${model.owner}/${model.name}` }, name),
    el("p", { class: "muted" }, model.description || "No description."),
    el("p", { class: "meta" }, el("span", {}, runs(model.run_count)), el("span", {}, model.visibility || "")),
  );
}

async function modelsPage() {
  setTitle("Models");
  const list = el("ul", { class: "cards", "aria-live": "polite" });
  const search = el("input", { type: "search", name: "q", "aria-label": "Search models", placeholder: "Search models" });
  const form = el("form", { class: "search", role: "search" }, search, el("button", { type: "submit" }, icon("search"), "Search"));
  main.replaceChildren(el("h1", {}, "Models"), form, list);
  let generation = 0;
  const load = async () => {
    const mine = ++generation;
    const text = search.value.trim();
    try {
      const page = text ? await api("QUERY", "/models", { raw: text, headers: { "Content-Type": "text/plain" } }) : await api("GET", "/models");
      if (mine !== generation) return;
      const models = page.results || [];
      list.replaceChildren(...(models.length ? models.map(modelCard) : [el("li", { class: "muted" }, text ? `No model matches “${text}”.` : "No models yet. Publish one with pinion push --hub.")]));
    } catch (error) {
      list.replaceChildren(el("li", {}, errorBox(error)));
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(load, 200);
  });
  await load();
}

function tabs(entries) {
  const bar = el("div", { class: "tabs", role: "tablist" });
  const panels = [];
  entries.forEach(([label, content], index) => {
    const tab = el("button", { type: "button", role: "tab", id: `tab-${index}`, "aria-controls": `tabpanel-${index}`, "aria-selected": index === 0 ? "true" : "false", tabindex: index === 0 ? "0" : "-1" }, label);
    const panel = el("div", { role: "tabpanel", id: `tabpanel-${index}`, "aria-labelledby": `tab-${index}`, hidden: index !== 0 }, content);
    tab.addEventListener("click", () => select(index));
    tab.addEventListener("keydown", (event) => {
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (step) select((index + step + entries.length) % entries.length, true);
    });
    bar.append(tab);
    panels.push(panel);
  });
  function select(index, focus) {
    [...bar.children].forEach((tab, i) => {
      tab.setAttribute("aria-selected", i === index ? "true" : "false");
      tab.tabIndex = i === index ? 0 : -1;
      panels[i].hidden = i !== index;
    });
    if (focus) bar.children[index].focus();
  }
  return [bar, ...panels];
}

function snippetBlock(label, code) {
  const pre = el("pre", { class: "code", tabindex: "0", "aria-label": `${label} example` }, code);
  const copy = el("button", { type: "button", onclick: async () => {
    await navigator.clipboard?.writeText(code).catch(() => {});
    copy.textContent = "Copied";
    setTimeout(() => copy.replaceChildren(icon("copy"), "Copy"), 1500);
  } }, icon("copy"), "Copy");
  return el("div", { class: "snippet" }, el("h3", {}, label), el("div", { class: "snippet" }, pre, copy));
}

// A model's README, rendered as Markdown by the hub (cmark in its safe mode: no raw HTML,
// no javascript: or data: links; docs/internals/web.md). A template keeps the HTML inert
// until it is placed; links the hub emptied lose their href, the others open without a
// referrer. As its text when the hub cannot render it (no libcmark); null without one.
async function readmeOf(owner, name) {
  const url = `/v1/models/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/readme`;
  const get = (accept) => fetch(url, { headers: { Accept: accept, "X-CSRF-Token": CSRF }, credentials: "same-origin" }).catch(() => null);
  const html = await get("text/html");
  if (html?.ok && (html.headers.get("Content-Type") || "").startsWith("text/html")) {
    const template = document.createElement("template");
    template.innerHTML = await html.text();
    for (const link of template.content.querySelectorAll("a")) {
      if (!link.getAttribute("href")) link.removeAttribute("href");
      else link.rel = "noopener noreferrer nofollow";
    }
    return el("div", { class: "readme markdown" }, template.content);
  }
  if (html?.status === 404) return null;
  const text = await get("text/plain");
  return text?.ok ? el("pre", { class: "readme" }, await text.text()) : null;
}

async function modelPage(owner, name) {
  setTitle(`${owner}/${name}`);
  const model = await api("GET", `/models/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`);
  const versions = (await api("GET", `/models/${encodeURIComponent(owner)}/${encodeURIComponent(name)}/versions`).catch(() => ({ results: [] }))).results || [];
  const wanted = new URLSearchParams(location.search).get("version");
  const version = versions.find((v) => v.id === wanted) || model.latest_version || versions[0];
  const runCount = el("span", {}, runs(model.run_count));
  const refreshRuns = () => api("GET", `/models/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`).then((fresh) => (runCount.textContent = runs(fresh.run_count)), () => {});
  const links = [["GitHub", model.github_url], ["Paper", model.paper_url], ["License", model.license_url], ["Weights", model.weights_url]].filter(([, url]) => typeof url === "string" && /^https?:\/\//.test(url));
  const header = el(
    "div",
    {},
    el("h1", {}, `${owner}/${name}`),
    el("p", {}, model.description || el("span", { class: "muted" }, "No description.")),
    el("p", { class: "meta" }, runCount, el("span", {}, model.visibility), version ? el("span", {}, "version ", el("code", {}, version.id.slice(0, 12))) : null),
    links.length ? el("p", { class: "meta links" }, links.map(([label, url]) => el("a", { href: url, rel: "noopener noreferrer" }, label))) : null,
  );
  const readme = await readmeOf(owner, name);
  if (!version) {
    main.replaceChildren(header, el("p", {}, "This model has no version yet. Publish one with ", el("code", {}, `pinion push --hub ${ORIGIN} ${owner}/${name}`), "."));
    return;
  }
  const schemaDocument = version.openapi_schema || {};
  const fields = inputFields(schemaDocument);
  const form = renderForm(fields, { upload: uploadFile });
  let following = null;
  const panel = createRunPanel({ probe: probeContentType, onCancel: () => following?.cancel(), heading: null });
  panel.setOutput({ kind: "empty", message: "Run the model to see its output here." });
  const link = el("p", { class: "muted", "aria-live": "polite" });
  const apiBox = el("div");
  const showSnippets = (input) => {
    const snippets = apiSnippets(ORIGIN, `${owner}/${name}`, version.id, input);
    apiBox.replaceChildren(
      el("p", {}, "Call this model from your code with an API token in ", el("code", {}, "REPLICATE_API_TOKEN"), "."),
      snippetBlock("curl", snippets.curl),
      snippetBlock("JavaScript", snippets.javascript),
      snippetBlock("Python", snippets.python),
    );
  };
  showSnippets(defaultsOf(fields));
  form.form.addEventListener("input", () => form.read().then(showSnippets, () => {}));
  const versionList = el(
    "div",
    { class: "table-wrap" },
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Version"), el("th", {}, "Created"))), el("tbody", {}, versions.map((v) => el("tr", {}, el("td", {}, el("a", { href: `?version=${v.id}` }, el("code", {}, v.id.slice(0, 16))), v.id === version.id ? " (shown)" : ""), el("td", {}, when(v.created_at)))))),
  );
  main.replaceChildren(
    header,
    ...tabs([
      ["Playground", el("div", { class: "split" }, el("section", { "aria-label": "Input" }, el("h2", {}, "Input"), form.form), el("section", { "aria-label": "Output" }, el("h2", {}, "Output"), panel.element, link))],
      ["API", apiBox],
      ...(readme ? [["README", readme]] : []),
      [`Versions (${versions.length})`, versionList],
    ]),
  );

  form.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    following?.stop();
    form.clearErrors();
    form.setBusy(true);
    panel.setError("");
    panel.setLogs("");
    panel.setOutput({ kind: "empty", message: "Waiting for output…" });
    panel.setStatus("starting");
    panel.setTiming("");
    link.replaceChildren();
    try {
      const input = await form.read();
      const prediction = await api("POST", "/predictions", { body: { version: version.id, input } });
      refreshRuns();
      link.replaceChildren("Prediction ", el("a", { href: `/p/${prediction.id}` }, prediction.id));
      following = follow(prediction, schemaDocument, panel, {
        onUpdate: (p) => {
          if (!TERMINAL.has(p.status)) return;
          form.setBusy(false);
          refreshRuns();
        },
      });
    } catch (error) {
      // No prediction exists: no status pill, only the errors (by their fields for a 422).
      form.setBusy(false);
      panel.setStatus(null);
      panel.setOutput({ kind: "empty" });
      if (error.status === 422) form.showErrors(fieldErrors(error.body, fields));
      else panel.setError(error.message);
    }
  });
}

function defaultsOf(fields) {
  const input = {};
  for (const field of fields) if (field.default !== undefined && field.default !== null && field.kind !== "secret") input[field.name] = field.default;
  return input;
}

async function predictionPage(id) {
  setTitle(`Prediction ${id}`);
  const prediction = await api("GET", `/predictions/${encodeURIComponent(id)}`);
  const [owner, name] = (prediction.model || "/").split("/");
  const version = await api("GET", `/models/${owner}/${name}/versions/${prediction.version}`).catch(() => null);
  const schemaDocument = version?.openapi_schema || {};
  let following = null;
  const panel = createRunPanel({ probe: probeContentType, onCancel: () => following?.cancel(), heading: null });
  const inputList = el("dl", { class: "io" });
  for (const [key, value] of Object.entries(prediction.input || {})) inputList.append(el("dt", {}, key), el("dd", {}, inputValue(value)));
  const times = el("p", { class: "meta" });
  const showTimes = (p) => times.replaceChildren(el("span", {}, `Created ${when(p.created_at)}`), p.started_at ? el("span", {}, `started ${when(p.started_at)}`) : null, p.completed_at ? el("span", {}, `completed ${when(p.completed_at)}`) : null, p.source ? el("span", {}, `from ${p.source}`) : null);
  showTimes(prediction);
  const example = el("p", { class: "example", "aria-live": "polite" });
  const showExample = async (p) => {
    const model = await api("GET", `/models/${owner}/${name}`).catch(() => null);
    const me = await ACCOUNT;
    if (!model || model.default_example?.id === p.id) {
      example.replaceChildren(model ? el("span", { class: "muted" }, `The example of ${p.model}: its output is the model's cover.`) : "");
      return;
    }
    if (p.status !== "succeeded" || !me || me.username !== owner) return example.replaceChildren();
    const button = el("button", { type: "button", onclick: async () => {
      try {
        await api("PATCH", `/models/${owner}/${name}`, { body: { default_example: p.id } });
        await showExample(p);
      } catch (error) {
        example.replaceChildren(errorBox(error));
      }
    } }, "Use as the model's example");
    example.replaceChildren(button);
  };
  main.replaceChildren(
    el("h1", {}, "Prediction ", el("code", {}, prediction.id)),
    el("p", { class: "meta" }, el("a", { href: `/${owner}/${name}` }, prediction.model), el("span", {}, "version ", el("code", {}, String(prediction.version).slice(0, 12))), prediction.deployment ? el("span", {}, `deployment ${prediction.deployment}`) : null),
    times,
    example,
    el("div", { class: "split" }, el("section", { "aria-label": "Input" }, el("h2", {}, "Input"), inputList), el("section", { "aria-label": "Output" }, el("h2", {}, "Output"), panel.element)),
  );
  let exampleShown = false;
  following = follow(prediction, schemaDocument, panel, {
    onUpdate: (p) => {
      showTimes(p);
      if (!TERMINAL.has(p.status) || exampleShown) return;
      exampleShown = true;
      showExample(p).catch(() => {});
    },
  });
}

// An input as the prediction page shows it: files as previews or download links, lists
// item by item (wrapping inside their column), other values as text or JSON.
function inputValue(value) {
  if (Array.isArray(value)) {
    const files = value.length > 0 && value.every(isFileUrl);
    return el("ul", { class: files ? "input-list gallery" : "input-list" }, value.map((item) => el("li", {}, inputValue(item))));
  }
  if (isFileUrl(value)) return inputFile(value);
  if (typeof value === "string") return el("span", { class: "input-text" }, value);
  return el("code", { class: "input-json" }, JSON.stringify(value));
}

function isFileUrl(value) {
  return typeof value === "string" && /^(https?:|data:)/.test(value);
}

// This hub's /v1/files/{id} URL names an upload's JSON document; its bytes come from
// /v1/files/{id}/download, fetched with the session (the owner needs no signature)
// into a blob: URL that lives as long as the page. Other URLs of this hub and data:
// URIs are shown as outputs are; a URL elsewhere is a plain link (the pages load
// nothing from other origins).
function inputFile(url) {
  const box = el("div", { class: "input-file" });
  const prefix = `${ORIGIN}/v1/files/`;
  const id = url.startsWith(prefix) && /^[A-Za-z0-9]+$/.test(url.slice(prefix.length)) ? url.slice(prefix.length) : null;
  if (!id && !url.startsWith("data:") && !url.startsWith(`${ORIGIN}/`)) {
    box.append(el("a", { href: url, rel: "noopener noreferrer" }, url));
    return box;
  }
  if (!id) {
    renderOutput(box, { kind: "media", url, media: mediaKind(url) }, { probe: probeContentType });
    return box;
  }
  box.append(el("span", { class: "muted" }, "Loading the file…"));
  (async () => {
    const file = await api("GET", `/files/${id}`);
    const response = await fetch(`/v1/files/${id}/download`, { headers: { "X-CSRF-Token": CSRF }, credentials: "same-origin" });
    if (!response.ok) throw new ApiError(response.status, null);
    const blob = await response.blob();
    renderOutput(box, { kind: "media", url: URL.createObjectURL(blob), media: mediaKind(file.name || "", file.content_type || blob.type), name: file.name || id });
  })().catch((error) => box.replaceChildren(el("span", { class: "muted" }, error.status === 404 ? `The file ${id} is no longer on the hub.` : `The file ${id} could not be loaded: ${error.message}`)));
  return box;
}

async function predictionsPage() {
  setTitle("Predictions");
  const body = el("tbody");
  const more = el("button", { type: "button", hidden: true }, "Load more");
  main.replaceChildren(
    el("h1", {}, "Predictions"),
    el("div", { class: "table-wrap" }, el("table", { class: "cards-on-phone" }, el("thead", {}, el("tr", {}, el("th", {}, "Prediction"), el("th", {}, "Model"), el("th", {}, "Status"), el("th", {}, "Created"), el("th", {}, "Time"))), body)),
    more,
  );
  let next = "/predictions";
  const load = async () => {
    const page = await api("GET", next.startsWith("http") ? new URL(next).pathname.replace(/^\/v1/, "") + new URL(next).search : next);
    for (const p of page.results || []) {
      // data-label names each cell on a phone, where the rows become cards.
      body.append(el("tr", {}, el("td", { "data-label": "Prediction" }, el("a", { href: `/p/${p.id}` }, el("code", {}, p.id))), el("td", { "data-label": "Model" }, p.model), el("td", { "data-label": "Status" }, statusBadge(p.status)), el("td", { "data-label": "Created" }, when(p.created_at)), el("td", { "data-label": "Time" }, timingText(p))));
    }
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No predictions yet.")));
    next = page.next;
    more.hidden = !next;
  };
  more.addEventListener("click", load);
  await load();
}

async function deploymentsPage() {
  setTitle("Deployments");
  const body = el("tbody");
  const status = el("p", { role: "status", "aria-live": "polite" });
  const hardware = await api("GET", "/hardware").catch(() => [{ sku: "cpu", name: "CPU" }]);
  const field = (label, control) => el("div", { class: "field" }, el("label", { for: control.id }, label), control);
  const inputs = {
    name: el("input", { id: "deployment-name", name: "name", required: true, pattern: "[a-z0-9][a-z0-9_.-]*" }),
    model: el("input", { id: "deployment-model", name: "model", placeholder: "owner/name", required: true }),
    version: el("input", { id: "deployment-version", name: "version", placeholder: "64 hex characters (empty: the latest)" }),
    hardware: el("select", { id: "deployment-hardware", name: "hardware" }, (Array.isArray(hardware) ? hardware : []).map((h) => el("option", { value: h.sku }, h.name || h.sku))),
    min_instances: el("input", { id: "deployment-min", name: "min_instances", type: "number", min: 0, max: 5, value: 0 }),
    max_instances: el("input", { id: "deployment-max", name: "max_instances", type: "number", min: 0, max: 20, value: 1 }),
  };
  const form = el("form", { "aria-label": "New deployment" }, field("Name", inputs.name), field("Model", inputs.model), field("Version", inputs.version), field("Hardware", inputs.hardware), field("Minimum instances", inputs.min_instances), field("Maximum instances", inputs.max_instances), el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Create deployment")), status);
  const load = async () => {
    const page = await api("GET", "/deployments");
    body.replaceChildren(...(page.results || []).map((d) => {
      const release = d.current_release || {};
      const config = release.configuration || {};
      return el("tr", {}, el("td", {}, `${d.owner}/${d.name}`), el("td", {}, el("a", { href: `/${release.model}` }, release.model || "")), el("td", {}, el("code", {}, String(release.version || "").slice(0, 12))), el("td", {}, config.hardware || ""), el("td", {}, `${config.min_instances ?? ""}–${config.max_instances ?? ""}`), el("td", {}, String(release.number ?? "")));
    }));
    if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No deployments yet.")));
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      let version = inputs.version.value.trim();
      if (!version) {
        const [owner, name] = inputs.model.value.trim().split("/");
        version = (await api("GET", `/models/${owner}/${name}`)).latest_version?.id;
      }
      await api("POST", "/deployments", { body: { name: inputs.name.value.trim(), model: inputs.model.value.trim(), version, hardware: inputs.hardware.value, min_instances: Number(inputs.min_instances.value), max_instances: Number(inputs.max_instances.value) } });
      status.textContent = "Created.";
      form.reset();
      await load();
    } catch (error) {
      status.textContent = error.message;
    }
  });
  main.replaceChildren(
    el("h1", {}, "Deployments"),
    el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Deployment"), el("th", {}, "Model"), el("th", {}, "Version"), el("th", {}, "Hardware"), el("th", {}, "Instances"), el("th", {}, "Release"))), body)),
    el("h2", {}, "New deployment"),
    form,
  );
  await load();
}

async function tokensPage() {
  setTitle("Tokens");
  const body = el("tbody");
  const status = el("p", { role: "status", "aria-live": "polite" });
  const created = el("div", { "aria-live": "polite" });
  const label = el("input", { id: "token-name", name: "name", placeholder: "e.g. laptop" });
  const load = async () => {
    const tokens = await api("GET", "/session/tokens");
    body.replaceChildren(...tokens.map((t) => el("tr", {}, el("td", {}, t.name || el("span", { class: "muted" }, "unnamed")), el("td", {}, el("code", {}, t.id)), el("td", {}, when(t.created_at)), el("td", {}, when(t.last_used_at) || "never"), el("td", {}, t.revoked ? "revoked" : el("button", { type: "button", class: "danger", onclick: async () => {
      await api("POST", `/session/tokens/${encodeURIComponent(t.id)}/revoke`).catch((error) => (status.textContent = error.message));
      await load();
    } }, "Revoke")))));
  };
  const form = el("form", { class: "inline-form", "aria-label": "New token" }, el("label", { for: "token-name" }, "Name"), label, el("button", { type: "submit", class: "primary" }, icon("plus"), "Create token"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const token = await api("POST", "/session/tokens", { body: { name: label.value.trim() } });
      created.replaceChildren(el("p", {}, "Your new token (shown once):"), el("pre", { class: "code" }, token.token));
      label.value = "";
      await load();
    } catch (error) {
      status.textContent = error.message;
    }
  });
  main.replaceChildren(el("h1", {}, "API tokens"), form, created, status, el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Id"), el("th", {}, "Created"), el("th", {}, "Last used"), el("th", {}, ""))), body)));
  await load();
}

// --- routing -------------------------------------------------------------------------

async function route() {
  setUpMenu();
  markNav();
  ACCOUNT.then((account) => account && (document.getElementById("account").textContent = account.username));
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (path === "/") return modelsPage();
  if (path === "/predictions") return predictionsPage();
  if (path === "/deployments") return deploymentsPage();
  if (path === "/tokens") return tokensPage();
  if (parts.length === 2 && parts[0] === "p") return predictionPage(parts[1]);
  if (parts.length === 2) return modelPage(parts[0], parts[1]);
  main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "There is no page here. See ", el("a", { href: "/predictions" }, "your predictions"), " or ", el("a", { href: "/" }, "the models"), "."));
}

route().catch((error) => {
  if (error.status === 401) return;
  main.replaceChildren(el("h1", {}, error.status === 404 ? "Not found" : "Something went wrong"), errorBox(error));
});
