// Decompresses a gzip file in the browser with its own DecompressionStream (no decoder in the
// page's wasm), chunk by chunk so that a file which would unpack past `limit` bytes is refused
// before it fills the tab's memory.
export async function gunzip(bytes, limit) {
  if (typeof DecompressionStream === "undefined") {
    throw new Error("this browser cannot decompress gzip");
  }
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      await reader.cancel();
      throw new Error(`it unpacks to more than ${Math.round(limit / 2 ** 20)} MiB`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
