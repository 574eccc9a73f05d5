//! The analysts' side of the DGA detector: scoring lists (`predict`), the HTTP API (`serve`),
//! following DNS logs (`monitor`) and their benchmarks, on the CPU, without the training stack.
//! The pieces the trainer shares live here too: reading the labelled data, lines, weights files.

pub mod bench;
pub mod bench_logs;
pub mod bench_network;
pub mod data;
pub mod files;
pub mod lines;
pub mod monitor;
pub mod predict;
pub mod scoring;
pub mod serve;

/// The CPU backend every command here scores on: Flex, which measured faster than NdArray
/// (docs/results.md).
pub type CpuBackend = burn::backend::Flex;

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
