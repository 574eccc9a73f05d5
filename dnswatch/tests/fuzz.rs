//! Property tests of the DNS log and capture parsers, which every untrusted byte of a log or a
//! capture reaches first: they must never panic, and what they return must hold its invariants.
//!
//! A normal test run tries 256 inputs per property; a long fuzzing run sets the count:
//! `PROPTEST_CASES=3000000 cargo test --release -p dnswatch --test fuzz` (README, "Fuzzing").

use std::io::Read;
use std::sync::OnceLock;

use dnswatch::capture::{Content, read_capture, sniff};
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

/// The first 64 KiB of a real capture, whose bytes the capture properties damage.
fn real_capture() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/infected/pcap/bedep-2015-10-12-angler.pcap.gz");
        let mut bytes = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).expect("capture present"))
            .take(1 << 16)
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    })
}

/// Capture headers (pcap of each byte order and link type, pcapng) before arbitrary bytes.
fn capturelike() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        Just(vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0
        ]),
        Just(vec![
            0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
        ]),
        Just(vec![0x0a, 0x0d, 0x0d, 0x0a]),
    ];
    let link = prop::sample::select(vec![0u32, 1, 101, 108, 113, 228, 229, 276, 147]);
    (header, link, prop::collection::vec(any::<u8>(), 0..600)).prop_map(|(mut h, link, tail)| {
        if h.len() == 20 {
            let bytes = if h[0] == 0xd4 {
                link.to_le_bytes()
            } else {
                link.to_be_bytes()
            };
            h.extend_from_slice(&bytes);
        }
        h.extend_from_slice(&tail);
        h
    })
}

proptest! {
    #[test]
    fn capture_reader_never_panics_on_arbitrary_bytes(bytes in prop_oneof![
        capturelike(),
        prop::collection::vec(any::<u8>(), 0..200),
    ]) {
        let _ = sniff(&bytes);
        let mut names = Vec::new();
        if let Ok(summary) = read_capture(bytes.as_slice(), |p| names.push(p)) {
            prop_assert_eq!(summary.queries as usize, names.len());
        }
    }

    #[test]
    fn damaged_real_captures_keep_what_they_can_and_never_panic(
        flips in prop::collection::vec((0usize..1 << 16, any::<u8>()), 1..20),
        cut in 24usize..1 << 16,
    ) {
        let mut bytes = real_capture().to_vec();
        // Past the file header, which says what the file is.
        for (at, byte) in flips {
            let at = 24 + at % (bytes.len() - 24);
            bytes[at] = byte;
        }
        bytes.truncate(cut);
        prop_assert_eq!(sniff(&bytes), Content::Pcap);
        let mut events = Vec::new();
        if let Ok(summary) = read_capture(bytes.as_slice(), |p| events.push(p)) {
            prop_assert_eq!(summary.queries as usize, events.len());
            for event in events {
                let Parsed::Query(query) = event else { panic!("only queries come out") };
                prop_assert!(query.time.is_some() && query.client.is_some());
            }
        }
    }
}
