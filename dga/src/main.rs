//! The `dga` command line: parses the arguments and hands each command to its module.

use anyhow::Result;
use clap::{Parser, Subcommand};
use dga::{bench, bench_capture, bench_logs, bench_network, monitor, predict, serve};

/// Burn's CPU backends allocate a fresh buffer for nearly every tensor operation and free it soon
/// after. glibc's malloc returns the large ones to the kernel each time, so every batch pays page
/// faults to get them back; mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Score domains for DGA names, serve the detector over HTTP, and watch DNS logs.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score domains from a file or stdin and write CSV (or JSON lines).
    Predict(predict::PredictArgs),
    /// Serve the detector over HTTP: a TensorFlow-Serving-compatible API, free-text extraction
    /// and our own scoring endpoint.
    Serve(serve::ServeArgs),
    /// Follow DNS logs (Zeek, Suricata, dnsmasq/Pi-hole, BIND, CoreDNS, Unbound, JSON lines,
    /// plain) and alert on hosts that look up DGA names (or on the names).
    Monitor(monitor::MonitorArgs),
    /// Print a table of scoring speed per model and batch size.
    Bench(bench::BenchArgs),
    /// Print a table of the HTTP server's speed on 127.0.0.1 beside `predict`'s.
    BenchServe(serve::bench::BenchServeArgs),
    /// The real-traffic benchmark: alerts and set-aside names per real DNS log, and after how
    /// many lookups an infected host added to a real log is alerted, per kind of generator.
    BenchLogs(bench_logs::BenchLogsArgs),
    /// A simulated network day: ordinary and busy clients drawn from a resolver's names, the
    /// infected captures replayed and one infected host per leave-out kind; benign host alerts
    /// per 10,000 client-days, when each infection was alerted, speed and memory.
    BenchNetwork(bench_network::BenchNetworkArgs),
    /// Print a table of how fast capture files (pcap, pcapng) are read into queries.
    BenchCapture(bench_capture::BenchCaptureArgs),
}

fn main() {
    dga::finish(run());
}

fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Predict(args) => predict::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchServe(args) => serve::bench::run(args),
        Command::BenchLogs(args) => bench_logs::run(args),
        Command::BenchNetwork(args) => bench_network::run(args),
        Command::BenchCapture(args) => bench_capture::run(args),
    }
}
