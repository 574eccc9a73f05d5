//! Host verdicts: an infected host looks up generated names, most of them failing, at a rate
//! its own traffic does not explain. [`HostTracker`] holds, per client and window of the log's
//! own time, the category of each distinct registrable domain it looked up (see
//! [`crate::rates`]), weighs them against the client's learned base rates, and raises a
//! [`HostAlert`] when the window's log-likelihood ratio passes the threshold a false-alarm
//! budget sets. What many clients share is judged beside it ([`crate::shared`]): failed
//! generated names several hosts look up (a campaign) and answered names many resolve (popular
//! here, so weak evidence). `monitor`, `bench-logs` and the page feed it the same queries in the
//! same order, so all three give the same verdicts.

use std::collections::HashMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use model_core::words::Lexicon;
use model_core::{FamilyConfig, GroupFamily, GroupMember, Verdict};
use serde::{Deserialize, Serialize};

use crate::dnslog::{Parsed, is_failure};
use crate::network::Network;
use crate::rates::{CATEGORIES, Category, Counts, Outcome, Weigher};
use crate::shared::CampaignAlert;
use crate::{key_of, oldest_cut};

/// How hosts are judged; [`HostRules::default`] holds the measured choice
/// (docs/monitoring.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostRules {
    /// Seconds of log time over which a host's lookups are judged together.
    pub window_s: f64,
    /// Expected benign host alerts per 10,000 client-days: sets the threshold.
    pub budget: f64,
    /// Share of an infected host's lookups assumed to be generated (the alternative
    /// hypothesis); smaller finds infections hidden in more traffic and asks more of each name.
    pub mixture: f64,
    /// Half-life of what the network as a whole has shown, in seconds of log time.
    pub network_half_life_s: f64,
    /// Half-life of a client's own history.
    pub client_half_life_s: f64,
    /// How many lookups the prior rates count as, against the network's.
    pub network_prior: f64,
    /// How many lookups the network's rates count as, against a client's own.
    pub client_prior: f64,
    /// Failed generated names shared by hosts that make a campaign.
    pub campaign_names: usize,
    /// Distinct clients that make an answered name popular on this network (then it counts as
    /// ordinary for everyone).
    pub popular_clients: usize,
    /// Hosts held at once; past it the host seen longest ago is forgotten.
    pub max_hosts: usize,
    /// Named lookups (not ordinary) held per host; past it the oldest is forgotten.
    pub max_names: usize,
    /// Distinct registrable domains held per host and window; past it the oldest quarter goes
    /// (its lookups still count in the host's history).
    pub max_distinct: usize,
}

impl Default for HostRules {
    fn default() -> Self {
        Self {
            window_s: 600.0,
            budget: 1.0,
            mixture: 0.1,
            network_half_life_s: 6.0 * 3600.0,
            client_half_life_s: 24.0 * 3600.0,
            network_prior: 5_000.0,
            client_prior: 500.0,
            campaign_names: 3,
            popular_clients: 5,
            max_hosts: 50_000,
            max_names: 256,
            max_distinct: 16_384,
        }
    }
}

impl HostRules {
    /// The log-likelihood ratio at which a host is alerted: a window of benign lookups passes
    /// `h` with probability at most `e^-h`, and a client has `86,400 / window_s` windows a day.
    pub fn threshold(&self) -> f32 {
        let windows = 10_000.0 * 86_400.0 / self.window_s.max(1.0);
        (windows / self.budget.max(1e-12)).ln().max(1.0) as f32
    }
}

/// What the tracker needs of a name's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct NameScore {
    pub registrable_domain: String,
    /// The registrable label, which the word graph splits into words when a lookup of it
    /// fails (empty for allowed names).
    pub label: String,
    pub p_dga: f32,
    pub family: Option<String>,
    /// The family head's kept classes for the name (see [`model_core::Family::classes`]):
    /// what the host's family is pooled from; empty where the verdict names no family.
    pub family_classes: Vec<(u32, f32)>,
}

/// Share of a label that dictionary words must cover for it to count as a dictionary name.
const DICTIONARY_COVER: f32 = 0.8;
/// Shortest word that links names: shorter ones recur by chance.
const LINK_WORD: usize = 4;

impl NameScore {
    /// The part of a verdict that counts as evidence: `None` for names that cannot be (set
    /// aside, not names). Allowed names count as ordinary lookups.
    pub fn of(verdict: &Verdict) -> Option<Self> {
        let scored = verdict.result.as_ref().ok()?;
        let allowed = scored.allowed.is_some();
        Some(Self {
            registrable_domain: scored.domain.registrable_domain.clone(),
            label: if allowed {
                String::new()
            } else {
                scored.domain.registrable_label().to_owned()
            },
            p_dga: if allowed { 0.0 } else { scored.p_dga },
            family: scored.family.as_ref().map(|f| f.name.clone()),
            family_classes: scored
                .family
                .as_ref()
                .map_or_else(Vec::new, |f| f.classes.clone()),
        })
    }
}

