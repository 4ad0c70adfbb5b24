// The DOM side of the pages, shared by the hub's pages (app.js) and `pinion serve`'s
// page (serve.js): the form built from schema.js's fields, the run panel (status,
// timing, output, logs, cancel) and the output renderers. Nothing here talks to a
// server except through the callbacks it is given (upload a file, learn a URL's type).

import { buildInput, fieldFacts, formatSeconds, mediaKind, TERMINAL } from "./schema.js";

// A small local icon set (24x24 strokes), used inline so the pages fetch no icon files.
const ICON_PATHS = {
  play: "M7 4v16l13-8z",
  stop: "M6 6h12v12H6z",
  download: "M12 3v12m0 0l-5-5m5 5l5-5M4 21h16",
  copy: "M9 9h11v11H9zM5 15H4V4h11v1",
  search: "M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zm5-2l5 5",
  plus: "M12 5v14M5 12h14",
};

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICON_PATHS[name] || "");
  svg.append(path);
  return svg;
}

// el("p", {class: "x", onclick: f}, "text", child) — a small element builder.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function previewFor(file) {
  const url = URL.createObjectURL(file);
  const kind = mediaKind(file.name, file.type);
  if (kind === "image") return el("img", { src: url, alt: `Preview of ${file.name}`, class: "preview" });
  if (kind === "audio") return el("audio", { src: url, controls: true, class: "preview" });
  if (kind === "video") return el("video", { src: url, controls: true, class: "preview" });
  return el("span", { class: "muted" }, `${file.name} (${file.size} bytes)`);
}

function controlFor(field, id, describedBy) {
  const common = { id, name: field.name, "aria-describedby": describedBy, "aria-required": field.required ? "true" : null };
  const text = (value) => (value === undefined || value === null ? "" : typeof value === "object" ? JSON.stringify(value, null, 2) : String(value));
  switch (field.kind) {
    case "textarea":
      return el("textarea", { ...common, rows: 3 }, text(field.default));
    case "secret":
      return el("input", { ...common, type: "password", autocomplete: "off", value: text(field.default) });
    case "boolean":
      return el("input", { ...common, type: "checkbox", checked: field.default === true });
    case "select":
      return el("select", common, field.choices.map((choice) => el("option", { value: String(choice), selected: choice === field.default }, String(choice))));
    case "integer":
    case "number":
      return el("input", { ...common, type: "number", inputmode: field.kind === "integer" ? "numeric" : "decimal", min: field.min, max: field.max, step: field.step, value: text(field.default) });
    case "file":
      return el("input", { ...common, type: "file", accept: field.accept });
    case "list":
      if (field.itemKind === "file") return el("input", { ...common, type: "file", multiple: true });
      return el("textarea", { ...common, rows: 3, placeholder: "One item per line" }, Array.isArray(field.default) ? field.default.map((item) => (typeof item === "object" ? JSON.stringify(item) : String(item))).join("\n") : "");
    case "json":
      return el("textarea", { ...common, rows: 4, class: "mono", placeholder: "JSON" }, text(field.default));
    default:
      return el("input", { ...common, type: "text", value: text(field.default), minlength: field.minLength, maxlength: field.maxLength });
  }
}

function fieldElement(field) {
  const id = `input-${field.name}`;
  const help = field.help ? el("p", { class: "help", id: `${id}-help` }, field.help) : null;
  const error = el("p", { class: "field-error", id: `${id}-error`, role: "alert", hidden: true });
  // The type, default and bounds, beside the label as on Replicate's form.
  const facts = el("span", { class: "facts", id: `${id}-facts` }, fieldFacts(field).map((fact) => el("span", { class: "fact" }, fact)));
  const control = controlFor(field, id, [`${id}-facts`, help ? `${id}-help` : null, `${id}-error`].filter(Boolean).join(" "));
  const label = el("label", { for: id }, field.label, field.required ? el("span", { class: "required", title: "required" }, " *") : null, el("code", { class: "name" }, field.name));
  const row = el("div", { class: `field field-${field.kind}`, "data-field": field.name });
  if (field.kind === "boolean") {
    row.append(el("div", { class: "check" }, control, label, facts));
  } else {
    row.append(el("div", { class: "field-head" }, label, facts));
    if (field.slider) {
      const slider = el("input", { type: "range", min: field.min, max: field.max, step: field.step, value: field.default ?? field.min, "aria-label": `${field.label} slider`, tabindex: "-1" });
      slider.addEventListener("input", () => (control.value = slider.value));
      control.addEventListener("input", () => (slider.value = control.value));
      row.append(el("div", { class: "number-row" }, slider, control));
    } else {
      row.append(control);
    }
  }
  if (field.kind === "file" || (field.kind === "list" && field.itemKind === "file")) {
    const previews = el("div", { class: "previews" });
    control.addEventListener("change", () => previews.replaceChildren(...[...control.files].map(previewFor)));
    row.append(previews);
  }
  if (help) row.append(help);
  row.append(error);
  return { row, control, error };
}

