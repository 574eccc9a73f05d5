//! What `monitor` and `bench-logs` do with a log's events: score each distinct name once per
//! window of log time, set aside names that are no DGA candidate, raise name alerts and feed
//! the host tracker, in log order.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use dnswatch::dnslog::{Answer, Parsed, Query};
use dnswatch::hosts::{Alert, HostRules, HostTracker, NameScore};
use model_core::{Detector, Risk, SetAside, Verdict};
use serde_json::{Value, json};

use crate::CpuBackend;
use crate::lines::Line;
use crate::scoring::score_lines;

/// Which alerts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlertOn {
    /// One alert per high-risk name.
    Names,
    /// One alert per host whose generated-looking names add up (see docs/monitoring.md).
    Hosts,
    Both,
}

impl AlertOn {
    fn names(self) -> bool {
        matches!(self, AlertOn::Names | AlertOn::Both)
    }

    fn hosts(self) -> bool {
        matches!(self, AlertOn::Hosts | AlertOn::Both)
    }
}

/// Counts for the summary line and the benchmark's table.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub lines: u64,
    pub queries: u64,
    pub answers: u64,
    pub scored: u64,
    pub cached: u64,
    pub name_alerts: u64,
    pub host_alerts: u64,
    pub campaign_alerts: u64,
    pub not_names: u64,
    pub unparsed: u64,
    pub set_aside: BTreeMap<SetAside, u64>,
}

/// The outcome of a name, kept for a window of log time so that repeats cost nothing.
#[derive(Debug, Clone)]
struct Outcome {
    /// Log time it was scored at.
    time: f64,
    /// What the host tracker needs, for names that count as evidence.
    evidence: Option<NameScore>,
}

/// One event of a log, from one of the monitored sources.
pub struct Event {
    pub source: usize,
    pub parsed: Parsed,
}

pub struct Triage {
    pub detector: Detector<CpuBackend>,
    /// A name is scored at most once in this many seconds of log time.
    pub window_s: f64,
    pub alert_on: AlertOn,
    pub hosts: HostTracker,
    pub counts: Counts,
    /// Why names were not scored (not hostnames at all), for the caller to report; set-aside
    /// names are only counted.
    pub problems: Vec<(usize, String)>,
    /// Names scored within the window, by lower-cased name.
    seen: HashMap<String, Outcome>,
    /// Registrable domains alerted on, with the log time: one name alert per domain a window.
    alerted: HashMap<String, f64>,
    /// The most names [`Triage::seen`] holds; past it, those scored longest ago are forgotten.
    max_names: usize,
    /// The last log time of each source, for lines that carry none.
    last_time: Vec<Option<f64>>,
    started: Instant,
}

/// Names remembered at most: a day of a large network's distinct names fits in a few hundred MB.
const MAX_CACHED_NAMES: usize = 1_000_000;

impl Triage {
    pub fn new(
        detector: Detector<CpuBackend>,
        window_s: f64,
        alert_on: AlertOn,
        rules: HostRules,
    ) -> Self {
        // The word graph splits failed names with the weights' own lexicon.
        let lexicon = detector
            .config()
            .words
            .as_ref()
            .map(|w| std::sync::Arc::new(w.lexicon.clone()));
        let families = detector.config().family.clone().map(std::sync::Arc::new);
        let hosts = HostTracker::new(rules)
            .with_lexicon(lexicon)
            .with_families(families);
        Self {
            detector,
            window_s,
            alert_on,
            hosts,
            counts: Counts::default(),
            problems: Vec::new(),
            seen: HashMap::new(),
            alerted: HashMap::new(),
            max_names: MAX_CACHED_NAMES,
            last_time: Vec::new(),
            started: Instant::now(),
        }
    }

    /// The log time of an event: its own, else the last one its source gave, else seconds
    /// since start-up (a live stream of bare names).
    fn time_of(&mut self, source: usize, time: Option<f64>) -> f64 {
        if self.last_time.len() <= source {
            self.last_time.resize(source + 1, None);
        }
        match time {
            Some(t) => {
                self.last_time[source] = Some(t);
                t
            }
            None => self.last_time[source].unwrap_or_else(|| self.started.elapsed().as_secs_f64()),
        }
    }

