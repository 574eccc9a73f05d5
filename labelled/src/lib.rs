//! What the trainer and the analysts' commands (`dga`) both read and write: the labelled lists
//! (`data`), weights files and files written whole (`files`), and how their command lines end.
//! It sits below both so that the trainer does not depend on the analysts' crate.

pub mod data;
pub mod files;

/// Where the shipped weights live, relative to the repository root: what the trainer writes and
/// evaluates by default (the `dga` binary carries its own copy compiled in).
pub const DEFAULT_WEIGHTS: &str = "model/dga.dgaw";

/// How the command lines end: an error goes to stderr with the chain of its causes, and the
/// process exits with 1.
pub fn finish(result: anyhow::Result<()>) {
    if let Err(err) = result {
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}
