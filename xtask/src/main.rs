//! `cargo xtask test` runs every check CI runs; `cargo xtask demo` scores a few names with the
//! shipped weights.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The wasm target the page is built for; model-core must keep compiling for it.
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The labelled data beside the repository, used for the quality gate when present.
const SHARED_DATA: &str = "../shared/data/domains.csv.gz";
/// The shipped model must keep at least this F1 on the held-out test split (measured: see README).
const MIN_TEST_F1: f64 = 0.97;

fn main() {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "test" => test(),
        "demo" => demo(),
        _ => {
            eprintln!("usage: cargo xtask <test|demo>");
            std::process::exit(2);
        }
    };
    if let Err(err) = result {
        eprintln!("xtask {task}: {err:#}");
        std::process::exit(1);
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_owned()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {cmd:?}");
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn test() -> Result<()> {
    run(cargo().args(["test", "--release", "--workspace"]))?;
    ensure_wasm_target()?;
    run(cargo().args(["build", "--release", "-p", "model-core", "--target", WASM_TARGET]))?;
    let gated = quality_gate()?;
    // Reached only when every check passed: the test suite, the wasm build and the gate if run.
    let checks = if gated { 3 } else { 2 };
    println!("checks: {checks} passed, 0 failed");
    Ok(())
}

/// Scores the held-out test split with the shipped weights, when the shared data is present;
/// returns whether it ran.
fn quality_gate() -> Result<bool> {
    if !root().join(SHARED_DATA).exists() {
        eprintln!("skipping the quality gate: {SHARED_DATA} is not there");
        return Ok(false);
    }
    let out = cargo()
        .args(["run", "--quiet", "--release", "-p", "trainer", "--", "eval", "--json", "--data", SHARED_DATA])
        .output()
        .context("cannot run trainer eval")?;
    if !out.status.success() {
        bail!("trainer eval failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).context("eval --json output")?;
    let f1 = report["f1"].as_f64().context("report has no f1")?;
    let number = |key: &str| report[key].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "shipped model on the test split: F1 {f1:.4}, ROC-AUC {:.5}, TPR {:.4} at FPR 1%, {:.4} at FPR 0.1%",
        number("roc_auc"),
        number("tpr_at_fpr_1pct"),
        number("tpr_at_fpr_0_1pct")
    );
    if f1 < MIN_TEST_F1 {
        bail!("test F1 {f1:.4} is below {MIN_TEST_F1}");
    }
    Ok(true)
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        _ => run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
    }
}

fn demo() -> Result<()> {
    run(cargo().args(["run", "--quiet", "--release", "-p", "trainer", "--", "predict", "model/demo-domains.txt"]))
}