/// The words of a label made of at least two dictionary words, else none.
fn dictionary_words(lexicon: &Lexicon, label: &str) -> Vec<String> {
    let split = lexicon.split(label);
    let letters = label.bytes().filter(u8::is_ascii_alphabetic).count();
    if split.words.len() < 2 || (split.covered as f32) < DICTIONARY_COVER * letters as f32 {
        return Vec::new();
    }
    split
        .words
        .iter()
        .filter(|w| w.end - w.start >= LINK_WORD)
        .map(|w| label[w.start..w.end].to_owned())
        .collect()
}

/// One name behind a host alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The first query name seen for this registrable domain.
    pub query: String,
    pub registrable_domain: String,
    pub p_dga: f32,
    pub rcode: Option<String>,
    pub family: Option<String>,
    pub category: Category,
    /// What the name weighed in the host's ratio.
    pub weight: f32,
    /// Its dictionary words, when it shares one with another failed name of the host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_words: Vec<String>,
    #[serde(skip)]
    words: Vec<String>,
    /// Registrable label and the family head's kept classes, for the host's family.
    #[serde(skip)]
    label: String,
    #[serde(skip)]
    family_classes: Vec<(u32, f32)>,
    #[serde(skip)]
    key: u64,
    /// Log time of its last query.
    #[serde(skip)]
    pub time: f64,
}

impl Evidence {
    /// The name as the family group rule reads it.
    fn member(&self) -> GroupMember<'_> {
        GroupMember {
            label: &self.label,
            suffix: model_core::suffix_of(&self.registrable_domain, &self.label),
            classes: &self.family_classes,
        }
    }
}

/// A host whose lookups in one window are improbable for its own traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostAlert {
    pub client: String,
    /// Log time of the query that raised it.
    pub time: f64,
    /// The window's log-likelihood ratio (natural log).
    pub evidence: f32,
    /// The ratio that alerts (from the false-alarm budget).
    pub threshold: f32,
    /// Distinct registrable domains the host looked up in the window.
    pub volume: u32,
    /// How many of them fell in each category.
    pub categories: Vec<(Category, u32)>,
    /// The host's named lookups in the window, heaviest first.
    pub names: Vec<Evidence>,
    /// The families the names were given, most frequent first (`unknown` included).
    pub families: Vec<(String, usize)>,
    /// The family the host's DGA names point to together (see [`model_core::GroupRule`]):
    /// `None` with fewer than two of them or weights without the rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<GroupFamily>,
    /// Words that link several of its failed names (the word graph), most linked first.
    pub words: Vec<(String, usize)>,
    /// Other hosts that looked up some of the same failed generated names in the window.
    pub shares_names_with: Vec<String>,
}

impl HostAlert {
    /// The alert as `monitor` writes it (`kind: host`), the reason included.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "host",
            "client": self.client,
            "time": self.time,
            "evidence": self.evidence,
            "threshold": self.threshold,
            "reason": self.reason(),
            "volume": self.volume,
            "categories": self.categories.iter().map(|(c, n)| serde_json::json!({"category": c, "domains": n})).collect::<Vec<_>>(),
            "names": self.names,
            "families": self.families.iter().map(|(f, n)| serde_json::json!({"family": f, "names": n})).collect::<Vec<_>>(),
            "family": self.family,
            "words": self.words.iter().map(|(w, n)| serde_json::json!({"word": w, "names": n})).collect::<Vec<_>>(),
            "shares_names_with": self.shares_names_with,
        })
    }

    /// One line saying why the host was alerted, for the page and the log.
    pub fn reason(&self) -> String {
        let named = |c: &[Category]| -> u32 {
            self.categories
                .iter()
                .filter(|(k, _)| c.contains(k))
                .map(|(_, n)| n)
                .sum()
        };
        let failed = named(&[
            Category::MidFailed,
            Category::HighFailed,
            Category::LinkedFailed,
        ]);
        let unknown = named(&[Category::MidUnknown, Category::HighUnknown]);
        let answered = named(&[Category::MidAnswered, Category::HighAnswered]);
        let mut parts = vec![format!(
            "{failed} failed and {unknown} generated-looking names of unlogged outcome, {answered} answered, among {} domains looked up in the window (ratio {:.1} >= {:.1})",
            self.volume, self.evidence, self.threshold
        )];
        if let Some(family) = &self.family {
            parts.push(if family.name == model_core::UNKNOWN_FAMILY {
                format!(
                    "its {} DGA names point to no known family (nearest {}, p {:.2}, fit {:.0e})",
                    family.names, family.best, family.p, family.fit
                )
            } else {
                format!(
                    "its {} DGA names point together to {} (p {:.2}, fit {:.0e})",
                    family.names, family.name, family.p, family.fit
                )
            });
        }
        if !self.words.is_empty() {
            let words: Vec<String> = self
                .words
                .iter()
                .take(6)
                .map(|(w, n)| format!("{w} ({n})"))
                .collect();
            parts.push(format!("failed names share words: {}", words.join(", ")));
        }
        if !self.shares_names_with.is_empty() {
            parts.push(format!(
                "shares failed names with {}",
                self.shares_names_with.join(", ")
            ));
        }
        parts.join("; ")
    }
}

