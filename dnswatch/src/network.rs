//! What the host rule learns across clients: the network's history of benign lookups (the rates
//! each client is weighed against), answered names many clients look up (popular here, so weak
//! evidence) and failed generated names several hosts share (campaigns).
//!
//! A single pass over a log (`monitor`, the page) learns it as it goes: [`Network::Live`]. A job
//! that judges each client apart (Spark, `crate::split`) is handed what a first pass over every
//! client learned, and records what its own client adds for the next: [`Network::Given`]. Both
//! answer a host's questions from the same facts, so both raise the same alerts.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::hosts::HostRules;
use crate::rates::{Bucket, CATEGORIES, Category, History};
use crate::shared::{CampaignAlert, Shared};

/// Where a lookup stands in the log: its log time, then its place among lookups of the same
/// time (the line's order in the log).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub time: f64,
    pub seq: i64,
}

impl Position {
    /// Log order: by time, then by place among lookups of the same time.
    pub fn order(&self, other: &Self) -> Ordering {
        self.time
            .total_cmp(&other.time)
            .then(self.seq.cmp(&other.seq))
    }
}

/// A failed generated name a client looked up, for the campaign pass (`crate::split`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedName {
    pub position: Position,
    pub query: String,
    pub registrable_domain: String,
    pub p_dga: f32,
}

/// What the rest of the network showed, made by a first pass over every client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learned {
    /// The network's history of benign lookups, by stretch of log time ([`History::bucket`]).
    pub history: BTreeMap<i64, Bucket>,
    /// Registrable domains answered for enough clients to be popular, from the lookup that made
    /// them so.
    pub popular: HashMap<String, Position>,
}

/// What one client added to the network's facts, while judged apart.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Its benign lookups that left a window, by stretch of log time.
    pub history: BTreeMap<i64, Bucket>,
    /// Its first lookup of each answered generated-looking name that could make it popular.
    pub popular: Vec<(String, Position)>,
    popular_asked: HashSet<String>,
    /// Its failed generated names, for campaigns.
    pub failed: Vec<FailedName>,
}

/// The facts of [`Learned`], as one client judged apart sees them.
#[derive(Debug)]
pub struct Given {
    history: History,
    popular: Arc<HashMap<String, Position>>,
    /// The lookup being judged.
    pub position: Position,
    pub record: Record,
}

/// What the host tracker asks of the network.
#[derive(Debug)]
pub enum Network {
    Live { history: History, shared: Shared },
    Given(Given),
}

impl Network {
    pub fn live(rules: HostRules) -> Self {
        Network::Live {
            history: history(&rules),
            shared: Shared::new(rules),
        }
    }

    pub fn given(
        rules: &HostRules,
        history_buckets: BTreeMap<i64, Bucket>,
        popular: Arc<HashMap<String, Position>>,
    ) -> Self {
        Network::Given(Given {
            history: history(rules).with_buckets(history_buckets),
            popular,
            position: Position {
                time: f64::NEG_INFINITY,
                seq: 0,
            },
            record: Record::default(),
        })
    }

    /// The network's rates at log time `now`, shrunk towards `prior`.
    pub fn rates(
        &mut self,
        now: f64,
        prior: &[f64; CATEGORIES],
        strength: f64,
    ) -> [f64; CATEGORIES] {
        match self {
            Network::Live { history, .. } => history.shares(now, prior, strength),
            Network::Given(given) => given.history.shares(now, prior, strength),
        }
    }

    /// A benign lookup of `category` that left its window at `now`.
    pub fn add(&mut self, category: Category, now: f64) {
        match self {
            Network::Live { history, .. } => history.add(category, now),
            Network::Given(given) => {
                let bucket = given.history.bucket(now);
                given.record.history.entry(bucket).or_default()[category.index()] += 1;
            }
        }
    }

    /// Whether an answered generated-looking name is popular here, counting this lookup.
    pub fn popular(&mut self, key: u64, registrable: &str, client: &str, time: f64) -> bool {
        match self {
            Network::Live { shared, .. } => shared.popular(key, client, time),
            Network::Given(given) => {
                // Asked once a window per name and host: only the first time is recorded.
                if !given.record.popular_asked.contains(registrable) {
                    given.record.popular_asked.insert(registrable.to_owned());
                    given
                        .record
                        .popular
                        .push((registrable.to_owned(), given.position));
                }
                given
                    .popular
                    .get(registrable)
                    .is_some_and(|from| given.position.order(from) != Ordering::Less)
            }
        }
    }

    /// A failed generated name looked up by `client`: the campaign it completes, if any
    /// (`leaning`: whether a host's evidence leans towards infection). Judged apart, campaigns
    /// are found afterwards, from every client's failed names (`crate::split::campaigns`).
    #[allow(clippy::too_many_arguments)]
    pub fn failed_name(
        &mut self,
        client: &str,
        query: &str,
        registrable: &str,
        p_dga: f32,
        time: f64,
        leaning: impl Fn(&str) -> bool,
    ) -> Option<CampaignAlert> {
        match self {
            Network::Live { shared, .. } => {
                shared.failed_name(client, query, registrable, p_dga, time, leaning)
            }
            Network::Given(given) => {
                given.record.failed.push(FailedName {
                    position: given.position,
                    query: query.to_owned(),
                    registrable_domain: registrable.to_owned(),
                    p_dga,
                });
                None
            }
        }
    }

    /// Other hosts that looked up some of `client`'s failed generated names in the window
    /// (judged apart: filled in by the campaign pass).
    pub fn partners(&self, client: &str, now: f64) -> Vec<String> {
        match self {
            Network::Live { shared, .. } => shared.partners(client, now),
            Network::Given(_) => Vec::new(),
        }
    }

    pub fn forget_before(&mut self, now: f64) {
        if let Network::Live { shared, .. } = self {
            shared.forget_before(now);
        }
    }
}

/// The network's history as the rules keep it: stretches of a tenth of a window (how often a
/// host is swept), halving every `network_half_life_s`.
fn history(rules: &HostRules) -> History {
    History::new(rules.window_s / 10.0, rules.network_half_life_s)
}
