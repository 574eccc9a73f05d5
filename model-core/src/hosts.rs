//! Host verdicts: an infected host looks up many generated names in a short time, and most of
//! those lookups fail, while one odd name from a host is weak evidence. [`HostTracker`] weighs,
//! per client and window of the log's own time, the distinct high-scoring registrable domains
//! it queried, and raises a [`HostAlert`] when their weight passes a threshold. `monitor` and
//! the page feed it the same queries in the same order, so both give the same host verdicts.

use std::collections::HashMap;

use serde::Serialize;

use crate::detector::{DECISION_P, Verdict};
use crate::dnslog::{Parsed, is_failure};

/// How evidence is weighed; [`HostRules::default`] holds the measured choice (README,
/// "Monitoring DNS logs").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostRules {
    /// Seconds of log time over which a host's names add up.
    pub window_s: f64,
    /// `p_dga` below which a name adds nothing; above it a name adds up to 1 at `p_dga` 1.
    pub min_p: f32,
    /// Factor of a name whose lookup failed (NXDOMAIN, SERVFAIL).
    pub failed_factor: f32,
    /// Factor of a name whose lookup was answered.
    pub answered_factor: f32,
    /// Evidence at which a host alert is raised.
    pub threshold: f32,
    /// Hosts whose evidence is held at once; past it the host seen longest ago is forgotten.
    pub max_hosts: usize,
    /// Names held per host; past it the oldest is forgotten.
    pub max_names: usize,
}

impl Default for HostRules {
    fn default() -> Self {
        Self {
            window_s: 600.0,
            min_p: DECISION_P,
            failed_factor: 2.0,
            answered_factor: 0.5,
            threshold: 6.0,
            max_hosts: 50_000,
            max_names: 256,
        }
    }
}

impl HostRules {
    /// The weight one name adds: how far its `p_dga` is above [`HostRules::min_p`], times the
    /// factor of its lookup's outcome (1 while unknown).
    pub fn weight(&self, p_dga: f32, rcode: Option<&str>) -> f32 {
        let strength = ((p_dga - self.min_p) / (1.0 - self.min_p)).clamp(0.0, 1.0);
        let factor = match rcode {
            Some(code) if is_failure(code) => self.failed_factor,
            Some(_) => self.answered_factor,
            None => 1.0,
        };
        strength * factor
    }
}

/// What the tracker needs of a name's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct NameScore {
    pub registrable_domain: String,
    pub p_dga: f32,
    pub family: Option<String>,
}

impl NameScore {
    /// The part of a verdict that counts as evidence: `None` for names that cannot be (set
    /// aside, not names, allowed).
    pub fn of(verdict: &Verdict) -> Option<Self> {
        let scored = verdict.result.as_ref().ok()?;
        if scored.allowed.is_some() {
            return None;
        }
        Some(Self {
            registrable_domain: scored.domain.registrable_domain.clone(),
            p_dga: scored.p_dga,
            family: scored.family.as_ref().map(|f| f.name.clone()),
        })
    }
}

/// One name behind a host alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The first query name seen for this registrable domain.
    pub query: String,
    pub registrable_domain: String,
    pub p_dga: f32,
    pub rcode: Option<String>,
    pub family: Option<String>,
    /// Log time of its last query.
    #[serde(skip)]
    pub time: f64,
}

/// A host that looked up enough generated-looking names, most of them failing, in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostAlert {
    pub client: String,
    /// Log time of the query that raised it.
    pub time: f64,
    pub evidence: f32,
    /// The host's distinct high-scoring names in the window, highest `p_dga` first.
    pub names: Vec<Evidence>,
    /// The families the names were given, most frequent first (`unknown` included).
    pub families: Vec<(String, usize)>,
}

#[derive(Debug, Default)]
struct Host {
    names: Vec<Evidence>,
    last_seen: f64,
    /// Log time of the last alert: a host alerts at most once a window.
    alerted_at: Option<f64>,
}

/// Per-host evidence, bounded by [`HostRules::max_hosts`] and [`HostRules::max_names`].
#[derive(Debug)]
pub struct HostTracker {
    pub rules: HostRules,
    hosts: HashMap<String, Host>,
    /// Hosts forgotten because the bound was reached (their evidence restarts from nothing).
    pub hosts_forgotten: u64,
}

