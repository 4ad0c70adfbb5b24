// The hub's pages at a phone's width (375 px) and a laptop's (1280 px): nothing is wider
// than the viewport, the header is one line with a menu on the phone, the predictions
// become cards; and what a run shows: run counts, the form's type/default/bounds, no
// status pill or logs box before a run, no "failed" for a rejected request, input files
// as previews of their bytes, list inputs inside their column, no "starting" badge once
// output is shown, a clock that never goes back. Screenshots of the four main pages at
// both widths go to build/test-output/screenshots/ (and to $PINION_DOCS_IMAGES when set,
// which is how scripts/screenshots refreshes docs/images/).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT, foreignRequests, launchBrowser, openPage, screenshot, signIn, startHub, waitFor } from "./harness.mjs";

const WIDTHS = { phone: { width: 375, height: 812 }, laptop: { width: 1280, height: 900 } };
const SAMPLE = path.join(ROOT, "examples/digits/sample.png");

describe("pinion hub's pages at 375 px and 1280 px", () => {
  let browser, hub, imagePrediction;
  before(async () => {
    [browser, hub] = await Promise.all([launchBrowser(), startHub(["hello", "tests/fixtures/gradient"])]);
  });
  after(async () => {
    await browser?.close();
    await hub?.stop();
  });

  async function signedIn(next, name, body, viewport = WIDTHS.laptop) {
    const page = await openPage(browser, { viewport });
    try {
      await signIn(page, hub, next);
      await body(page);
      assert.deepEqual(foreignRequests(page, hub.origin), []);
      assert.deepEqual(page.consoleErrors, []);
    } catch (error) {
      await screenshot(page, `${name}-failed`).catch(() => {});
      throw error;
    } finally {
      await page.close();
    }
  }

  async function keepScreenshot(page, name) {
    await screenshot(page, name);
    const docs = process.env.PINION_DOCS_IMAGES;
    if (docs) {
      fs.mkdirSync(docs, { recursive: true });
      await page.screenshot({ path: path.join(docs, `${name}.png`), fullPage: true });
    }
  }

  async function noSidewaysScroll(page, what) {
    const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scrollWidth <= innerWidth, `${what}: the page is ${scrollWidth}px wide in a ${innerWidth}px viewport`);
  }

  const runText = (page) => page.locator("main .meta span").first().textContent();

  test("run counts: the model header and the models list count each run (item 6)", async () => {
    await signedIn("/acme/hello", "hub-run-count", async (page) => {
      await page.locator("main .meta").waitFor();
      assert.equal(await runText(page), "0 runs");
      // The API counts a run when it is created: so does the header, not only at the end.
      await page.evaluate(() => {
        const count = document.querySelector("main .meta span");
        new MutationObserver(() => (window.countedWhile ??= document.querySelector(".run-panel").dataset.status)).observe(count, { childList: true, characterData: true, subtree: true });
      });
      await page.fill('[name="name"]', "Ada");
      await page.getByRole("button", { name: "Run" }).click();
      await waitFor(async () => (await runText(page)) === "1 run", { what: "the header to say 1 run" });
      await page.waitForSelector('.run-panel[data-status="succeeded"]', { timeout: 60000 });
      assert.equal(await runText(page), "1 run");
      assert.ok(["starting", "processing"].includes(await page.evaluate(() => window.countedWhile)), "counted while it ran");
      await page.reload();
      await waitFor(async () => (await runText(page)) === "1 run", { what: "1 run after a reload" });
      await page.goto(`${hub.origin}/`);
      const card = page.locator(".card", { hasText: "acme/hello" });
      await card.waitFor();
      assert.equal(await card.locator(".meta span").first().textContent(), "1 run");
    });
  });

  test("the form shows each input's type, default and bounds (item 10)", async () => {
    await signedIn("/acme/gradient", "hub-form-facts", async (page) => {
      await page.locator('[data-field="width"]').waitFor();
      const facts = async (name) => (await page.locator(`[data-field="${name}"] .fact`).allTextContents());
      assert.deepEqual(await facts("width"), ["integer", "default 320", "minimum 16", "maximum 1024"]);
      assert.deepEqual(await facts("hue"), ["number", "default 0.62", "minimum 0", "maximum 1"]);
      assert.deepEqual(await facts("style"), ["string", "default diagonal"]);
      assert.deepEqual(await facts("references"), ["file[]"]);
      const described = await page.getAttribute('[name="width"]', "aria-describedby");
      assert.ok(described.split(" ").includes("input-width-facts"), described);
    });
  });

  test("a rejected request shows only its field errors: no status pill, no failed (item 7)", async () => {
    await signedIn("/acme/gradient", "hub-rejected", async (page) => {
      await page.locator('[data-field="width"]').waitFor();
      // Before a run: no status pill, no logs box.
      assert.ok(await page.locator(".run-panel .status").isHidden());
      assert.ok(await page.locator(".run-panel .logs-box").isHidden());
      assert.equal(await page.locator(".run-panel").getAttribute("data-status"), null);
      await page.fill('[name="width"]', "5");
      await page.getByRole("button", { name: "Run" }).click();
      const error = page.locator('[data-field="width"] .field-error');
      await error.waitFor({ state: "visible" });
      assert.match(await error.textContent(), /5 is less than the minimum of 16/);
      assert.ok(await page.locator(".run-panel .status").isHidden());
      assert.equal(await page.locator(".run-panel").getAttribute("data-status"), null);
      assert.ok(await page.locator(".run-panel .run-error").isHidden());
      assert.doesNotMatch(await page.textContent(".run-panel"), /failed/i);
      assert.ok(await page.getByRole("button", { name: "Run" }).isEnabled());
    });
  });

  test("an image run: previews of the input files, no 'starting' with output, a clock that never goes back (item 7)", async () => {
    await signedIn("/acme/gradient", "hub-image-run", async (page) => {
      await page.locator('[data-field="references"]').waitFor();
      await page.setInputFiles('[name="references"]', [SAMPLE, SAMPLE]);
      // Watch the panel from inside the page: every state it shows while it runs.
      await page.evaluate(() => {
        window.panelStates = [];
        const panel = document.querySelector(".run-panel");
        const record = () => window.panelStates.push({ status: panel.querySelector(".status").textContent, output: Boolean(panel.querySelector(".output img, .output .output-text")), timing: panel.querySelector(".timing").textContent });
        new MutationObserver(record).observe(panel, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      await page.getByRole("button", { name: "Run" }).click();
      await page.waitForSelector('.run-panel[data-status="succeeded"]', { timeout: 60000 });
      const image = page.locator(".output img");
      await waitFor(() => image.evaluate((img) => img.complete && img.naturalWidth === 320), { what: "the output image to load" });
      const states = await page.evaluate(() => window.panelStates);
      assert.ok(states.length > 0);
      assert.deepEqual(states.filter((state) => state.status === "starting" && state.output), [], "no 'starting' badge while output is shown");
      const seconds = states.filter((state) => !/ran|total/.test(state.timing) && /\d/.test(state.timing)).map((state) => {
        const [, value, unit] = /([\d.]+) (ms|s|min)/.exec(state.timing);
        return Number(value) * (unit === "ms" ? 0.001 : unit === "min" ? 60 : 1);
      });
      for (let i = 1; i < seconds.length; i++) assert.ok(seconds[i] >= seconds[i - 1], `the clock went back: ${seconds.join(", ")}`);
      assert.ok(await page.locator(".run-panel .logs-box").isVisible(), "the logs box shows once there are logs");
      assert.match(await page.textContent(".run-panel .logs"), /painted 320x200 diagonal, 2 reference image/);
      imagePrediction = (await page.locator('a[href^="/p/"]').getAttribute("href")).slice(3);
    });
  });

  test("the prediction page shows the input files from their bytes, inside the input column (item 7)", async () => {
    assert.ok(imagePrediction, "the image run made a prediction");
    await signedIn(`/p/${imagePrediction}`, "hub-image-prediction", async (page) => {
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      const previews = page.locator("dl.io .input-file img");
      await waitFor(async () => (await previews.count()) === 2 && (await previews.evaluateAll((images) => images.every((img) => img.complete && img.naturalWidth === 64))), { what: "two input previews of the 64x64 sample" });
      for (const source of await previews.evaluateAll((images) => images.map((img) => img.src))) assert.match(source, /^blob:/);
      const links = await page.locator("dl.io a").evaluateAll((anchors) => anchors.map((a) => ({ href: a.getAttribute("href"), download: a.getAttribute("download") })));
      assert.equal(links.length, 2);
      for (const link of links) {
        assert.match(link.href, /^blob:/, "a download link to the bytes, not to the file's JSON");
        assert.equal(link.download, "sample.png");
      }
      assert.doesNotMatch(await page.textContent(".run-panel"), /No output yet/);
      const [list, column] = await Promise.all([page.locator("dl.io").boundingBox(), page.locator('section[aria-label="Input"]').boundingBox()]);
      assert.ok(list.x + list.width <= column.x + column.width + 1, "the list input stays inside its column");
      // The files stay with the prediction: the uploads no longer expire.
      const input = (await (await fetch(`${hub.origin}/v1/predictions/${imagePrediction}`, { headers: { Authorization: `Bearer ${hub.token}` } })).json()).input;
      for (const url of input.references) {
        const file = await (await fetch(url, { headers: { Authorization: `Bearer ${hub.token}` } })).json();
        assert.equal(file.expires_at, null, JSON.stringify(file));
      }
    });
  });

  test("a model's description, links and README, and any prediction as its example and cover (item 5)", async () => {
    // Markdown from whoever pushed the model: what renders, and what must not run.
    const README = [
      "# Gradient", "", "Paints a *gradient*.", "", "## Usage", "", "- pick a style", "- pick a size", "",
      "```", "pinion predict -i style=radial", "```", "", "See [the docs](https://example.com/docs).", "",
      "<script>window.pwned = 'script'</script>", "",
      "[click me](javascript:window.pwned='link') <img src=x onerror=\"window.pwned='img'\">", "",
    ].join("\n");
    const call = async (method, path, body, headers = {}) => {
      const response = await fetch(`${hub.origin}${path}`, { method, headers: { Authorization: `Bearer ${hub.token}`, "Content-Type": "application/json", ...headers }, body: JSON.stringify(body) });
      return [response.status, await response.json()];
    };
    const [patched] = await call("PATCH", "/v1/models/acme/gradient", { description: "Paints a gradient, for the pages' tests", github_url: "https://github.com/example/gradient", readme: README });
    assert.equal(patched, 200);
    const [created, second] = await call("POST", "/v1/models/acme/gradient/predictions", { input: { width: 480, height: 270, style: "radial" } }, { Prefer: "wait=60" });
    assert.equal(created, 201);
    assert.equal(second.status, "succeeded", JSON.stringify(second));
    await signedIn(`/p/${second.id}`, "hub-example", async (page) => {
      await page.waitForSelector('.run-panel[data-status="succeeded"]');
      await page.getByRole("button", { name: "Use as the model's example" }).click();
      await page.getByText("The example of acme/gradient").waitFor();
      await page.goto(`${hub.origin}/`);
      const cover = page.locator(".card", { hasText: "acme/gradient" }).locator("img.cover");
      await cover.waitFor();
      assert.equal(await cover.getAttribute("src"), second.output);
      await waitFor(() => cover.evaluate((img) => img.complete && img.naturalWidth === 480), { what: "the cover image" });
      await page.goto(`${hub.origin}/acme/gradient`);
      await page.getByText("Paints a gradient, for the pages' tests").waitFor();
      assert.equal(await page.getByRole("link", { name: "GitHub" }).getAttribute("href"), "https://github.com/example/gradient");
      let dialogs = 0;
      page.on("dialog", (dialog) => (dialogs++, dialog.dismiss()));
      await page.getByRole("tab", { name: "README" }).click();
      const readme = page.locator(".readme.markdown");
      assert.equal(await readme.locator("h1").textContent(), "Gradient");
      assert.equal(await readme.locator("h2").textContent(), "Usage");
      assert.equal(await readme.locator("em").textContent(), "gradient");
      assert.deepEqual(await readme.locator("li").allTextContents(), ["pick a style", "pick a size"]);
      assert.equal(await readme.locator("pre code").textContent(), "pinion predict -i style=radial\n");
      const docs = readme.getByRole("link", { name: "the docs" });
      assert.equal(await docs.getAttribute("href"), "https://example.com/docs");
      assert.equal(await docs.getAttribute("rel"), "noopener noreferrer nofollow");
      // The script and the image were dropped, the javascript: link lost its target.
      assert.equal(await readme.locator("script, img, [onerror]").count(), 0);
      assert.equal(await readme.getByText("click me").getAttribute("href"), null);
      await readme.getByText("click me").click();
      assert.equal(await page.evaluate(() => window.pwned), undefined);
      assert.equal(dialogs, 0);
      assert.equal(page.url(), `${hub.origin}/acme/gradient`);
      await screenshot(page, "model-readme");
    });
  });

  // The pages load images from the hub only (img-src 'self'): a README's relative images
  // come from the version's folder through the hub, remote ones are links.
  for (const [label, viewport] of Object.entries(WIDTHS)) {
    test(`a README's image from the model's folder shows at ${viewport.width} px, a remote one is a link`, async () => {
      const README = ["# Gradient", "", "![swatch](images/swatch.png)", "", "![remote picture](https://example.com/remote.png)", ""].join("\n");
      const patched = await fetch(`${hub.origin}/v1/models/acme/gradient`, { method: "PATCH", headers: { Authorization: `Bearer ${hub.token}`, "Content-Type": "application/json" }, body: JSON.stringify({ readme: README }) });
      assert.equal(patched.status, 200);
      await signedIn("/acme/gradient", `hub-readme-image-${label}`, async (page) => {
        await page.getByRole("tab", { name: "README" }).click();
        const readme = page.locator(".readme.markdown");
        const image = readme.getByRole("img", { name: "swatch" });
        await waitFor(() => image.evaluate((img) => img.complete && img.naturalWidth === 48 && img.naturalHeight === 32), { what: "the README's image to load" });
        assert.match(await image.getAttribute("src"), /^\/acme\/gradient\/versions\/[0-9a-f]{64}\/images\/images\/swatch\.png$/);
        const box = await image.boundingBox();
        assert.ok(box.width > 0 && box.x + box.width <= viewport.width, `the image is in view (${JSON.stringify(box)})`);
        assert.equal(await readme.locator("img").count(), 1, "the remote image is not loaded");
        const remote = readme.getByRole("link", { name: "remote picture" });
        assert.equal(await remote.getAttribute("href"), "https://example.com/remote.png");
        assert.equal(await remote.getAttribute("rel"), "noopener noreferrer nofollow");
        await noSidewaysScroll(page, "a README with an image");
        await screenshot(page, `model-readme-image-${label}`);
      }, viewport);
    });
  }

  for (const [label, viewport] of Object.entries(WIDTHS)) {
    test(`at ${viewport.width} px nothing overflows sideways (item 8), with screenshots`, async () => {
      assert.ok(imagePrediction, "the image run made a prediction");
      await signedIn("/", `hub-layout-${label}`, async (page) => {
        await page.locator(".card", { hasText: "acme/gradient" }).waitFor();
        await noSidewaysScroll(page, "the models list");
        await keepScreenshot(page, `models-${label}`);

        const header = await page.locator("header.top").boundingBox();
        const predictionsLink = page.locator("header nav a", { hasText: "Predictions" });
        if (viewport.width < 700) {
          assert.ok(header.height <= 64, `the header is one line (${header.height}px)`);
          assert.ok(await predictionsLink.isHidden(), "the links wait behind the menu");
          await page.getByRole("button", { name: "Menu" }).click();
          assert.ok(await predictionsLink.isVisible());
          assert.equal(await page.getByRole("button", { name: "Menu" }).getAttribute("aria-expanded"), "true");
          await noSidewaysScroll(page, "the open menu");
          await page.getByRole("button", { name: "Menu" }).click();
        } else {
          assert.ok(await page.getByRole("button", { name: "Menu" }).isHidden());
          assert.ok(await predictionsLink.isVisible());
        }

        await page.goto(`${hub.origin}/acme/gradient`);
        await page.locator('[data-field="references"]').waitFor();
        await noSidewaysScroll(page, "a model page");
        if (viewport.width < 700) {
          for (const selector of [".run-form", ".run-panel"]) {
            const box = await page.locator(selector).boundingBox();
            assert.ok(box.width >= viewport.width - 40, `${selector} takes the full width (${box.width}px)`);
          }
        }
        await keepScreenshot(page, `model-${label}`);

        await page.goto(`${hub.origin}/p/${imagePrediction}`);
        await page.waitForSelector('.run-panel[data-status="succeeded"]');
        await waitFor(() => page.locator(".output img").evaluate((img) => img.complete && img.naturalWidth > 0), { what: "the output image" });
        await waitFor(async () => (await page.locator("dl.io .input-file img").count()) === 2, { what: "the input previews" });
        await noSidewaysScroll(page, "a finished image prediction");
        await keepScreenshot(page, `prediction-${label}`);

        await page.goto(`${hub.origin}/predictions`);
        await page.locator("tbody tr a").first().waitFor();
        await noSidewaysScroll(page, "the predictions list");
        const row = page.locator("tbody tr").first();
        for (const cell of ["Status", "Model", "Created", "Time"]) {
          const box = await row.locator(`td[data-label="${cell}"]`).boundingBox();
          assert.ok(box && box.x >= 0 && box.x + box.width <= viewport.width, `${cell} is in view`);
        }
        if (viewport.width < 700) {
          assert.equal(await row.evaluate((tr) => getComputedStyle(tr).display), "block", "the rows are cards");
          assert.ok(await page.locator("thead").evaluate((head) => head.getBoundingClientRect().height <= 1));
        }
        await keepScreenshot(page, `predictions-${label}`);
      }, viewport);
    });
  }
});