/// What the tracker raises.
#[derive(Debug, Clone, PartialEq)]
pub enum Alert {
    Host(HostAlert),
    Campaign(CampaignAlert),
}

/// One distinct registrable domain in a host's window.
#[derive(Debug, Clone, Copy)]
struct Seen {
    time: f64,
    category: Category,
    p_dga: f32,
    outcome: Outcome,
}

#[derive(Debug, Default)]
struct Host {
    client: String,
    /// Distinct registrable domains in the window, by hash.
    seen: FxHashMap<u64, Seen>,
    /// How many of `seen` fall in each category.
    counts: [u32; CATEGORIES],
    /// The lookups that are not ordinary (and dictionary names that may become linked).
    named: Vec<Evidence>,
    /// The client's own history, from lookups that left the window while it looked benign.
    history: Counts,
    /// Weights against this client's rates, refreshed as its history grows.
    weights: [f32; CATEGORIES],
    last_seen: f64,
    /// Log time of the last expiry pass.
    swept_at: f64,
    /// Log time of the last alert: a host alerts at most once a window.
    alerted_at: Option<f64>,
}

impl Host {
    fn ratio(&self) -> f32 {
        self.counts
            .iter()
            .zip(&self.weights)
            .map(|(&n, &w)| n as f32 * w)
            .sum()
    }

    fn recount(&mut self, from: Category, to: Category) {
        if from != to {
            self.counts[from.index()] -= 1;
            self.counts[to.index()] += 1;
        }
    }
}

/// Per-host evidence and the network's rates, bounded by [`HostRules::max_hosts`],
/// [`HostRules::max_distinct`] and [`HostRules::max_names`].
#[derive(Debug)]
pub struct HostTracker {
    pub rules: HostRules,
    weigher: Weigher,
    threshold: f32,
    /// Hosts by the hash of their client's name ([`key_of`]): one cheap lookup per query.
    hosts: FxHashMap<u64, Host>,
    /// What the network as a whole has shown: its history of benign lookups, popular names,
    /// failed names shared by hosts.
    network: Network,
    /// The dictionaries the word graph splits failed names with (the weights carry them).
    lexicon: Option<Arc<Lexicon>>,
    /// The family head's classes and group rule (the weights carry them).
    families: Option<Arc<FamilyConfig>>,
    /// Hosts forgotten because the bound was reached (their evidence restarts from nothing).
    pub hosts_forgotten: u64,
}

impl HostTracker {
    pub fn new(rules: HostRules) -> Self {
        Self {
            weigher: Weigher::new(rules.mixture),
            threshold: rules.threshold(),
            network: Network::live(rules),
            rules,
            hosts: FxHashMap::default(),
            lexicon: None,
            families: None,
            hosts_forgotten: 0,
        }
    }

    /// Names the family of an alerted host's DGA names together with `families`' group rule
    /// (none, or weights without the rule: no host family).
    pub fn with_families(mut self, families: Option<Arc<FamilyConfig>>) -> Self {
        self.families = families.filter(|f| f.group.is_some());
        self
    }

    /// Lets the word graph split failed names with `lexicon` (none: no word graph).
    pub fn with_lexicon(mut self, lexicon: Option<Arc<Lexicon>>) -> Self {
        self.lexicon = lexicon;
        self
    }

    /// Takes the network's facts from `network` instead of learning them from the lookups fed
    /// (a client judged apart: [`crate::split`]).
    pub fn with_network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    /// Whether `client`'s evidence in its window leans towards infection (its ratio is above
    /// zero): what makes a host that shares failed names part of a campaign.
    pub fn leaning(&self, client: &str) -> bool {
        leans(&self.hosts, client)
    }

    /// The ratio that alerts.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Hosts held now.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// One event of a log at log time `time`, with the evidence its name gives (from
    /// [`NameScore::of`] of the name's verdict, for queries and answers alike): what `monitor`
    /// and the page both call, in log order, so that both judge hosts alike.
    pub fn feed(&mut self, parsed: &Parsed, time: f64, evidence: Option<&NameScore>) -> Vec<Alert> {
        match parsed {
            Parsed::Query(query) => match (query.client.as_deref(), evidence) {
                (Some(client), Some(score)) => {
                    self.observe(client, time, &query.name, query.rcode.as_deref(), score)
                }
                _ => Vec::new(),
            },
            Parsed::Answer(answer) => match evidence {
                Some(score) => self.answer(answer.client.as_deref(), time, score, &answer.rcode),
                None => Vec::new(),
            },
            Parsed::Skip | Parsed::Unparsed(_) => Vec::new(),
        }
    }

