//! `dga bench-network`: a simulated network day. Thousands of ordinary clients and a few busy
//! ones (forwarders, proxies, NAT, mail) look up names drawn from a large resolver's answers by
//! popularity, with benign failures at the rates the real logs show; every capture of an
//! infected machine is replayed into it, and one infected host per leave-out kind of generator
//! is added. The traffic goes through `monitor`'s own triage, and the table says how many benign
//! hosts were alerted, when each infection was, and how fast and in how much memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use dnswatch::dnslog::{Parsed, Query, is_failure};
use model_core::folds::FOLDS;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Poisson};
use serde_json::Value;

use crate::CpuBackend;
use crate::bench_logs::{fold_names, log_files, read_log};
use crate::lines::LossyLines;
use crate::monitor::{AlertOn, Event, HostArgs, Triage};
use crate::scoring::ScoringArgs;

#[derive(Args, Debug)]
pub struct BenchNetworkArgs {
    /// Names a large resolver answers, most popular first (one per line, plain or `.gz`).
    #[arg(
        long,
        default_value = "../shared/data/fqdn/umbrella-2026-07-dev-half.txt.gz"
    )]
    pub fqdn: PathBuf,
    /// Real DNS logs, whose answer codes give the benign failure rates.
    #[arg(long, default_value = "../shared/data/dnslogs")]
    pub logs: PathBuf,
    /// Captures of infected machines as Zeek `dns.log`s (plain or `.gz`), each replayed.
    #[arg(long, default_value = "../shared/data/infected")]
    pub infected: PathBuf,
    /// Labelled data: each leave-out kind's families give one infected host its names.
    #[arg(long, default_value = "../shared/data/domains.csv.gz")]
    pub data: PathBuf,
    /// Ordinary clients (laptops, phones, servers).
    #[arg(long, default_value_t = 2000)]
    pub clients: usize,
    /// Busy clients (forwarders, proxies, NAT, mail), their rates spread evenly on a log scale.
    #[arg(long, default_value_t = 20)]
    pub busy: usize,
    /// The busiest client's queries per second at the day's peak (the quietest: 1).
    #[arg(long, default_value_t = 300.0)]
    pub busiest_qps: f64,
    /// Median queries per second of an ordinary client at the day's peak.
    #[arg(long, default_value_t = 0.4)]
    pub ordinary_qps: f64,
    /// Hour of the day the simulation starts (0 to 23; the peak is at 14:00).
    #[arg(long, default_value_t = 0.0)]
    pub start_hour: f64,
    /// Hours simulated.
    #[arg(long, default_value_t = 24.0)]
    pub hours: f64,
    /// Generated lookups of each leave-out kind's infected host.
    #[arg(long, default_value_t = 60)]
    pub lookups: usize,
    /// Seconds between an infected host's generated lookups.
    #[arg(long, default_value_t = 3.0)]
    pub pace_s: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Write the simulated traffic to this file as a Zeek `dns.log` instead of judging it (to
    /// run any `dga monitor` on the same day).
    #[arg(long)]
    pub write_log: Option<PathBuf>,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    #[command(flatten)]
    pub hosts: HostArgs,
}

/// One simulated lookup.
struct Lookup {
    time: f64,
    client: u32,
    name: String,
    failed: bool,
}

/// Captures (by file name) whose machine must not be alerted as a DGA host: its lookups are a
/// fixed list of names or mail servers, or it is clean.
const NOT_DGA: [&str; 4] = ["benign", "emotet", "hancitor", "nymaim"];

/// Simulated seconds generated and judged at a time (bounded memory).
const STEP_S: f64 = 10.0;
/// The simulated day's first second (2026-07-01 00:00 UTC, the resolver list's month).
const DAY_START: f64 = 1_782_864_000.0;

/// Share of the day's peak rate at hour `h`: a quiet night, a working-day plateau peaking at
/// 14:00.
fn diurnal(h: f64) -> f64 {
    let phase = (h - 14.0) / 24.0 * std::f64::consts::TAU;
    0.15 + 0.85 * ((1.0 + phase.cos()) / 2.0).powi(2)
}

/// Benign failure rates, measured on the real logs that carry answer codes.
#[derive(Debug, Clone, Copy)]
struct FailureRates {
    /// Share of lookups retried under a search suffix (`name.corp.example`), which fail.
    search_suffix: f64,
    /// Share of other failing lookups (typos and dead names, half each).
    other: f64,
    /// Lookups with an answer code they were measured on.
    measured: u64,
}

