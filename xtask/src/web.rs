//! The page's build and its local server: wasm builds of `web` and `web-gpu`, wasm-bindgen into
//! `pkg/`, wasm-opt when available, sizes, and a static server for the files a host would serve.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{WASM_TARGET, cargo, dga, ensure_wasm_target, root, run, target_dir};

/// The cargo profile of the page's wasm (size-optimised; see the workspace Cargo.toml).
const PROFILE: &str = "wasm-release";
/// The browser-test tools' folder (playwright-core, binaryen's wasm-opt), installed by npm.
pub const E2E_DIR: &str = "web/e2e";

/// What a static host serves: the page, its wasm, the weights, the model card and allow-list.
const SERVED_FILES: [&str; 8] = [
    "index.html",
    "main.js",
    "sw.js",
    "style.css",
    "favicon.svg",
    "model/dga.dgaw",
    "model/card.json",
    "model/allow.txt",
];
const SERVED_DIRS: [&str; 1] = ["pkg/"];
/// Extra files only the browser tests see (a corrupt weights file).
const TEST_DIRS: [&str; 1] = ["web/e2e/fixtures/"];

/// The wasm-bindgen version pinned in Cargo.toml, as resolved in Cargo.lock.
fn wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            let version = lines.next().unwrap_or_default();
            return Ok(version
                .trim_start_matches("version = ")
                .trim_matches('"')
                .to_owned());
        }
    }
    bail!("Cargo.lock has no wasm-bindgen")
}

/// Installs wasm-bindgen-cli of exactly the pinned version when the one on PATH differs.
fn ensure_wasm_bindgen() -> Result<()> {
    let version = wasm_bindgen_version()?;
    let installed = Command::new("wasm-bindgen").arg("--version").output();
    if let Ok(out) = installed
        && String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            == Some(version.as_str())
    {
        return Ok(());
    }
    // Without --locked: the locked install failed to build here.
    run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &version]))
}

/// Installs the browser-test tools from web/e2e/package-lock.json when missing.
pub fn ensure_npm_tools() -> Result<()> {
    let dir = root().join(E2E_DIR);
    if dir.join("node_modules/playwright-core").exists()
        && dir.join("node_modules/binaryen").exists()
    {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir))
}

/// Builds both wasm modules into `pkg/` and prints their sizes.
pub fn build(optimise: bool) -> Result<()> {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    run(cargo().args([
        "build",
        "--profile",
        PROFILE,
        "--target",
        WASM_TARGET,
        "-p",
        "web",
        "-p",
        "web-gpu",
    ]))?;
    let built = target_dir().join(WASM_TARGET).join(PROFILE);
    let pkg = root().join("pkg");
    for (crate_file, out_dir) in [("web.wasm", pkg.clone()), ("web_gpu.wasm", pkg.join("gpu"))] {
        let source = built.join(crate_file);
        // wasm-opt takes minutes: skip both steps when pkg/ already holds this very build.
        let stamp_file = out_dir.join(format!(".{crate_file}.stamp"));
        let stamp = build_stamp(&source, optimise)?;
        if std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) {
            continue;
        }
        if out_dir.exists() && out_dir != pkg {
            std::fs::remove_dir_all(&out_dir).ok();
        }
        // Snippet folders are named by a hash; an old build's would linger in the offline list.
        if out_dir == pkg {
            std::fs::remove_dir_all(pkg.join("snippets")).ok();
        }
        run(Command::new("wasm-bindgen")
            .arg(&source)
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&out_dir))?;
        if optimise {
            wasm_opt(&out_dir.join(crate_file.replace(".wasm", "_bg.wasm")))?;
        }
        std::fs::write(&stamp_file, stamp)?;
    }
    write_precache_list(&pkg)?;
    print_sizes()
}

/// Where the build lists the `pkg/` files the service worker (`sw.js`) caches for offline use.
const PRECACHE_LIST: &str = "precache.js";

/// Writes `pkg/precache.js`: every file of the page's own module, wasm-bindgen's snippets
/// included, so the offline copy is complete whatever the build emits. The WebGPU engine
/// (`pkg/gpu/`) is left out: visitors without WebGPU never download it, and the worker caches
/// it when a page does load it.
fn write_precache_list(pkg: &Path) -> Result<()> {
    let mut files = Vec::new();
    let mut pending = vec![pkg.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with('.') || name == PRECACHE_LIST || path == pkg.join("gpu") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root()).unwrap_or(&path);
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    let list = serde_json::to_string(&files)?;
    let script = format!(
        "// Written by `cargo xtask build-web`: the pkg/ files sw.js caches for offline use.\nself.PKG_FILES = {list};\n"
    );
    std::fs::write(pkg.join(PRECACHE_LIST), script)?;
    Ok(())
}

/// What a `pkg/` output was made from: the cargo build's size and time, and whether optimised.
fn build_stamp(source: &Path, optimise: bool) -> Result<String> {
    let meta = std::fs::metadata(source).with_context(|| format!("no {}", source.display()))?;
    let modified = meta
        .modified()?
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    Ok(format!("{} {modified} optimise={optimise}", meta.len()))
}

