//! The trainer's command line as a user meets it: clear errors for missing or damaged files,
//! the backend it picks, and the commands that rewrite weights.

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
    let list = temp_file("backend.txt", b"example.com\nqwxzvkjhd.ru\n");
    let eval = |backend: &str| {
        let data = list.to_str().unwrap();
        let args = [
            "eval",
            "--data",
            data,
            "--label",
            "dga",
            "--split",
            "all",
            "--backend",
            backend,
        ];
        trainer(&args, None)
    };
    let out = eval("auto");
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(
        said.contains("backend: cuda (") || said.contains("backend: cpu (not using CUDA: "),
        "{said}"
    );
    // Asking for CUDA where none answers is an error that names the way out.
    if said.contains("backend: cpu") {
        let out = eval("cuda");
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
        let bytes = std::fs::read(repo_root().join(weights)).unwrap();
        let detector = model_core::Detector::<burn::backend::NdArray>::from_weights(
            &bytes,
            Default::default(),
        )
        .unwrap();
        let names = ["google.com", "xjkd8f2hqzpwv.com", "ablefell.net"];
        let verdicts = detector.score(&names);
        verdicts
            .into_iter()
            .map(|v| v.result.unwrap().logit)
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
        assert!(
            (before - shipped_shift - 1.5 - after).abs() < 1e-4,
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

#[test]
fn likeliest_names_the_family_whose_own_names_look_like_the_name() {
    // Two generators of lowercase names: one of 12 letters under .com, one of 8 under .net.
    let data = temp_file(
        "likeliest.csv",
        b"domain,label,family,source\n\
          qwertyuiopas.com,dga,twelve,t\nasdfghjklzxc.com,dga,twelve,t\nzxcvbnmqwert.com,dga,twelve,t\n\
          qwertyui.net,dga,eight,t\nasdfghjk.net,dga,eight,t\nzxcvbnmq.net,dga,eight,t\n\
          example.com,legit,legit,t\n",
    );
    let out = trainer(
        &[
            "likeliest",
            "--data",
            data.to_str().unwrap(),
            "--family",
            "twelve",
            "-",
        ],
        Some("poiuytrewqlk.com\nmnbvcxzl.net\n10.0.0.1\n\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("poiuytrewqlk.com") && lines[0].contains("likeliest: twelve +0.0"),
        "{stdout}"
    );
    assert!(lines[0].contains("| twelve #1"), "{stdout}");
    assert!(
        lines[1].starts_with("mnbvcxzl.net") && lines[1].contains("likeliest: eight +0.0"),
        "{stdout}"
    );
    assert!(lines[1].contains("| twelve #2"), "{stdout}");
    assert!(
        stdout.contains("likeliest of 2 names under a flat prior: eight 1, twelve 1"),
        "{stdout}"
    );
    assert!(
        stderr(&out).contains("skipped 10.0.0.1"),
        "{}",
        stderr(&out)
    );

    let unknown = trainer(
        &[
            "likeliest",
            "--data",
            data.to_str().unwrap(),
            "--family",
            "nosuch",
            "-",
        ],
        Some(""),
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        stderr(&unknown).contains("no DGA names of nosuch"),
        "{}",
        stderr(&unknown)
    );
}