// The form for `fields`. upload(file) resolves to the URL (or data: URI) that stands
// for the file in the input. Returns {form, read, showErrors, clearErrors}; the caller
// listens for submit.
export function renderForm(fields, { upload, submitLabel = "Run" } = {}) {
  const rows = new Map();
  const form = el("form", { class: "run-form", novalidate: true, "aria-label": "Inputs" });
  for (const field of fields) {
    const parts = fieldElement(field);
    rows.set(field.name, parts);
    form.append(parts.row);
  }
  const formError = el("p", { class: "form-error", role: "alert", hidden: true });
  const submit = el("button", { type: "submit", class: "primary" }, icon("play"), submitLabel);
  form.append(formError, el("div", { class: "actions" }, submit, el("button", { type: "reset" }, "Reset")));
  form.addEventListener("reset", () => {
    for (const { row } of rows.values()) row.querySelector(".previews")?.replaceChildren();
    clearErrors();
  });

  async function read() {
    const raw = {};
    for (const field of fields) {
      const { control } = rows.get(field.name);
      if (field.kind === "boolean") raw[field.name] = control.checked;
      else if (control.type === "file") {
        if (control.files.length === 0) continue;
        const urls = await Promise.all([...control.files].map((file) => upload(file)));
        raw[field.name] = field.kind === "list" ? urls : urls[0];
      } else raw[field.name] = control.value;
    }
    return buildInput(fields, raw);
  }

  function clearErrors() {
    formError.hidden = true;
    formError.textContent = "";
    for (const { row, control, error } of rows.values()) {
      error.hidden = true;
      error.textContent = "";
      control.removeAttribute("aria-invalid");
      row.classList.remove("invalid");
    }
  }

  // errors: {field name: message, "": message for the form}.
  function showErrors(errors) {
    clearErrors();
    let first = null;
    for (const [name, message] of Object.entries(errors)) {
      const parts = rows.get(name);
      if (!parts) {
        formError.textContent = message;
        formError.hidden = false;
        continue;
      }
      parts.error.textContent = message;
      parts.error.hidden = false;
      parts.control.setAttribute("aria-invalid", "true");
      parts.row.classList.add("invalid");
      first = first || parts.control;
    }
    first?.focus();
  }

  function setBusy(busy) {
    submit.disabled = busy;
  }

  return { form, read, showErrors, clearErrors, setBusy, submit };
}

// A file output. media "file" with an http(s) URL may still be an image: the server's
// Content-Type decides (probe(url) resolves to it), so hub file URLs without an
// extension show as what they are.
function mediaElement(view, probe) {
  const box = el("div", { class: "media" });
  const show = (kind) => {
    const link = el("a", { href: view.url, download: view.name || "", class: "download" }, icon("download"), view.name ? `Download ${view.name}` : "Download");
    let node;
    if (kind === "image") node = el("img", { src: view.url, alt: view.name ? `Image ${view.name}` : "Output image", loading: "lazy" });
    else if (kind === "audio") node = el("audio", { src: view.url, controls: true, preload: "metadata" });
    else if (kind === "video") node = el("video", { src: view.url, controls: true, preload: "metadata" });
    else node = null;
    box.replaceChildren(...[node, link].filter(Boolean));
    box.dataset.media = kind;
  };
  if (view.media === "file" && probe && /^https?:/.test(view.url)) {
    show("file");
    probe(view.url).then((type) => type && show(mediaKind(view.url, type)), () => {});
  } else {
    show(view.media);
  }
  return box;
}

// Renders a view from schema.outputView into `container` (replacing its contents).
export function renderOutput(container, view, { probe } = {}) {
  container.replaceChildren(outputNode(view, probe));
}

function outputNode(view, probe) {
  switch (view.kind) {
    case "text":
      return el("div", { class: "output-text" }, view.text);
    case "media":
      return mediaElement(view, probe);
    case "list":
      return el("div", { class: view.items.every((item) => item.kind === "media") ? "gallery" : "output-list" }, view.items.map((item) => outputNode(item, probe)));
    case "json":
      return el("pre", { class: "output-json" }, JSON.stringify(view.value, null, 2));
    default:
      return view.message ? el("p", { class: "muted" }, view.message) : document.createTextNode("");
  }
}