/// Shrinks a wasm file in place with binaryen's wasm-opt from npm (Debian's 108 emits wasm
/// Chromium rejects).
fn wasm_opt(wasm: &Path) -> Result<()> {
    ensure_npm_tools()?;
    let tool = root().join(E2E_DIR).join("node_modules/.bin/wasm-opt");
    let features = [
        "--enable-bulk-memory",
        "--enable-nontrapping-float-to-int",
        "--enable-sign-ext",
        "--enable-mutable-globals",
        "--enable-reference-types",
        "--enable-multivalue",
        "--enable-simd",
    ];
    run(Command::new(tool)
        .arg("-Oz")
        .args(features)
        .arg(wasm)
        .arg("-o")
        .arg(wasm))
}

fn gzip_len(bytes: &[u8]) -> Result<usize> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

/// Raw and gzip sizes of what a visitor downloads.
pub fn print_sizes() -> Result<()> {
    println!("{:<28} {:>10} {:>10}", "file", "raw KiB", "gzip KiB");
    let mut first = (0, 0);
    // The model card and allow-list are fetched after the model is ready, so they are not
    // counted before the first verdict.
    for file in [
        "pkg/web_bg.wasm",
        "pkg/web.js",
        "model/dga.dgaw",
        "model/card.json",
        "model/allow.txt",
        "pkg/gpu/web_gpu_bg.wasm",
        "pkg/gpu/web_gpu.js",
    ] {
        let Ok(bytes) = std::fs::read(root().join(file)) else {
            continue;
        };
        let gz = gzip_len(&bytes)?;
        if !file.contains("gpu") && !file.contains("card") && !file.contains("allow") {
            first = (first.0 + bytes.len(), first.1 + gz);
        }
        println!(
            "{:<28} {:>10.1} {:>10.1}",
            file,
            bytes.len() as f64 / 1024.0,
            gz as f64 / 1024.0
        );
    }
    println!(
        "{:<28} {:>10.1} {:>10.1}",
        "before the first verdict",
        first.0 as f64 / 1024.0,
        first.1 as f64 / 1024.0
    );
    Ok(())
}

/// Starts the static server on 127.0.0.1 in a background thread; returns its address.
pub fn spawn_server(port: u16, with_test_files: bool) -> Result<String> {
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow::anyhow!("cannot listen on port {port}: {e}"))?;
    let address = format!(
        "http://{}/",
        server.server_addr().to_ip().context("not an IP listener")?
    );
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            // One thread per request: a slow download never holds up the page's other files.
            std::thread::spawn(move || {
                let response = respond(request.url(), with_test_files, request.headers());
                let _ = request.respond(response);
            });
        }
    });
    Ok(address)
}

fn respond(
    url: &str,
    with_test_files: bool,
    headers: &[tiny_http::Header],
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("/")
        .trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let allowed = !path.contains("..")
        && (SERVED_FILES.contains(&path)
            || SERVED_DIRS.iter().any(|d| path.starts_with(d))
            || (with_test_files && TEST_DIRS.iter().any(|d| path.starts_with(d))));
    let header = |k: &str, v: &str| {
        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("ASCII header")
    };
    let file = root().join(path);
    let bytes = if allowed {
        std::fs::read(&file).ok()
    } else {
        None
    };
    let Some(bytes) = bytes else {
        return tiny_http::Response::from_data(b"not found".to_vec()).with_status_code(404);
    };
    // Validators let the browser keep the weights and revalidate them cheaply on each visit.
    let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
    let stamp = modified
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{:x}-{:x}\"", bytes.len(), stamp);
    let matches = headers
        .iter()
        .any(|h| h.field.equiv("If-None-Match") && h.value.as_str() == etag);
    let content_type = match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
    let body = if matches { Vec::new() } else { bytes };
    tiny_http::Response::from_data(body)
        .with_status_code(if matches { 304 } else { 200 })
        .with_header(header("Content-Type", content_type))
        .with_header(header("Cache-Control", "no-cache"))
        .with_header(header("ETag", &etag))
        .with_header(header("X-Content-Type-Options", "nosniff"))
}

/// Builds the page and serves it until interrupted.
pub fn serve(port: u16) -> Result<()> {
    build(true)?;
    let address = spawn_server(port, false)?;
    println!("serving the page at {address} (Ctrl-C stops)");
    loop {
        std::thread::park();
    }
}

/// Runs a Node script from web/e2e against a freshly started server.
pub fn run_browser_script(script: &str, extra: &[String]) -> Result<()> {
    ensure_npm_tools()?;
    if !Path::new("/usr/bin/chromium").exists() {
        bail!(
            "the browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
        );
    }
    let address = spawn_server(0, true)?;
    let expected = expected_verdicts()?;
    run(Command::new("node")
        .arg(root().join(E2E_DIR).join(script))
        .arg(&address)
        .arg(&expected)
        .args(extra)
        .current_dir(root()))
}

/// Native `dga predict` verdicts on the demo names, which the page must reproduce.
fn expected_verdicts() -> Result<PathBuf> {
    let out = target_dir().join("expected-verdicts.csv");
    run(dga(&["predict", "model/demo-domains.txt", "-o"]).arg(&out))?;
    Ok(out)
}
