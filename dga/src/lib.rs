//! The analysts' side of the DGA detector: scoring lists (`predict`), the HTTP API (`serve`),
//! following DNS logs (`monitor`) and their benchmarks, on the CPU, without the training stack.

pub mod bench;
pub mod bench_capture;
pub mod bench_logs;
pub mod bench_network;
pub mod input;
pub mod lines;
pub mod monitor;
pub mod predict;
pub mod scoring;
pub mod serve;

/// The CPU backend every command here scores on: Flex, which measured faster than NdArray
/// (docs/results.md).
pub type CpuBackend = burn::backend::Flex;

pub use labelled::finish;
