// The page `pinion serve` answers at GET / for browsers: the form for its one model,
// run through Cog's own API. Streaming models (x-cog-streaming) are run with
// Accept: text/event-stream and show tokens as they come; others are run with a
// synchronous PUT /predictions/{id}, so that the id is known and Cancel can name it.
// File inputs travel as data: URIs (Cog has no upload endpoint).

import { fieldErrors, formatSeconds, inputFields, outputView, streamsText } from "./schema.js";
import { createRunPanel, probeContentType, renderForm } from "./render.js";

const setupLine = document.getElementById("setup");

function readAsDataUri(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function loadSchema() {
  for (;;) {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (response.ok) return response.json();
    const health = await fetch("/health-check").then((r) => r.json(), () => ({}));
    setupLine.textContent = health.status === "SETUP_FAILED" ? `Setup failed: ${health.setup?.logs || ""}` : `The model is starting (${health.status || "unknown"})…`;
    if (health.status === "SETUP_FAILED") throw new Error("setup failed");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return "page" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Reads an SSE response body and calls onEvent(name, data) per event.
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

async function main() {
  const document_ = await loadSchema();
  const title = document_.info?.title && document_.info.title !== "Cog" ? document_.info.title : "";
  if (title) document.getElementById("model-title").textContent = title;
  setupLine.textContent = "Ready.";
  const fields = inputFields(document_);
  const streaming = Boolean(document_.paths?.["/predictions"]?.post?.["x-cog-streaming"]);
  const concatenate = streamsText(document_);
  const form = renderForm(fields, { upload: readAsDataUri });
  let current = null;
  const panel = createRunPanel({
    probe: probeContentType,
    onCancel: () => current && fetch(`/predictions/${current}/cancel`, { method: "POST" }),
  });
  document.getElementById("form").append(form.form);
  document.getElementById("run").append(panel.element);
  panel.setOutput({ kind: "empty" });

  form.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.clearErrors();
    form.setBusy(true);
    panel.setError("");
    panel.setLogs("");
    panel.setOutput({ kind: "empty" });
    panel.setStatus("starting");
    const started = Date.now();
    const tick = setInterval(() => panel.setTiming(formatSeconds((Date.now() - started) / 1000)), 100);
    const id = (current = newId());
    try {
      const input = await form.read();
      const headers = { "Content-Type": "application/json" };
      if (streaming) headers.Accept = "text/event-stream";
      const sent = fetch(streaming ? "/predictions" : `/predictions/${id}`, {
        method: streaming ? "POST" : "PUT",
        headers,
        body: JSON.stringify({ id, input }),
      });
      // A synchronous run says nothing until it ends; Cog hands an accepted prediction
      // to the model at once, so "processing" is what the server would report.
      if (!streaming) panel.setStatus("processing");
      const response = await sent;
      if (!response.ok) {
        const body = await response.json().catch(() => ({ detail: `${response.status} ${response.statusText}` }));
        form.showErrors(fieldErrors(body, fields));
        panel.setStatus("failed");
        panel.setError(response.status === 422 ? "The input is not valid." : body.error || body.detail || `HTTP ${response.status}`);
        return;
      }
      panel.setStatus("processing");
      let final = null;
      if (streaming) {
        const chunks = [];
        let logs = "";
        await readEvents(response, (name, data) => {
          const value = JSON.parse(data);
          if (name === "output") {
            chunks[value.index ?? chunks.length] = value.chunk;
            if (concatenate) panel.appendText(String(value.chunk));
            else panel.setOutput(outputView(document_, chunks));
          } else if (name === "log") {
            logs += value.data;
            panel.setLogs(logs);
          } else if (name === "completed") {
            final = value;
          } else if (name === "error") {
            panel.setError(value.error || data);
          }
        });
      } else {
        final = await response.json();
      }
      if (final) {
        panel.setStatus(final.status);
        panel.setLogs(final.logs);
        panel.setError(final.error || "");
        if (final.output !== undefined && final.output !== null) panel.setOutput(outputView(document_, final.output));
        const seconds = final.metrics?.predict_time;
        panel.setTiming(typeof seconds === "number" ? `ran ${formatSeconds(seconds)}` : "");
      }
    } catch (error) {
      panel.setStatus("failed");
      panel.setError(String(error.message || error));
    } finally {
      clearInterval(tick);
      form.setBusy(false);
      current = null;
    }
  });
}

main().catch((error) => {
  setupLine.textContent = `The page could not load the model: ${error.message || error}`;
});
