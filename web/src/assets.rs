//! Same-origin downloads: the weights with a progress report, the model card, and uploaded files.
//! Caching is the browser's (HTTP validators) and the service worker's (offline), not ours.

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStreamDefaultReader, Response};

/// The shipped weights and their model card, relative to the page.
pub const WEIGHTS_URL: &str = "model/dga.dgaw";
pub const CARD_URL: &str = "model/card.json";
/// The shipped allow-list, fetched after the model so it never delays the first verdict.
pub const ALLOW_URL: &str = "model/allow.txt";

/// A JS error (or thrown value) as text for the visitor.
pub fn describe(err: &JsValue) -> String {
    err.as_string()
        .or_else(|| {
            Reflect::get(err, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{err:?}"))
}

async fn response(url: &str) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("cannot fetch {url}: {}", describe(&e)))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!(
            "cannot fetch {url}: HTTP {} {}",
            response.status(),
            response.status_text()
        ));
    }
    Ok(response)
}

/// Downloads `url`, reporting the fraction received (when the server says the size).
pub async fn fetch_bytes(url: &str, progress: impl Fn(f64)) -> Result<Vec<u8>, String> {
    let response = response(url).await?;
    let total: Option<f64> = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse().ok());
    let Some(body) = response.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0.0) as usize);
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("download of {url} failed: {}", describe(&e)))?;
        if Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(|e| describe(&e))?
            .unchecked_into();
        let start = bytes.len();
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        if let Some(total) = total {
            progress((bytes.len() as f64 / total).min(1.0));
        }
    }
    progress(1.0);
    Ok(bytes)
}

/// Downloads `url` as text.
pub async fn fetch_text(url: &str) -> Result<String, String> {
    let text = response(url).await?.text().map_err(|e| describe(&e))?;
    JsFuture::from(text)
        .await
        .map_err(|e| describe(&e))?
        .as_string()
        .ok_or_else(|| format!("{url} is not text"))
}

/// A chosen or dropped file's bytes, for files that may not be text (captures).
pub async fn read_file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| describe(&e))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/gunzip.js")]
extern "C" {
    #[wasm_bindgen(js_name = gunzip)]
    fn gunzip_js(bytes: &[u8], limit: f64) -> js_sys::Promise;
}

/// Most bytes a gzip file may unpack to in the page (the `dga` command reads larger ones as
/// it streams them).
pub const GUNZIP_LIMIT: usize = 512 << 20;

/// A gzip file's content, decompressed by the browser; an error says why not (a browser
/// without `DecompressionStream`, a damaged stream, more than [`GUNZIP_LIMIT`] bytes).
pub async fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let unpacked = JsFuture::from(gunzip_js(bytes, GUNZIP_LIMIT as f64))
        .await
        .map_err(|e| describe(&e))?;
    Ok(js_sys::Uint8Array::new(&unpacked).to_vec())
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/js/tasks.js")]
extern "C" {
    #[wasm_bindgen(js_name = nextTask)]
    fn next_task() -> js_sys::Promise;
}

/// Lets the event loop run (input, painting) between two pieces of heavy work.
pub async fn yield_to_browser() {
    let _ = JsFuture::from(next_task()).await;
}

/// Milliseconds since the page started loading.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// Records a named moment for the benchmark script (`performance.getEntriesByName`).
pub fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

/// Offers `text` as a file download.
pub fn download(name: &str, mime: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|e| describe(&e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| describe(&e))?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| describe(&e))?
        .unchecked_into();
    link.set_href(&url);
    link.set_download(name);
    link.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// The value of a `?name=value` flag in the page's address.
pub fn url_flag(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}
