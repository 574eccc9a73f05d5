//! `dga bench-logs`: the real-traffic benchmark. Part one runs every log of a folder
//! through `monitor`'s own triage and counts what an analyst would see; part two adds an
//! infected host to a real log, one per kind of generator of the leave-out benchmark, and
//! says after how many of its queries the host alert fires.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use dnswatch::dnslog::{Format, Parsed, Parser, Query};
use model_core::SetAside;
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::CpuBackend;
use crate::lines::LossyLines;
use crate::monitor::{AlertOn, Event, HostArgs, Triage};
use crate::scoring::ScoringArgs;
use labelled::data::Loaded;
use model_core::folds::{FOLDS, Fold};

#[derive(Args, Debug)]
pub struct BenchLogsArgs {
    /// Folder of DNS logs (plain or `.gz`), each read with `--format auto`.
    #[arg(long, default_value = "../shared/data/dnslogs")]
    pub logs: PathBuf,
    /// Labelled data whose held-out families the infected hosts look up.
    #[arg(long, default_value = "../shared/data/domains.csv.gz")]
    pub data: PathBuf,
    /// The log the infected host is added to (a file name in `--logs`).
    #[arg(long, default_value = "zeek-tsv-rita-proxy-rolling-16h.log.gz")]
    pub replay_into: String,
    /// Seconds between the infected host's lookups.
    #[arg(long, default_value_t = 4.0)]
    pub pace_s: f64,
    /// Lookups the infected host makes per generator kind.
    #[arg(long, default_value_t = 200)]
    pub lookups: usize,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub hosts: HostArgs,
}

/// The infected host's address: in a range no real log here uses (TEST-NET-2).
const INFECTED: &str = "198.51.100.66";

/// The logs of a folder (`.log`, `.json`, `.gz`), sorted by name; none is an error.
pub(crate) fn log_files(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("cannot read {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "gz" || e == "log" || e == "json")
        })
        .collect();
    logs.sort();
    if logs.is_empty() {
        bail!("no logs in {}", folder.display());
    }
    Ok(logs)
}

