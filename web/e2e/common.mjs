// Shared by the browser tests and the benchmark: Debian's Chromium, never a downloaded browser.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

// Flags that keep Chromium from reaching for the network, which this machine does not have.
const QUIET = [
  "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync",
];
// SwiftShader's WebGPU adapter (emulated on the CPU); without these flags there is no adapter.
const WEBGPU = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan"];

export async function launch({ webgpu = false } = {}) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless=new", ...QUIET, ...(webgpu ? WEBGPU : [])],
  });
}

// Opens the page in a fresh context (cold cache) and collects console errors and dialogs.
export async function open(browser, url) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("dialog", async (d) => { problems.push(`dialog opened: ${d.message()}`); await d.dismiss(); });
  await page.goto(url);
  return { context, page, problems };
}

export async function modelReady(page, timeout = 60_000) {
  await page.waitForSelector("#model-status.ready", { timeout });
}

// Types a name into the single-domain box and waits for its verdict; returns what it shows.
export async function scoreOne(page, name) {
  await page.fill("#single-input", name);
  await page.waitForFunction(
    (n) => {
      const r = document.querySelector("#single-result");
      return r && r.dataset.input === n && r.dataset.state !== "pending";
    },
    name,
    { timeout: 120_000 },
  );
  return page.evaluate(() => {
    const text = (s) => document.querySelector(s)?.textContent ?? null;
    return {
      p: text("#single-p") === null ? null : Number(text("#single-p")),
      risk: text("#single-risk"),
      domain: text("#single-domain"),
      timing: text("#single-timing"),
      error: text("#single-error"),
      family: text("#single-family"),
    };
  });
}

// Native `dga predict` output: input -> p_dga (or the error) per demo name.
export function expectedVerdicts(path) {
  const lines = readFileSync(path, "utf8").trim().split("\n").slice(1);
  return lines.map(parseCsvLine).map(([input, domain, , p, , risk, error, , , , family]) => ({ input, domain, p: p === "" ? null : Number(p), risk, error, family }));
}

function parseCsvLine(line) {
  const cells = [];
  let cell = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { cells.push(cell); cell = ""; }
    else cell += c;
  }
  cells.push(cell);
  return cells;
}

// Names that look like what people paste: words, brands, random strings, digits, subdomains.
export function sampleNames(n) {
  const words = ["secure", "mail", "cloud", "shop", "bank", "news", "photo", "data", "travel", "green", "north", "river"];
  const tlds = ["com", "net", "org", "de", "ru", "info", "co.uk", "io"];
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const letters = "abcdefghijklmnopqrstuvwxyz0123456789";
  const names = [];
  for (let i = 0; i < n; i++) {
    const tld = tlds[Math.floor(next() * tlds.length)];
    let label;
    if (i % 2 === 0) {
      label = words[Math.floor(next() * words.length)] + words[Math.floor(next() * words.length)] + (i % 7);
    } else {
      label = Array.from({ length: 8 + Math.floor(next() * 10) }, () => letters[Math.floor(next() * letters.length)]).join("");
    }
    names.push(`${label}${i}.${tld}`);
  }
  return names;
}
