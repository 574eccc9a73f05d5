// Bridge to the WebGPU engine (pkg/gpu/), imported only when the page decides to use it so that
// visitors without WebGPU, or with small inputs, never download it.

// What the browser's WebGPU adapter is, or null when there is none.
export async function gpuAdapter() {
  if (!("gpu" in navigator)) return null;
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) return null;
  const info = adapter.info || {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
  return { name: name || "unnamed adapter", fallback: Boolean(adapter.isFallbackAdapter || info.isFallbackAdapter) };
}

// Loads the engine module and the model onto the GPU; resolves to a scorer.
export async function gpuLoad(weights) {
  const module = await import(new URL("pkg/gpu/web_gpu.js", document.baseURI).href);
  await module.default();
  return await module.GpuScorer.create(weights);
}

// Scores (DGA log-odds, then family guesses) for token sequences laid back to back.
export async function gpuScores(scorer, tokens, lengths) {
  return await scorer.scores(tokens, lengths);
}