// Finds a URL's Content-Type without keeping its body: a GET aborted once the
// headers are in (HEAD is not served everywhere).
export async function probeContentType(url) {
  const controller = new AbortController();
  try {
    const response = await fetch(url, { signal: controller.signal });
    return response.ok ? response.headers.get("Content-Type") || "" : "";
  } finally {
    controller.abort();
  }
}

// A status reads as the API names it (starting, processing, succeeded, failed,
// canceled); the stylesheet capitalises it.
export function statusBadge(status) {
  return el("span", { class: `status status-${status}` }, status);
}

// The run panel: status (announced through aria-live), timing, output, logs and a
// Cancel button shown while the prediction runs. Before a run it shows no status line
// and no logs box; the pill never says "starting" once output is shown. heading is the
// title above the output (null where the page already has one).
export function createRunPanel({ onCancel, probe, heading = "Output" } = {}) {
  const status = el("span", { class: "status", hidden: true });
  const timing = el("span", { class: "timing muted" });
  const cancel = el("button", { type: "button", class: "danger", hidden: true, onclick: () => onCancel?.() }, icon("stop"), "Cancel");
  const output = el("div", { class: "output", "aria-live": "polite", "aria-busy": "false" });
  const error = el("pre", { class: "run-error", role: "alert", hidden: true });
  const logs = el("pre", { class: "logs", tabindex: "0", "aria-label": "Logs" });
  const head = el("div", { class: "run-head", hidden: true }, el("span", { role: "status", "aria-live": "polite", class: "status-line" }, status, timing), cancel);
  const logsBox = el("details", { class: "logs-box", open: true, hidden: true }, el("summary", {}, "Logs"), logs);
  const element = el(
    "section",
    { class: "run-panel", "aria-label": "Prediction" },
    head,
    heading ? el("h3", {}, heading) : null,
    output,
    error,
    logsBox,
  );
  let streamed = null;
  let hasOutput = false;
  let current = null;
  const showStatus = () => {
    const value = current === "starting" && hasOutput ? "processing" : current;
    status.hidden = !value;
    head.hidden = !value;
    status.className = value ? `status status-${value}` : "status";
    status.textContent = value || "";
    if (value) element.dataset.status = value;
    else delete element.dataset.status;
    cancel.hidden = !onCancel || !value || TERMINAL.has(value);
    output.setAttribute("aria-busy", value && !TERMINAL.has(value) ? "true" : "false");
  };
  const panel = {
    element,
    // value: a prediction's status, or null before a run (no pill).
    setStatus(value) {
      current = value || null;
      showStatus();
    },
    setTiming(text) {
      timing.textContent = text ? ` · ${text}` : "";
    },
    setOutput(view) {
      streamed = null;
      hasOutput = view.kind !== "empty";
      renderOutput(output, view, { probe });
      showStatus();
    },
    // Text that grows as tokens arrive.
    appendText(text) {
      if (!streamed) {
        streamed = el("div", { class: "output-text" });
        output.replaceChildren(streamed);
      }
      streamed.textContent += text;
      hasOutput = true;
      showStatus();
    },
    streamedText: () => (streamed ? streamed.textContent : null),
    setLogs(text) {
      const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      logs.textContent = text || "";
      logsBox.hidden = !text;
      if (atEnd) logs.scrollTop = logs.scrollHeight;
    },
    setError(text) {
      error.hidden = !text;
      error.textContent = text || "";
    },
  };
  return panel;
}

// "Running for 1.2 s" and friends, from a prediction object's timestamps and metrics.
// While it runs, the time counts from created_at only: started_at arrives later and
// counting from it would make the clock jump back.
export function timingText(prediction, now = Date.now()) {
  const metrics = prediction.metrics || {};
  if (TERMINAL.has(prediction.status)) {
    const parts = [];
    if (typeof metrics.predict_time === "number") parts.push(`ran ${formatSeconds(metrics.predict_time)}`);
    if (typeof metrics.total_time === "number") parts.push(`total ${formatSeconds(metrics.total_time)}`);
    return parts.join(", ");
  }
  const since = Date.parse(prediction.created_at || "");
  return Number.isFinite(since) ? formatSeconds(Math.max(0, (now - since) / 1000)) : "";
}
