//! The host rule split by client, for engines that partition a log (Spark): the same
//! [`HostTracker`], fed one client's lookups, with the network's facts handed in
//! ([`Network::Given`]) rather than learned along the way.
//!
//! What a host is weighed against comes from other clients too: the network's history of benign
//! lookups and the names popular here. So the job runs in passes. Each pass judges every client
//! apart with the facts the previous pass made ([`judge_client`]), and sums what each client
//! added ([`learn`]); the first pass starts from nothing. The history a host is weighed with in
//! one stretch of log time comes only from earlier stretches (see [`crate::rates::History`]), and
//! which names become popular does not depend on anyone's evidence. So when a pass makes the
//! same facts it was given, they are the ones a single pass over the log makes, stretch by
//! stretch, and so are its alerts. Two passes settle it unless a host's benign or not changed
//! with the facts; the job repeats until they agree ([`judge_apart`] does it in-process).
//!
//! Campaigns (hosts sharing failed generated names) need every host's failed names in log order:
//! [`campaigns`] replays them, with when each host's evidence leaned towards infection, and
//! completes each host alert with the hosts it shares names with. Failed generated names are a
//! sliver of a log, so this last step runs in one place.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use model_core::FamilyConfig;
use model_core::words::Lexicon;

use crate::hosts::{Alert, HostAlert, HostRules, HostTracker, NameScore};
use crate::network::{FailedName, Learned, Network, Position, Record};
use crate::shared::Shared;

/// One lookup of a client: the query line with its answer code, and its name's score (`None`
/// for names that are no evidence: set aside, not a name).
#[derive(Debug, Clone)]
pub struct Lookup<'a> {
    pub position: Position,
    pub name: &'a str,
    pub rcode: Option<&'a str>,
    pub score: Option<NameScore>,
}

/// A client judged apart: its host alerts (without the hosts it shares names with, which
/// [`campaigns`] adds), what it added to the network's facts, and when its evidence started or
/// stopped leaning towards infection.
#[derive(Debug, Default)]
pub struct Judged {
    pub alerts: Vec<(Position, HostAlert)>,
    pub record: Record,
    pub leaning: Vec<(Position, bool)>,
}

/// Judges one client's lookups, in log order, against the network's facts `learned`.
pub fn judge_client(
    rules: HostRules,
    (lexicon, families): (Option<Arc<Lexicon>>, Option<Arc<FamilyConfig>>),
    history: &BTreeMap<i64, crate::rates::Bucket>,
    popular: Arc<HashMap<String, Position>>,
    client: &str,
    mut lookups: Vec<Lookup<'_>>,
) -> Judged {
    lookups.sort_by(|a, b| a.position.order(&b.position));
    let network = Network::given(&rules, history.clone(), popular);
    let mut tracker = HostTracker::new(rules)
        .with_lexicon(lexicon)
        .with_families(families)
        .with_network(network);
    let mut judged = Judged::default();
    let mut leaning = false;
    for lookup in lookups {
        let Some(score) = &lookup.score else {
            continue;
        };
        if let Network::Given(given) = tracker.network_mut() {
            given.position = lookup.position;
        }
        let time = lookup.position.time;
        for alert in tracker.observe(client, time, lookup.name, lookup.rcode, score) {
            if let Alert::Host(host) = alert {
                judged.alerts.push((lookup.position, host));
            }
        }
        let now = tracker.leaning(client);
        if now != leaning {
            judged.leaning.push((lookup.position, now));
            leaning = now;
        }
    }
    if let Network::Given(given) = tracker.network_mut() {
        judged.record = std::mem::take(&mut given.record);
    }
    judged
}

/// The network's facts from what every client added in a pass: the history summed, and each
/// name popular from the first lookup by its `rules.popular_clients`-th client.
pub fn learn<'a>(rules: &HostRules, records: impl IntoIterator<Item = &'a Record>) -> Learned {
    let mut learned = Learned::default();
    let mut calls: HashMap<&str, Vec<Position>> = HashMap::new();
    for record in records {
        add_history(&mut learned.history, &record.history);
        for (name, position) in &record.popular {
            calls.entry(name).or_default().push(*position);
        }
    }
    let needed = rules.popular_clients.max(1);
    for (name, mut positions) in calls {
        if positions.len() >= needed {
            positions.sort_by(Position::order);
            learned
                .popular
                .insert(name.to_owned(), positions[needed - 1]);
        }
    }
    learned
}

