//! `dga monitor`: follows DNS logs as they grow and alerts on hosts that look up
//! machine-made names (and, if asked, on the names themselves). Each queried name is scored
//! once per window of log time, however often it is queried.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use dnswatch::dnslog::{Format, Parser};
use dnswatch::hosts::HostRules;
use model_core::SetAside;

use crate::CpuBackend;
use crate::lines::{Line, LossyLines};
use crate::scoring::ScoringArgs;

pub mod ecs;
mod follow;
pub mod triage;

use follow::{Follower, StateFile};
pub use triage::{AlertOn, Counts, Event, Triage};

#[derive(Args, Clone, Debug)]
pub struct MonitorArgs {
    /// Log files to follow (surviving rotation and truncation); `-` or none reads stdin.
    /// Capture files (pcap, pcapng) and gzip-compressed logs are read whole, once: they are
    /// told apart by their first bytes, and other binary files are refused.
    pub inputs: Vec<PathBuf>,
    /// Log format; `auto` tells Zeek (TSV or JSON), Suricata eve, dnsmasq/Pi-hole, BIND,
    /// CoreDNS, Unbound, JSON lines and plain names apart by their lines.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
    /// The field holding the queried name in JSON lines (default: the first of `query`,
    /// `qname`, `question`, `domain`, `name` that a line has).
    #[arg(long)]
    pub json_field: Option<String>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub hosts: HostArgs,
    #[command(flatten)]
    pub capture: crate::input::CaptureArgs,
    /// Write alerts (JSON lines) to this file, appending, instead of stdout.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
    /// How alerts are written: monitor's own JSON, or Elastic Common Schema documents for
    /// Elastic, OpenSearch and Security Onion (docs/monitoring.md).
    #[arg(long, value_enum, default_value = "json")]
    pub alert_format: ecs::AlertFormat,
    /// Remember how far each file was read here, and resume from there after a restart.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Read files from their start when no state says otherwise (default: only new lines;
    /// implied by --no-follow).
    #[arg(long)]
    pub from_start: bool,
    /// Read what the files hold now, from their start (or where --state left them), and exit
    /// instead of following them.
    #[arg(long)]
    pub no_follow: bool,
    /// A name is scored at most once in this many seconds of log time.
    #[arg(long, default_value_t = 3600)]
    pub window_s: u64,
    /// Seconds between summaries on stderr (0: only at the end).
    #[arg(long, default_value_t = 60)]
    pub summary_s: u64,
    /// Milliseconds between looks at files that did not grow.
    #[arg(long, default_value_t = 250)]
    pub poll_ms: u64,
}

/// How hosts are judged (the defaults are the measured choice: docs/monitoring.md).
#[derive(Args, Clone, Debug)]
pub struct HostArgs {
    /// Which alerts to write: per host (the default: per-name alerts on real traffic are
    /// mostly false), per high-risk name, or both.
    #[arg(long, value_enum, default_value = "hosts")]
    pub alert_on: AlertOn,
    /// The false-alarm budget: benign host alerts expected per 10,000 client-days. It sets the
    /// log-likelihood ratio at which a host's window of lookups alerts (ln(1,440,000 / budget)
    /// for 10-minute windows: 14.2 at 1).
    #[arg(long, default_value_t = HostRules::default().budget)]
    pub host_budget: f64,
    /// Seconds of log time over which a host's lookups are judged together.
    #[arg(long, default_value_t = HostRules::default().window_s)]
    pub host_window_s: f64,
    /// Hosts whose evidence is held at once; past it the host seen longest ago is forgotten.
    #[arg(long, default_value_t = HostRules::default().max_hosts)]
    pub max_hosts: usize,
}

