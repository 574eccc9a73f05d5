//! `dga bench-serve`: the server's speed on 127.0.0.1, measured by real HTTP clients in
//! one run beside `predict`'s scoring path, printed as a table.

// The HTTP client's error type is large; these are cold paths.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use super::{AppState, router};
use crate::CpuBackend;
use crate::lines::Line;
use crate::scoring::{ScoringArgs, score_lines};

#[derive(Args)]
pub struct BenchServeArgs {
    #[command(flatten)]
    scoring: ScoringArgs,
    /// Seconds each row of the table runs for.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

/// Names that vary in length and kind, the same in every run.
fn names(count: usize) -> Vec<String> {
    let words = [
        "mail", "shop", "cloud", "news", "bank", "photo", "game", "travel",
    ];
    (0..count)
        .map(|i| {
            let mixed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            match i % 3 {
                0 => format!("{}{}.com", words[i % 8], words[(i / 8) % 8]),
                1 => format!("{:x}.net", mixed >> (i % 40)),
                _ => format!("x{}q{}.org", mixed % 9973, words[i % 8]),
            }
        })
        .collect()
}

/// Starts a server for `state` on a free port of 127.0.0.1; returns its base URL.
fn start(state: Arc<AppState>) -> Result<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || -> Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            sender.send(listener.local_addr()?)?;
            axum::serve(listener, router(state)).await?;
            Ok(())
        })
    });
    let addr = receiver
        .recv_timeout(Duration::from_secs(10))
        .context("the server did not start")?;
    Ok(format!("http://{addr}"))
}

pub fn run(args: BenchServeArgs) -> Result<()> {
    let seconds = Duration::from_secs_f64(args.seconds);
    let batched = start(Arc::new(AppState::new(
        args.scoring.detector::<CpuBackend>(Default::default())?,
        true,
    )))?;
    let plain = start(Arc::new(AppState::new(
        args.scoring.detector::<CpuBackend>(Default::default())?,
        false,
    )))?;
    println!("| what | concurrency | requests/s | names/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let singles = names(4096);
    for (how, base) in [("micro-batched", &batched), ("a pass per request", &plain)] {
        for concurrency in [1, 16, 64] {
            let row = drive(base, concurrency, seconds, 1, |agent, i| {
                agent
                    .post(&format!("{base}/v1/models/dga:predict"))
                    .send_json(serde_json::json!({ "instances": [&singles[i % singles.len()]] }))
            })?;
            row.print(&format!("TF predict, 1 name, {how}"), concurrency);
        }
    }
    for concurrency in [1, 16] {
        let row = drive(&batched, concurrency, seconds, 1, |agent, i| {
            agent
                .get(&format!(
                    "{batched}/get_prediction/{}",
                    singles[i % singles.len()]
                ))
                .call()
        })?;
        row.print("get_prediction, micro-batched", concurrency);
    }
    let batch = names(1000).join("\n");
    for concurrency in [1, 2] {
        let row = drive(&batched, concurrency, seconds, 1000, |agent, _| {
            agent
                .post(&format!("{batched}/v1/score"))
                .set("Content-Type", "text/plain")
                .send_string(&batch)
        })?;
        row.print("/v1/score, 1,000 names", concurrency);
    }
    // `predict`'s own path on the same batches, in this process, for the ratio.
    let detector = args.scoring.detector::<CpuBackend>(Default::default())?;
    let lines: Vec<Line> = names(1000).into_iter().map(Line::clean).collect();
    let started = Instant::now();
    let mut batches = 0;
    while started.elapsed() < seconds {
        score_lines(&detector, &lines);
        batches += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "| predict path (no HTTP), 1,000 names | 1 | {:.1} | {:.0} | | |",
        batches as f64 / secs,
        batches as f64 * 1000.0 / secs
    );
    Ok(())
}

struct Row {
    requests: usize,
    names_per_request: usize,
    elapsed: f64,
    latencies: Vec<f64>,
}

impl Row {
    fn print(&self, what: &str, concurrency: usize) {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            sorted
                .get(((sorted.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "| {what} | {concurrency} | {:.0} | {:.0} | {:.3} | {:.3} |",
            self.requests as f64 / self.elapsed,
            (self.requests * self.names_per_request) as f64 / self.elapsed,
            at(0.5) * 1e3,
            at(0.99) * 1e3
        );
    }
}

/// Runs `request` from `concurrency` clients, each with its own keep-alive connection, for
/// `duration`; every answer must be 200.
fn drive(
    base: &str,
    concurrency: usize,
    duration: Duration,
    names_per_request: usize,
    request: impl Fn(&ureq::Agent, usize) -> Result<ureq::Response, ureq::Error> + Sync,
) -> Result<Row> {
    // One request first, so that no row measures the first connection or lazy set-up.
    request(&ureq::Agent::new(), 0).with_context(|| format!("cannot reach {base}"))?;
    let started = Instant::now();
    let request = &request;
    let per_client: Vec<Result<Vec<f64>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..concurrency)
            .map(|client| {
                scope.spawn(move || -> Result<Vec<f64>> {
                    let agent = ureq::Agent::new();
                    let mut latencies = Vec::new();
                    let mut i = client * 7919;
                    while started.elapsed() < duration {
                        let sent = Instant::now();
                        let response = request(&agent, i)?;
                        let _ = response.into_string()?;
                        latencies.push(sent.elapsed().as_secs_f64());
                        i += 1;
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread panicked"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    for client in per_client {
        latencies.extend(client?);
    }
    Ok(Row {
        requests: latencies.len(),
        names_per_request,
        elapsed,
        latencies,
    })
}