pub fn run(args: BenchLogsArgs) -> Result<()> {
    let logs = log_files(&args.logs)?;
    println!("## Real logs\n");
    println!(
        "| log | format | queries | distinct names | names alerted | hosts alerted | set aside: single label | special use | service | unknown TLD | not names | lines not understood |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut total = Row::default();
    for path in &logs {
        let (format, events) = read_log(path)?;
        let mut triage = new_triage(&args, AlertOn::Both)?;
        let distinct: HashSet<String> = events
            .iter()
            .filter_map(|e| match &e.parsed {
                Parsed::Query(q) => Some(q.name.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        triage.process(events, &[path.display().to_string()]);
        triage.problems.clear();
        let row = Row::of(&triage, distinct.len() as u64);
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        println!("{}", row.markdown(&name, format.as_str()));
        total.add(&row);
    }
    println!("{}", total.markdown("**all**", ""));
    println!(
        "\nAlerts per 10,000 distinct names: {:.1} (names {}, hosts {}, of {} distinct names)\n",
        (total.name_alerts + total.host_alerts) as f64 * 10_000.0 / total.distinct.max(1) as f64,
        total.name_alerts,
        total.host_alerts,
        total.distinct
    );
    replay(&args)
}

fn new_triage(args: &BenchLogsArgs, alert_on: AlertOn) -> Result<Triage> {
    let detector = args.scoring.detector::<CpuBackend>(Default::default())?;
    // The name cache's window is long enough that a log is scored once per name.
    Ok(Triage::new(detector, 3600.0, alert_on, args.hosts.rules()))
}

/// A log's events, parsed as `monitor` parses them, and the format it was read as.
pub(crate) fn read_log(path: &Path) -> Result<(Format, Vec<Event>)> {
    let mut parser = Parser::new(Format::Auto, None);
    let mut events = Vec::new();
    for line in LossyLines::new(labelled::data::open(path)?) {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let parsed = match line.problem {
            Some(problem) => Parsed::Unparsed(problem),
            None => parser.parse(&line.text),
        };
        events.push(Event { source: 0, parsed });
    }
    Ok((parser.format(), events))
}

#[derive(Debug, Default)]
struct Row {
    queries: u64,
    distinct: u64,
    name_alerts: u64,
    host_alerts: u64,
    set_aside: BTreeMap<SetAside, u64>,
    not_names: u64,
    unparsed: u64,
}

impl Row {
    fn of(triage: &Triage, distinct: u64) -> Self {
        let c = &triage.counts;
        Self {
            queries: c.queries,
            distinct,
            name_alerts: c.name_alerts,
            // Campaign alerts name hosts too.
            host_alerts: c.host_alerts + c.campaign_alerts,
            set_aside: c.set_aside.clone(),
            not_names: c.not_names,
            unparsed: c.unparsed,
        }
    }

    fn add(&mut self, other: &Row) {
        self.queries += other.queries;
        self.distinct += other.distinct;
        self.name_alerts += other.name_alerts;
        self.host_alerts += other.host_alerts;
        self.not_names += other.not_names;
        self.unparsed += other.unparsed;
        for (why, n) in &other.set_aside {
            *self.set_aside.entry(*why).or_default() += n;
        }
    }

    fn markdown(&self, name: &str, format: &str) -> String {
        let aside: Vec<String> = SetAside::ALL
            .iter()
            .map(|w| self.set_aside.get(w).copied().unwrap_or(0).to_string())
            .collect();
        format!(
            "| {name} | {format} | {} | {} | {} | {} | {} | {} | {} |",
            self.queries,
            self.distinct,
            self.name_alerts,
            self.host_alerts,
            aside.join(" | "),
            self.not_names,
            self.unparsed
        )
    }
}

/// Part two: one infected host per kind of generator, added to a real log.
fn replay(args: &BenchLogsArgs) -> Result<()> {
    let base_path = args.logs.join(&args.replay_into);
    let (_, base) = read_log(&base_path)?;
    let start = base
        .iter()
        .find_map(|e| match &e.parsed {
            Parsed::Query(q) => q.time,
            _ => None,
        })
        .context("the replay log has no timestamps")?;
    let loaded = labelled::data::load(&args.data, None)?;
    println!("## An infected host added to `{}`\n", args.replay_into);
    println!(
        "One client ({INFECTED}) looks up {} names of one kind of generator, one every {} s from the log's first query, each answered NXDOMAIN; the rest of the log is replayed as it was. Host alerts only (`--alert-on hosts`).\n",
        args.lookups, args.pace_s
    );
    println!(
        "| kind of generator | families | host alert after its lookup no. | evidence then | other hosts alerted |"
    );
    println!("|---|---|---:|---:|---:|");
    for fold in FOLDS {
        let names = fold_names(
            &loaded,
            &fold,
            args.lookups,
            &mut rand::rngs::StdRng::seed_from_u64(7),
        );
        let injected: Vec<(f64, Event)> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let time = start + args.pace_s * (i + 1) as f64;
                let query = Query {
                    timestamp: Some(format!("{time:.3}")),
                    time: Some(time),
                    client: Some(INFECTED.to_owned()),
                    name: (*name).to_owned(),
                    rcode: Some("NXDOMAIN".to_owned()),
                };
                (
                    time,
                    Event {
                        source: 0,
                        parsed: Parsed::Query(query),
                    },
                )
            })
            .collect();
        let (_, base) = read_log(&base_path)?;
        let events = merge(base, injected);
        let mut triage = new_triage(args, AlertOn::Hosts)?;
        let alerts = triage.process(events, &[base_path.display().to_string()]);
        let infected = alerts.iter().find(|a| a["client"] == INFECTED);
        let others = alerts.iter().filter(|a| a["client"] != INFECTED).count();
        let (after, evidence) = match infected {
            Some(alert) => {
                let at = alert["time"].as_f64().unwrap_or(f64::INFINITY);
                let lookups = ((at - start) / args.pace_s).round() as usize;
                (
                    lookups.to_string(),
                    format!("{:.1}", alert["evidence"].as_f64().unwrap_or(0.0)),
                )
            }
            None => (format!("never (of {})", names.len()), "—".into()),
        };
        println!(
            "| {} | {} | {after} | {evidence} | {others} |",
            fold.name,
            fold.families.len()
        );
    }
    Ok(())
}

/// Up to `count` labelled names of a leave-out fold's families, in random order: what an
/// injected infected host of that kind looks up.
pub(crate) fn fold_names<'a>(
    loaded: &'a Loaded,
    fold: &Fold,
    count: usize,
    rng: &mut impl rand::Rng,
) -> Vec<&'a str> {
    let families: HashSet<&str> = fold.families.iter().copied().collect();
    let mut names: Vec<&str> = loaded
        .samples
        .iter()
        .filter(|s| s.is_dga && families.contains(s.family.as_str()))
        .map(|s| s.domain.as_str())
        .collect();
    names.shuffle(rng);
    names.truncate(count);
    names
}

/// The log's events with the injected ones placed by time (events without a time keep their
/// place after the last timed one).
fn merge(base: Vec<Event>, injected: Vec<(f64, Event)>) -> Vec<Event> {
    let mut injected = injected.into_iter().peekable();
    let mut out = Vec::with_capacity(base.len() + injected.len());
    for event in base {
        if let Parsed::Query(Query { time: Some(t), .. }) = &event.parsed {
            while injected.peek().is_some_and(|(at, _)| at <= t) {
                out.push(injected.next().map(|(_, e)| e).expect("peeked"));
            }
        }
        out.push(event);
    }
    out.extend(injected.map(|(_, e)| e));
    out
}
