//! `dga bench-capture`: how fast capture files are read into queries (pcap or pcapng parsing,
//! packet layers, DNS messages, pairing), without scoring, per file, as a table.

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use dnswatch::capture::read_capture;

#[derive(Args)]
pub struct BenchCaptureArgs {
    /// Capture files (pcap, pcapng; gzip-compressed or not: they are decompressed before the
    /// clock starts).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Reads of each file, back to back; the table shows the median.
    #[arg(long, default_value_t = 20)]
    repeat: usize,
}

pub fn run(args: BenchCaptureArgs) -> Result<()> {
    println!(
        "| capture | MB | packets | DNS messages | queries | ms per read (median of {}) | packets/s | MB/s |",
        args.repeat
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for path in &args.files {
        let what = path.display().to_string();
        let mut bytes = Vec::new();
        crate::input::open(path)?
            .reader
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {what}"))?;
        let mut times = Vec::new();
        let mut summary = None;
        for _ in 0..args.repeat.max(1) {
            let mut queries = 0usize;
            let started = Instant::now();
            let read = read_capture(bytes.as_slice(), |_| queries += 1)
                .with_context(|| format!("cannot read {what}"))?;
            times.push(started.elapsed().as_secs_f64());
            summary = Some(read);
        }
        let Some(summary) = summary else {
            bail!("{what}: nothing read");
        };
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let megabytes = bytes.len() as f64 / 1e6;
        println!(
            "| {} | {megabytes:.2} | {} | {} | {} | {:.2} | {:.0} | {:.0} |",
            path.file_name()
                .map_or(what.clone(), |n| n.to_string_lossy().into_owned()),
            summary.packets,
            summary.messages,
            summary.queries,
            median * 1e3,
            summary.packets as f64 / median,
            megabytes / median,
        );
    }
    Ok(())
}
