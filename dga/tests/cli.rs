//! `dga predict` as a user meets it: clear errors for missing or damaged weights, and the
//! shipped weights scoring a list end to end.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{dga, repo_root};

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
fn corrupt_weights_are_refused_with_a_reason() {
    let junk = temp_file("junk.dgaw", b"<html>not found</html>");
    let out = dga(
        &["predict", "--weights", junk.to_str().unwrap()],
        b"example.com\n",
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
    let out = dga(
        &["predict", "--weights", truncated.to_str().unwrap()],
        b"example.com\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("checksum"), "{}", stderr(&out));

    let out = dga(&["predict", "--weights", "no/such.dgaw"], b"example.com\n");
    assert!(
        stderr(&out).contains("cannot read weights no/such.dgaw"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn shipped_weights_score_a_list_in_order() {
    let input = "google.com\nwikipedia.org\nhttps://www.github.com/rust-lang\n\n10.1.2.3\nxjkd8f2hqzpwv.com\nqmbvtrzxkplw.net\nxjkd8f2hqzpwv.bazar\nvercel.app\n";
    let out = dga(&["predict"], input.as_bytes());
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
