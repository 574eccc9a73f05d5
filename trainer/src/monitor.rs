//! `trainer monitor`: follows DNS logs as they grow and alerts on names that look machine-made.
//! Each queried name is scored once per window, however often it is queried.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use model_core::{Detector, Risk};
use serde_json::json;

use crate::backend::CpuBackend;
use crate::lines::{Line, LossyLines};
use crate::scoring::{ScoringArgs, score_lines};

mod follow;
mod formats;

use follow::{Follower, StateFile};
pub use formats::{Format, Query};

#[derive(Args, Clone, Debug)]
pub struct MonitorArgs {
    /// Log files to follow (surviving rotation and truncation); `-` or none reads stdin.
    pub inputs: Vec<PathBuf>,
    /// Log format; `auto` tells Zeek (TSV or JSON), dnsmasq/Pi-hole, BIND, JSON lines and plain
    /// names apart by their first lines.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
    /// The field holding the queried name in JSON lines (default: the first of `query`,
    /// `qname`, `question`, `domain`, `name` that a line has).
    #[arg(long)]
    pub json_field: Option<String>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Write alerts (JSON lines) to this file, appending, instead of stdout.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
    /// Remember how far each file was read here, and resume from there after a restart.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Read files from their start when no state says otherwise (default: only new lines).
    #[arg(long)]
    pub from_start: bool,
    /// Read what the files hold now and exit, instead of following them.
    #[arg(long)]
    pub no_follow: bool,
    /// A name is scored at most once in this many seconds.
    #[arg(long, default_value_t = 3600)]
    pub window_s: u64,
    /// Seconds between summaries on stderr (0: only at the end).
    #[arg(long, default_value_t = 60)]
    pub summary_s: u64,
    /// Milliseconds between looks at files that did not grow.
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    lines: u64,
    queries: u64,
    scored: u64,
    cached: u64,
    alerts: u64,
    not_names: u64,
    unparsed: u64,
}

/// A line's origin and its text.
struct SourcedLine {
    source: usize,
    line: Line,
}

