//! The real-traffic benchmark on the development logs beside the repository
//! (`../shared/data/dnslogs/`): every line of every log is understood, no real host is alerted,
//! and an infected host added to a real log is alerted within 20 lookups for every kind of
//! generator (the aims: docs/monitoring.md).

mod common;

use std::process::Command;

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
    let cells = |line: &str| -> Vec<String> {
        line.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
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
