// Measures the page in Debian's headless Chromium, cold cache each time, and prints a table:
//   node web/e2e/bench.mjs BASE_URL EXPECTED_CSV      (run by `cargo xtask bench-web`)
// Load-to-first-verdict, single-name latency (median of typed names) and a batch, per backend.
// SwiftShader's WebGPU runs on the CPU: its figures say nothing of a real GPU.
import { launch, open, modelReady, scoreOne, sampleNames } from "./common.mjs";

const [base] = process.argv.slice(2);
const RUNS = 3;
const SINGLE_NAMES = sampleNames(40);
const rows = [];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function firstVerdict(browser, query) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const { context, page } = await open(browser, `${base}?${query}&q=xjkd8f2h.com`);
    await page.waitForSelector("#single-result[data-input='xjkd8f2h.com']", { timeout: 120_000 });
    const t = await page.evaluate(() => {
      const mark = (n) => performance.getEntriesByName(n)[0]?.startTime ?? NaN;
      return { ready: mark("dga-model-ready"), verdict: mark("dga-first-verdict") };
    });
    times.push(t);
    await context.close();
  }
  return { ready: median(times.map((t) => t.ready)), verdict: median(times.map((t) => t.verdict)) };
}

async function singleLatency(page) {
  const ms = [];
  for (const name of SINGLE_NAMES) {
    const got = await scoreOne(page, name);
    ms.push(Number(/in ([\d.]+) ms/.exec(got.timing)[1]));
  }
  return median(ms.slice(5)); // the first few include one-off warm-up
}

async function batch(page, n) {
  await page.click("nav button:nth-child(2)");
  // Setting the value directly: typing 10k lines through fill() is Playwright's time, not the page's.
  await page.$eval("#batch-input", (el, text) => {
    el.value = text;
    el.dispatchEvent(new Event("input", { bubbles: true }));
  }, sampleNames(n).join("\n"));
  await page.click("#batch-score");
  await page.waitForFunction(() => document.querySelector("#batch-summary"), null, { timeout: 600_000 });
  const summary = await page.textContent("#batch-summary");
  return Number(/; ([\d.]+) s on/.exec(summary)[1]);
}

async function measure(label, browser, query, batchSize, waitForGpu) {
  const load = await firstVerdict(browser, query);
  const { context, page } = await open(browser, `${base}?${query}`);
  await modelReady(page);
  if (waitForGpu) {
    await page.waitForFunction(() => /WebGPU: ready/.test(document.querySelector("#gpu-status")?.textContent ?? ""), null, { timeout: 120_000 });
  }
  const single = await singleLatency(page);
  const seconds = await batch(page, batchSize);
  await context.close();
  rows.push({ label, ready: load.ready, verdict: load.verdict, single, batchSize, seconds });
}

const cpu = await launch();
await measure("CPU (wasm, Flex + SIMD128)", cpu, "backend=cpu", 10_000, false);
await cpu.close();
const gpu = await launch({ webgpu: true });
await measure("WebGPU (SwiftShader)", gpu, "backend=webgpu", 1_000, true);
await gpu.close();

console.log(`\npage benchmark, headless Chromium, ${RUNS} cold loads each (median)`);
console.log("| backend | model ready | first verdict | single name | batch | batch time | names/s |");
console.log("|---|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.label} | ${r.ready.toFixed(0)} ms | ${r.verdict.toFixed(0)} ms | ${r.single.toFixed(2)} ms | ${r.batchSize} | ${r.seconds.toFixed(2)} s | ${(r.batchSize / r.seconds).toFixed(0)} |`,
  );
}
console.log("first verdict: from navigation start to the verdict of ?q=xjkd8f2h.com on screen; WebGPU's first verdict is on the CPU while its engine loads.");
