// What the browser tests share: Debian's Chromium started by playwright-core with the
// flags that keep it off the network, `pinion serve` / `pinion hub` processes on
// 127.0.0.1, a record of every request a page makes, and screenshots under
// build/test-output/screenshots/.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PINION = process.env.PINION || path.join(ROOT, "build/bin/pinion");
export const SCREENSHOTS = path.join(ROOT, process.env.BUILD || "build", "test-output/screenshots");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// scripts/install-deps installs Chromium, so a missing one fails the tests that need it.
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is not installed: run scripts/install-deps (it installs chromium)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "pinion-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--no-default-browser-check"],
    viewport: { width: 1100, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// A new page whose requests are all recorded in page.requests.
export async function openPage(browser, options = {}) {
  const page = await browser.context.newPage();
  if (options.viewport) await page.setViewportSize(options.viewport);
  page.requests = [];
  page.on("request", (request) => page.requests.push(request.url()));
  page.consoleErrors = [];
  page.on("pageerror", (error) => page.consoleErrors.push(String(error)));
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/.test(message.text())) page.consoleErrors.push(message.text());
  });
  return page;
}

// Every request went to `origin` (data: and blob: URLs stay in the page).
export function foreignRequests(page, origin) {
  return page.requests.filter((url) => !url.startsWith("data:") && !url.startsWith("blob:") && new URL(url).origin !== origin);
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor(predicate, { timeout = 20000, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await predicate().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function environment(extra = {}) {
  const env = { ...process.env, PINION_PYTHON: "/usr/bin/python3", NO_COLOR: "1", ...extra };
  for (const name of Object.keys(env)) if (name.startsWith("COG_") || name === "PORT") delete env[name];
  return env;
}

// `pinion serve <example>` on a free port, ready to predict.
// `example` is a folder under examples/, or a path from the repository root;
// `args` are more flags (e.g. ["--file", "stream.yaml"]).
export async function startServe(example, args = []) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pinion-e2e-serve-"));
  const portFile = path.join(tmp, "port");
  const log = fs.openSync(path.join(tmp, "serve.log"), "w");
  const child = spawn(PINION, ["serve", path.join(ROOT, example.includes("/") ? example : path.join("examples", example)), "--host", "127.0.0.1", "--port", "0", "--port-file", portFile, ...args], {
    env: environment({ TMPDIR: tmp }),
    stdio: ["ignore", log, log],
    detached: true,
  });
  const stop = async () => {
    if (child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGINT");
      } catch {
        /* already gone */
      }
      await Promise.race([new Promise((resolve) => child.once("exit", resolve)), sleep(5000)]);
      if (child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    }
    fs.closeSync(log);
  };
  try {
    const port = await waitFor(async () => fs.existsSync(portFile) && parseInt(fs.readFileSync(portFile, "utf8"), 10), { what: "the port file" });
    const origin = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await (await fetch(`${origin}/health-check`)).json()).status === "READY", { timeout: 60000, what: `${example} to be ready` });
    return { origin, stop, logPath: path.join(tmp, "serve.log") };
  } catch (error) {
    await stop();
    error.message += `\n${fs.readFileSync(path.join(tmp, "serve.log"), "utf8")}`;
    throw error;
  }
}

export { execFileSync, sleep };

// Whether this build has `pinion hub` (the hub arrives in its own branch).
// `pinion hub` on a free port with a fresh data folder, an account `acme` with a
// token, and each of `examples` pushed as acme/<example> (an example is a folder under
// examples/, or a path from the repository root pushed as acme/<its last part>).
export async function startHub(examples) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pinion-e2e-hub-"));
  const data = path.join(tmp, "data");
  const env = environment({ TMPDIR: tmp });
  const token = execFileSync(PINION, ["hub", "token", "create", "--account", "acme", "--data", data], { env }).toString().trim();
  const portFile = path.join(tmp, "port");
  const logPath = path.join(tmp, "hub.log");
  const log = fs.openSync(logPath, "w");
  const child = spawn(PINION, ["hub", "--listen", "127.0.0.1:0", "--data", data, "--python", "/usr/bin/python3", "--port-file", portFile], { env, stdio: ["ignore", log, log], detached: true });
  const stop = async () => {
    if (child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
      await Promise.race([new Promise((resolve) => child.once("exit", resolve)), sleep(5000)]);
      if (child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    }
    fs.closeSync(log);
  };
  try {
    const port = await waitFor(async () => fs.existsSync(portFile) && parseInt(fs.readFileSync(portFile, "utf8"), 10), { what: "the hub's port file" });
    const origin = `http://127.0.0.1:${port}`;
    for (const example of examples) {
      const folder = path.join(ROOT, example.includes("/") ? example : path.join("examples", example));
      execFileSync(PINION, ["push", "--hub", origin, "--token", token, "--python", "/usr/bin/python3", `acme/${path.basename(example)}`], { cwd: folder, env, stdio: ["ignore", "pipe", "pipe"] });
    }
    return { origin, token, stop, logPath };
  } catch (error) {
    await stop();
    error.message += `\n${fs.readFileSync(logPath, "utf8")}`;
    throw error;
  }
}

// Signs in through /login with the token.
export async function signIn(page, hub, next = "/") {
  await page.goto(`${hub.origin}/login?next=${encodeURIComponent(next)}`);
  await page.fill('input[name="token"]', hub.token);
  await Promise.all([page.waitForURL((url) => url.pathname === next), page.getByRole("button", { name: "Sign in" }).click()]);
}