fn failure_rates(logs: &Path) -> Result<FailureRates> {
    let mut answered = 0u64;
    let mut suffix = 0u64;
    let mut other = 0u64;
    for path in log_files(logs)? {
        for query in queries(&path)? {
            let Some(rcode) = &query.rcode else { continue };
            answered += 1;
            if !is_failure(rcode) {
                continue;
            }
            match model_core::normalise(&query.name) {
                Err(_) => suffix += 1,
                Ok(_) => other += 1,
            }
        }
    }
    if answered == 0 {
        bail!("no log in {} carries answer codes", logs.display());
    }
    Ok(FailureRates {
        search_suffix: suffix as f64 / answered as f64,
        other: other as f64 / answered as f64,
        measured: answered,
    })
}

/// A log's queries, read as `monitor` reads them.
fn queries(path: &Path) -> Result<Vec<Query>> {
    let (_, events) = read_log(path)?;
    Ok(events
        .into_iter()
        .filter_map(|e| match e.parsed {
            Parsed::Query(q) => Some(q),
            _ => None,
        })
        .collect())
}

/// Draws names by popularity (weight 1/rank).
struct Popularity {
    names: Vec<String>,
    cumulative: Vec<f64>,
}

impl Popularity {
    fn load(path: &Path) -> Result<Self> {
        let mut names = Vec::new();
        for line in LossyLines::new(labelled::data::open(path)?) {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            let name = line.text.trim();
            if !name.is_empty() && !name.starts_with('#') {
                names.push(name.to_ascii_lowercase());
            }
        }
        if names.len() < 100 {
            bail!(
                "{} holds {} names; the simulation needs a resolver's list",
                path.display(),
                names.len()
            );
        }
        let mut total = 0.0;
        let cumulative = (1..=names.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Ok(Self { names, cumulative })
    }

    fn draw(&self, rng: &mut StdRng) -> &str {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        &self.names[i.min(self.names.len() - 1)]
    }

    /// A name from the long tail (past the first thousandth), uniformly.
    fn tail(&self, rng: &mut StdRng) -> &str {
        let from = self.names.len() / 1000;
        &self.names[rng.random_range(from..self.names.len())]
    }
}

/// A typo of `name`: one letter of its first label dropped, doubled or swapped.
fn typo(name: &str, rng: &mut StdRng) -> String {
    let label_end = name.find('.').unwrap_or(name.len());
    let bytes: Vec<u8> = name.bytes().collect();
    if label_end < 2 {
        return format!("w{name}");
    }
    let i = rng.random_range(0..label_end - 1);
    let mut out = bytes.clone();
    match rng.random_range(0..3) {
        0 => {
            out.remove(i);
        }
        1 => out.insert(i, bytes[i]),
        _ => out.swap(i, i + 1),
    }
    String::from_utf8(out).unwrap_or_else(|_| name.to_owned())
}

/// Search suffixes clients retry under: most are local (set aside), some a company's domain.
const SEARCH_SUFFIXES: [&str; 4] = ["lan", "localdomain", "home", "ad.northwind-traders.com"];

/// The simulated clients.
struct Clients {
    /// Queries per second at the peak, per client.
    peak_qps: Vec<f64>,
    names: Vec<String>,
    busy: usize,
}

impl Clients {
    fn new(args: &BenchNetworkArgs, rng: &mut StdRng) -> Self {
        let mut peak_qps = Vec::new();
        let mut names = Vec::new();
        for i in 0..args.busy {
            let share = if args.busy > 1 {
                i as f64 / (args.busy - 1) as f64
            } else {
                1.0
            };
            peak_qps.push(args.busiest_qps.max(1.0).powf(share));
            names.push(format!("172.31.{}.{}", i / 250, i % 250 + 1));
        }
        // Log-normal volumes around the median: most clients are quiet, a few are chatty.
        let volume = LogNormal::new(args.ordinary_qps.max(1e-9).ln(), 1.0)
            .expect("a standard deviation of 1 is valid");
        for i in 0..args.clients {
            peak_qps.push(volume.sample(rng));
            names.push(format!("172.16.{}.{}", i / 250, i % 250 + 1));
        }
        Self {
            peak_qps,
            names,
            busy: args.busy,
        }
    }
}

/// An infected host injected into the day.
struct Infection {
    client: String,
    label: String,
    /// Log times of the lookups counted until its alert: a leave-out host's generated ones,
    /// every query of a replayed capture.
    lookups: Vec<f64>,
    first: f64,
    /// Whether it runs a DGA (the aim is an alert) or not (the aim is none).
    dga: bool,
}

pub fn run(args: BenchNetworkArgs) -> Result<()> {
    if args.clients == 0 || args.hours <= 0.0 {
        bail!("the simulation needs at least one ordinary client and a positive --hours");
    }
    let mut rng = StdRng::seed_from_u64(args.seed);
    let rates = failure_rates(&args.logs)?;
    let popularity = Popularity::load(&args.fqdn)?;
    let mut clients = Clients::new(&args, &mut rng);
    let start = DAY_START + args.start_hour * 3600.0;
    let end = start + args.hours * 3600.0;
    let (mut injected, infections) = infections(&args, start, end, &mut clients, &mut rng)?;
    injected.sort_by(|a, b| a.time.total_cmp(&b.time));
    let mut injected = injected.into_iter().peekable();

    let mut writer = match &args.write_log {
        Some(path) => Some(zeek_writer(path)?),
        None => None,
    };
    let mut triage = Triage::new(
        args.scoring.detector::<CpuBackend>(Default::default())?,
        3600.0,
        AlertOn::Hosts,
        args.hosts.rules(),
    );
    let sources = vec!["network-day".to_owned()];
    let mut alerts: Vec<Value> = Vec::new();
    let mut queries = 0u64;
    let mut judging = std::time::Duration::ZERO;
    let mut per_hour: BTreeMap<u64, u64> = BTreeMap::new();
    let started = Instant::now();
    let mut at = start;
    while at < end {
        let step_end = (at + STEP_S).min(end);
        let mut batch = simulate(&clients, &popularity, rates, at, step_end, &mut rng);
        while injected.peek().is_some_and(|l| l.time < step_end) {
            batch.extend(injected.next());
        }
        batch.sort_by(|a, b| a.time.total_cmp(&b.time));
        queries += batch.len() as u64;
        *per_hour
            .entry(((at - DAY_START) / 3600.0) as u64)
            .or_default() += batch.len() as u64;
        if let Some(w) = &mut writer {
            for l in &batch {
                let client = &clients.names[l.client as usize];
                writeln!(
                    w,
                    "{:.6}\t{client}\t{}\t{}",
                    l.time,
                    l.name,
                    if l.failed { "NXDOMAIN" } else { "NOERROR" }
                )?;
            }
        } else {
            let events: Vec<Event> = batch
                .into_iter()
                .map(|l| Event {
                    source: 0,
                    parsed: Parsed::Query(Query {
                        timestamp: None,
                        time: Some(l.time),
                        client: Some(clients.names[l.client as usize].clone()),
                        name: l.name,
                        rcode: Some(if l.failed { "NXDOMAIN" } else { "NOERROR" }.to_owned()),
                    }),
                })
                .collect();
            let began = Instant::now();
            alerts.extend(triage.process(events, &sources));
            judging += began.elapsed();
            triage.problems.clear();
            if (step_end - start) % 600.0 < STEP_S {
                triage.forget_old();
            }
        }
        at = step_end;
    }
    if let Some(mut w) = writer {
        w.flush()?;
        eprintln!(
            "bench-network: wrote {queries} queries in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let measured = Measured {
        queries,
        busiest_hour: per_hour.values().copied().max().unwrap_or(0),
        judging,
        wall: started.elapsed(),
    };
    report(
        &args,
        &clients,
        rates,
        &infections,
        &alerts,
        &measured,
        &triage,
    )
}

/// How much traffic was judged, and how fast.
#[derive(Clone, Copy)]
struct Measured {
    queries: u64,
    /// Queries in the busiest simulated hour.
    busiest_hour: u64,
    /// Time spent in the triage (scoring and judging), not in simulating.
    judging: std::time::Duration,
    wall: std::time::Duration,
}

fn zeek_writer(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(
        w,
        "#separator \\x09\n#path\tdns\n#fields\tts\tid.orig_h\tquery\trcode_name"
    )?;
    Ok(w)
}

/// The benign traffic of `[from, to)`.
fn simulate(
    clients: &Clients,
    popularity: &Popularity,
    rates: FailureRates,
    from: f64,
    to: f64,
    rng: &mut StdRng,
) -> Vec<Lookup> {
    let hour = ((from - DAY_START) / 3600.0).rem_euclid(24.0);
    let shape = diurnal(hour);
    let mut out = Vec::new();
    for (c, &peak) in clients.peak_qps.iter().enumerate() {
        // Busy clients aggregate many users, so their nights are less quiet.
        let factor = if c < clients.busy {
            0.5 + 0.5 * shape
        } else {
            shape
        };
        let mean = peak * factor * (to - from);
        let lookups = match Poisson::new(mean) {
            Ok(poisson) => poisson.sample(rng) as usize,
            Err(_) => 0, // no traffic at all (a mean of 0)
        };
        for _ in 0..lookups {
            let time = from + rng.random::<f64>() * (to - from);
            let roll = rng.random::<f64>();
            let (name, failed) = if roll < rates.search_suffix {
                let suffix = SEARCH_SUFFIXES[c % SEARCH_SUFFIXES.len()];
                (format!("{}.{suffix}", popularity.draw(rng)), true)
            } else if roll < rates.search_suffix + rates.other / 2.0 {
                (typo(popularity.draw(rng), rng), true)
            } else if roll < rates.search_suffix + rates.other {
                (popularity.tail(rng).to_owned(), true)
            } else {
                (popularity.draw(rng).to_owned(), false)
            };
            out.push(Lookup {
                time,
                client: c as u32,
                name,
                failed,
            });
        }
    }
    out
}

/// The captures, replayed from evenly spread start times, and one host per leave-out kind,
/// an ordinary client that starts looking up generated names.
fn infections(
    args: &BenchNetworkArgs,
    start: f64,
    end: f64,
    clients: &mut Clients,
    rng: &mut StdRng,
) -> Result<(Vec<Lookup>, Vec<Infection>)> {
    let captures = log_files(&args.infected)?;
    let loaded = labelled::data::load(&args.data, None)?;
    let slots = captures.len() + FOLDS.len();
    let slot_s = (end - start) / (slots + 1) as f64;
    let mut lookups = Vec::new();
    let mut infections = Vec::new();
    for (i, path) in captures.iter().enumerate() {
        let queries = queries(path)?;
        let Some(first) = queries.iter().filter_map(|q| q.time).reduce(f64::min) else {
            continue;
        };
        let shift = start + slot_s * (i + 1) as f64 - first;
        let label = path.file_name().map_or_else(String::new, |n| {
            n.to_string_lossy()
                .split(".from-pcap")
                .next()
                .unwrap_or("")
                .to_owned()
        });
        let client = queries
            .iter()
            .find_map(|q| q.client.clone())
            .unwrap_or_default();
        // The capture's machine joins the network under its own address, with no other traffic.
        let index = clients.names.len() as u32;
        clients.names.push(client.clone());
        clients.peak_qps.push(0.0);
        let mut times = Vec::new();
        for q in &queries {
            let (Some(t), Some(_)) = (q.time, &q.client) else {
                continue;
            };
            times.push(t + shift);
            lookups.push(Lookup {
                time: t + shift,
                client: index,
                name: q.name.clone(),
                failed: q.rcode.as_deref().is_some_and(is_failure),
            });
        }
        infections.push(Infection {
            client,
            dga: !NOT_DGA.iter().any(|p| label.starts_with(p)),
            label,
            lookups: times,
            first: shift + first,
        });
    }
    for (k, fold) in FOLDS.iter().enumerate() {
        let names = fold_names(&loaded, fold, args.lookups, rng);
        // One of the ordinary clients, so its own traffic goes on around the infection.
        let host = clients.busy + (k * 97) % args.clients;
        let first = start + slot_s * (captures.len() + k + 1) as f64;
        let mut generated = Vec::new();
        for (j, name) in names.iter().enumerate() {
            let time = first + args.pace_s * j as f64;
            generated.push(time);
            lookups.push(Lookup {
                time,
                client: host as u32,
                name: (*name).to_owned(),
                failed: true,
            });
        }
        infections.push(Infection {
            client: clients.names[host].clone(),
            label: format!("leave-out kind: {}", fold.name),
            lookups: generated,
            first,
            dga: true,
        });
    }
    Ok((lookups, infections))
}

/// Peak resident memory of this process, from the kernel (Linux), in MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The clients an alert names.
fn alerted_clients(alert: &Value) -> Vec<String> {
    match alert["kind"].as_str() {
        Some("campaign") => alert["hosts"]
            .as_array()
            .map(|hosts| {
                hosts
                    .iter()
                    .filter_map(|h| h["client"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        _ => alert["client"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect(),
    }
}

fn report(
    args: &BenchNetworkArgs,
    clients: &Clients,
    rates: FailureRates,
    infections: &[Infection],
    alerts: &[Value],
    measured: &Measured,
    triage: &Triage,
) -> Result<()> {
    let Measured {
        queries,
        busiest_hour: peak_hour,
        judging,
        wall,
    } = *measured;
    let infected: HashSet<&str> = infections.iter().map(|i| i.client.as_str()).collect();
    let busy: HashSet<&str> = clients.names[..clients.busy]
        .iter()
        .map(String::as_str)
        .collect();
    let mut benign_host = (0u64, 0u64);
    let mut benign_campaign = 0u64;
    let mut benign_clients: BTreeMap<String, u64> = BTreeMap::new();
    let mut first_alert: HashMap<String, (f64, &'static str)> = HashMap::new();
    for alert in alerts {
        let time = alert["time"].as_f64().unwrap_or(f64::INFINITY);
        let kind = if alert["kind"] == "campaign" {
            "campaign"
        } else {
            "host"
        };
        let named = alerted_clients(alert);
        let mut any_benign = false;
        for client in named {
            if infected.contains(client.as_str()) {
                let entry = first_alert.entry(client).or_insert((time, kind));
                if time < entry.0 {
                    *entry = (time, kind);
                }
            } else {
                any_benign = true;
                if kind == "host" {
                    if busy.contains(client.as_str()) {
                        benign_host.1 += 1;
                    } else {
                        benign_host.0 += 1;
                    }
                }
                *benign_clients.entry(client).or_default() += 1;
            }
        }
        if any_benign && kind == "campaign" {
            benign_campaign += 1;
        }
    }
    let client_days = (args.clients + args.busy) as f64 * args.hours / 24.0;
    let per_10k = |n: u64| n as f64 * 10_000.0 / client_days.max(1e-9);
    println!("## A simulated network day\n");
    println!(
        "{} ordinary clients (median {} queries/s at the 14:00 peak, log-normal) and {} busy ones (1 to {} queries/s at the peak), {:.1} h from {:02.0}:00, names drawn from `{}` by popularity (1/rank); benign failures at the rates of the real logs' {} answered lookups: {:.2}% retried under a search suffix, {:.2}% typos and dead names. Seed {}.\n",
        args.clients,
        args.ordinary_qps,
        args.busy,
        args.busiest_qps,
        args.hours,
        args.start_hour,
        args.fqdn
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        rates.measured,
        rates.search_suffix * 100.0,
        rates.other * 100.0,
        args.seed,
    );
    println!(
        "| queries | busiest hour | client-days | benign host alerts (ordinary / busy) | per 10,000 client-days | campaign alerts naming a benign host | judged queries/s | wall s | peak RSS MB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {queries} | {peak_hour} | {client_days:.0} | {} / {} | {:.2} | {benign_campaign} | {:.0} | {:.0} | {:.0} |",
        benign_host.0,
        benign_host.1,
        per_10k(benign_host.0 + benign_host.1),
        queries as f64 / judging.as_secs_f64().max(1e-9),
        wall.as_secs_f64(),
        peak_rss_mb().unwrap_or(f64::NAN),
    );
    if !benign_clients.is_empty() {
        let listed: Vec<String> = benign_clients
            .iter()
            .take(10)
            .map(|(c, n)| format!("{c} ({n})"))
            .collect();
        println!("\nBenign clients alerted: {}", listed.join(", "));
    }
    println!("\n## Infections\n");
    println!(
        "| infection | client | aim | alerted | generated lookups (or queries) until then | seconds after its first |"
    );
    println!("|---|---|---|---|---:|---:|");
    for infection in infections {
        let alert = first_alert.get(&infection.client);
        let (alerted, lookups, seconds) = match alert {
            Some((time, kind)) => {
                let n = infection.lookups.iter().filter(|t| **t <= *time).count();
                (
                    (*kind).to_owned(),
                    n.to_string(),
                    format!("{:.0}", time - infection.first),
                )
            }
            None => ("no".to_owned(), "—".to_owned(), "—".to_owned()),
        };
        println!(
            "| {} | {} | {} | {alerted} | {lookups} | {seconds} |",
            infection.label,
            infection.client,
            if infection.dga { "alert" } else { "none" },
        );
    }
    println!(
        "\nHost alerts {}, campaign alerts {}; names scored {}, from the cache {}.",
        triage.counts.host_alerts,
        triage.counts.campaign_alerts,
        triage.counts.scored,
        triage.counts.cached
    );
    Ok(())
}