/// Adds one client's history into the network's.
pub fn add_history(
    total: &mut BTreeMap<i64, crate::rates::Bucket>,
    part: &BTreeMap<i64, crate::rates::Bucket>,
) {
    for (bucket, counts) in part {
        let sum = total.entry(*bucket).or_default();
        for (s, n) in sum.iter_mut().zip(counts) {
            *s += n;
        }
    }
}

/// One client's part in the campaign pass.
pub struct ClientPart {
    pub client: String,
    pub failed: Vec<FailedName>,
    pub leaning: Vec<(Position, bool)>,
    pub alerts: Vec<(Position, HostAlert)>,
}

/// What the campaign pass replays, in log order; at one lookup: its host's leaning first, then
/// its failed name, then its host alert (as the tracker does them).
enum Step {
    Leaning(bool),
    Failed(FailedName),
    Alert(Box<HostAlert>),
}

impl Step {
    fn rank(&self) -> u8 {
        match self {
            Step::Leaning(_) => 0,
            Step::Failed(_) => 1,
            Step::Alert(_) => 2,
        }
    }
}

/// Replays every client's failed generated names in log order, as a single pass over the log
/// meets them: returns the campaign alerts and the host alerts, completed with the hosts each
/// shares names with, in log order.
pub fn campaigns(rules: HostRules, parts: Vec<ClientPart>) -> Vec<(Position, Alert)> {
    let mut steps: Vec<(Position, usize, Step)> = Vec::new();
    let mut clients = Vec::with_capacity(parts.len());
    for (c, part) in parts.into_iter().enumerate() {
        clients.push(part.client);
        steps.extend(
            part.leaning
                .into_iter()
                .map(|(p, l)| (p, c, Step::Leaning(l))),
        );
        steps.extend(
            part.failed
                .into_iter()
                .map(|f| (f.position, c, Step::Failed(f))),
        );
        steps.extend(
            part.alerts
                .into_iter()
                .map(|(p, a)| (p, c, Step::Alert(Box::new(a)))),
        );
    }
    steps.sort_by(|a, b| {
        a.0.order(&b.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.rank().cmp(&b.2.rank()))
    });
    let index: HashMap<&str, usize> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let mut leaning = vec![false; clients.len()];
    let mut shared = Shared::new(rules);
    let mut out = Vec::new();
    for (position, c, step) in steps {
        let client = clients[c].as_str();
        match step {
            Step::Leaning(l) => leaning[c] = l,
            Step::Failed(f) => {
                let leans = |other: &str| index.get(other).is_some_and(|&i| leaning[i]);
                if let Some(campaign) = shared.failed_name(
                    client,
                    &f.query,
                    &f.registrable_domain,
                    f.p_dga,
                    position.time,
                    leans,
                ) {
                    out.push((position, Alert::Campaign(campaign)));
                }
            }
            Step::Alert(mut alert) => {
                alert.shares_names_with = shared.partners(client, position.time);
                out.push((position, Alert::Host(*alert)));
            }
        }
    }
    out
}

/// Judges every client apart, pass after pass until the network's facts settle, then finds the
/// campaigns: what a job partitioned by client computes, in one process. Returns the alerts in
/// log order and the number of passes.
pub fn judge_apart(
    rules: HostRules,
    lexicon: Option<Arc<Lexicon>>,
    families: Option<Arc<FamilyConfig>>,
    clients: &[(String, Vec<Lookup<'_>>)],
    max_passes: usize,
) -> (Vec<(Position, Alert)>, usize) {
    let mut learned = Learned::default();
    let mut passes = 0;
    loop {
        passes += 1;
        let popular = Arc::new(learned.popular.clone());
        let judged: Vec<Judged> = clients
            .iter()
            .map(|(client, lookups)| {
                judge_client(
                    rules,
                    (lexicon.clone(), families.clone()),
                    &learned.history,
                    popular.clone(),
                    client,
                    lookups.clone(),
                )
            })
            .collect();
        let next = learn(&rules, judged.iter().map(|j| &j.record));
        let settled = next == learned;
        learned = next;
        if settled || passes >= max_passes {
            let parts = clients
                .iter()
                .zip(judged)
                .map(|((client, _), j)| ClientPart {
                    client: client.clone(),
                    failed: j.record.failed,
                    leaning: j.leaning,
                    alerts: j.alerts,
                })
                .collect();
            return (campaigns(rules, parts), passes);
        }
    }
}
