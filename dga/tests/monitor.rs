//! `dga monitor` on a real log file that grows, rotates and outlives a restart, and on a
//! stdin pipeline.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn monitor(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dga"));
    cmd.arg("monitor")
        .args(args)
        .current_dir(common::repo_root());
    cmd
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn alerts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until the alerts file holds `count` alerts (or fails after a generous while).
fn wait_for(path: &Path, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let got = alerts(path);
        if got.len() >= count || started.elapsed() > Duration::from_secs(60) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const ZEEK_HEADER: &str =
    "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tquery\tqtype_name\n";

/// `dga monitor` following `args`, writing name alerts to `out`, polling every 50 ms, without
/// summaries.
fn watch(args: &[&str], out: &Path) -> Running {
    let mut args = args.to_vec();
    args.extend([
        "--alerts",
        out.to_str().unwrap(),
        "--poll-ms",
        "50",
        "--summary-s",
        "0",
        "--alert-on",
        "names",
    ]);
    Running(monitor(&args).stderr(Stdio::null()).spawn().unwrap())
}

fn zeek(ts: &str, client: &str, name: &str) -> String {
    format!("{ts}\tC{ts}\t{client}\t5353\t{name}\tA\n")
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn follows_a_growing_rotating_log_and_resumes_after_a_restart() {
    let dir = std::env::temp_dir().join(format!("dga-monitor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (log, state, out) = (
        dir.join("dns.log"),
        dir.join("state.json"),
        dir.join("alerts.jsonl"),
    );
    append(&log, ZEEK_HEADER);
    let start = || {
        watch(
            &[
                log.to_str().unwrap(),
                "--from-start",
                "--state",
                state.to_str().unwrap(),
            ],
            &out,
        )
    };
    let running = start();
    // The same DGA name queried three times alerts once; benign and allowed names never.
    for ts in ["1.0", "2.0", "3.0"] {
        append(&log, &zeek(ts, "10.0.0.5", "xjkd8f2hqzpv.com"));
    }
    append(&log, &zeek("4.0", "10.0.0.6", "www.google.com"));
    append(&log, &zeek("5.0", "10.0.0.6", "qz8x7wvkt93.herokuapp.com"));
    let got = wait_for(&out, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["query"], "xjkd8f2hqzpv.com");
    assert_eq!(got[0]["client"], "10.0.0.5");
    assert_eq!(got[0]["ts"], "1.0");
    assert_eq!(got[0]["risk"], "high");
    assert_eq!(got[0]["registrable_domain"], "xjkd8f2hqzpv.com");

    // Rotation: the new file is read from its start.
    std::fs::rename(&log, dir.join("dns.log.1")).unwrap();
    append(&log, ZEEK_HEADER);
    append(&log, &zeek("6.0", "10.0.0.7", "qwpzkxjvbtr.net"));
    let got = wait_for(&out, 2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1]["query"], "qwpzkxjvbtr.net");
    drop(running);

    // Written while stopped: a restart resumes where it stopped, without repeating alerts.
    append(&log, &zeek("7.0", "10.0.0.8", "zzkqxv7w2pl.org"));
    let _running = start();
    let got = wait_for(&out, 3);
    let queries: Vec<&str> = got.iter().map(|a| a["query"].as_str().unwrap()).collect();
    assert_eq!(
        queries,
        ["xjkd8f2hqzpv.com", "qwpzkxjvbtr.net", "zzkqxv7w2pl.org"]
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(alerts(&out).len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_log_that_does_not_exist_yet_is_waited_for_not_refused() {
    // The regression: telling captures from logs by their first bytes opened every input up
    // front, so a service started before Zeek wrote its dns.log exited.
    let dir = std::env::temp_dir().join(format!("dga-monitor-later-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (log, out) = (dir.join("dns.log"), dir.join("alerts.jsonl"));
    let running = watch(&[log.to_str().unwrap()], &out);
    std::thread::sleep(Duration::from_millis(500));
    append(&log, ZEEK_HEADER);
    append(&log, &zeek("1.0", "10.0.0.5", "xjkd8f2hqzpv.com"));
    let got = wait_for(&out, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["query"], "xjkd8f2hqzpv.com");
    drop(running);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_follow_alone_reads_the_whole_file() {
    // The regression: without --from-start a file read once started at its end, so
    // `dga monitor --no-follow today.log` read nothing and said "0 lines".
    let dir = std::env::temp_dir().join(format!("dga-monitor-once-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("dns.log");
    append(&log, ZEEK_HEADER);
    append(&log, &zeek("1.0", "10.0.0.5", "xjkd8f2hqzpv.com"));
    append(&log, &zeek("2.0", "10.0.0.6", "wikipedia.org"));
    let out = monitor(&[log.to_str().unwrap(), "--no-follow", "--alert-on", "names"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let alerts: Vec<Value> = (stdout.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["query"], "xjkd8f2hqzpv.com");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("2 queries"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reads_a_dnsmasq_pipeline_on_stdin_and_summarises() {
    let log = "Nov 23 01:02:03 dnsmasq[612]: query[A] xjkd8f2hqzpv.com from 192.168.1.5\n\
               Nov 23 01:02:03 dnsmasq[612]: forwarded xjkd8f2hqzpv.com to 1.1.1.1\n\
               Nov 23 01:02:04 dnsmasq[612]: query[AAAA] xjkd8f2hqzpv.com from 192.168.1.5\n\
               Nov 23 01:02:05 dnsmasq[612]: query[A] wikipedia.org from 192.168.1.6\n\
               Nov 23 01:02:06 dnsmasq[612]: query[PTR] 5.1.168.192.in-addr.arpa from 192.168.1.6\n";
    let (alerts, stderr) = monitor_stdin(&["--summary-s", "0", "--alert-on", "names"], log);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["client"], "192.168.1.5");
    assert_eq!(alerts[0]["ts"], "Nov 23 01:02:03");
    assert!(
        stderr.contains("5 lines")
            && stderr.contains("4 queries")
            && stderr.contains("1 from cache"),
        "{stderr}"
    );
}

/// Runs `monitor` on stdin with these arguments and returns its alerts and stderr.
fn monitor_stdin(args: &[&str], log: &str) -> (Vec<Value>, String) {
    let mut child = monitor(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(log.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (alerts, String::from_utf8(out.stderr).unwrap())
}

#[test]
fn a_host_looking_up_generated_names_that_fail_is_alerted_once_with_its_names() {
    let mut log = String::from("#separator \\x09\n#fields\tts\tid.orig_h\tquery\trcode_name\n");
    // A benign host with one odd-looking name, and platform and special-use names.
    for (i, name) in [
        "www.google.com",
        "d2pp80vsjn2e6y.cloudfront.net",
        "_ldap._tcp.dc._msdcs.corp.example.com",
        "5.1.168.192.in-addr.arpa",
        "wpad.corp.lan",
        "xjkd8f2hqzpv.com",
    ]
    .iter()
    .enumerate()
    {
        log.push_str(&format!("{}\t10.0.0.6\t{name}\tNOERROR\n", 1000 + i));
    }
    // An infected host: random names, every lookup failing, one every 4 seconds.
    for (i, name) in [
        "qwpzkxjvbtr.net",
        "zzkqxv7w2pl.org",
        "hjxqvwkzpt.com",
        "pqxzvkwjrt.info",
        "vkqzxpwjht.biz",
        "xqzvjwkpht.net",
        "kzqxvwjphr.com",
    ]
    .iter()
    .enumerate()
    {
        log.push_str(&format!("{}\t10.0.0.5\t{name}\tNXDOMAIN\n", 2000 + 4 * i));
    }
    let (alerts, stderr) = monitor_stdin(&["--summary-s", "0"], &log);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["kind"], "host");
    assert_eq!(alert["client"], "10.0.0.5");
    assert!(
        alert["evidence"].as_f64().unwrap() >= alert["threshold"].as_f64().unwrap(),
        "{alert}"
    );
    assert!(
        alert["reason"].as_str().unwrap().contains("failed"),
        "{alert}"
    );
    let names: Vec<&str> = alert["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["query"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"qwpzkxjvbtr.net"), "{names:?}");
    assert!(alert["names"][0]["rcode"] == "NXDOMAIN", "{alert}");
    assert!(
        stderr.contains("1 host alerts")
            && stderr.contains("1 special_use")
            && stderr.contains("1 service")
            && stderr.contains("1 unknown_tld"),
        "{stderr}"
    );

    // Per-name alerts carry the answer's code and the suffix rule; the platform's label is not
    // alerted, its registrable domain is scored.
    let (alerts, _) = monitor_stdin(&["--summary-s", "0", "--alert-on", "names"], &log);
    assert!(alerts.iter().all(|a| a["kind"] == "name"), "{alerts:?}");
    assert!(
        alerts
            .iter()
            .all(|a| a["registrable_domain"] != "d2pp80vsjn2e6y.cloudfront.net")
    );
    let failed = alerts
        .iter()
        .find(|a| a["query"] == "qwpzkxjvbtr.net")
        .unwrap();
    assert_eq!(failed["rcode"], "NXDOMAIN");
    assert_eq!(failed["rule"], "registry");
}
