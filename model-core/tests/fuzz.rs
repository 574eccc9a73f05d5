//! Property tests of the functions every untrusted byte reaches first: the normaliser, the
//! extractor and the DNS log parsers. They must never panic, and what they return must hold
//! its invariants.
//!
//! A normal test run tries 256 inputs per property; a long fuzzing run sets the count:
//! `PROPTEST_CASES=3000000 cargo test --release -p model-core --test fuzz` (README, "Fuzzing").

use model_core::dnslog::{Format, Parsed, Parser, parse_time};
use model_core::extract::{candidates, domain_column};
use model_core::{AllowList, normalise};
use proptest::prelude::*;

/// Strings that look like what people paste: hosts, URLs, IPs, ports, user info, punycode,
/// with the characters that trip parsers mixed in.
fn hostish() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        "[a-z0-9]{1,12}",
        "[a-zA-Z0-9_-]{1,70}",
        "xn--[a-z0-9-]{1,20}",
        "\\PC{1,6}",
        "[0-9]{1,3}",
    ];
    let host = prop::collection::vec(label, 1..6).prop_map(|labels| labels.join("."));
    let scheme = prop_oneof![
        Just(""),
        Just("http://"),
        Just("https://"),
        Just("//"),
        Just("ftp://"),
        Just("mailto:")
    ];
    let userinfo = prop_oneof![Just(""), Just("user@"), Just("u:p@"), Just("@")];
    let port = prop_oneof![
        Just(String::new()),
        (0u32..99_999).prop_map(|p| format!(":{p}")),
        Just(":".to_owned())
    ];
    let tail = prop_oneof![
        Just(""),
        Just("/"),
        Just("/a/b?q=1#f"),
        Just("."),
        Just("..")
    ];
    let wrap = prop_oneof![
        Just(("", "")),
        Just(("[", "]")),
        Just(("\"", "\"")),
        Just(("<", ">")),
        Just((" ", "\t"))
    ];
    (scheme, userinfo, host, port, tail, wrap)
        .prop_map(|(s, u, h, p, t, (l, r))| format!("{l}{s}{u}{h}{p}{t}{r}"))
}

/// Any text at all: arbitrary Unicode, and arbitrary bytes read the way the tools read them.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        hostish(),
    ]
}

fn check_domain(input: &str) {
    let Ok(d) = normalise(input) else {
        return;
    };
    assert!(
        !d.name.is_empty() && d.name.len() <= 253,
        "{input:?} -> {d:?}"
    );
    assert!(
        d.name.split('.').all(|l| !l.is_empty() && l.len() <= 63),
        "{input:?} -> {d:?}"
    );
    assert!(
        d.name.ends_with(&d.registrable_domain),
        "{input:?} -> {d:?}"
    );
    assert!(
        d.registrable_domain.ends_with(&d.suffix),
        "{input:?} -> {d:?}"
    );
    assert!(!d.registrable_label().is_empty(), "{input:?} -> {d:?}");
    assert!(
        d.name.is_ascii() && d.name == d.name.to_ascii_lowercase(),
        "{input:?} -> {d:?}"
    );
    // Normalising a normalised name changes nothing.
    assert_eq!(normalise(&d.name).as_ref(), Ok(&d), "{input:?}");
}

proptest! {
    #[test]
    fn normalise_never_panics_and_keeps_its_invariants(input in any_text()) {
        check_domain(&input);
    }

    #[test]
    fn extractor_never_panics_and_returns_pieces_of_its_input(text in prop::collection::vec(any_text(), 0..8)) {
        let text = text.join("\n");
        let extracted = candidates(&text);
        let lines = text.lines().count();
        for c in &extracted.candidates {
            prop_assert!(text.contains(c.text), "{:?} not in {:?}", c.text, text);
            prop_assert!(c.line >= 1 && c.line <= lines);
            check_domain(c.text);
        }
        let _ = domain_column(&text);
    }

    #[test]
    fn allow_list_parsing_never_panics(text in prop::collection::vec(any_text(), 0..8)) {
        let text = text.join("\n");
        let (list, bad) = AllowList::parse(&text);
        prop_assert!(list.len() + bad.len() <= text.lines().count());
        prop_assert!(bad.iter().all(|b| b.line >= 1 && b.line <= text.lines().count()));
    }
}

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
