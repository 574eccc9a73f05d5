//! Judging clients apart (as a job partitioned by client does) raises exactly the alerts a
//! single pass over the log raises: host alerts with their evidence and partners, and
//! campaigns. The network here has what couples clients: a busy forwarder, names popular
//! across clients, benign history building up over hours, and infected hosts that share
//! failed generated names.

use std::sync::Arc;

use dnswatch::hosts::{Alert, HostRules, HostTracker, NameScore};
use dnswatch::network::Position;
use dnswatch::split::{Lookup, judge_apart};

/// A small deterministic generator (xorshift), so the network is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Row {
    client: String,
    position: Position,
    name: String,
    rcode: &'static str,
    score: NameScore,
}

fn score(name: &str, p_dga: f32) -> NameScore {
    NameScore {
        registrable_domain: name.to_owned(),
        label: name.split('.').next().unwrap_or_default().to_owned(),
        p_dga,
        family: (p_dga >= 0.9).then(|| "necurs".to_owned()),
        family_classes: Vec::new(),
    }
}

/// Four hours of a network: 60 ordinary clients, a forwarder, names answered for many clients
/// that look generated (a CDN's), and three infected hosts, two of which share their names.
fn network() -> Vec<Row> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut rows = Vec::new();
    let ordinary: Vec<(String, f32)> = (0..3000)
        .map(|i| {
            let p = match i % 40 {
                0 => 0.95,
                1 | 2 => 0.6,
                _ => 0.05,
            };
            (format!("site{i}.com"), p)
        })
        .collect();
    let cdn: Vec<String> = (0..20).map(|i| format!("x9{i}qkz7.net")).collect();
    let hours = 4.0 * 3600.0;
    let mut clients: Vec<(String, f64)> = (0..60)
        .map(|i| (format!("10.0.0.{i}"), 0.05 + 0.1 * (i % 5) as f64))
        .collect();
    clients.push(("10.0.9.1".to_owned(), 4.0));
    for (client, rate) in &clients {
        let mut t = 0.0;
        loop {
            t += -rng.unit().max(1e-12).ln() / rate;
            if t > hours {
                break;
            }
            let roll = rng.unit();
            let (name, p) = if roll < 0.05 {
                (cdn[(rng.next() % 20) as usize].clone(), 0.7)
            } else {
                // Popular sites more often: the square of a uniform draw leans to the front.
                let i = (rng.unit().powi(2) * ordinary.len() as f64) as usize;
                ordinary[i].clone()
            };
            let rcode = if rng.unit() < 0.03 {
                "NXDOMAIN"
            } else {
                "NOERROR"
            };
            rows.push(Row {
                client: client.clone(),
                position: Position { time: t, seq: 0 },
                score: score(&name, p),
                name,
                rcode,
            });
        }
    }
    // Infected: two hosts share one generator's names an hour in; a third has its own later.
    for (client, start, generator) in [
        ("10.0.0.7", 3600.0, "a"),
        ("10.0.0.8", 3650.0, "a"),
        ("10.0.0.9", 9000.0, "b"),
    ] {
        for i in 0..40 {
            let name = format!("q{generator}{i}zkvwx.com");
            rows.push(Row {
                client: client.to_owned(),
                position: Position {
                    time: start + 7.0 * i as f64,
                    seq: 0,
                },
                score: score(&name, 0.97),
                name,
                rcode: "NXDOMAIN",
            });
        }
    }
    rows.sort_by(|a, b| a.position.time.total_cmp(&b.position.time));
    for (seq, row) in rows.iter_mut().enumerate() {
        row.position.seq = seq as i64;
    }
    rows
}

#[test]
fn clients_judged_apart_raise_the_alerts_of_one_pass_over_the_log() {
    let rows = network();
    let rules = HostRules::default();

    let mut live = HostTracker::new(rules);
    let mut expected = Vec::new();
    for row in &rows {
        let raised = live.observe(
            &row.client,
            row.position.time,
            &row.name,
            Some(row.rcode),
            &row.score,
        );
        expected.extend(raised.into_iter().map(|a| (row.position, a)));
    }

    let mut clients: Vec<(String, Vec<Lookup>)> = Vec::new();
    for row in &rows {
        let lookup = Lookup {
            position: row.position,
            name: &row.name,
            rcode: Some(row.rcode),
            score: Some(row.score.clone()),
        };
        match clients.iter_mut().find(|(c, _)| *c == row.client) {
            Some((_, lookups)) => lookups.push(lookup),
            None => clients.push((row.client.clone(), vec![lookup])),
        }
    }
    // Clients in another order than first seen, as a shuffle would hand them over.
    clients.reverse();
    let (apart, passes) = judge_apart(rules, None::<Arc<_>>, None, &clients, 10);

    let hosts: Vec<&str> = expected
        .iter()
        .filter_map(|(_, a)| match a {
            Alert::Host(h) => Some(h.client.as_str()),
            Alert::Campaign(_) => None,
        })
        .collect();
    let campaigns = expected
        .iter()
        .filter(|(_, a)| matches!(a, Alert::Campaign(_)))
        .count();
    assert!(
        hosts.contains(&"10.0.0.7") && hosts.contains(&"10.0.0.9"),
        "{hosts:?}"
    );
    assert!(campaigns >= 1, "the shared generator makes a campaign");
    let partners = expected.iter().any(|(_, a)| match a {
        Alert::Host(h) => !h.shares_names_with.is_empty(),
        Alert::Campaign(_) => false,
    });
    assert!(partners, "a host alert names the host it shares names with");
    // The first pass starts from nothing; popular names and the history it finds change who
    // looks benign, so a few more are needed before a pass gives back what it was given.
    assert!((2..10).contains(&passes), "settled after {passes} passes");
    assert_eq!(apart.len(), expected.len());
    for (a, e) in apart.iter().zip(&expected) {
        assert_eq!(a, e);
    }
}
