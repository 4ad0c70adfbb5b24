// The hub's pages in Chromium: sign in with a token, find a model, run examples/hello,
// digits (an uploaded PNG), tts (an audio player) and stream (text growing before the
// prediction completes), see a field-level validation error, cancel a run, and visit
// the history, deployments and tokens pages. Every page may talk to the hub only.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ROOT, foreignRequests, launchBrowser, openPage, screenshot, signIn, startHub } from "./harness.mjs";

describe("pinion hub's pages", () => {
  let browser, hub;
  before(async () => {
    [browser, hub] = await Promise.all([launchBrowser(), startHub(["hello", "stream", "digits", "tts"])]);
  });
  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  // A signed-in page at `next`; body(page) runs; then screenshots and the check that
  // every request went to the hub.
  async function signedIn(next, name, body, options) {
    const page = await openPage(browser, options);
    try {
      await signIn(page, hub, next);
      await body(page);
      await screenshot(page, name);
      assert.deepEqual(foreignRequests(page, hub.origin), []);
      assert.deepEqual(page.consoleErrors, []);
    } catch (error) {
      await screenshot(page, `${name}-failed`).catch(() => {});
      throw error;
    } finally {
      await page.close();
    }
  }

  async function run(page) {
    await page.getByRole("button", { name: "Run" }).click();
  }

  test("sign-in: a wrong token is refused, a good one sets an HttpOnly, SameSite=Strict cookie", async () => {
    const page = await openPage(browser);
    try {
      await page.goto(`${hub.origin}/acme/hello`);
      assert.equal(new URL(page.url()).pathname, "/login");
      await page.fill('input[name="token"]', "r8_not_a_token");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").waitFor();
      assert.match(await page.getByRole("alert").textContent(), /not valid/);
      await page.fill('input[name="token"]', hub.token);
      await Promise.all([page.waitForURL(`${hub.origin}/acme/hello`), page.getByRole("button", { name: "Sign in" }).click()]);
      const cookie = (await browser.context.cookies(hub.origin)).find((c) => c.name === "pinion_session");
      assert.ok(cookie, "the session cookie is set");
      assert.equal(cookie.httpOnly, true);
      assert.equal(cookie.sameSite, "Strict");
      assert.equal(await page.evaluate(() => document.cookie), "");
      assert.ok(!cookie.value.includes(hub.token.slice(3)), "the cookie holds a session id, not the token");
      // The page's own calls carry the CSRF token; a script's fetch without it is refused.
      const bare = await page.evaluate(async () => (await fetch("/v1/predictions")).status);
      assert.equal(bare, 403);
      await screenshot(page, "hub-signed-in");
      assert.deepEqual(foreignRequests(page, hub.origin), []);
    } finally {
      await page.close();
    }
  });

  test("the model list, with search", async () => {
    await signedIn("/", "hub-models", async (page) => {
      for (const name of ["hello", "stream", "digits", "tts"]) await page.getByRole("link", { name: `acme/${name}` }).waitFor();
      await page.getByRole("searchbox").fill("digit");
      await page.getByRole("link", { name: "acme/hello" }).waitFor({ state: "detached" });
      assert.equal(await page.locator(".cards .card").count(), 1);
      assert.equal(await page.locator(".cards .card a").textContent(), "acme/digits");
    });
  });

  test("hello: fill the form, Run, see the greeting; the prediction page shows it too", async () => {
    await signedIn("/acme/hello", "hub-hello", async (page) => {
      await page.fill('[name="name"]', "Ada");
      await run(page);
      const status = await page.locator(".run-panel").getAttribute("data-status", { timeout: 1000 });
      assert.ok(["starting", "processing", "succeeded"].includes(status), `a status at once (${status})`);
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      assert.equal((await page.textContent(".output")).trim(), "hello there, Ada");
      await page.getByRole("tab", { name: "API" }).click();
      const curl = await page.locator("pre.code").first().textContent();
      assert.ok(curl.includes(`${hub.origin}/v1/models/acme/hello/predictions`), curl);
      assert.ok(curl.includes('"name": "Ada"'), curl);
      await page.getByRole("tab", { name: "Playground" }).click();
      const link = page.locator('a[href^="/p/"]');
      await Promise.all([page.waitForURL(/\/p\//), link.click()]);
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      assert.equal((await page.textContent(".output")).trim(), "hello there, Ada");
      assert.match(await page.textContent("dl.io"), /Ada/);
    });
  });

  test("digits: an uploaded PNG gives its label", async () => {
    await signedIn("/acme/digits", "hub-digits", async (page) => {
      await page.setInputFiles('[name="image"]', path.join(ROOT, "examples/digits/sample.png"));
      await page.waitForSelector(".previews img");
      await run(page);
      await page.waitForSelector('.run-panel[data-status="succeeded"]', { timeout: 60000 });
      assert.equal(JSON.parse(await page.textContent(".output-json")).label, 8);
    });
  });

  test("tts: an audio player whose source plays back a WAV", async () => {
    await signedIn("/acme/tts", "hub-tts", async (page) => {
      await page.fill('[name="text"]', "hello from the hub");
      await run(page);
      await page.waitForSelector('.run-panel[data-status="succeeded"]', { timeout: 60000 });
      const audio = page.locator(".output audio");
      await audio.waitFor();
      const source = await audio.getAttribute("src");
      assert.ok(source.startsWith(hub.origin), source);
      const head = await page.evaluate(async (url) => [...new Uint8Array(await (await fetch(url)).arrayBuffer()).slice(0, 12)], source);
      assert.equal(String.fromCharCode(...head.slice(0, 4)), "RIFF");
      assert.equal(String.fromCharCode(...head.slice(8, 12)), "WAVE");
      const duration = await audio.evaluate((element) => new Promise((resolve) => {
        if (element.readyState >= 1) resolve(element.duration);
        element.addEventListener("loadedmetadata", () => resolve(element.duration));
        element.addEventListener("error", () => resolve(-1));
      }));
      assert.ok(duration > 0, `the audio plays (duration ${duration})`);
    });
  });

  test("stream: the text grows before the prediction completes", async () => {
    await signedIn("/acme/stream", "hub-stream", async (page) => {
      await page.fill('[name="prompt"]', "one two three four five six seven eight");
      await page.fill('[name="delay"]', "0.3");
      await run(page);
      const seen = [];
      for (;;) {
        const [status, text] = await page.evaluate(() => [document.querySelector(".run-panel").dataset.status, document.querySelector(".output").textContent]);
        seen.push({ status, text });
        if (status === "succeeded" || status === "failed") break;
        await page.waitForTimeout(50);
      }
      const partial = seen.filter((s) => s.status === "processing" && s.text.startsWith("one") && s.text.length < "one two three four five six seven eight".length);
      assert.ok(new Set(partial.map((s) => s.text)).size >= 2, `saw the text grow: ${JSON.stringify(partial.map((s) => s.text))}`);
      assert.equal((await page.textContent(".output")).trim(), "one two three four five six seven eight");
    });
  });

  test("an invalid value shows the API's error next to its field", async () => {
    await signedIn("/acme/stream", "hub-invalid", async (page) => {
      await page.fill('[name="delay"]', "5");
      await run(page);
      const error = page.locator('[data-field="delay"] .field-error');
      await error.waitFor({ state: "visible" });
      assert.match(await error.textContent(), /5 is greater than the maximum of 2/);
      assert.equal(await page.getAttribute('[name="delay"]', "aria-invalid"), "true");
      assert.ok(await page.locator('[data-field="prompt"] .field-error').isHidden());
    });
  });

  test("Cancel stops a running prediction (keyboard only, phone-sized screen)", async () => {
    await signedIn("/acme/stream", "hub-cancel", async (page) => {
      await page.fill('[name="prompt"]', "one two three four five six seven eight nine ten");
      await page.fill('[name="delay"]', "1.5");
      await page.focus('[name="delay"]');
      await page.keyboard.press("Enter");
      const cancel = page.getByRole("button", { name: "Cancel" });
      await cancel.waitFor({ state: "visible" });
      await page.waitForSelector('.run-panel[data-status="processing"]', { timeout: 30000 });
      await cancel.focus();
      await page.keyboard.press("Enter");
      await page.waitForSelector('.run-panel[data-status="canceled"]', { timeout: 15000 });
      assert.ok(await cancel.isHidden());
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`);
    }, { viewport: { width: 390, height: 844 } });
  });

  test("history, deployments and tokens", async () => {
    const created = await fetch(`${hub.origin}/v1/models/acme/hello/predictions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${hub.token}`, "Content-Type": "application/json", Prefer: "wait" },
      body: JSON.stringify({ input: { name: "history" } }),
    });
    assert.equal(created.status, 201);
    await signedIn("/predictions", "hub-tokens", async (page) => {
      await page.locator("tbody tr a").first().waitFor();
      assert.match(await page.textContent("tbody"), /acme\/hello/);
      await screenshot(page, "hub-predictions");
      await page.goto(`${hub.origin}/deployments`);
      await page.fill('[name="name"]', "greeter");
      await page.fill('[name="model"]', "acme/hello");
      await page.getByRole("button", { name: "Create deployment" }).click();
      await page.getByRole("cell", { name: "acme/greeter" }).waitFor();
      await screenshot(page, "hub-deployments");
      await page.goto(`${hub.origin}/tokens`);
      await page.locator("tbody tr").first().waitFor();
      await page.fill('[name="name"]', "laptop");
      await page.getByRole("button", { name: "Create token" }).click();
      const token = (await page.locator("pre.code").textContent()).trim();
      assert.match(token, /^r8_/);
      const account = await (await fetch(`${hub.origin}/v1/account`, { headers: { Authorization: `Bearer ${token}` } })).json();
      assert.equal(account.username, "acme");
      await page.getByRole("cell", { name: "laptop" }).waitFor();
    });
  });
});
