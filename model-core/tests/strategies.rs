//! Inputs the property tests share (model-core's and dnswatch's): what people paste and
//! arbitrary text, and the invariants every normalised domain holds.

#![allow(dead_code)]

use model_core::normalise;
use proptest::prelude::*;

/// Strings that look like what people paste: hosts, URLs, IPs, ports, user info, punycode,
/// with the characters that trip parsers mixed in.
pub fn hostish() -> impl Strategy<Value = String> {
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
pub fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        hostish(),
    ]
}

pub fn check_domain(input: &str) {
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
