// The page `pinion serve` answers at GET / for a browser, driven in Chromium against
// the examples: run, upload, audio, field-level validation errors and cancellation.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, foreignRequests, launchBrowser, openPage, screenshot, startServe, waitFor } from "./harness.mjs";

describe("pinion serve's page", () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  // Opens the page for `example`, runs body(page, origin), then checks that the page
  // spoke to no other host.
  async function withModel(example, name, body, options, args) {
    const server = await startServe(example, args);
    const page = await openPage(browser, options);
    try {
      await page.goto(server.origin + "/");
      await page.waitForSelector("form.run-form");
      await body(page, server.origin);
      await screenshot(page, name);
      assert.deepEqual(foreignRequests(page, server.origin), []);
      assert.deepEqual(page.consoleErrors, []);
    } catch (error) {
      await screenshot(page, name + "-failed").catch(() => {});
      throw error;
    } finally {
      await page.close();
      await server.stop();
    }
  }

  test("JSON clients still get Cog's discovery document at /", async () => {
    const server = await startServe("hello");
    try {
      const json = await (await fetch(server.origin + "/")).json();
      assert.equal(json.predictions_url, "/predictions");
      const html = await fetch(server.origin + "/", { headers: { Accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
      assert.match(html.headers.get("content-type"), /^text\/html/);
      assert.match(await html.text(), /<form|serve\.js/);
    } finally {
      await server.stop();
    }
  });

  test("hello: fill the form, Run, see the greeting", async () => {
    await withModel("hello", "serve-hello", async (page) => {
      assert.equal(await page.getByRole("button", { name: "Run" }).count(), 1);
      await page.fill('[name="name"]', "Ada");
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      assert.equal((await page.textContent(".output")).trim(), "hello there, Ada");
      const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const light = await background();
      await page.emulateMedia({ colorScheme: "dark" });
      assert.notEqual(await background(), light, "prefers-color-scheme: dark changes the colours");
      await screenshot(page, "serve-hello-dark");
    });
  });

  test("digits: upload a PNG and see the label", async () => {
    await withModel("digits", "serve-digits", async (page) => {
      await page.setInputFiles('[name="image"]', path.join(ROOT, "examples/digits/sample.png"));
      await page.waitForSelector(".previews img");
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForSelector('.run-panel[data-status="succeeded"]', { timeout: 30000 });
      const output = JSON.parse(await page.textContent(".output-json"));
      assert.equal(output.label, 8);
    });
  });

  test("tts: an audio player whose source is a WAV", async () => {
    await withModel("tts", "serve-tts", async (page) => {
      await page.fill('[name="text"]', "hello from pinion");
      await page.selectOption('[name="voice"]', "en-us");
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForSelector('.run-panel[data-status="succeeded"]', { timeout: 30000 });
      const source = await page.getAttribute(".output audio", "src");
      const bytes = await page.evaluate(async (url) => [...new Uint8Array(await (await fetch(url)).arrayBuffer()).slice(0, 12)], source);
      assert.equal(String.fromCharCode(...bytes.slice(0, 4)), "RIFF");
      assert.equal(String.fromCharCode(...bytes.slice(8, 12)), "WAVE");
      const playable = await page.$eval(".output audio", (audio) => new Promise((resolve) => {
        if (audio.readyState >= 1) resolve(audio.duration);
        audio.addEventListener("loadedmetadata", () => resolve(audio.duration));
        audio.addEventListener("error", () => resolve(-1));
        audio.load();
      }));
      assert.ok(playable > 0, `the audio should play (duration ${playable})`);
    });
  });

  test("an invalid value shows its error next to the field", async () => {
    await withModel("stream", "serve-invalid", async (page) => {
      await page.fill('[name="delay"]', "5");
      await page.getByRole("button", { name: "Run" }).click();
      const error = page.locator('[data-field="delay"] .field-error');
      await error.waitFor({ state: "visible" });
      assert.match(await error.textContent(), /5 is greater than the maximum of 2/);
      assert.equal(await page.getAttribute('[name="delay"]', "aria-invalid"), "true");
      assert.ok(await page.locator('[data-field="prompt"] .field-error').isHidden());
    });
  });

  test("a @streaming model's items and logs arrive as they are made", async () => {
    await withModel("tests/fixtures/serve_model", "serve-streaming", async (page) => {
      await page.fill('[name="count"]', "4");
      await page.fill('[name="seconds"]', "0.4");
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForFunction(() => document.querySelectorAll(".output .output-list > *").length >= 2 && document.querySelector(".run-panel").dataset.status === "processing");
      assert.match(await page.textContent(".logs"), /log 0/);
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      const items = await page.locator(".output .output-list > *").allTextContents();
      assert.deepEqual(items, ["item 0", "item 1", "item 2", "item 3"]);
    }, undefined, ["--file", "stream.yaml"]);
  });

  test("every kind of input gets its control, and a filled form sends what it shows", async () => {
    await withModel("tests/fixtures/web_form", "serve-form", async (page) => {
      const kinds = await page.$$eval(".run-form [name]", (controls) => controls.map((c) => [c.name, c.tagName.toLowerCase(), c.type]));
      assert.deepEqual(kinds, [
        ["prompt", "textarea", "textarea"], ["title", "input", "text"], ["steps", "input", "number"], ["scale", "input", "number"],
        ["seed", "input", "number"], ["fast", "input", "checkbox"], ["palette", "select", "select-one"], ["count", "select", "select-one"],
        ["api_key", "input", "password"], ["words", "textarea", "textarea"], ["sizes", "textarea", "textarea"], ["image", "input", "file"],
      ]);
      assert.equal(await page.inputValue('[name="title"]'), "untitled");
      assert.equal(await page.inputValue('[name="palette"]'), "warm");
      assert.equal(await page.inputValue('[name="count"]'), "2");
      assert.ok(await page.isChecked('[name="fast"]'));
      assert.deepEqual(await page.$eval('[data-field="steps"] input[type="range"]', (r) => [r.min, r.max, r.value]), ["1", "50", "20"]);
      assert.equal(await page.locator('[data-field="seed"] input[type="range"]').count(), 0);
      for (const name of ["prompt", "api_key"]) assert.equal(await page.getAttribute(`[name="${name}"]`, "aria-required"), "true");
      assert.equal(await page.getAttribute('[name="title"]', "aria-required"), null);
      assert.match(await page.textContent('[data-field="steps"] .help'), /Between 1 and 50/);
      await page.getByLabel("Prompt").fill("a cat");
      await page.$eval('[data-field="steps"] input[type="range"]', (range) => {
        range.value = "30";
        range.dispatchEvent(new Event("input", { bubbles: true }));
      });
      assert.equal(await page.inputValue('[name="steps"]'), "30");
      await page.fill('[name="scale"]', "1.25");
      await page.uncheck('[name="fast"]');
      await page.selectOption('[name="palette"]', "neon");
      await page.selectOption('[name="count"]', "4");
      await page.fill('[name="api_key"]', "s3cret");
      await page.fill('[name="words"]', "one\ntwo\n");
      await page.fill('[name="sizes"]', "3\n5");
      const sample = path.join(ROOT, "examples/digits/sample.png");
      await page.setInputFiles('[name="image"]', sample);
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      assert.deepEqual(JSON.parse(await page.textContent(".output-json")), {
        prompt: "a cat", title: "untitled", steps: 30, scale: 1.25, seed: null, fast: false, palette: "neon", count: 4,
        api_key_length: 6, words: ["one", "two"], sizes: [3, 5], image_bytes: fs.statSync(sample).size,
      });
    });
  });

  test("file outputs: images as a gallery, other files as download links", async () => {
    await withModel("tests/fixtures/web_outputs", "serve-outputs", async (page) => {
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      const images = page.locator(".output .gallery img");
      assert.equal(await images.count(), 2);
      await page.waitForFunction(() => [...document.querySelectorAll(".output .gallery img")].every((img) => img.complete && img.naturalWidth === 2));
      await page.selectOption('[name="kind"]', "document");
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForSelector('.run-panel[data-status="succeeded"] .output .media[data-media="file"]');
      const link = page.locator(".output a.download");
      assert.equal(await link.count(), 1);
      assert.match(await link.getAttribute("href"), /^data:text\/plain/);
      assert.equal(await page.locator(".output img").count(), 0);
    });
  });

  test("Cancel stops a running prediction (on a phone-sized screen)", async () => {
    await withModel("stream", "serve-cancel", async (page) => {
      await page.fill('[name="prompt"]', "one two three four five six seven eight");
      await page.fill('[name="delay"]', "1.5");
      await page.getByRole("button", { name: "Run" }).click();
      const cancel = page.getByRole("button", { name: "Cancel" });
      await cancel.waitFor({ state: "visible" });
      await page.waitForSelector('.run-panel[data-status="processing"]');
      await cancel.click();
      await page.waitForSelector('.run-panel[data-status="canceled"]', { timeout: 15000 });
      assert.ok(await cancel.isHidden());
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`);
    }, { viewport: { width: 390, height: 844 } });
  });
});