pub fn run(args: MonitorArgs) -> Result<()> {
    let detector = args.scoring.detector::<CpuBackend>(Default::default())?;
    let mut alerts: Box<dyn Write> = match &args.alerts {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {} for alerts", path.display()))?,
        ),
        None => Box::new(std::io::stdout()),
    };
    let use_stdin = args.inputs.is_empty() || args.inputs.iter().any(|p| p.as_os_str() == "-");
    if use_stdin && args.inputs.len() > 1 {
        bail!("read stdin (`-`) or files, not both");
    }
    let mut state = args.state.clone().map(StateFile::load).transpose()?;
    let mut followers: Vec<Follower> = Vec::new();
    let stdin_lines = if use_stdin {
        Some(spawn_stdin_reader())
    } else {
        for path in &args.inputs {
            let resume = state.as_ref().and_then(|s| s.position(path));
            followers.push(Follower::new(path.clone(), resume, args.from_start));
        }
        None
    };
    let names: Vec<String> = if use_stdin {
        vec!["-".into()]
    } else {
        args.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    let mut parsers: Vec<formats::Parser> = names
        .iter()
        .map(|_| formats::Parser::new(args.format, args.json_field.clone()))
        .collect();
    let mut monitor = Monitor {
        detector,
        window: Duration::from_secs(args.window_s),
        seen: HashMap::new(),
        counts: Counts::default(),
        reported: 0,
    };
    let started = Instant::now();
    let mut last_summary = (Instant::now(), Counts::default());
    eprintln!(
        "monitor: following {} ({} allow-list entries, alerts at p_dga >= {})",
        names.join(", "),
        monitor.detector.allow.len(),
        monitor.detector.thresholds.high
    );
    loop {
        let mut batch = Vec::new();
        let mut ended = false;
        if let Some(receiver) = &stdin_lines {
            match receiver.recv_timeout(Duration::from_millis(args.poll_ms)) {
                Ok(first) => {
                    batch.push(first?);
                    while batch.len() < 4096 {
                        match receiver.try_recv() {
                            Ok(line) => batch.push(line?),
                            Err(mpsc::TryRecvError::Empty) => break,
                            Err(mpsc::TryRecvError::Disconnected) => {
                                ended = true;
                                break;
                            }
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => ended = true,
            }
        } else {
            for (source, follower) in followers.iter_mut().enumerate() {
                for line in follower.poll()? {
                    batch.push(SourcedLine { source, line });
                }
                for note in follower.take_notes() {
                    eprintln!("monitor: {note}");
                }
            }
            ended = args.no_follow && followers.iter().all(Follower::at_end);
        }
        let had_lines = !batch.is_empty();
        monitor.process(batch, &mut parsers, &names, &mut alerts)?;
        if had_lines {
            alerts.flush()?;
            if let Some(state) = &mut state {
                for follower in &followers {
                    state.set(follower.path(), follower.position());
                }
                state.save()?;
            }
        }
        let now = Instant::now();
        if args.summary_s > 0 && now.duration_since(last_summary.0).as_secs() >= args.summary_s {
            summary(
                &monitor.counts,
                &last_summary.1,
                now.duration_since(last_summary.0),
            );
            last_summary = (now, monitor.counts);
            monitor.forget_old();
        }
        if ended {
            break;
        }
        let behind = followers.iter().any(|f| !f.at_end());
        if !had_lines && !behind && stdin_lines.is_none() {
            std::thread::sleep(Duration::from_millis(args.poll_ms));
        }
    }
    summary(&monitor.counts, &Counts::default(), started.elapsed());
    Ok(())
}

fn summary(now: &Counts, before: &Counts, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    eprintln!(
        "monitor: {} lines ({:.1}/s), {} queries, {} scored, {} from cache, {} alerts, {} not names, {} lines not understood",
        now.lines - before.lines,
        (now.lines - before.lines) as f64 / secs,
        now.queries - before.queries,
        now.scored - before.scored,
        now.cached - before.cached,
        now.alerts - before.alerts,
        now.not_names - before.not_names,
        now.unparsed - before.unparsed,
    );
}

/// Reads stdin on its own thread, so that the main loop can wake up for summaries.
fn spawn_stdin_reader() -> mpsc::Receiver<Result<SourcedLine>> {
    let (sender, receiver) = mpsc::sync_channel(16 * 1024);
    std::thread::spawn(move || {
        for line in LossyLines::new(std::io::stdin().lock()) {
            let item = line
                .map(|line| SourcedLine { source: 0, line })
                .context("cannot read stdin");
            if sender.send(item).is_err() {
                return;
            }
        }
    });
    receiver
}

struct Monitor {
    detector: Detector<CpuBackend>,
    window: Duration,
    /// When each name was last scored.
    seen: HashMap<String, Instant>,
    counts: Counts,
    /// Lines and names reported as not scored so far.
    reported: u64,
}

/// How many unscored lines are reported one by one.
const REPORTED: u64 = 100;

impl Monitor {
    /// Parses a batch of lines, scores the names not scored within the window, and writes an
    /// alert per high-risk name.
    fn process(
        &mut self,
        batch: Vec<SourcedLine>,
        parsers: &mut [formats::Parser],
        sources: &[String],
        alerts: &mut dyn Write,
    ) -> Result<()> {
        let now = Instant::now();
        let mut fresh: Vec<(usize, Query)> = Vec::new();
        for SourcedLine { source, line } in batch {
            self.counts.lines += 1;
            if let Some(problem) = &line.problem {
                self.counts.unparsed += 1;
                self.report(&sources[source], problem);
                continue;
            }
            match parsers[source].parse(&line.text) {
                formats::Parsed::Query(query) => {
                    self.counts.queries += 1;
                    let key = query.name.trim_end_matches('.').to_ascii_lowercase();
                    match self.seen.get(&key) {
                        Some(at) if now.duration_since(*at) < self.window => {
                            self.counts.cached += 1
                        }
                        _ => {
                            self.seen.insert(key, now);
                            fresh.push((source, query));
                        }
                    }
                }
                formats::Parsed::Skip => {}
                formats::Parsed::Unparsed(why) => {
                    self.counts.unparsed += 1;
                    self.report(&sources[source], &why);
                }
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let lines: Vec<Line> = fresh
            .iter()
            .map(|(_, q)| Line::clean(q.name.clone()))
            .collect();
        let verdicts = score_lines(&self.detector, &lines);
        self.counts.scored += verdicts.len() as u64;
        for ((source, query), verdict) in fresh.iter().zip(verdicts) {
            let scored = match verdict.result {
                Ok(scored) => scored,
                Err(e) => {
                    self.counts.not_names += 1;
                    let name: String = query.name.chars().take(80).collect();
                    let cut = if name.len() < query.name.len() {
                        "..."
                    } else {
                        ""
                    };
                    self.report(&sources[*source], &format!("`{name}{cut}` not scored: {e}"));
                    continue;
                }
            };
            if scored.risk != Risk::High {
                continue;
            }
            self.counts.alerts += 1;
            let alert = json!({
                "ts": query.timestamp.clone().unwrap_or_else(now_seconds),
                "client": query.client,
                "query": query.name,
                "registrable_domain": scored.domain.registrable_domain,
                "p_dga": scored.p_dga,
                "risk": scored.risk.as_str(),
                "anomaly": scored.anomaly.map(|a| a.bits),
                "family": scored.family.as_ref().map(|f| &f.name),
                "family_p": scored.family.as_ref().map(|f| f.p),
                "source": sources[*source],
            });
            writeln!(alerts, "{alert}").context("cannot write an alert")?;
        }
        Ok(())
    }

    /// Says on stderr why a line or name was not scored: the first [`REPORTED`] of them, then
    /// only their counts in the summaries, so that a flood of junk cannot drown the log.
    fn report(&mut self, source: &str, why: &str) {
        self.reported += 1;
        if self.reported <= REPORTED {
            let shown: String = why.chars().take(300).collect();
            eprintln!("monitor: {source}: {shown}");
        } else if self.reported == REPORTED + 1 {
            eprintln!("monitor: {source}: more lines not scored; the summaries count them");
        }
    }

    /// Drops names scored longer than a window ago, so the cache holds one window of names.
    fn forget_old(&mut self) {
        let window = self.window;
        self.seen.retain(|_, at| at.elapsed() < window);
    }
}

fn now_seconds() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:.3}", now.as_secs_f64())
}