    /// A query of `name` by `client` at log time `time`, with its name's score and the
    /// answer's code when the log line carries it.
    pub fn observe(
        &mut self,
        client: &str,
        time: f64,
        name: &str,
        rcode: Option<&str>,
        score: &NameScore,
    ) -> Vec<Alert> {
        let outcome = outcome_of(rcode);
        let key = key_of(&score.registrable_domain);
        let id = key_of(client);
        if self.hosts.len() >= self.rules.max_hosts && !self.hosts.contains_key(&id) {
            self.forget_oldest_host();
        }
        let rules = self.rules;
        let host = self.hosts.entry(id).or_insert_with(|| Host {
            client: client.to_owned(),
            // Swept (and so weighed) on its first lookup.
            swept_at: f64::NEG_INFINITY,
            ..Host::default()
        });
        host.last_seen = time;
        // The ratio moves only when the weights or the counts do: most lookups repeat a name
        // already in the window and change neither.
        let mut changed = sweep(host, time, false, &mut self.network, &self.weigher, &rules);
        let mut alerts = Vec::new();
        match host.seen.get_mut(&key) {
            Some(seen) => {
                seen.time = time;
                if outcome != Outcome::Unknown && outcome != seen.outcome {
                    seen.outcome = outcome;
                    self.reclassify(client, key, outcome, rcode, time);
                    changed = true;
                }
            }
            None => {
                changed = true;
                let popular = outcome == Outcome::Answered
                    && score.p_dga >= model_core::DECISION_P
                    && self
                        .network
                        .popular(key, &score.registrable_domain, client, time);
                let p_dga = if popular { 0.0 } else { score.p_dga };
                let category = Category::of(p_dga, outcome, false);
                host.seen.insert(
                    key,
                    Seen {
                        time,
                        category,
                        p_dga,
                        outcome,
                    },
                );
                host.counts[category.index()] += 1;
                // Dictionary names are held while their outcome may still turn out failed; the
                // split is made only then, not for the answered bulk of lookups.
                let words = match (&self.lexicon, outcome) {
                    (Some(lexicon), Outcome::Failed | Outcome::Unknown) => {
                        dictionary_words(lexicon, &score.label)
                    }
                    _ => Vec::new(),
                };
                let dictionary = !words.is_empty();
                if !category.ordinary() || dictionary {
                    if host.named.len() >= rules.max_names {
                        host.named.remove(0);
                    }
                    host.named.push(Evidence {
                        query: name.to_owned(),
                        registrable_domain: score.registrable_domain.clone(),
                        p_dga: score.p_dga,
                        rcode: rcode.map(str::to_owned),
                        family: score.family.clone(),
                        category,
                        weight: 0.0,
                        shared_words: Vec::new(),
                        words,
                        label: score.label.clone(),
                        family_classes: score.family_classes.clone(),
                        key,
                        time,
                    });
                    if dictionary && outcome == Outcome::Failed {
                        self.link(client, key);
                    }
                }
                if outcome == Outcome::Failed && p_dga >= model_core::DECISION_P {
                    let hosts = &self.hosts;
                    if let Some(campaign) = self.network.failed_name(
                        client,
                        name,
                        &score.registrable_domain,
                        score.p_dga,
                        time,
                        |c| leans(hosts, c),
                    ) {
                        alerts.push(Alert::Campaign(campaign));
                    }
                }
            }
        }
        if changed {
            alerts.extend(self.judge(client, time).map(Alert::Host));
        }
        alerts
    }

    /// An answer logged apart from its query: it updates that client (or, when the line does
    /// not say who asked, every host that looked the name up).
    pub fn answer(
        &mut self,
        client: Option<&str>,
        time: f64,
        score: &NameScore,
        rcode: &str,
    ) -> Vec<Alert> {
        let key = key_of(&score.registrable_domain);
        let outcome = outcome_of(Some(rcode));
        let touched: Vec<String> = self
            .hosts
            .values()
            .filter(|host| {
                client.is_none_or(|c| c == host.client)
                    && host.seen.get(&key).is_some_and(|s| s.outcome != outcome)
            })
            .map(|host| host.client.clone())
            .collect();
        let mut alerts = Vec::new();
        for host in touched {
            if let Some(seen) = self
                .hosts
                .get_mut(&key_of(&host))
                .and_then(|h| h.seen.get_mut(&key))
            {
                seen.outcome = outcome;
            }
            self.reclassify(&host, key, outcome, Some(rcode), time);
            if outcome == Outcome::Failed && score.p_dga >= model_core::DECISION_P {
                let hosts = &self.hosts;
                if let Some(campaign) = self.network.failed_name(
                    &host,
                    &score.registrable_domain,
                    &score.registrable_domain,
                    score.p_dga,
                    time,
                    |c| leans(hosts, c),
                ) {
                    alerts.push(Alert::Campaign(campaign));
                }
            }
            alerts.extend(self.judge(&host, time).map(Alert::Host));
        }
        alerts
    }

    /// A name of `client` whose outcome became known: its category follows, and a failed
    /// dictionary name may link to others.
    fn reclassify(
        &mut self,
        client: &str,
        key: u64,
        outcome: Outcome,
        rcode: Option<&str>,
        time: f64,
    ) {
        let Some(host) = self.hosts.get_mut(&key_of(client)) else {
            return;
        };
        let Some(seen) = host.seen.get(&key).copied() else {
            return;
        };
        let linked = seen.category == Category::LinkedFailed;
        let category = Category::of(seen.p_dga, outcome, linked);
        host.recount(seen.category, category);
        host.seen.insert(key, Seen { category, ..seen });
        let mut dictionary = false;
        if let Some(e) = host.named.iter_mut().find(|e| e.key == key) {
            e.category = category;
            e.rcode = rcode.map(str::to_owned);
            e.time = time;
            dictionary = !e.words.is_empty();
        }
        if dictionary && outcome == Outcome::Failed {
            self.link(client, key);
        }
    }

