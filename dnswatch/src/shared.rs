//! What many clients share. Failed generated-looking names that several hosts look up in the
//! same window are a botnet's names of the day (Pleiades, Antonakakis et al., USENIX Security
//! 2012, clusters failed names by the hosts that share them): one [`CampaignAlert`] names them
//! and their hosts. Answered names that many clients resolve are popular on this network, and
//! weak evidence against any one host. Both are held with bounded memory.

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::hosts::HostRules;
use crate::{key_of, oldest_cut};

/// Failed names held at once; past it the older half goes.
const MAX_FAILED: usize = 100_000;
/// Popular-name candidates held at once; past it those seen longest ago go.
const MAX_POPULAR: usize = 200_000;
/// Clients remembered per failed name.
const MAX_CLIENTS: usize = 32;
/// How long a name stays popular after its last lookup, in windows.
const POPULAR_WINDOWS: f64 = 36.0;

/// Hosts that looked up the same failed generated names in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignAlert {
    /// Log time of the lookup that raised it.
    pub time: f64,
    /// The hosts, with how many of the names each looked up, most first.
    pub hosts: Vec<(String, usize)>,
    /// The shared names, with how many hosts looked up each.
    pub names: Vec<SharedName>,
}

impl CampaignAlert {
    /// The alert as `monitor` writes it (`kind: campaign`): the hosts that looked up the same
    /// failed generated names, and the names.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": "campaign",
            "time": self.time,
            "reason": self.reason(),
            "hosts": self.hosts.iter().map(|(h, n)| serde_json::json!({"client": h, "names": n})).collect::<Vec<_>>(),
            "names": self.names,
        })
    }

    /// One line saying who shared what, for the page and the log.
    pub fn reason(&self) -> String {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|(h, n)| format!("{h} ({n})"))
            .collect();
        let names: Vec<String> = self
            .names
            .iter()
            .take(5)
            .map(|n| format!("{} ({} hosts)", n.query, n.hosts))
            .collect();
        format!(
            "hosts {} looked up the same failed generated-looking names: {}",
            hosts.join(", "),
            names.join(", ")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SharedName {
    pub query: String,
    pub registrable_domain: String,
    pub p_dga: f32,
    pub hosts: usize,
}

#[derive(Debug, Clone)]
struct Failed {
    query: String,
    p_dga: f32,
    /// Clients with the log time of their last lookup.
    clients: Vec<(String, f64)>,
    last: f64,
}

#[derive(Debug, Clone, Default)]
struct Popular {
    /// Hashes of the distinct clients seen, up to the number that makes a name popular.
    clients: Vec<u64>,
    last: f64,
}

#[derive(Debug)]
pub struct Shared {
    rules: HostRules,
    failed: FxHashMap<String, Failed>,
    popular: FxHashMap<u64, Popular>,
    /// Hosts named in a campaign alert, with its log time: once a window.
    in_campaign: HashMap<String, f64>,
}

impl Shared {
    pub fn new(rules: HostRules) -> Self {
        Self {
            rules,
            failed: FxHashMap::default(),
            popular: FxHashMap::default(),
            in_campaign: HashMap::new(),
        }
    }

    /// Records that `client` resolved the registrable domain `key`, and says whether enough
    /// distinct clients did recently for it to be popular here.
    pub fn popular(&mut self, key: u64, client: &str, time: f64) -> bool {
        if self.popular.len() >= MAX_POPULAR && !self.popular.contains_key(&key) {
            let horizon = self.rules.window_s * POPULAR_WINDOWS;
            self.popular.retain(|_, p| time - p.last <= horizon);
            if self.popular.len() >= MAX_POPULAR {
                let cut = oldest_cut(self.popular.values().map(|p| p.last).collect(), 0.5);
                self.popular.retain(|_, p| p.last > cut);
            }
        }
        let needed = self.rules.popular_clients;
        let entry = self.popular.entry(key).or_default();
        entry.last = entry.last.max(time);
        let client = key_of(client);
        if entry.clients.len() < needed && !entry.clients.contains(&client) {
            entry.clients.push(client);
        }
        entry.clients.len() >= needed
    }

    /// A failed generated-looking lookup: a campaign when `client` now shares enough such
    /// names with other hosts in the window. `leaning` says whether a host's own lookups lean
    /// towards infection (a positive ratio): only such hosts join, since busy benign clients
    /// share dead names by chance, and the shared names are what tips them.
    pub fn failed_name(
        &mut self,
        client: &str,
        query: &str,
        registrable: &str,
        p_dga: f32,
        time: f64,
        leaning: impl Fn(&str) -> bool,
    ) -> Option<CampaignAlert> {
        if self.failed.len() >= MAX_FAILED && !self.failed.contains_key(registrable) {
            self.forget_before(time);
            if self.failed.len() >= MAX_FAILED {
                let cut = oldest_cut(self.failed.values().map(|f| f.last).collect(), 0.5);
                self.failed.retain(|_, f| f.last > cut);
            }
        }
        let entry = self
            .failed
            .entry(registrable.to_owned())
            .or_insert_with(|| Failed {
                query: query.to_owned(),
                p_dga,
                clients: Vec::new(),
                last: time,
            });
        entry.last = time;
        match entry.clients.iter().position(|(c, _)| c == client) {
            Some(i) => entry.clients[i].1 = time,
            None if entry.clients.len() < MAX_CLIENTS => {
                entry.clients.push((client.to_owned(), time));
            }
            None => {}
        }
        if self.hosts_of(registrable, time) < 2 {
            return None;
        }
        let window = self.rules.window_s;
        if self
            .in_campaign
            .get(client)
            .is_some_and(|at| time - at <= window)
        {
            return None;
        }
        let names = self.shared_by(client, time);
        if names.len() < self.rules.campaign_names {
            return None;
        }
        // The hosts that looked up at least two of this host's shared names.
        let mut hosts: HashMap<&str, usize> = HashMap::new();
        for name in &names {
            for (c, at) in &self.failed[name].clients {
                if time - at <= window {
                    *hosts.entry(c.as_str()).or_default() += 1;
                }
            }
        }
        let mut hosts: Vec<(String, usize)> = hosts
            .into_iter()
            .filter(|(c, n)| *n >= 2 && leaning(c))
            .map(|(c, n)| (c.to_owned(), n))
            .collect();
        if hosts.len() < 2 {
            return None;
        }
        hosts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (host, _) in &hosts {
            self.in_campaign.insert(host.clone(), time);
        }
        let mut shared: Vec<SharedName> = names
            .iter()
            .map(|name| {
                let f = &self.failed[name];
                SharedName {
                    query: f.query.clone(),
                    registrable_domain: name.clone(),
                    p_dga: f.p_dga,
                    hosts: self.hosts_of(name, time),
                }
            })
            .collect();
        shared.sort_by(|a, b| {
            b.hosts
                .cmp(&a.hosts)
                .then_with(|| a.registrable_domain.cmp(&b.registrable_domain))
        });
        Some(CampaignAlert {
            time,
            hosts,
            names: shared,
        })
    }

    /// Hosts that looked up the failed name in the window ending at `now`.
    fn hosts_of(&self, registrable: &str, now: f64) -> usize {
        self.failed.get(registrable).map_or(0, |f| {
            f.clients
                .iter()
                .filter(|(_, at)| now - at <= self.rules.window_s)
                .count()
        })
    }

    /// The failed names of `client` in the window that other hosts looked up too.
    fn shared_by(&self, client: &str, now: f64) -> Vec<String> {
        let window = self.rules.window_s;
        let mut names: Vec<String> = self
            .failed
            .iter()
            .filter(|(_, f)| now - f.last <= window)
            .filter(|(_, f)| {
                f.clients
                    .iter()
                    .any(|(c, at)| c == client && now - at <= window)
            })
            .filter(|(name, _)| self.hosts_of(name, now) >= 2)
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    /// Other hosts that looked up failed generated names of `client` in the window.
    pub fn partners(&self, client: &str, now: f64) -> Vec<String> {
        let window = self.rules.window_s;
        let mut partners: Vec<String> = self
            .shared_by(client, now)
            .iter()
            .flat_map(|name| self.failed[name].clients.iter())
            .filter(|(c, at)| c != client && now - at <= window)
            .map(|(c, _)| c.clone())
            .collect();
        partners.sort();
        partners.dedup();
        partners
    }

    /// Forgets failed names and campaign marks older than a window.
    pub fn forget_before(&mut self, now: f64) {
        let window = self.rules.window_s;
        self.failed.retain(|_, f| now - f.last <= window);
        self.in_campaign.retain(|_, at| now - *at <= window);
        let horizon = window * POPULAR_WINDOWS;
        self.popular.retain(|_, p| now - p.last <= horizon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_sharing_failed_names_make_one_campaign() {
        let mut shared = Shared::new(HostRules::default());
        let names = ["qx1kzvw.com", "qx2kzvw.com", "qx3kzvw.com"];
        let mut raised = Vec::new();
        for (i, name) in names.iter().enumerate() {
            for host in ["10.0.0.1", "10.0.0.2"] {
                raised.extend(shared.failed_name(host, name, name, 0.99, i as f64, |_| true));
            }
        }
        assert_eq!(raised.len(), 1, "{raised:?}");
        let campaign = &raised[0];
        assert_eq!(
            campaign.hosts,
            [("10.0.0.1".to_owned(), 3), ("10.0.0.2".to_owned(), 3)]
        );
        assert_eq!(campaign.names.len(), 3);
        assert!(
            campaign
                .reason()
                .starts_with("hosts 10.0.0.1 (3), 10.0.0.2 (3) looked up")
        );
        // The same hosts are not alerted again within the window, and one host alone never is.
        assert!(
            shared
                .failed_name("10.0.0.1", "qx4kzvw.com", "qx4kzvw.com", 0.99, 5.0, |_| {
                    true
                })
                .is_none()
        );
        let mut alone = Shared::new(HostRules::default());
        for (i, name) in names.iter().enumerate() {
            assert!(
                alone
                    .failed_name("h", name, name, 0.99, i as f64, |_| true)
                    .is_none()
            );
        }
        // Hosts whose own traffic does not lean towards infection share dead names by chance.
        let mut busy = Shared::new(HostRules::default());
        for (i, name) in names.iter().enumerate() {
            for host in ["proxy", "nat"] {
                assert!(
                    busy.failed_name(host, name, name, 0.99, i as f64, |_| false)
                        .is_none()
                );
            }
        }
    }

    #[test]
    fn names_many_clients_resolve_become_popular() {
        let mut shared = Shared::new(HostRules::default());
        let popular: Vec<bool> = (0..6)
            .map(|i| shared.popular(42, &format!("10.0.0.{i}"), f64::from(i)))
            .collect();
        assert_eq!(popular, [false, false, false, false, true, true]);
        // The same client again and again does not make a name popular.
        assert!(!(0..20).any(|i| shared.popular(7, "10.0.0.1", f64::from(i))));
    }
}