    /// Handles a batch of events in order; returns the alerts to write, as JSON objects.
    pub fn process(&mut self, events: Vec<Event>, sources: &[String]) -> Vec<Value> {
        // First pass: which names need scoring (not seen within the window).
        let mut fresh: Vec<String> = Vec::new();
        let mut fresh_keys: HashMap<String, usize> = HashMap::new();
        let mut timed = Vec::with_capacity(events.len());
        for event in events {
            let time = match &event.parsed {
                Parsed::Query(q) => Some(self.time_of(event.source, q.time)),
                Parsed::Answer(a) => Some(self.time_of(event.source, a.time)),
                _ => None,
            };
            if let (Parsed::Query(query), Some(time)) = (&event.parsed, time) {
                let key = lower(&query.name);
                let cached = self
                    .seen
                    .get(key.as_ref())
                    .is_some_and(|o| (time - o.time).abs() < self.window_s);
                if !cached && !fresh_keys.contains_key(key.as_ref()) {
                    fresh_keys.insert(key.into_owned(), fresh.len());
                    fresh.push(query.name.clone());
                }
            }
            timed.push((event, time));
        }
        let lines: Vec<Line> = fresh.iter().map(|n| Line::clean(n.clone())).collect();
        let mut verdicts: Vec<Option<Verdict>> = score_lines(&self.detector, &lines)
            .into_iter()
            .map(Some)
            .collect();
        self.counts.scored += verdicts.len() as u64;

        let mut alerts = Vec::new();
        for (Event { source, parsed }, time) in timed {
            let source_name = &sources[source.min(sources.len() - 1)];
            match parsed {
                Parsed::Query(query) => {
                    self.counts.queries += 1;
                    let time = time.unwrap_or_default();
                    let key = lower(&query.name);
                    let verdict = fresh_keys
                        .get(key.as_ref())
                        .and_then(|&i| verdicts[i].take());
                    match verdict {
                        Some(verdict) => self.first_sight(
                            source,
                            &query,
                            time,
                            &verdict,
                            source_name,
                            &mut alerts,
                        ),
                        None => self.counts.cached += 1,
                    }
                    // Read in place: most queries repeat a name, and a copy of its evidence
                    // per query would cost more than judging it.
                    let Some(outcome) = self.seen.get(key.as_ref()) else {
                        continue;
                    };
                    let parsed = Parsed::Query(query);
                    let raised = self.hosts.feed(&parsed, time, outcome.evidence.as_ref());
                    if let Parsed::Query(query) = &parsed {
                        self.host_alerts(raised, query, source_name, &mut alerts);
                    }
                }
                answer @ Parsed::Answer(_) => {
                    self.counts.answers += 1;
                    // The answer's name was scored with its query, within the window.
                    let evidence = match &answer {
                        Parsed::Answer(a) => self
                            .seen
                            .get(&a.name.to_ascii_lowercase())
                            .and_then(|o| o.evidence.clone()),
                        _ => None,
                    };
                    let raised =
                        self.hosts
                            .feed(&answer, time.unwrap_or_default(), evidence.as_ref());
                    if let Parsed::Answer(Answer {
                        client,
                        name,
                        rcode,
                        ..
                    }) = answer
                    {
                        let query = Query {
                            timestamp: None,
                            time,
                            client,
                            name,
                            rcode: Some(rcode),
                        };
                        self.host_alerts(raised, &query, source_name, &mut alerts);
                    }
                }
                Parsed::Skip => {}
                Parsed::Unparsed(_) => self.counts.unparsed += 1,
            }
        }
        if self.seen.len() > self.max_names {
            self.forget_oldest();
        }
        alerts
    }

    /// Counts a freshly scored name, remembers its outcome (in [`Triage::seen`]) and writes
    /// its name alert.
    fn first_sight(
        &mut self,
        source_index: usize,
        query: &Query,
        time: f64,
        verdict: &Verdict,
        source: &str,
        alerts: &mut Vec<Value>,
    ) {
        let key = query.name.to_ascii_lowercase();
        let outcome = Outcome {
            time,
            evidence: NameScore::of(verdict),
        };
        match &verdict.result {
            Ok(scored) => {
                let registrable = &scored.domain.registrable_domain;
                let repeat = self
                    .alerted
                    .get(registrable)
                    .is_some_and(|at| (time - at).abs() < self.window_s);
                if scored.risk == Risk::High && !repeat {
                    self.alerted.insert(registrable.clone(), time);
                    self.counts.name_alerts += 1;
                    if self.alert_on.names() {
                        alerts.push(json!({
                            "kind": "name",
                            "ts": query.timestamp,
                            "client": query.client,
                            "query": query.name,
                            "registrable_domain": scored.domain.registrable_domain,
                            "rule": scored.domain.rule.as_str(),
                            "rcode": query.rcode,
                            "p_dga": scored.p_dga,
                            "risk": scored.risk.as_str(),
                            "anomaly": scored.anomaly.map(|a| a.bits),
                            "family": scored.family.as_ref().map(|f| &f.name),
                            "family_p": scored.family.as_ref().map(|f| f.p),
                            "source": source,
                        }));
                    }
                }
            }
            Err(e) => match e.set_aside() {
                Some(why) => *self.counts.set_aside.entry(why).or_default() += 1,
                None => {
                    self.counts.not_names += 1;
                    let shown: String = query.name.chars().take(80).collect();
                    let cut = if shown.len() < query.name.len() {
                        "..."
                    } else {
                        ""
                    };
                    self.problems
                        .push((source_index, format!("`{shown}{cut}` not scored: {e}")));
                }
            },
        }
        self.seen.insert(key, outcome);
    }

    fn host_alerts(
        &mut self,
        raised: Vec<Alert>,
        query: &Query,
        source: &str,
        alerts: &mut Vec<Value>,
    ) {
        for alert in raised {
            let mut value = match &alert {
                Alert::Host(host) => {
                    self.counts.host_alerts += 1;
                    host.json()
                }
                Alert::Campaign(campaign) => {
                    self.counts.campaign_alerts += 1;
                    campaign.json()
                }
            };
            if self.alert_on.hosts() {
                value["ts"] = json!(query.timestamp);
                value["source"] = json!(source);
                alerts.push(value);
            }
        }
    }

    /// Forgets names scored longer than a window ago, at the log's latest time.
    pub fn forget_old(&mut self) {
        let Some(now) = self.last_time.iter().flatten().copied().reduce(f64::max) else {
            return;
        };
        let window = self.window_s;
        self.seen.retain(|_, o| now - o.time < window);
        self.alerted.retain(|_, at| now - *at < window);
        self.hosts.forget_before(now);
    }

    /// Past the bound: keeps the most recently scored half.
    fn forget_oldest(&mut self) {
        let mut times: Vec<f64> = self.seen.values().map(|o| o.time).collect();
        let middle = times.len() / 2;
        let (_, cut, _) = times.select_nth_unstable_by(middle, f64::total_cmp);
        let cut = *cut;
        self.seen.retain(|_, o| o.time >= cut);
    }
}

/// A name as the name cache keys it: lower case, copied only when it is not already (log
/// names nearly always are, and this runs for every query).
fn lower(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(name.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}
