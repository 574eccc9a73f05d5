//! The Python package's tests: a virtual environment in the build folder, the package installed
//! from `python/` as a user would (`pip install ./python`), then pytest, Spark's included.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::{root, run, target_dir};

/// Installs the package into the build folder's virtual environment and runs its tests against
/// the `dga` binary the Rust tests built.
pub(crate) fn test() -> Result<()> {
    if Command::new("java").arg("-version").output().is_err() {
        bail!("the Spark test needs Java 17 (`.ci/run` installs Debian's openjdk-17-jre-headless)");
    }
    let venv = target_dir().join("python-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    // pip builds and installs a folder afresh on every call; the extras bring pytest, and Spark
    // with the pandas layer its Arrow functions need (pyproject.toml pins both).
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("{}[spark,test]", root().join("python").display()))
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(root()))?;
    run(Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "."])
        .env("DGA_BIN", dga_bin())
        .current_dir(root().join("python").join("tests")))
}

/// The `dga` binary `cargo test --release --workspace` built for its integration tests.
fn dga_bin() -> PathBuf {
    target_dir().join("release").join("dga")
}