impl HostArgs {
    pub fn rules(&self) -> HostRules {
        HostRules {
            budget: self.host_budget,
            window_s: self.host_window_s,
            max_hosts: self.max_hosts,
            ..HostRules::default()
        }
    }
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
    let names: Vec<String> = if use_stdin {
        vec!["-".into()]
    } else {
        args.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    // What each input holds, told before anything is judged: a binary file is refused up
    // front; captures and compressed logs are read whole, other logs followed.
    let mut state = args.state.clone().map(StateFile::load).transpose()?;
    let mut followers: Vec<(usize, Follower)> = Vec::new();
    let mut stdin_lines = None;
    let mut finished = Vec::new();
    if use_stdin {
        let stdin =
            crate::input::classify(Box::new(std::io::BufReader::new(std::io::stdin())), "stdin")?;
        if stdin.content.is_capture() {
            finished.push((0, stdin));
        } else {
            stdin_lines = Some(spawn_stdin_reader(stdin.reader));
        }
    } else {
        for (source, path) in args.inputs.iter().enumerate() {
            // A log that does not exist yet is followed: the follower waits for it.
            if path.exists() {
                let opened = crate::input::open(path)?;
                if opened.content.is_capture() || opened.gzip {
                    finished.push((source, opened));
                    continue;
                }
            }
            let resume = state.as_ref().and_then(|s| s.position(path));
            // Only a file followed on has lines yet to come; one read once is read whole.
            let from_start = args.from_start || args.no_follow;
            followers.push((source, Follower::new(path.clone(), resume, from_start)));
        }
    }
    let mut parsers: Vec<Parser> = names
        .iter()
        .map(|_| Parser::new(args.format, args.json_field.clone()))
        .collect();
    let mut monitor = Monitor {
        triage: Triage::new(
            detector,
            args.window_s as f64,
            args.hosts.alert_on,
            args.hosts.rules(),
        ),
        reported: 0,
        format: args.alert_format,
        ports: args.capture.ports(),
    };
    let started = Instant::now();
    let mut last_summary = (Instant::now(), Counts::default());
    // Compressed logs and captures are read whole; plain logs and stdin are followed unless
    // --no-follow.
    let following = !args.no_follow && (!followers.is_empty() || stdin_lines.is_some());
    eprintln!(
        "monitor: {} {} ({} allow-list entries; {:?} alerts: names at p_dga >= {}, hosts at a likelihood ratio of e^{:.1} in {} s, {} per 10,000 client-days expected of benign hosts)",
        if following { "following" } else { "reading" },
        names.join(", "),
        monitor.triage.detector.allow.len(),
        args.hosts.alert_on,
        monitor.triage.detector.thresholds.high,
        args.hosts.rules().threshold(),
        args.hosts.host_window_s,
        args.hosts.host_budget,
    );
    for (source, opened) in finished {
        monitor.read_whole(source, opened, &mut parsers, &names, &mut alerts)?;
    }
    loop {
        // Inputs read whole were all there was.
        if followers.is_empty() && stdin_lines.is_none() {
            break;
        }
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
            for (source, follower) in followers.iter_mut() {
                let source = *source;
                for line in follower.poll()? {
                    batch.push(SourcedLine { source, line });
                }
                for note in follower.take_notes() {
                    eprintln!("monitor: {note}");
                }
            }
            ended = args.no_follow && followers.iter().all(|(_, f)| f.at_end());
        }
        let had_lines = !batch.is_empty();
        monitor.process(batch, &mut parsers, &names, &mut alerts)?;
        if had_lines {
            alerts.flush()?;
            if let Some(state) = &mut state {
                for (_, follower) in &followers {
                    state.set(follower.path(), follower.position());
                }
                state.save()?;
            }
        }
        let now = Instant::now();
        if args.summary_s > 0 && now.duration_since(last_summary.0).as_secs() >= args.summary_s {
            summary(
                &monitor.triage.counts,
                &last_summary.1,
                now.duration_since(last_summary.0),
            );
            last_summary = (now, monitor.triage.counts.clone());
            monitor.triage.forget_old();
        }
        if ended {
            break;
        }
        let behind = followers.iter().any(|(_, f)| !f.at_end());
        if !had_lines && !behind && stdin_lines.is_none() {
            std::thread::sleep(Duration::from_millis(args.poll_ms));
        }
    }
    summary(
        &monitor.triage.counts,
        &Counts::default(),
        started.elapsed(),
    );
    Ok(())
}

fn summary(now: &Counts, before: &Counts, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let set_aside: Vec<String> = SetAside::ALL
        .iter()
        .map(|why| {
            let count = |c: &Counts| c.set_aside.get(why).copied().unwrap_or(0);
            format!("{} {}", count(now) - count(before), why.as_str())
        })
        .collect();
    eprintln!(
        "monitor: {} lines ({:.1}/s), {} queries, {} scored, {} from cache, {} name alerts, {} host alerts, {} campaign alerts, set aside: {}, {} not names, {} lines not understood",
        now.lines - before.lines,
        (now.lines - before.lines) as f64 / secs,
        now.queries - before.queries,
        now.scored - before.scored,
        now.cached - before.cached,
        now.name_alerts - before.name_alerts,
        now.host_alerts - before.host_alerts,
        now.campaign_alerts - before.campaign_alerts,
        set_aside.join(", "),
        now.not_names - before.not_names,
        now.unparsed - before.unparsed,
    );
}