impl HostTracker {
    pub fn new(rules: HostRules) -> Self {
        Self {
            rules,
            hosts: HashMap::new(),
            hosts_forgotten: 0,
        }
    }

    /// Hosts holding evidence now.
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// One event of a log at log time `time`, with the evidence its query name gives (from
    /// [`NameScore::of`] of the name's verdict): what `monitor` and the page both call, in log
    /// order, so that both judge hosts alike.
    pub fn feed(
        &mut self,
        parsed: &Parsed,
        time: f64,
        evidence: Option<&NameScore>,
    ) -> Option<HostAlert> {
        match parsed {
            Parsed::Query(query) => {
                let client = query.client.as_deref()?;
                self.observe(client, time, &query.name, query.rcode.as_deref(), evidence?)
            }
            Parsed::Answer(answer) => {
                self.answer(answer.client.as_deref(), time, &answer.name, &answer.rcode)
            }
            Parsed::Skip | Parsed::Unparsed(_) => None,
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
    ) -> Option<HostAlert> {
        if self.rules.weight(score.p_dga, None) <= 0.0 {
            return None;
        }
        if !self.hosts.contains_key(client) && self.hosts.len() >= self.rules.max_hosts {
            self.forget_oldest_host();
        }
        let rules = self.rules;
        let host = self.hosts.entry(client.to_owned()).or_default();
        host.last_seen = time;
        match host
            .names
            .iter_mut()
            .find(|e| e.registrable_domain == score.registrable_domain)
        {
            Some(seen) => {
                seen.time = time;
                if rcode.is_some() {
                    seen.rcode = rcode.map(str::to_owned);
                }
            }
            None => {
                if host.names.len() >= rules.max_names {
                    host.names.remove(0);
                }
                host.names.push(Evidence {
                    query: name.to_owned(),
                    registrable_domain: score.registrable_domain.clone(),
                    p_dga: score.p_dga,
                    rcode: rcode.map(str::to_owned),
                    family: score.family.clone(),
                    time,
                });
            }
        }
        self.judge(client, time)
    }

    /// An answer logged apart from its query: it updates the names of that client (or, when
    /// the line does not say who asked, of every host that queried the name).
    pub fn answer(
        &mut self,
        client: Option<&str>,
        time: f64,
        name: &str,
        rcode: &str,
    ) -> Option<HostAlert> {
        let mut touched = Vec::new();
        for (host_name, host) in &mut self.hosts {
            if client.is_some_and(|c| c != host_name) {
                continue;
            }
            for evidence in &mut host.names {
                if evidence.query == name {
                    evidence.rcode = Some(rcode.to_owned());
                    touched.push(host_name.clone());
                }
            }
        }
        touched
            .into_iter()
            .filter_map(|host| self.judge(&host, time))
            .next()
    }

    /// Drops a host's names older than the window and alerts when the rest weigh enough.
    fn judge(&mut self, client: &str, now: f64) -> Option<HostAlert> {
        let rules = self.rules;
        let host = self.hosts.get_mut(client)?;
        host.names.retain(|e| now - e.time <= rules.window_s);
        if host.alerted_at.is_some_and(|at| now - at <= rules.window_s) {
            return None;
        }
        let evidence: f32 = host
            .names
            .iter()
            .map(|e| rules.weight(e.p_dga, e.rcode.as_deref()))
            .sum();
        if evidence < rules.threshold {
            return None;
        }
        host.alerted_at = Some(now);
        let mut names = host.names.clone();
        names.sort_by(|a, b| b.p_dga.total_cmp(&a.p_dga));
        let mut families: HashMap<String, usize> = HashMap::new();
        for e in &names {
            if let Some(family) = &e.family {
                *families.entry(family.clone()).or_default() += 1;
            }
        }
        let mut families: Vec<(String, usize)> = families.into_iter().collect();
        families.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(HostAlert {
            client: client.to_owned(),
            time: now,
            evidence,
            names,
            families,
        })
    }

    /// Forgets hosts with nothing left in their window, and past the bound the host seen
    /// longest ago.
    fn forget_oldest_host(&mut self) {
        let oldest = self
            .hosts
            .iter()
            .min_by(|a, b| a.1.last_seen.total_cmp(&b.1.last_seen))
            .map(|(name, _)| name.clone());
        if let Some(name) = oldest {
            self.hosts.remove(&name);
            self.hosts_forgotten += 1;
        }
    }

    /// Forgets hosts whose last name is older than the window at log time `now`.
    pub fn forget_before(&mut self, now: f64) {
        let window = self.rules.window_s;
        self.hosts.retain(|_, host| {
            now - host.last_seen <= window || host.alerted_at.is_some_and(|at| now - at <= window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(registrable: &str, p_dga: f32) -> NameScore {
        NameScore {
            registrable_domain: registrable.to_owned(),
            p_dga,
            family: Some("necurs".into()),
        }
    }

    #[test]
    fn failed_lookups_of_generated_names_raise_one_alert_per_window() {
        let mut tracker = HostTracker::new(HostRules::default());
        let mut fired = Vec::new();
        for i in 0..10 {
            let name = format!("qx{i}kzvw.com");
            let alert = tracker.observe(
                "10.0.0.5",
                i as f64 * 3.0,
                &name,
                Some("NXDOMAIN"),
                &score(&name, 1.0),
            );
            fired.push(alert.is_some());
        }
        // Each adds 2: the third reaches 6, and the host is not alerted again in the window.
        assert_eq!(
            fired,
            [
                false, false, true, false, false, false, false, false, false, false
            ]
        );
        let alert = tracker.observe(
            "10.0.0.5",
            10_000.0,
            "a1.com",
            Some("NXDOMAIN"),
            &score("a1.com", 1.0),
        );
        assert!(alert.is_none(), "old names left the window");
    }

    #[test]
    fn answered_and_repeated_names_weigh_less() {
        let mut tracker = HostTracker::new(HostRules::default());
        // The same registrable domain counts once, however often it is queried.
        for i in 0..50 {
            let alert = tracker.observe(
                "h",
                i as f64,
                &format!("x{i}.qwrtz.com"),
                Some("NXDOMAIN"),
                &score("qwrtz.com", 1.0),
            );
            assert!(alert.is_none());
        }
        // Answered names add a quarter of failed ones (2 + 7 x 0.5 = 5.5); low scores add nothing.
        for i in 0..7 {
            let name = format!("cdn{i}.net");
            assert!(
                tracker
                    .observe("h", 60.0, &name, Some("NOERROR"), &score(&name, 1.0))
                    .is_none()
            );
            assert!(
                tracker
                    .observe(
                        "h",
                        60.0,
                        &format!("ok{i}.net"),
                        Some("NXDOMAIN"),
                        &score("ok.net", 0.4)
                    )
                    .is_none()
            );
        }
        assert!(
            tracker
                .observe(
                    "h",
                    61.0,
                    "last.net",
                    Some("NOERROR"),
                    &score("last.net", 1.0)
                )
                .is_some()
        );
    }

    #[test]
    fn answers_logged_apart_update_the_hosts_that_asked() {
        let mut tracker = HostTracker::new(HostRules::default());
        // Four names of unknown outcome weigh 4; each failure logged later adds 1.
        for i in 0..4 {
            let name = format!("zz{i}.biz");
            assert!(
                tracker
                    .observe("h", 1.0, &name, None, &score(&name, 1.0))
                    .is_none()
            );
        }
        assert!(
            tracker
                .answer(Some("other"), 2.0, "zz0.biz", "NXDOMAIN")
                .is_none()
        );
        assert!(tracker.answer(None, 2.0, "zz0.biz", "NXDOMAIN").is_none());
        let alert = tracker
            .answer(None, 2.0, "zz1.biz", "NXDOMAIN")
            .expect("4 + 1 + 1 reaches 6");
        assert_eq!(alert.client, "h");
        assert_eq!(alert.names.len(), 4);
        assert_eq!(alert.families, [("necurs".to_owned(), 4)]);
    }

    #[test]
    fn state_stays_within_its_bounds() {
        let rules = HostRules {
            max_hosts: 3,
            max_names: 4,
            ..HostRules::default()
        };
        let mut tracker = HostTracker::new(rules);
        for i in 0..10 {
            let name = format!("n{i}.com");
            tracker.observe(
                &format!("host{i}"),
                i as f64,
                &name,
                None,
                &score(&name, 0.9),
            );
            tracker.observe("busy", i as f64, &name, None, &score(&name, 0.6));
        }
        assert!(tracker.hosts() <= 3);
        assert!(tracker.hosts_forgotten > 0);
        assert!(tracker.hosts.values().all(|h| h.names.len() <= 4));
    }
}