    /// The word graph of one host: a failed dictionary name that shares a word
    /// with another such name of the host in the window links both (WordGraph, Pereira et al.,
    /// RAID 2018: word-list generators reuse a small dictionary, benign failures rarely do).
    fn link(&mut self, client: &str, key: u64) {
        let Some(host) = self.hosts.get_mut(&key_of(client)) else {
            return;
        };
        let Some(new) = host.named.iter().position(|e| e.key == key) else {
            return;
        };
        let words = host.named[new].words.clone();
        let mut linked = Vec::new();
        for (i, e) in host.named.iter().enumerate() {
            if i == new || e.words.is_empty() {
                continue;
            }
            let outcome = host.seen.get(&e.key).map(|s| s.outcome);
            if outcome != Some(Outcome::Failed) {
                continue;
            }
            let shared: Vec<&String> = e.words.iter().filter(|w| words.contains(w)).collect();
            if !shared.is_empty() {
                linked.push((i, shared.into_iter().cloned().collect::<Vec<String>>()));
            }
        }
        if linked.is_empty() {
            return;
        }
        let mut all_shared: Vec<String> = Vec::new();
        for (i, shared) in linked {
            all_shared.extend(shared.iter().cloned());
            link_one(host, i, &shared);
        }
        all_shared.sort();
        all_shared.dedup();
        link_one(host, new, &all_shared);
    }

    /// Alerts when the host's window weighs enough, at most once a window.
    fn judge(&mut self, client: &str, now: f64) -> Option<HostAlert> {
        let window = self.rules.window_s;
        let threshold = self.threshold;
        let host = self.hosts.get(&key_of(client))?;
        if host.alerted_at.is_some_and(|at| now - at <= window) {
            return None;
        }
        let evidence = host.ratio();
        if evidence < threshold {
            return None;
        }
        let shares_names_with = self.network.partners(client, now);
        let host = self.hosts.get_mut(&key_of(client))?;
        host.alerted_at = Some(now);
        let mut names: Vec<Evidence> = host
            .named
            .iter()
            .filter(|e| !e.category.ordinary())
            .cloned()
            .map(|mut e| {
                e.weight = host.weights[e.category.index()];
                e
            })
            .collect();
        names.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then_with(|| b.p_dga.total_cmp(&a.p_dga))
        });
        let config = self.families.as_deref();
        let rule = config.and_then(|config| Some((config, config.group.as_ref()?)));
        let family = rule.and_then(|(config, rule)| {
            let members: Vec<GroupMember> = (names.iter())
                .filter(|e| !e.family_classes.is_empty())
                .map(Evidence::member)
                .collect();
            rule.name(&config.names, &members)
        });
        // The names of a host named together are read as that family's where they could be
        // (`unknown` is no class, so a declined host leaves them as they were).
        if let (Some((config, rule)), Some(family)) = (rule, &family)
            && let Some(class) = config.names.iter().position(|n| *n == family.name)
        {
            for e in names
                .iter_mut()
                .filter(|e| rule.belongs(class as u32, &e.member()))
            {
                e.family = Some(family.name.clone());
            }
        }
        let families = ranked(names.iter().filter_map(|e| e.family.clone()));
        let words = ranked(names.iter().flat_map(|e| e.shared_words.iter().cloned()));
        Some(HostAlert {
            client: client.to_owned(),
            time: now,
            evidence,
            threshold,
            volume: host.seen.len() as u32,
            categories: Category::ALL
                .iter()
                .map(|c| (*c, host.counts[c.index()]))
                .filter(|(_, n)| *n > 0)
                .collect(),
            names,
            families,
            family,
            words,
            shares_names_with,
        })
    }

    /// Past the bound, forgets the host seen longest ago.
    fn forget_oldest_host(&mut self) {
        let oldest = self
            .hosts
            .iter()
            .min_by(|a, b| a.1.last_seen.total_cmp(&b.1.last_seen))
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.hosts.remove(&id);
            self.hosts_forgotten += 1;
        }
    }

    /// Ages every host's window to log time `now`, and forgets hosts idle for longer than
    /// their history lasts (a day's half-life, so four).
    pub fn forget_before(&mut self, now: f64) {
        for host in self.hosts.values_mut() {
            sweep(
                host,
                now,
                true,
                &mut self.network,
                &self.weigher,
                &self.rules,
            );
        }
        let idle = 4.0 * self.rules.client_half_life_s;
        self.hosts.retain(|_, host| now - host.last_seen <= idle);
        self.network.forget_before(now);
    }
}

