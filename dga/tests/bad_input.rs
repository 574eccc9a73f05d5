//! Bad input, table-driven, through every door: `predict`, `serve` and `monitor` each get the
//! same lines and must answer each with a score or a clear reason, dropping nothing.

mod common;

use std::io::Write;

use common::dga;
use serde_json::Value;

/// What a line must come out as: scored as this name, or refused with a message holding this.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Scored(&'static str),
    Error(&'static str),
}
use Expect::{Error, Scored};

/// Every line of the table, each one input line (the first starts with a byte-order mark).
fn table() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let long_name = format!("{}.com", vec!["a".repeat(50); 5].join("."));
    let long_label = format!("{}.com", "b".repeat(64));
    let mut cases: Vec<(&'static str, Vec<u8>, Expect)> = vec![
        (
            "byte-order mark",
            b"\xEF\xBB\xBFbom-first.com".to_vec(),
            Scored("bom-first.com"),
        ),
        ("empty line", b"".to_vec(), Error("empty input")),
        ("only spaces", b"   ".to_vec(), Error("empty input")),
        (
            "254+ characters",
            long_name.into_bytes(),
            Error("DNS allows at most 253"),
        ),
        (
            "label over 63",
            long_label.into_bytes(),
            Error("DNS allows at most 63"),
        ),
        (
            "NUL byte",
            b"exa\0mple.com".to_vec(),
            Error("'\\0' cannot appear"),
        ),
        (
            "control character",
            b"\x07bell.com".to_vec(),
            Error("'\\u{7}' cannot appear"),
        ),
        (
            "tab inside",
            b"a\tb.com".to_vec(),
            Error("'\\t' cannot appear"),
        ),
        (
            "invalid UTF-8",
            b"bad\xff\xfe.com".to_vec(),
            Error("not valid UTF-8"),
        ),
        (
            "lone continuation byte",
            b"\x80x.com".to_vec(),
            Error("not valid UTF-8"),
        ),
        (
            "CRLF ending",
            b"crlf-name.com\r".to_vec(),
            Scored("crlf-name.com"),
        ),
        ("IPv4", b"192.168.1.1".to_vec(), Error("IP address")),
        (
            "IPv4 with port",
            b"192.168.1.2:8080".to_vec(),
            Error("IP address"),
        ),
        ("IPv4 short form", b"1.2.3".to_vec(), Error("IP address")),
        ("IPv4 in hex", b"0x7f.1".to_vec(), Error("IP address")),
        ("IPv6", b"2001:db8::1".to_vec(), Error("IP address")),
        (
            "IPv6 bracketed with port",
            b"[2001:db8::2]:443".to_vec(),
            Error("IP address"),
        ),
        (
            "IPv6 in a URL",
            b"http://[::1]:8080/x".to_vec(),
            Error("IP address"),
        ),
        (
            "URL with userinfo, port, path, query, fragment",
            b"https://user:pass@evil-example.com:8443/path?q=1#frag".to_vec(),
            Scored("evil-example.com"),
        ),
        (
            "URL with another scheme",
            b"ftp://files.example.org/pub".to_vec(),
            Scored("files.example.org"),
        ),
        (
            "scheme-relative URL",
            b"//relative.example.net".to_vec(),
            Scored("relative.example.net"),
        ),
        (
            "trailing slash",
            b"slash.example.com/".to_vec(),
            Scored("slash.example.com"),
        ),
        (
            "port out of range",
            b"example.com:99999".to_vec(),
            Error("invalid port number"),
        ),
        (
            "scheme and nothing",
            b"http://".to_vec(),
            Error("empty input"),
        ),
        (
            "mailto",
            b"mailto:bob@mail-host.com".to_vec(),
            Scored("mail-host.com"),
        ),
        (
            "percent-encoded",
            b"%65xample-pct.com".to_vec(),
            Scored("example-pct.com"),
        ),
        (
            "trailing dot",
            b"dot.example.com.".to_vec(),
            Scored("dot.example.com"),
        ),
        (
            "upper case",
            b"UPPER.Example.COM".to_vec(),
            Scored("upper.example.com"),
        ),
        (
            "surrounding tabs",
            b"\t\ttabs.com\t".to_vec(),
            Scored("tabs.com"),
        ),
        (
            "unicode name",
            "münchen.de".as_bytes().to_vec(),
            Scored("xn--mnchen-3ya.de"),
        ),
        (
            "emoji",
            "😀.com".as_bytes().to_vec(),
            Scored("xn--e28h.com"),
        ),
        (
            "punycode strict IDNA rejects",
            b"xn----7sbbpj7ruwnffhk.me".to_vec(),
            Scored("xn----7sbbpj7ruwnffhk.me"),
        ),
        (
            "underscore",
            b"under_score.example.com".to_vec(),
            Scored("under_score.example.com"),
        ),
        (
            "leading hyphen",
            b"-leading.com".to_vec(),
            Scored("-leading.com"),
        ),
        (
            "unknown top-level domain",
            b"example.bit".to_vec(),
            Scored("example.bit"),
        ),
        ("single label", b"localhost".to_vec(), Error("single label")),
        (
            "bare TLD",
            b"com".to_vec(),
            Error("top-level public suffix"),
        ),
        (
            "bare public suffix",
            b"co.uk".to_vec(),
            Error("top-level public suffix"),
        ),
        ("double dot", b"a..b.com".to_vec(), Error("empty label")),
        ("leading dot", b".lead.com".to_vec(), Error("empty label")),
        (
            "space inside",
            b"exa mple.com".to_vec(),
            Error("' ' cannot appear"),
        ),
        (
            "wildcard",
            b"*.wild.com".to_vec(),
            Error("'*' cannot appear"),
        ),
        (
            "spreadsheet formula",
            b"=cmd|' /C calc'!A0".to_vec(),
            Error("cannot appear"),
        ),
    ];
    let mut huge = vec![b'x'; 10 * 1024 * 1024];
    huge.extend_from_slice(b".com");
    cases.push(("10 MB line", huge, Error("only its first")));
    cases.push((
        "after the huge line",
        b"after-huge.com".to_vec(),
        Scored("after-huge.com"),
    ));
    cases
}

