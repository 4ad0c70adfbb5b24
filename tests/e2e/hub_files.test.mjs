// Outputs of the hub in Chromium: an <audio> element plays a WAV output straight from
// its URL and seeks into the middle, which takes byte ranges (206) from the hub.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, openPage, screenshot, startHub, waitFor } from "./harness.mjs";

describe("pinion hub's output files in a browser", () => {
  let browser, hub;
  before(async () => {
    [browser, hub] = await Promise.all([launchBrowser(), startHub(["tests/fixtures/hub_files"])]);
  });
  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  async function output(input) {
    const response = await fetch(`${hub.origin}/v1/models/acme/hub_files/predictions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${hub.token}`, "Content-Type": "application/json", Prefer: "wait=60" },
      body: JSON.stringify({ input }),
    });
    const prediction = await response.json();
    assert.equal(prediction.status, "succeeded", JSON.stringify(prediction));
    return prediction.output;
  }

  test("an <audio> element seeks to the middle of a WAV output with range requests", async () => {
    const url = await output({ kind: "wav" });
    const page = await openPage(browser);
    const media = [];
    page.on("response", async (response) => {
      if (response.url() === url) media.push({ status: response.status(), range: (await response.request().allHeaders()).range, contentRange: response.headers()["content-range"] });
    });
    try {
      await page.goto(`${hub.origin}/login`);
      await page.evaluate((source) => {
        const audio = document.createElement("audio");
        audio.id = "output";
        audio.controls = true;
        audio.preload = "auto";
        audio.src = source;
        document.body.append(audio);
      }, url);
      const audio = page.locator("#output");
      const duration = await waitFor(() => audio.evaluate((element) => (Number.isFinite(element.duration) && element.duration > 0 ? element.duration : null)), { what: "the audio's duration" });
      assert.ok(Math.abs(duration - 30) < 0.5, `the WAV lasts 30 s (duration ${duration})`);
      const reached = await audio.evaluate(
        (element, middle) =>
          new Promise((resolve, reject) => {
            element.addEventListener("seeked", () => resolve(element.currentTime), { once: true });
            element.addEventListener("error", () => reject(new Error(`media error ${element.error?.code}`)), { once: true });
            element.currentTime = middle;
          }),
        duration / 2,
      );
      assert.ok(Math.abs(reached - duration / 2) < 0.1, `seeked to ${reached}, wanted ${duration / 2}`);
      const seekable = await audio.evaluate((element) => (element.seekable.length ? element.seekable.end(0) : 0));
      assert.ok(seekable >= duration - 0.1, `the whole file is seekable (${seekable})`);
      await waitFor(async () => media.some((entry) => entry.status === 206), { what: "a 206 answer to a range request" });
      const partial = media.find((entry) => entry.status === 206);
      assert.match(partial.range, /^bytes=\d+-\d*$/);
      assert.match(partial.contentRange, /^bytes \d+-\d+\/\d+$/);
      await screenshot(page, "hub-audio-output-seeked");
    } catch (error) {
      await screenshot(page, "hub-audio-output-failed").catch(() => {});
      error.message += `\nmedia requests: ${JSON.stringify(media)}`;
      throw error;
    } finally {
      await page.close();
    }
  });
});