/// Drops a host's lookups older than the window (adding them to the host's and the network's
/// history while the host looks benign) and refreshes its weights; says whether it did.
fn sweep(
    host: &mut Host,
    now: f64,
    force: bool,
    network: &mut Network,
    weigher: &Weigher,
    rules: &HostRules,
) -> bool {
    let due = now - host.swept_at >= rules.window_s / 10.0;
    let full = host.seen.len() >= rules.max_distinct;
    if !(due || full || force) {
        return false;
    }
    host.swept_at = now;
    let benign = host.ratio() < 0.0
        && host
            .alerted_at
            .is_none_or(|at| now - at > 2.0 * rules.window_s);
    let mut cut = now - rules.window_s;
    if full {
        // Past the bound the oldest quarter goes, whatever its age.
        cut = cut.max(oldest_cut(
            host.seen.values().map(|s| s.time).collect(),
            0.25,
        ));
    }
    let counts = &mut host.counts;
    let history = &mut host.history;
    host.seen.retain(|_, s| {
        if s.time > cut {
            return true;
        }
        counts[s.category.index()] -= 1;
        if benign {
            history.add(s.category, now, rules.client_half_life_s);
            network.add(s.category, now);
        }
        false
    });
    let seen = &host.seen;
    host.named.retain(|e| seen.contains_key(&e.key));
    let rates = network.rates(now, &weigher.benign_prior, rules.network_prior);
    let own = host.history.shares(&rates, rules.client_prior);
    host.weights = weigher.weights(&own);
    true
}

fn link_one(host: &mut Host, i: usize, shared: &[String]) {
    let e = &mut host.named[i];
    for w in shared {
        if !e.shared_words.contains(w) {
            e.shared_words.push(w.clone());
        }
    }
    let key = e.key;
    let Some(seen) = host.seen.get(&key).copied() else {
        return;
    };
    let category = Category::of(seen.p_dga, seen.outcome, true);
    host.named[i].category = category;
    host.recount(seen.category, category);
    host.seen.insert(key, Seen { category, ..seen });
}

/// Whether `client`'s window leans towards infection (see [`HostTracker::leaning`]).
fn leans(hosts: &FxHashMap<u64, Host>, client: &str) -> bool {
    hosts.get(&key_of(client)).is_some_and(|h| h.ratio() > 0.0)
}

fn outcome_of(rcode: Option<&str>) -> Outcome {
    match rcode {
        Some(code) if is_failure(code) => Outcome::Failed,
        Some(_) => Outcome::Answered,
        None => Outcome::Unknown,
    }
}

