//! Reading weights and writing files whole, for the analysts' commands and the trainer alike.

use std::path::Path;

use anyhow::{Context, Result};

/// The weights file's bytes, or a message that says how to get one.
pub fn read_weights(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "cannot read weights {} (train with `cargo run --release -p trainer`, or pass --weights)",
            path.display()
        )
    })
}

/// Writes through a temporary file and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