fn joined(cases: &[(&str, Vec<u8>, Expect)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (_, line, _) in cases {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    bytes
}

/// Checks one answer (`domain` when scored, `error` when not) against its case.
fn check(door: &str, case: &str, expect: Expect, domain: &str, error: &str) {
    match expect {
        Scored(name) => assert!(
            domain == name && error.is_empty(),
            "{door}, {case}: expected {name} scored, got domain `{domain}` error `{error}`"
        ),
        Error(part) => assert!(
            domain.is_empty() && error.contains(part),
            "{door}, {case}: expected an error with `{part}`, got domain `{domain}` error `{error}`"
        ),
    }
}

#[test]
fn predict_answers_every_line() {
    let cases = table();
    assert!(cases.len() >= 40);
    let out = dga(&["predict"], &joined(&cases));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), cases.len(), "one row per line");
    for ((case, _, expect), row) in cases.iter().zip(&rows) {
        // Cells a spreadsheet would run as formulas come quoted (`'-leading.com`).
        let domain = row[1].strip_prefix('\'').unwrap_or(&row[1]);
        check("predict", case, *expect, domain, &row[6]);
    }
}

#[test]
fn serve_answers_every_line() {
    let cases = table();
    let server = common::start(&[]);
    let (code, body) = common::send(
        "POST",
        &format!("{}/v1/score", server.base),
        &[("Content-Type", "text/plain")],
        Some(&joined(&cases)),
    );
    assert_eq!(code, 200, "{body}");
    let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(rows.len(), cases.len(), "one answer per line");
    for ((case, _, expect), row) in cases.iter().zip(&rows) {
        let text = |key: &str| row[key].as_str().unwrap_or("").to_owned();
        check("serve", case, *expect, &text("domain"), &text("error"));
    }
}