/// Items with their counts, most frequent first, ties by name.
fn ranked(items: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(registrable: &str, p_dga: f32) -> NameScore {
        NameScore {
            registrable_domain: registrable.to_owned(),
            label: registrable.split('.').next().unwrap_or_default().to_owned(),
            p_dga,
            family: Some("necurs".into()),
            family_classes: Vec::new(),
        }
    }

    fn look_up(
        t: &mut HostTracker,
        client: &str,
        time: f64,
        name: &str,
        rcode: &str,
        p: f32,
    ) -> Vec<Alert> {
        t.observe(client, time, name, Some(rcode), &score(name, p))
    }

    fn hosts_alerted(alerts: &[Alert]) -> Vec<String> {
        alerts
            .iter()
            .filter_map(|a| match a {
                Alert::Host(h) => Some(h.client.clone()),
                Alert::Campaign(_) => None,
            })
            .collect()
    }

    #[test]
    fn the_threshold_is_the_false_alarm_budget() {
        let rules = HostRules::default();
        // 144 windows a day: one benign alert per 10,000 client-days is e^-14.2 a window.
        assert!(
            (rules.threshold() - 14.18).abs() < 0.01,
            "{}",
            rules.threshold()
        );
        let stricter = HostRules {
            budget: 0.1,
            ..rules
        };
        assert!(stricter.threshold() > rules.threshold());
    }

    #[test]
    fn failed_generated_lookups_of_a_quiet_host_raise_one_alert_per_window() {
        let mut tracker = HostTracker::new(HostRules::default());
        let mut fired = Vec::new();
        for i in 0..10 {
            let alerts = look_up(
                &mut tracker,
                "10.0.0.5",
                i as f64 * 3.0,
                &format!("qx{i}kzvw.com"),
                "NXDOMAIN",
                0.99,
            );
            fired.push(!hosts_alerted(&alerts).is_empty());
        }
        // Each weighs about 3.7: the fourth passes 14.2, and the host is not alerted again in
        // the window.
        assert_eq!(
            fired,
            [
                false, false, false, true, false, false, false, false, false, false
            ]
        );
        let alerts = look_up(
            &mut tracker,
            "10.0.0.5",
            10_000.0,
            "a1.com",
            "NXDOMAIN",
            0.99,
        );
        assert!(
            hosts_alerted(&alerts).is_empty(),
            "old names left the window"
        );
    }

    #[test]
    fn an_alert_names_the_family_its_names_point_to_together() {
        // Two families of random letters: `wide` has names of 8 to 19 letters, `fixed` of 12.
        let label = |i: usize, len: usize| -> String {
            (0..len)
                .map(|j| (b'a' + ((i * 7 + j * 13 + i * j) % 25) as u8) as char)
                .collect()
        };
        let wide: Vec<String> = (0..500).map(|i| label(i, 8 + i % 12)).collect();
        let fixed: Vec<String> = (0..500).map(|i| label(i + 1000, 12)).collect();
        let config = FamilyConfig {
            names: vec!["wide".into(), "fixed".into()],
            unknown_below: 0.9,
            unknown_on_held_out: [0.8, 0.8],
            hidden: 0,
            shape: false,
            group: Some(model_core::GroupRule {
                unknown_below: vec![0.5],
                ..model_core::GroupRule::new(
                    vec![
                        model_core::FamilyProfile::of(wide.iter().map(|l| (l.as_str(), "com"))),
                        model_core::FamilyProfile::of(fixed.iter().map(|l| (l.as_str(), "com"))),
                    ],
                    1e-3,
                )
            }),
        };
        let family_of = |labels: &[String], suffix: &str| {
            let mut tracker = HostTracker::new(HostRules::default())
                .with_families(Some(Arc::new(config.clone())));
            let mut alerts = Vec::new();
            for (i, l) in labels.iter().enumerate() {
                let score = NameScore {
                    registrable_domain: format!("{l}.{suffix}"),
                    label: l.clone(),
                    p_dga: 0.99,
                    // One name alone is not sure: `unknown` below 0.9.
                    family: Some(model_core::UNKNOWN_FAMILY.into()),
                    family_classes: vec![(0, 0.6), (1, 0.4)],
                };
                let name = score.registrable_domain.clone();
                alerts.extend(tracker.observe(
                    "10.0.0.9",
                    i as f64,
                    &name,
                    Some("NXDOMAIN"),
                    &score,
                ));
            }
            let host = alerts.into_iter().find_map(|a| match a {
                Alert::Host(h) => Some(h),
                Alert::Campaign(_) => None,
            });
            let host = host.expect("ten failed generated names alert");
            let names: Vec<String> = (host.names.iter())
                .map(|e| e.family.clone().unwrap_or_default())
                .collect();
            (host.family, names)
        };
        let (named, names) = family_of(
            &(2000..2010)
                .map(|i| label(i, 8 + i % 12))
                .collect::<Vec<_>>(),
            "com",
        );
        assert_eq!(
            named.as_ref().map(|f| f.name.as_str()),
            Some("wide"),
            "{named:?}"
        );
        // Each name, `unknown` alone, is read as the host's family, which could have made it.
        assert!(
            names.len() >= 2 && names.iter().all(|f| f == "wide"),
            "{names:?}"
        );
        // Names of one length under another suffix lean to `wide` one by one (the head's
        // classes say so), but do not look like it together.
        let (declined, names) = family_of(
            &(2000..2010).map(|i| label(i, 12)).collect::<Vec<_>>(),
            "org",
        );
        let declined = declined.expect("a family is given");
        assert!(
            names.iter().all(|f| f == model_core::UNKNOWN_FAMILY),
            "{names:?}"
        );
        assert_eq!(
            (declined.best.as_str(), declined.name.as_str()),
            ("wide", model_core::UNKNOWN_FAMILY)
        );
    }

    #[test]
    fn a_busy_client_is_judged_against_its_own_volume() {
        let mut tracker = HostTracker::new(HostRules::default());
        // A forwarder: 3,000 distinct domains in ten minutes, 4% of them answered and
        // generated-looking, 5% failing, of which a few generated-looking.
        let mut alerted = Vec::new();
        for i in 0..3000 {
            let time = i as f64 * 0.2;
            let (p, rcode) = match i % 100 {
                0..=3 => (0.95, "NOERROR"),
                4..=8 => (if i % 500 == 5 { 0.95 } else { 0.1 }, "NXDOMAIN"),
                _ => (0.05, "NOERROR"),
            };
            alerted.extend(hosts_alerted(&look_up(
                &mut tracker,
                "forwarder",
                time,
                &format!("n{i}.com"),
                rcode,
                p,
            )));
        }
        assert!(alerted.is_empty(), "{alerted:?}");
        // The same failed generated names from a quiet client alert it.
        let mut quiet = Vec::new();
        for i in 0..6 {
            quiet.extend(hosts_alerted(&look_up(
                &mut tracker,
                "laptop",
                600.0 + i as f64,
                &format!("zq{i}xkvw.net"),
                "NXDOMAIN",
                0.95,
            )));
        }
        assert_eq!(quiet, ["laptop"]);
    }

    #[test]
    fn repeated_and_answered_names_weigh_less_and_answers_logged_apart_count() {
        let mut tracker = HostTracker::new(HostRules::default());
        // The same registrable domain counts once, however often it is queried.
        for i in 0..50 {
            let alerts = tracker.observe(
                "h",
                i as f64,
                &format!("x{i}.qwrtz.com"),
                Some("NXDOMAIN"),
                &score("qwrtz.com", 1.0),
            );
            assert!(alerts.is_empty());
        }
        // Answered generated-looking names weigh far less than failed ones.
        for i in 0..8 {
            assert!(
                look_up(
                    &mut tracker,
                    "h",
                    60.0,
                    &format!("cdn{i}x.net"),
                    "NOERROR",
                    0.99
                )
                .is_empty()
            );
        }
        // Unlogged outcomes weigh between; the answers, logged later, decide.
        for i in 0..3 {
            let name = format!("zz{i}qx.biz");
            assert!(
                tracker
                    .observe("h", 61.0, &name, None, &score(&name, 0.99))
                    .is_empty()
            );
        }
        let other = tracker.answer(Some("other"), 62.0, &score("zz0qx.biz", 0.99), "NXDOMAIN");
        assert!(other.is_empty());
        let mut alerts = Vec::new();
        for i in 0..3 {
            alerts.extend(tracker.answer(
                None,
                62.0,
                &score(&format!("zz{i}qx.biz"), 0.99),
                "NXDOMAIN",
            ));
        }
        let Some(Alert::Host(alert)) = alerts.first() else {
            panic!("the failures, once logged, alert: {alerts:?}");
        };
        assert_eq!(alert.client, "h");
        assert_eq!(alert.names[0].category, Category::HighFailed, "{alert:?}");
        assert!(
            alert
                .names
                .iter()
                .filter(|e| e.category == Category::HighFailed)
                .count()
                >= 2
        );
        assert!(alert.reason().contains("failed"), "{}", alert.reason());
    }

    #[test]
    fn failed_dictionary_names_sharing_words_link_into_evidence() {
        let lexicon = || {
            Some(Arc::new(Lexicon::new(
                &["weather", "horse", "silver", "paper", "river", "table"],
                Vec::new(),
                [],
            )))
        };
        let mut tracker = HostTracker::new(HostRules::default()).with_lexicon(lexicon());
        let dictionary = |label: &str, p: f32| NameScore {
            registrable_domain: format!("{label}.net"),
            label: label.to_owned(),
            p_dga: p,
            family: None,
            family_classes: Vec::new(),
        };
        let names = [
            "weatherhorse",
            "horsesilver",
            "silverpaper",
            "paperriver",
            "rivertable",
        ];
        let mut alerts = Vec::new();
        for (i, label) in names.iter().enumerate() {
            let score = dictionary(label, 0.2);
            alerts.extend(tracker.observe(
                "h",
                i as f64,
                &score.registrable_domain.clone(),
                Some("NXDOMAIN"),
                &score,
            ));
        }
        let Some(Alert::Host(alert)) = alerts.first() else {
            panic!("five linked failures alert though each scores 0.2: {alerts:?}");
        };
        assert!(
            alert
                .names
                .iter()
                .all(|e| e.category == Category::LinkedFailed)
        );
        assert!(
            alert.words.iter().any(|(w, n)| w == "horse" && *n == 2),
            "{:?}",
            alert.words
        );
        // Answered dictionary names never link.
        let mut answered = HostTracker::new(HostRules::default()).with_lexicon(lexicon());
        for (i, label) in names.iter().enumerate() {
            let score = dictionary(label, 0.2);
            assert!(
                answered
                    .observe(
                        "h",
                        i as f64,
                        &score.registrable_domain.clone(),
                        Some("NOERROR"),
                        &score
                    )
                    .is_empty()
            );
        }
    }

    #[test]
    fn hosts_sharing_failed_names_raise_a_campaign() {
        let mut tracker = HostTracker::new(HostRules::default());
        let mut campaigns = Vec::new();
        for i in 0..3 {
            for host in ["10.0.0.1", "10.0.0.2"] {
                for alert in look_up(
                    &mut tracker,
                    host,
                    i as f64,
                    &format!("qq{i}vzxk.org"),
                    "NXDOMAIN",
                    0.7,
                ) {
                    if let Alert::Campaign(c) = alert {
                        campaigns.push(c);
                    }
                }
            }
        }
        assert_eq!(campaigns.len(), 1, "{campaigns:?}");
        assert_eq!(campaigns[0].hosts.len(), 2);
    }

    #[test]
    fn state_stays_within_its_bounds() {
        let rules = HostRules {
            max_hosts: 3,
            max_names: 4,
            max_distinct: 64,
            ..HostRules::default()
        };
        let mut tracker = HostTracker::new(rules);
        for i in 0..500 {
            let name = format!("n{i}.com");
            look_up(
                &mut tracker,
                &format!("host{}", i % 10),
                i as f64,
                &name,
                "NOERROR",
                0.9,
            );
            look_up(&mut tracker, "busy", i as f64, &name, "NXDOMAIN", 0.6);
        }
        assert!(tracker.hosts() <= 3);
        assert!(tracker.hosts_forgotten > 0);
        assert!(
            tracker
                .hosts
                .values()
                .all(|h| h.named.len() <= 4 && h.seen.len() <= 64)
        );
        assert!(
            tracker
                .hosts
                .values()
                .all(|h| h.counts.iter().sum::<u32>() as usize == h.seen.len())
        );
    }
}
