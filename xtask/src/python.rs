//! The Python package's tests: a virtual environment in the build folder, the package installed
//! from `python/` as a user would (`pip install ./python`), then pytest, Spark's included.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use crate::{root, run, target_dir};

/// What the tests import besides the package: pytest, and Spark with the pandas layer its
/// Arrow functions check for (below 3, which Spark 4.3 warns it does not fully support yet).
const TEST_PACKAGES: [&str; 4] = ["pytest", "pyspark", "pandas>=2.2,<3", "maturin"];

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
    let pip = |args: &[&str]| {
        let mut cmd = Command::new(&python);
        cmd.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(args)
        .current_dir(root());
        cmd
    };
    run(&mut pip(&TEST_PACKAGES))?;
    run(pip(&["--force-reinstall", "--no-deps"])
        .arg(root().join("python"))
        .env("CARGO_TARGET_DIR", target_dir()))?;
    run(pip(&[]).arg(root().join("python")))?; // its own dependencies (pyarrow, numpy)
    run(Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "."])
        .env("DGA_BIN", dga_bin())
        .current_dir(root().join("python").join("tests")))
}

/// The `dga` binary `cargo test --release --workspace` built for its integration tests.
fn dga_bin() -> PathBuf {
    target_dir().join("release").join("dga")
}