#[test]
fn monitor_reports_every_line_it_cannot_score() {
    let cases = table();
    let dir = std::env::temp_dir().join(format!("dga-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("names.log");
    std::fs::write(&log, joined(&cases)).unwrap();
    let out = dga(
        &[
            "monitor",
            log.to_str().unwrap(),
            "--format",
            "plain",
            "--from-start",
            "--no-follow",
            "--summary-s",
            "0",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Blank lines are not queries in a log; every other refusal is said, with its reason.
    let blank = |line: &[u8]| line.iter().all(u8::is_ascii_whitespace);
    // Names that are no DGA candidate (a single label) are not errors of the log: the summary
    // counts them by reason instead.
    let set_aside = |e: &Expect| matches!(e, Error("single label"));
    for (case, line, expect) in &cases {
        if let Error(part) = expect
            && !blank(line)
            && !set_aside(expect)
        {
            assert!(
                stderr.contains(part),
                "monitor, {case}: no `{part}` in\n{stderr}"
            );
        }
    }
    let set_aside_count = cases.iter().filter(|(_, _, e)| set_aside(e)).count();
    assert!(
        stderr.contains(&format!("{set_aside_count} single_label")),
        "{stderr}"
    );
    let errors = cases
        .iter()
        .filter(|(_, l, e)| matches!(e, Error(_)) && !blank(l) && !set_aside(e))
        .count();
    let scored_lines = cases
        .iter()
        .filter(|(_, _, e)| matches!(e, Scored(_)))
        .count();
    let summary = stderr.lines().last().unwrap();
    assert!(
        summary.contains(&format!("{} lines", cases.len())),
        "{summary}"
    );
    let counted: u64 = ["not names", "lines not understood"]
        .iter()
        .map(|what| {
            let before = summary.split(&format!(" {what}")).next().unwrap();
            before.rsplit(' ').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(counted as usize, errors, "{summary}");
    assert!(
        summary.contains(&format!("{scored_lines} scored")) || errors > 0,
        "{summary}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_that_break_midway_keep_what_was_read() {
    let dir = std::env::temp_dir().join(format!("dga-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..20_000 {
        writeln!(gz, "name{i}.example.com").unwrap();
    }
    let bytes = gz.finish().unwrap();
    let truncated = dir.join("truncated.txt.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = dga(&["predict", truncated.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("input ends early"), "{stderr}");
    let rows = csv::Reader::from_reader(out.stdout.as_slice())
        .records()
        .count();
    assert!(rows > 1000, "{rows} rows kept of a file cut in half");

    let out = dga(&["predict"], b"id,host\n1,example.com\n");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no `domain` column"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn serve_refuses_bodies_of_the_wrong_shape_with_reasons() {
    let server = common::start(&["--max-body", "100000"]);
    let b = &server.base;
    let json = [("Content-Type", "application/json")];
    // (what, path, headers, body, status, words the reason must hold)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        Vec<u8>,
        u16,
        &'a str,
    );
    let cases: [Case; 8] = [
        (
            "empty JSON body",
            "/v1/models/dga:predict",
            &json,
            vec![],
            400,
            "empty body",
        ),
        (
            "empty text body",
            "/v1/score",
            &[],
            vec![],
            400,
            "empty body",
        ),
        (
            "JSON of the wrong shape",
            "/v1/models/dga:predict",
            &json,
            b"[\"a.com\"]".to_vec(),
            400,
            "instances",
        ),
        (
            "instances not a list",
            "/v1/models/dga:predict",
            &json,
            b"{\"instances\": \"a.com\"}".to_vec(),
            400,
            "lists",
        ),
        (
            "url_string missing",
            "/get_predictions",
            &json,
            b"{\"url\": \"a.com\"}".to_vec(),
            400,
            "url_string",
        ),
        (
            "score JSON of the wrong shape",
            "/v1/score",
            &json,
            b"{\"names\": 1}".to_vec(),
            400,
            "list of names",
        ),
        (
            "truncated JSON",
            "/v1/score",
            &json,
            b"[\"a.com\", ".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "huge body",
            "/v1/score",
            &[],
            vec![b'a'; 300_000],
            413,
            "at most 100000",
        ),
    ];
    for (case, path, headers, body, status, part) in cases {
        let (code, text) = common::send("POST", &format!("{b}{path}"), headers, Some(&body));
        assert_eq!(code, status, "{case}: {text}");
        assert!(text.contains(part), "{case}: {text}");
    }
}
