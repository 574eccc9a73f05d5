//! Helpers shared by the integration tests: the repository root, a `dga` run with its input,
//! and a `dga serve` process with a real HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

pub fn repo_root() -> PathBuf {
    // `cargo test` sets the manifest dir at run time; prefer it to the compiled-in one, which
    // names another clone when a build folder is shared between clones.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let manifest = manifest.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().unwrap().to_owned()
}

/// A folder outside the repository, as a user who ran `cargo install` works from: the binary
/// must find everything it needs (weights, allow-list) compiled in.
pub fn outside_repo() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dga-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `dga` with these arguments and `stdin` as its input, from a folder outside the
/// repository.
pub fn dga(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dga"))
        .args(args)
        .current_dir(outside_repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dga starts");
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    // Written from a thread so that a large input cannot block on a full output pipe; dga may
    // also exit (on a bad weights file) before reading it all.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("dga finishes");
    writer.join().unwrap();
    out
}

/// A running server, stopped when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dga serve` on a free port and waits for its "listening on" line.
pub fn start(extra: &[&str]) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_dga"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .current_dir(outside_repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dga serve starts");
    // Owned by a `Server` from here on, so a failed start still stops the process.
    let mut server = Server {
        child,
        base: String::new(),
    };
    let mut stderr = BufReader::new(server.child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "serve exited before listening"
        );
        if let Some(rest) = line.split("listening on ").nth(1) {
            server.base = rest.split_whitespace().next().unwrap().to_owned();
            // Keep draining stderr so the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in stderr.lines() {});
            return server;
        }
    }
}

/// Sends a request and returns the status and body, whatever the status.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, String) {
    let mut request = ureq::request(method, url);
    for (name, value) in headers {
        request = request.set(name, value);
    }
    let result = match body {
        Some(bytes) => request.send_bytes(bytes),
        None => request.call(),
    };
    match result {
        Ok(response) => (response.status(), response.into_string().unwrap()),
        Err(ureq::Error::Status(code, response)) => (code, response.into_string().unwrap()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}
