//! The command line as a user meets it: clear errors for missing or damaged files, and the
//! shipped weights scoring a list end to end.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn trainer(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("trainer starts");
    if let Some(text) = stdin {
        // The trainer may exit (on a bad weights file) before reading its input.
        let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("trainer finishes")
}

fn repo_root() -> PathBuf {
    // `cargo test` sets the manifest dir at run time; prefer it to the compiled-in one, which
    // names another clone when a build folder is shared between clones.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let manifest = manifest.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().unwrap().to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dga-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn missing_data_says_what_to_pass() {
    let out = trainer(&["train", "--data", "no/such/file.csv.gz"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no data at no/such/file.csv.gz") && err.contains("--data"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn corrupt_weights_are_refused_with_a_reason() {
    let junk = temp_file("junk.dgaw", b"<html>not found</html>");
    let out = trainer(
        &["predict", "--weights", junk.to_str().unwrap()],
        Some("example.com\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a weights file"),
        "{}",
        stderr(&out)
    );

    let shipped =
        std::fs::read(repo_root().join("model/dga.dgaw")).expect("shipped weights are committed");
    let truncated = temp_file("truncated.dgaw", &shipped[..shipped.len() / 2]);
    let out = trainer(
        &["predict", "--weights", truncated.to_str().unwrap()],
        Some("example.com\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));

    let out = trainer(
        &["predict", "--weights", "no/such.dgaw"],
        Some("example.com\n"),
    );
    assert!(
        stderr(&out).contains("cannot read weights no/such.dgaw"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn unlabelled_list_needs_a_label() {
    let list = temp_file("list.txt", b"example.com\nqwxzv.ru\n");
    let out = trainer(
        &["eval", "--data", list.to_str().unwrap(), "--split", "all"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--label"), "{}", stderr(&out));
}

#[test]
fn backend_choice_is_explained() {
    // `auto` says which backend it took and, when not CUDA, why not.
    let out = trainer(&["predict", "--backend", "auto"], Some("example.com\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("backend: cuda (") || said.contains("backend: cpu (not using CUDA: "),
        "{said}"
    );
    // Asking for CUDA where none answers is an error that names the way out.
    if said.contains("backend: cpu") {
        let out = trainer(&["predict", "--backend", "cuda"], Some("example.com\n"));
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out).contains("cannot use CUDA: "),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("--backend cpu"), "{}", stderr(&out));
    }
}

#[test]
fn shipped_weights_score_a_list_in_order() {
    let input = "google.com\nwikipedia.org\nhttps://www.github.com/rust-lang\n\n10.1.2.3\nxjkd8f2hqzpwv.com\nqmbvtrzxkplw.net\nxjkd8f2hqzpwv.bazar\nvercel.app\n";
    let out = trainer(&["predict"], Some(input));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "input",
            "domain",
            "registrable_domain",
            "p_dga",
            "logit",
            "risk",
            "error",
            "suffix_known",
            "anomaly",
            "allowed",
            "family",
            "family_p",
            "rule",
            "set_aside"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), input.lines().count());
    let p = |row: usize| rows[row][3].parse::<f32>().unwrap();
    assert!(
        p(0) < 0.5 && p(1) < 0.5 && p(2) < 0.5,
        "benign scored high: {rows:?}"
    );
    assert!(
        p(5) > 0.5 && p(6) > 0.5,
        "random names scored low: {rows:?}"
    );
    assert_eq!(&rows[2][2], "github.com");
    assert_eq!(&rows[3][6], "empty input");
    assert!(rows[4][6].contains("IP address"));
    // Alternative roots and private-section suffixes are scored, and the verdict says which.
    assert_eq!((&rows[7][2], &rows[7][7]), ("xjkd8f2hqzpwv.bazar", "false"));
    assert!(p(7) > 0.5, "random name under an unlisted root: {rows:?}");
    assert_eq!((&rows[8][2], &rows[8][7]), ("vercel.app", "true"));
    assert_eq!(&rows[0][7], "true");
    // The benign-only anomaly score: random letters are rarer among benign names than brands.
    let anomaly = |row: usize| rows[row][8].parse::<f32>().unwrap();
    assert!(anomaly(5) > anomaly(0) + 1.0, "{rows:?}");
    assert!(rows[3][8].is_empty() && rows[4][8].is_empty());
    // The family head names a generator (or `unknown`) for DGA verdicts only.
    assert!(
        !rows[5][10].is_empty() && !rows[5][11].is_empty(),
        "{rows:?}"
    );
    assert!(rows[0][10].is_empty() && rows[0][11].is_empty(), "{rows:?}");
}

#[test]
fn eval_reports_metrics_on_a_labelled_file() {
    let mut csv = String::from("domain,label,family,source\n");
    for name in [
        "google.com",
        "wikipedia.org",
        "amazon.co.uk",
        "bbc.co.uk",
        "github.com",
    ] {
        csv.push_str(&format!("{name},legit,legit,fixture\n"));
    }
    for name in [
        "xjkd8f2hqzpwv.com",
        "qmbvtrzxkplw.net",
        "zzkqxvbwtrpl.ru",
        "kqwpzxvtrmbn.info",
        "vbqxzkwpltrm.org",
    ] {
        csv.push_str(&format!("{name},dga,random,fixture\n"));
    }
    let data = temp_file("labelled.csv", csv.as_bytes());
    let out = trainer(
        &[
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--split",
            "all",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["n"], 10);
    assert!(report["roc_auc"].as_f64().unwrap() > 0.9, "{report}");
}

#[test]
fn calibrate_moves_every_verdict_by_the_shift_and_refuses_nonsense() {
    let out_path =
        std::env::temp_dir().join(format!("dga-cli-{}-shifted.dgaw", std::process::id()));
    let out_arg = out_path.to_str().unwrap();
    let logits = |weights: &str| -> Vec<f32> {
        let out = trainer(
            &["predict", "--weights", weights],
            Some("google.com\nxjkd8f2hqzpwv.com\nablefell.net\n"),
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
        reader
            .records()
            .map(|r| r.unwrap()[4].parse().unwrap())
            .collect()
    };
    let shipped = logits("model/dga.dgaw");
    // Every log-odds moves by the new shift less the shipped one (which the weights file says).
    let out = trainer(&["calibrate", "--shift", "-1.5", "--out", out_arg], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = |path: &std::path::Path| {
        model_core::weights::decode_config(&std::fs::read(path).unwrap()).unwrap()
    };
    let shipped_shift = config(&repo_root().join("model/dga.dgaw")).decision_shift;
    assert_eq!(config(&out_path).decision_shift, -1.5);
    for (before, after) in shipped.iter().zip(logits(out_arg)) {
        // The CSV prints log-odds to three decimals.
        assert!(
            (before - shipped_shift - 1.5 - after).abs() < 2e-3,
            "{before} {after}"
        );
    }
    let out = trainer(&["calibrate", "--shift", "1000", "--out", out_arg], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("decision shift"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn bench_train_times_each_phase_of_a_step() {
    let mut csv = String::from("domain,label,family,source\n");
    let mut state = 7u64;
    let mut letter = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (b'a' + (state >> 59) as u8 % 26) as char
    };
    for i in 0..300 {
        csv.push_str(&format!("shop{i}garden.com,legit,legit,fixture\n"));
        let name: String = (0..12).map(|_| letter()).collect();
        csv.push_str(&format!("{name}.net,dga,random,fixture\n"));
    }
    let data = temp_file("bench-train.csv", csv.as_bytes());
    let out = trainer(
        &[
            "bench-train",
            "--data",
            data.to_str().unwrap(),
            "--backend",
            "cpu",
            "--size",
            "tiny",
            "--batch-sizes",
            "16",
            "--warmup-steps",
            "1",
            "--steps",
            "2",
            "--phase-steps",
            "2",
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["batch"], 16);
    let phases = &line["phases_ms"];
    let ms = |phase: &str| phases[phase].as_f64().unwrap_or(f64::NAN);
    for phase in ["pack", "upload", "forward", "backward", "optimiser"] {
        assert!(ms(phase).is_finite() && ms(phase) >= 0.0, "{phase}: {line}");
    }
    assert!(
        ms("forward") > 0.0 && ms("backward") > 0.0,
        "forward and backward take time: {line}"
    );
}
