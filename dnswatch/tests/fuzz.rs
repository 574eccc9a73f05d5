//! Property tests of the DNS log parsers, which every untrusted byte of a log reaches first:
//! they must never panic, and what they return must hold its invariants.
//!
//! A normal test run tries 256 inputs per property; a long fuzzing run sets the count:
//! `PROPTEST_CASES=3000000 cargo test --release -p dnswatch --test fuzz` (README, "Fuzzing").

use dnswatch::dnslog::{Format, Parsed, Parser, parse_time};
use proptest::prelude::*;

#[path = "../../model-core/tests/strategies.rs"]
mod strategies;
use strategies::{any_text, check_domain, hostish};

/// Log-like lines: real shapes of every format with the fields swapped for arbitrary text.
fn loglike() -> impl Strategy<Value = String> {
    let word = prop_oneof!["[a-zA-Z0-9.:#@_-]{0,20}", "\\PC{0,8}", hostish()];
    (0usize..8, prop::collection::vec(word, 0..6)).prop_map(|(shape, words)| {
        let w = |i: usize| words.get(i).cloned().unwrap_or_default();
        match shape {
            0 => format!("#fields\tts\tid.orig_h\tquery\trcode_name\n{}\t{}\t{}", w(0), w(1), w(2)),
            1 => format!("{{\"event_type\":\"dns\",\"dns\":{{\"type\":\"{}\",\"rrname\":\"{}\",\"queries\":[{}]}}}}", w(0), w(1), w(2)),
            2 => format!("{} dnsmasq[1]: {} {} is {}", w(0), w(1), w(2), w(3)),
            3 => format!("{} client {} ({}): query: {} IN A", w(0), w(1), w(2), w(3)),
            4 => format!("[INFO] {}:53 - 1 \"A IN {} udp\" {}", w(0), w(1), w(2)),
            5 => format!("[{}] unbound[1:0] info: {} {} A IN {}", w(0), w(1), w(2), w(3)),
            6 => format!("{{\"ts\":\"{}\",\"query\":\"{}\"}}", w(0), w(1)),
            _ => words.join(" "),
        }
    })
}

proptest! {
    #[test]
    fn log_parsers_never_panic_and_queries_have_names(
        lines in prop::collection::vec(prop_oneof![loglike(), any_text()], 0..10),
        format in 0usize..9,
    ) {
        let formats = [Format::Auto, Format::Zeek, Format::Json, Format::Suricata, Format::Dnsmasq,
            Format::Bind, Format::Coredns, Format::Unbound, Format::Plain];
        let mut parser = Parser::new(formats[format], None);
        for text in lines.iter().flat_map(|l| l.split('\n')) {
            match parser.parse(text) {
                Parsed::Query(q) => {
                    prop_assert!(!q.name.is_empty());
                    check_domain(&q.name);
                    if let Some(ts) = &q.timestamp {
                        prop_assert_eq!(q.time, parse_time(ts).or(q.time));
                    }
                }
                Parsed::Answer(a) => prop_assert!(!a.rcode.is_empty()),
                Parsed::Unparsed(why) => prop_assert!(!why.is_empty()),
                Parsed::Skip => {}
            }
        }
    }

    #[test]
    fn timestamps_never_panic(text in any_text()) {
        if let Some(t) = parse_time(&text) {
            prop_assert!(t.is_finite());
        }
    }
}
