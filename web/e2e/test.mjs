// Browser tests of the served page in Debian's headless Chromium:
//   node web/e2e/test.mjs BASE_URL EXPECTED_CSV
// EXPECTED_CSV is native `dga predict` output on model/demo-domains.txt.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { launch, open, modelReady, scoreOne, expectedVerdicts, sampleNames } from "./common.mjs";

const [base, expectedPath] = process.argv.slice(2);
const expected = expectedVerdicts(expectedPath);
// Same weights, same arithmetic up to summation order and SIMD: differences stay far below this.
const TOLERANCE = 2e-3;
let passed = 0;

async function check(name, body) {
  const started = Date.now();
  try {
    await body();
    passed++;
    console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    console.error(`FAIL ${name}\n${e.stack || e}`);
    process.exitCode = 1;
  }
}

const cpuBrowser = await launch();

await check("CPU: verdicts match native dga predict, typed one by one", async () => {
  const { context, page, problems } = await open(cpuBrowser, `${base}?backend=cpu`);
  await modelReady(page);
  for (const want of expected) {
    if (want.input.trim() === "") continue;
    const got = await scoreOne(page, want.input);
    if (want.p === null) {
      assert.ok(got.error, `${want.input}: page scored it, native said ${want.error}`);
    } else {
      assert.equal(got.domain, want.domain, want.input);
      assert.ok(Math.abs(got.p - want.p) < TOLERANCE, `${want.input}: page ${got.p}, native ${want.p}`);
      assert.match(got.timing, /CPU/);
      // The family head: named for DGA verdicts as natively (`unknown` included), never for benign ones.
      if (Math.abs(want.p - 0.5) > 0.01) {
        if (want.family) assert.ok(got.family?.startsWith(want.family), `${want.input}: page family ${got.family}, native ${want.family}`);
        else assert.equal(got.family, null, `${want.input}: a benign verdict named a family`);
      }
    }
  }
  // A name under an unlisted root is scored, and the page says the suffix is not a listed one.
  await scoreOne(page, "xjkd8f2hqzpwv.bazar");
  assert.match(await page.textContent("#single-suffix"), /bazar[\s\S]*not on the public-suffix list/);
  // A DGA verdict names the family with its probability and two runners-up (or says unknown).
  assert.match(await page.textContent("#single-family"), /^([\w-]+ \d+\.\d% \(then: [\w-]+ \d+\.\d%, [\w-]+ \d+\.\d%\)|unknown: .*closest: .+)$/);
  // The benign-only anomaly score is shown beside p_dga: random letters are unusual, a brand is not.
  assert.match(await page.textContent("#single-anomaly"), /^\d+\.\d{2} bits: unusual for a benign name/);
  await scoreOne(page, "google.com");
  assert.match(await page.textContent("#single-anomaly"), /^\d+\.\d{2} bits: within what benign names look like/);
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("the allow-list reports platform names as allowed, takes edits at once and names bad lines", async () => {
  const { context, page, problems } = await open(cpuBrowser, `${base}?backend=cpu`);
  await modelReady(page);
  await page.waitForFunction(() => /Allow-list: [1-9]/.test(document.querySelector("#allow-summary")?.textContent ?? ""));
  const platform = await scoreOne(page, "qz8x7wvkt93.herokuapp.com");
  assert.equal(platform.risk, "allowed");
  assert.match(await page.textContent("#single-allowed"), /herokuapp\.com/);
  const dga = await scoreOne(page, "xjkd8f2hqzpwv.com");
  assert.equal(dga.risk, "high");
  await page.click("#allow-summary");
  const shipped = await page.inputValue("#allow-list");
  await page.fill("#allow-list", `${shipped}\nxjkd8f2hqzpwv.com\n10.0.0.1\n`);
  assert.equal(await page.textContent("#single-risk"), "allowed");
  assert.match(await page.textContent("#allow-errors"), /10\.0\.0\.1` is left out \(.*IP address/);
  assert.match(await page.textContent("#allow-summary"), /Allow-list: \d+ entries/);
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("a known DGA name is high risk and a known benign name low, with an explanation", async () => {
  const { context, page, problems } = await open(cpuBrowser, base);
  await modelReady(page);
  const dga = expected.filter((e) => e.p !== null).sort((a, b) => b.p - a.p)[0];
  const high = await scoreOne(page, dga.input);
  assert.equal(high.risk, "high", `${dga.input} scored ${high.p}`);
  const benign = await scoreOne(page, "google.com");
  assert.equal(benign.risk, "low", `google.com scored ${benign.p}`);
  await page.waitForSelector("#single-result[data-state=explained] #heatmap .heat");
  const cells = await page.$$eval("#heatmap .heat", (s) => s.map((e) => e.textContent).join(""));
  assert.equal(cells, "google.com");
  // The word part shows the words it found and whether neighbours go together in English.
  await scoreOne(page, "weatherrepeat.com");
  await page.waitForSelector("#single-result[data-state=explained] #words");
  assert.match(await page.textContent("#words"), /^weather · repeat: 13 of 13 characters in words; 0 of 1 neighbouring pairs seen together in English; [+-]\d+\.\d{2} log-odds$/);
  await scoreOne(page, "google.com");
  // Thresholds are the visitor's: below google.com's p_dga, it becomes high risk.
  await page.fill("#threshold-high", String(benign.p / 2));
  await page.dispatchEvent("#threshold-high", "change");
  await page.waitForFunction(() => document.querySelector("#single-risk")?.textContent === "high");
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("without WebGPU the CPU fallback is chosen and said", async () => {
  const { context, page, problems } = await open(cpuBrowser, base);
  await modelReady(page);
  await page.waitForFunction(() => /not available/.test(document.querySelector("#gpu-status")?.textContent ?? ""));
  const got = await scoreOne(page, "wikipedia.org");
  assert.match(got.timing, /CPU/);
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("user text is rendered as text (XSS)", async () => {
  const { context, page, problems } = await open(cpuBrowser, base);
  await modelReady(page);
  const attack = "<img src=x onerror=alert(1)>";
  const got = await scoreOne(page, attack);
  assert.ok(got.error, "the attack string must not score");
  assert.ok((await page.textContent("#single-result")).includes(attack));
  await page.click("nav button:nth-child(2)");
  await page.fill("#batch-input", `${attack}\n<script>alert(2)</script>\nexample.com`);
  await page.click("#batch-score");
  await page.waitForSelector("#batch-summary");
  assert.equal(await page.locator("#single-result img, #batch-table img, #batch-table script").count(), 0);
  // Markup characters separate words in pasted text, so the tags' pieces are counted, not scored.
  assert.match(await page.textContent("#batch-summary"), /^1 scored, 0 IP addresses skipped, 0 not scorable, [1-9]\d* other words ignored/);
  await page.waitForTimeout(300);
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("1,000 pasted names are all scored, and the CSV download has them all, formulas defused", async () => {
  const { context, page, problems } = await open(cpuBrowser, `${base}?backend=cpu`);
  await modelReady(page);
  await page.click("nav button:nth-child(2)");
  const names = sampleNames(1000);
  await page.fill("#batch-input", names.join("\n"));
  await page.click("#batch-score");
  await page.waitForSelector("#batch-summary", { timeout: 120_000 });
  const summary = await page.textContent("#batch-summary");
  assert.match(summary, /^1000 scored, 0 IP addresses skipped, 0 not scorable/);
  assert.equal(await page.locator("#batch-table tbody tr").count(), 1000);
  assert.equal(await page.locator("#batch-table .skipped").count(), 0);
  // Sorting puts the most DGA-like first; filtering keeps only matching inputs.
  await page.selectOption("#batch-order", "dga");
  const shown = await page.$$eval("#batch-table tbody td:nth-child(4)", (c) => c.map((e) => Number(e.textContent)));
  assert.deepEqual(shown, [...shown].sort((a, b) => b - a));
  await page.fill("#batch-filter", names[7]);
  assert.equal(await page.locator("#batch-table tbody tr").count(), 1);
  await page.fill("#batch-filter", "");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#batch-download")]);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.equal(csv[0], "line,input,domain,registrable_domain,p_dga,logit,risk,error,suffix_known,anomaly,allowed,family,family_p,rule,set_aside");
  assert.equal(csv.length, 1001);
  // Every row has a score; the anomaly is blank only for one-character labels.
  assert.ok(csv.slice(1).every((row) => /,[01]\.\d{6},-?\d+\.\d{3},(high|medium|low|allowed),,true,(\d+\.\d{2})?,[^,]*,[^,]*,(\d\.\d{3})?,registry,$/.test(row)), "every row has a score");
  assert.ok(csv.slice(1).filter((row) => /,\d+\.\d{2},[^,]*,[^,]*,[^,]*,[^,]*,[^,]*$/.test(row)).length > 990, "rows have an anomaly score");
  // DGA verdicts name a family (or `unknown`) with its probability; benign ones leave both blank.
  for (const row of csv.slice(1)) {
    const p = Number(row.match(/,([01]\.\d{6}),/)[1]);
    const family = row.match(/,([^,]*),([^,]*),[^,]*,[^,]*$/);
    if (p >= 0.5 && !/,allowed,/.test(row)) assert.ok(family[1] !== "" && /^\d\.\d{3}$/.test(family[2]), row);
    else assert.equal(family[1] + family[2], "", row);
  }

  // Log lines: hosts, URLs, e-mail addresses and IPs come out; a formula-looking input is defused.
  await page.fill("#batch-input", "GET https://Example.COM:8443/a?b=1 from 10.0.0.1\nmail bob@mail.example.org\n=1+2.example.com");
  await page.click("#batch-score");
  await page.waitForFunction(() => /^2 scored, 1 IP addresses skipped, 1 not scorable/.test(document.querySelector("#batch-summary")?.textContent ?? ""));
  const [again] = await Promise.all([page.waitForEvent("download"), page.click("#batch-download")]);
  const rows = readFileSync(await again.path(), "utf8").trim().split("\n");
  assert.ok(rows.some((r) => r.startsWith("3,'=1+2.example.com,")), rows.join("\n"));
  assert.ok(rows.some((r) => r.includes(",example.com,example.com,")), rows.join("\n"));
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("an uploaded CSV is scored from its domain column", async () => {
  const { context, page, problems } = await open(cpuBrowser, base);
  await modelReady(page);
  await page.click("nav button:nth-child(2)");
  const csv = 'id,domain,note\n1,google.com,ok\n2,"qmbvtrzxkplwnc.ru",quoted\n3,10.0.0.1,ip\n4,"unterminated\n';
  await page.setInputFiles("#batch-file", { name: "list.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.waitForSelector("#batch-summary");
  // The half-quoted last row still reaches the table, as a name that cannot be scored.
  assert.match(await page.textContent("#batch-summary"), /^2 scored, 1 IP addresses skipped, 1 not scorable/);
  assert.ok((await page.textContent("#batch-table")).includes("unterminated"));
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("a pasted Zeek log is read as monitor reads it: each query name once, and its hosts judged", async () => {
  const path = new URL("../../../shared/data/dnslogs/zeek-tsv-rita-proxy-rolling-16h.log.gz", import.meta.url);
  assert.ok(existsSync(path), `the real log ${path.pathname} is missing: ../shared/data is needed`);
  const real = gunzipSync(readFileSync(path)).toString("utf8").split("\n").slice(0, 300);
  const fields = real.find((l) => l.startsWith("#fields")).split("\t").slice(1);
  // An infected host added after the real lines: random names, every lookup failing.
  const infected = "198.51.100.66";
  const start = Number(real.filter((l) => /^\d/.test(l)).at(-1).split("\t")[0]);
  const injected = ["qwpzkxjvbtr.net", "zzkqxv7w2pl.org", "hjxqvwkzpt.com", "pqxzvkwjrt.info", "vkqzxpwjht.biz", "xqzvjwkpht.net"].map((name, i) =>
    fields.map((f) => ({ ts: (start + 4 * (i + 1)).toFixed(6), "id.orig_h": infected, query: name, rcode_name: "NXDOMAIN" })[f] ?? "-").join("\t"));
  const log = [...real, ...injected].join("\n");
  const queryColumn = fields.indexOf("query");
  const distinct = new Set(log.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split("\t")[queryColumn]).filter((q) => q && q !== "-").map((q) => q.toLowerCase()));

  const { context, page, problems } = await open(cpuBrowser, `${base}?backend=cpu`);
  await modelReady(page);
  await page.click("nav button:nth-child(2)");
  await page.fill("#batch-input", log);
  await page.click("#batch-score");
  await page.waitForSelector("#batch-summary", { timeout: 120_000 });
  const summary = await page.textContent("#batch-summary");
  assert.match(summary, new RegExp(`^zeek log: \\d+ queries, ${distinct.size} distinct names .*, 0 lines not understood, 1 hosts alerted`), summary);
  assert.equal(await page.textContent("#batch-shown"), `${distinct.size} rows`);
  const table = await page.textContent("#batch-table");
  for (const header of ["id.orig_h", "id.resp_p", "#fields"]) assert.ok(!table.includes(header), `${header} was scored`);
  assert.equal(await page.locator("#batch-hosts-table tbody tr").count(), 1);
  assert.equal(await page.textContent("#batch-hosts-table .host-client"), infected);
  assert.ok((await page.textContent("#batch-hosts-table")).includes("NXDOMAIN"));
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("a dropped capture is read in the browser: its machine alerted, its names scored as its Zeek log's", async () => {
  const infected = new URL("../../../shared/data/infected/", import.meta.url);
  const capture = gunzipSync(readFileSync(new URL("pcap/bedep-2015-10-12-angler.pcap.gz", infected)));
  const log = gunzipSync(readFileSync(new URL("bedep-mta-2015-10-12-angler.from-pcap.log.gz", infected))).toString("utf8");
  const { context, page, problems } = await open(cpuBrowser, `${base}?backend=cpu`);
  await modelReady(page);
  await page.click("nav button:nth-child(2)");
  const rows = () => page.$$eval("#batch-table tbody tr", (trs) => trs.map((tr) => [...tr.children].slice(1).map((td) => td.textContent).join(" | ")).sort());
  const hosts = () => page.$$eval("#batch-hosts-table .host-client", (cells) => cells.map((c) => c.textContent));

  // Dropped as a file onto the text box, the way a visitor drags it from a folder.
  const dropped = await page.evaluateHandle((base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], "bedep.pcap", { type: "application/vnd.tcpdump.pcap" }));
    return transfer;
  }, capture.toString("base64"));
  await page.dispatchEvent("#batch-input", "drop", { dataTransfer: dropped });
  await page.waitForSelector("#batch-summary", { timeout: 120_000 });
  const summary = await page.textContent("#batch-summary");
  assert.match(summary, /^bedep\.pcap: pcap capture: 3045 packets, 69 DNS messages, 37 queries \(5 with no answer captured\); 37 queries, 28 distinct names .*, 1 hosts alerted/, summary);
  assert.deepEqual(await hosts(), ["192.168.122.31"]);
  // Its generated names, each but two `unknown` alone, are named together.
  assert.equal(await page.textContent("#batch-hosts-table .host-family"), "bedep");
  const fromCapture = await rows();

  // The Zeek log of the same capture, pasted: the same names, verdicts and host.
  await page.fill("#batch-input", log);
  await page.click("#batch-score");
  await page.waitForFunction(() => document.querySelector("#batch-summary")?.textContent.startsWith("zeek log:"), null, { timeout: 120_000 });
  assert.deepEqual(await rows(), fromCapture);
  assert.deepEqual(await hosts(), ["192.168.122.31"]);

  // The capture and its log as they are stored, gzip-compressed: opened by the browser first.
  const compressed = readFileSync(new URL("pcap/bedep-2015-10-12-angler.pcap.gz", infected));
  await page.setInputFiles("#batch-file", { name: "bedep.pcap.gz", mimeType: "application/gzip", buffer: compressed });
  await page.waitForFunction(() => document.querySelector("#batch-summary")?.textContent.startsWith("bedep.pcap.gz: pcap capture: 3045 packets"), null, { timeout: 120_000 });
  assert.deepEqual(await rows(), fromCapture);
  assert.deepEqual(await hosts(), ["192.168.122.31"]);
  const compressedLog = readFileSync(new URL("bedep-mta-2015-10-12-angler.from-pcap.log.gz", infected));
  await page.setInputFiles("#batch-file", { name: "bedep.log.gz", mimeType: "application/gzip", buffer: compressedLog });
  await page.waitForFunction(() => document.querySelector("#batch-summary")?.textContent.startsWith("zeek log:"), null, { timeout: 120_000 });
  assert.deepEqual(await rows(), fromCapture);

  // A damaged gzip file and a binary file that is no capture are refused with a message.
  await page.setInputFiles("#batch-file", { name: "cut.pcap.gz", mimeType: "application/gzip", buffer: compressed.subarray(0, 100) });
  await page.waitForFunction(() => document.querySelector("#batch-note")?.textContent.includes("cut.pcap.gz is gzip-compressed and was not opened"), null, { timeout: 30_000 });
  await page.setInputFiles("#batch-file", { name: "tool.exe", mimeType: "application/octet-stream", buffer: Buffer.from([0x4d, 0x5a, 0x90, 0, 3, 0, 0, 0, 4, 0]) });
  await page.waitForFunction(() => document.querySelector("#batch-note")?.textContent.includes("binary file"), null, { timeout: 30_000 });
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});

await check("a missing or corrupt weights file gives a clear message, not a blank page", async () => {
  for (const [flag, pattern] of [["web/e2e/fixtures/missing.dgaw", /HTTP 404/], ["web/e2e/fixtures/corrupt.dgaw", /not a weights file/]]) {
    const { context, page } = await open(cpuBrowser, `${base}?weights=${flag}`);
    await page.waitForSelector("#model-status.error", { timeout: 30_000 });
    assert.match(await page.textContent("#model-status"), pattern);
    assert.ok(await page.isVisible("nav"), "the page still renders");
    await context.close();
  }
});

await check("once loaded, the page works offline", async () => {
  const { context, page, problems } = await open(cpuBrowser, base);
  await modelReady(page);
  // The service worker caches the page's files on install; wait until it controls the page.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => caches.has("dga-detector-v1"));
  // Every file the build listed for the worker (pkg/precache.js) must be in the cache, snippets too.
  const listed = await page.evaluate(async () => {
    const text = await (await fetch("pkg/precache.js")).text();
    return JSON.parse(text.slice(text.indexOf("["), text.lastIndexOf("]") + 1));
  });
  assert.ok(listed.some((f) => f.includes("/snippets/")), `snippets listed: ${listed}`);
  await page.waitForFunction(async (files) => {
    const cache = await caches.open("dga-detector-v1");
    const hits = await Promise.all(files.map((f) => cache.match(f)));
    return hits.every(Boolean);
  }, listed);
  await context.setOffline(true);
  await page.reload();
  await modelReady(page);
  const got = await scoreOne(page, "xjkd8f2h.com");
  assert.ok(got.p !== null, "scored offline");
  assert.deepEqual(problems.filter((p) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch/.test(p)), [], problems.join("\n"));
  await context.close();
});

await cpuBrowser.close();

const gpuBrowser = await launch({ webgpu: true });
await check("WebGPU (SwiftShader): verdicts match native dga predict", async () => {
  const { context, page, problems } = await open(gpuBrowser, `${base}?backend=webgpu`);
  await modelReady(page);
  await page.waitForFunction(() => /WebGPU: (ready|failed)/.test(document.querySelector("#gpu-status")?.textContent ?? ""), null, { timeout: 120_000 });
  assert.match(await page.textContent("#gpu-status"), /WebGPU: ready/);
  for (const want of expected.filter((e) => e.p !== null).slice(0, 4)) {
    const got = await scoreOne(page, want.input);
    assert.match(got.timing, /WebGPU/);
    assert.ok(Math.abs(got.p - want.p) < TOLERANCE, `${want.input}: WebGPU ${got.p}, native ${want.p}`);
  }
  assert.deepEqual(problems, [], problems.join("\n"));
  await context.close();
});
await gpuBrowser.close();

console.log(`${passed} browser checks passed${process.exitCode ? ", some FAILED" : ""}`);
