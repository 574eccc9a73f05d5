//! The real-traffic benchmarks on the data beside the repository: the development logs
//! (`../shared/data/dnslogs/`: every line understood, no real host alerted, an infected host
//! added to a real log alerted within 20 lookups for every kind of generator), the captures of
//! infected machines (`../shared/data/infected/`: the DGA machines alerted, the others not) and
//! a simulated half hour of a busy network (no benign host alerted). The aims:
//! docs/monitoring.md.

mod common;

use std::io::Read;
use std::process::Command;

/// The cells of a markdown table row.
fn cells(line: &str) -> Vec<String> {
    line.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_owned())
        .collect()
}

#[test]
fn real_logs_raise_no_host_alert_and_every_infected_host_is_caught() {
    let root = common::repo_root();
    let logs = root.join("../shared/data/dnslogs");
    let data = root.join("../shared/data/domains.csv.gz");
    if !logs.is_dir() || !data.exists() {
        eprintln!("skipping: {} is not there", logs.display());
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dga"))
        .args(["bench-logs", "--logs"])
        .arg(&logs)
        .arg("--data")
        .arg(&data)
        .current_dir(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let real: Vec<Vec<String>> = stdout
        .lines()
        .filter(|l| l.contains(".gz |"))
        .map(cells)
        .collect();
    assert!(real.len() >= 10, "{stdout}");
    for row in &real {
        assert_ne!(row[1], "plain", "{row:?} read as plain names");
        assert_eq!(row[5], "0", "a real host was alerted: {row:?}");
        assert_eq!(row[11], "0", "lines not understood: {row:?}");
    }
    let kinds: Vec<Vec<String>> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("## An infected host"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| kind"))
        .map(cells)
        .collect();
    assert_eq!(kinds.len(), 7, "{stdout}");
    for row in &kinds {
        let after: usize = row[2].parse().unwrap_or(usize::MAX);
        assert!(after <= 20, "{row:?}");
        assert_eq!(row[4], "0", "{row:?}");
    }
}

#[test]
fn infected_captures_alert_the_dga_machines_and_no_other() {
    let root = common::repo_root();
    let infected = root.join("../shared/data/infected");
    if !infected.is_dir() {
        eprintln!("skipping: {} is not there", infected.display());
        return;
    }
    // Each capture's machine, and whether it runs a DGA (the aims).
    for (capture, client, dga) in [
        ("bedep-mta-2015-10-12-angler", "192.168.122.31", true),
        ("ramnit-mta-2017-12-28-seamless-rig", "10.12.28.102", true),
        ("nymaim-mta-2017-12-06-1of2", "", false),
        ("hancitor-mta-2017-12-18-malspam", "", false),
        ("emotet-spambot-mta-2017-10-10", "", false),
        ("benign-browsing-airfrance-2019-05-01", "", false),
    ] {
        let path = infected.join(format!("{capture}.from-pcap.log.gz"));
        let mut log = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
            .read_to_end(&mut log)
            .unwrap();
        let out = common::dga(&["monitor", "--summary-s", "0"], &log);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let alerted: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|a| a["client"].as_str().unwrap_or("campaign").to_owned())
            .collect();
        if dga {
            assert_eq!(alerted, [client], "{capture}");
        } else {
            assert!(alerted.is_empty(), "{capture}: {alerted:?}");
        }
    }
}

/// `dga` run on a file by path (from outside the repository), its stdout and stderr.
fn dga_on(args: &[&str], file: &std::path::Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dga"))
        .args(args)
        .arg(file)
        .current_dir(common::outside_repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn capture_files_alert_as_their_zeek_logs_do() {
    let infected = common::repo_root().join("../shared/data/infected");
    if !infected.is_dir() {
        eprintln!("skipping: {} is not there", infected.display());
        return;
    }
    let decompressed = common::outside_repo().join("bedep.pcap");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(infected.join("pcap/bedep-2015-10-12-angler.pcap.gz")).unwrap(),
    )
    .read_to_end(&mut bytes)
    .unwrap();
    std::fs::write(&decompressed, &bytes).unwrap();
    for (capture, log, client) in [
        (
            decompressed.clone(),
            "bedep-mta-2015-10-12-angler.from-pcap.log.gz",
            "192.168.122.31",
        ),
        (
            infected.join("pcap/ramnit-2017-12-28-seamless-rig.pcap.gz"),
            "ramnit-mta-2017-12-28-seamless-rig.from-pcap.log.gz",
            "10.12.28.102",
        ),
    ] {
        let monitor = ["monitor", "--summary-s", "0", "--alert-on", "both"];
        let without_source = |stdout: &str| -> Vec<serde_json::Value> {
            stdout
                .lines()
                .map(|l| {
                    let mut alert: serde_json::Value = serde_json::from_str(l).unwrap();
                    alert.as_object_mut().unwrap().remove("source");
                    alert
                })
                .collect()
        };
        let (from_capture, stderr) = dga_on(&monitor, &capture);
        let (from_log, _) = dga_on(&monitor, &infected.join(log));
        let from_capture = without_source(&from_capture);
        assert_eq!(
            from_capture,
            without_source(&from_log),
            "{}",
            capture.display()
        );
        let hosts: Vec<&str> = from_capture
            .iter()
            .filter(|a| a["kind"] == "host")
            .map(|a| a["client"].as_str().unwrap())
            .collect();
        assert_eq!(hosts, [client], "{stderr}");
        assert!(stderr.contains("pcap capture: "), "{stderr}");
        // `predict` reads the capture's names, each once.
        let (verdicts, _) = dga_on(&["predict"], &capture);
        let names: Vec<&str> = verdicts
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap())
            .collect();
        let distinct: std::collections::HashSet<&&str> = names.iter().collect();
        assert!(
            names.len() > 20 && distinct.len() == names.len(),
            "{verdicts}"
        );
    }
}

#[test]
fn ecs_alerts_carry_the_field_set_siems_expect() {
    let capture =
        common::repo_root().join("../shared/data/infected/pcap/bedep-2015-10-12-angler.pcap.gz");
    if !capture.exists() {
        eprintln!("skipping: {} is not there", capture.display());
        return;
    }
    let args = [
        "monitor",
        "--summary-s",
        "0",
        "--alert-on",
        "both",
        "--alert-format",
        "ecs",
    ];
    let (stdout, _) = dga_on(&args, &capture);
    let docs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: std::collections::HashSet<&str> = docs
        .iter()
        .filter_map(|d| d["dga"]["kind"].as_str())
        .collect();
    assert!(kinds.contains("host") && kinds.contains("name"), "{stdout}");
    let iso = |s: &str| {
        s.len() >= 20 && s.ends_with('Z') && s.as_bytes()[4] == b'-' && s.as_bytes()[10] == b'T'
    };
    for doc in &docs {
        let text = doc.to_string();
        assert!(doc["@timestamp"].as_str().is_some_and(iso), "{text}");
        assert!(
            doc["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2015-10-12T"),
            "{text}"
        );
        assert_eq!(doc["event"]["kind"], "alert", "{text}");
        assert_eq!(
            doc["event"]["category"],
            serde_json::json!(["network", "threat"]),
            "{text}"
        );
        assert_eq!(doc["event"]["module"], "dga", "{text}");
        assert!(
            doc["event"]["dataset"]
                .as_str()
                .unwrap()
                .starts_with("dga."),
            "{text}"
        );
        let ip = doc["source"]["ip"].as_str().unwrap();
        assert_eq!(
            ip.parse::<std::net::IpAddr>().unwrap().to_string(),
            "192.168.122.31"
        );
        let question = &doc["dns"]["question"];
        assert!(
            question["name"].as_str().is_some_and(|n| n.contains('.')),
            "{text}"
        );
        assert!(question["registered_domain"].as_str().is_some(), "{text}");
        assert!(doc["dns"]["response_code"].as_str().is_some(), "{text}");
        assert!(doc["rule"]["name"].as_str().is_some(), "{text}");
        assert!(
            doc["rule"]["reference"]
                .as_str()
                .unwrap()
                .starts_with("https://"),
            "{text}"
        );
        assert_eq!(doc["threat"]["framework"], "MITRE ATT&CK", "{text}");
        assert_eq!(
            doc["threat"]["technique"]["subtechnique"]["id"][0],
            "T1568.002"
        );
        let verdict = &doc["dga"];
        match verdict["kind"].as_str().unwrap() {
            "host" => {
                assert!(
                    verdict["evidence"].as_f64().unwrap() >= verdict["threshold"].as_f64().unwrap()
                );
                assert!(!verdict["names"].as_array().unwrap().is_empty());
            }
            _ => assert!(verdict["p_dga"].as_f64().unwrap() >= 0.8, "{text}"),
        }
    }
}

#[test]
fn binary_files_are_refused_instead_of_read_as_lines_of_garbage() {
    // The regression: a capture or any binary file read as text gave 1,405 "queries".
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dga"));
    for command in [&["monitor", "--summary-s", "0"][..], &["predict"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_dga"))
            .args(command)
            .arg(&binary)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && out.stdout.is_empty(),
            "{command:?}: {stderr}"
        );
        assert!(
            stderr.contains("is a binary file, neither text"),
            "{stderr}"
        );
    }
}

#[test]
fn a_busy_simulated_network_raises_no_benign_alert_and_catches_every_infection() {
    let root = common::repo_root();
    let shared = root.join("../shared/data");
    if !shared.join("fqdn").is_dir() || !shared.join("infected").is_dir() {
        eprintln!("skipping: {} is not there", shared.display());
        return;
    }
    // Half an hour at the day's peak: 2,000 ordinary clients and 20 busy ones up to 300
    // queries/s (the full day is `dga bench-network`). Run from the repository root, whose
    // `../shared/data` the benchmark reads by default, as maintainers run it.
    let out = Command::new(env!("CARGO_BIN_EXE_dga"))
        .args(["bench-network", "--hours", "0.5", "--start-hour", "13.75"])
        .current_dir(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout
        .lines()
        .skip_while(|l| !l.starts_with("| queries"))
        .nth(2)
        .map(cells)
        .unwrap_or_default();
    assert_eq!(
        summary.get(3).map(String::as_str),
        Some("0 / 0"),
        "{stdout}"
    );
    assert_eq!(summary.get(5).map(String::as_str), Some("0"), "{stdout}");
    let infections: Vec<Vec<String>> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("## Infections"))
        .filter(|l| l.starts_with("| ") && !l.starts_with("| infection"))
        .map(cells)
        .collect();
    assert_eq!(infections.len(), 13, "{stdout}");
    for row in &infections {
        if row[2] == "none" {
            assert_eq!(row[3], "no", "{row:?}");
            continue;
        }
        assert_eq!(row[3], "host", "{row:?}");
        let within = if row[0].ends_with("wordlist") { 50 } else { 20 };
        let lookups: usize = row[4].parse().unwrap_or(usize::MAX);
        assert!(lookups <= within, "{row:?}");
    }
}