/// Reads stdin on its own thread, so that the main loop can wake up for summaries.
fn spawn_stdin_reader(stdin: crate::input::Reader) -> mpsc::Receiver<Result<SourcedLine>> {
    let (sender, receiver) = mpsc::sync_channel(16 * 1024);
    std::thread::spawn(move || {
        for line in LossyLines::new(stdin) {
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
    triage: Triage,
    /// Lines reported as not understood so far.
    reported: u64,
    format: ecs::AlertFormat,
    /// Ports of capture files read as DNS.
    ports: Vec<u16>,
}

/// How many unscored lines are reported one by one.
const REPORTED: u64 = 100;

impl Monitor {
    /// Reads an input that does not grow (a capture, a gzip-compressed log) from start to end.
    fn read_whole(
        &mut self,
        source: usize,
        opened: crate::input::Input,
        parsers: &mut [Parser],
        sources: &[String],
        alerts: &mut dyn Write,
    ) -> Result<()> {
        const BATCH: usize = 4096;
        if opened.content.is_capture() {
            let ports = self.ports.clone();
            let summary = crate::input::read_capture_batches(
                opened.reader,
                &sources[source],
                &ports,
                BATCH,
                |queries| {
                    self.triage.counts.lines += queries.len() as u64;
                    let events = queries
                        .into_iter()
                        .map(|parsed| Event { source, parsed })
                        .collect();
                    self.judge(events, sources, alerts)
                },
            )?;
            eprintln!(
                "monitor: {}: {}",
                sources[source],
                crate::input::describe_capture(&summary, &ports)
            );
        } else {
            let mut batch = Vec::with_capacity(BATCH);
            for line in LossyLines::new(opened.reader) {
                let line = line.with_context(|| format!("cannot read {}", sources[source]))?;
                batch.push(SourcedLine { source, line });
                if batch.len() == BATCH {
                    self.process(std::mem::take(&mut batch), parsers, sources, alerts)?;
                }
            }
            self.process(batch, parsers, sources, alerts)?;
        }
        alerts.flush()?;
        Ok(())
    }

    /// Parses a batch of lines, then scores and judges their queries in order, writing the
    /// alerts they raise.
    fn process(
        &mut self,
        batch: Vec<SourcedLine>,
        parsers: &mut [Parser],
        sources: &[String],
        alerts: &mut dyn Write,
    ) -> Result<()> {
        let mut events = Vec::with_capacity(batch.len());
        for SourcedLine { source, line } in batch {
            self.triage.counts.lines += 1;
            if let Some(problem) = &line.problem {
                self.triage.counts.unparsed += 1;
                self.report(&sources[source], problem);
                continue;
            }
            let parsed = parsers[source].parse(&line.text);
            if let dnswatch::dnslog::Parsed::Unparsed(why) = &parsed {
                self.report(&sources[source], why);
            }
            events.push(Event { source, parsed });
        }
        self.judge(events, sources, alerts)
    }

    /// Scores and judges parsed events in order, writing the alerts they raise.
    fn judge(
        &mut self,
        events: Vec<Event>,
        sources: &[String],
        alerts: &mut dyn Write,
    ) -> Result<()> {
        for alert in self.triage.process(events, sources) {
            let alert = match self.format {
                ecs::AlertFormat::Json => alert,
                ecs::AlertFormat::Ecs => ecs::document(&alert),
            };
            writeln!(alerts, "{alert}").context("cannot write an alert")?;
        }
        for (source, why) in std::mem::take(&mut self.triage.problems) {
            self.report(&sources[source], &why);
        }
        Ok(())
    }

    /// Says on stderr why a line was not understood: the first [`REPORTED`] of them, then
    /// only their counts in the summaries, so that a flood of junk cannot drown the log.
    fn report(&mut self, source: &str, why: &str) {
        self.reported += 1;
        if self.reported <= REPORTED {
            let shown: String = why.chars().take(300).collect();
            eprintln!("monitor: {source}: {shown}");
        } else if self.reported == REPORTED + 1 {
            eprintln!("monitor: {source}: more lines not understood; the summaries count them");
        }
    }
}
