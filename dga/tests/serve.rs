//! `dga serve` as clients meet it: a real HTTP client against the real server process
//! with the shipped weights.

mod common;

use common::{send, start};
use serde_json::{Value, json};

fn json_post(url: &str, body: &Value) -> (u16, Value) {
    let (code, text) = send(
        "POST",
        url,
        &[("Content-Type", "application/json")],
        Some(body.to_string().as_bytes()),
    );
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn json_get(url: &str) -> (u16, Value) {
    let (code, text) = send("GET", url, &[], None);
    (
        code,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn a_tensorflow_serving_client_works_unchanged() {
    let server = start(&[]);
    let b = &server.base;
    let (code, status) = json_get(&format!("{b}/v1/models/dga"));
    assert_eq!(code, 200);
    assert_eq!(status["model_version_status"][0]["state"], "AVAILABLE");
    let (code, meta) = json_get(&format!("{b}/v1/models/dga/metadata"));
    assert_eq!(code, 200);
    assert_eq!(meta["model_spec"]["name"], "dga");

    let (code, answer) = json_post(
        &format!("{b}/v1/models/dga:predict"),
        &json!({"instances": ["google.com", "xjkd8f2hqzpv.com", 42, "10.0.0.1"]}),
    );
    assert_eq!(code, 200, "{answer}");
    let predictions = answer["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 4);
    assert_eq!(predictions[0]["domain"], "google.com");
    assert!(predictions[0]["p_dga"].as_f64().unwrap() < 0.5, "{answer}");
    assert!(predictions[1]["p_dga"].as_f64().unwrap() > 0.8, "{answer}");
    assert_eq!(predictions[1]["risk"], "high");
    assert!(
        predictions[2]["error"]
            .as_str()
            .unwrap()
            .contains("instance 2")
    );
    assert!(
        predictions[3]["error"]
            .as_str()
            .unwrap()
            .contains("IP address")
    );

    // The columnar form, the versioned path, and a model of another name.
    let (code, answer) = json_post(
        &format!("{b}/v1/models/dga/versions/1:predict"),
        &json!({"inputs": {"domain": ["ablefell.net"]}}),
    );
    assert_eq!(code, 200);
    assert_eq!(answer["outputs"][0]["domain"], "ablefell.net");
    let (code, answer) = json_post(
        &format!("{b}/v1/models/cnn:predict"),
        &json!({"instances": []}),
    );
    assert_eq!(code, 404);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("Servable not found")
    );
}

#[test]
fn free_text_gives_its_domains_and_422_when_none() {
    let server = start(&[]);
    let b = &server.base;
    let (code, answer) = json_get(&format!("{b}/get_prediction/xjkd8f2hqzpv.com"));
    assert_eq!(code, 200);
    assert_eq!(
        answer["xjkd8f2hqzpv.com"]["classification"], "dga",
        "{answer}"
    );
    let p = answer["xjkd8f2hqzpv.com"]["p_dga"].as_f64().unwrap();
    let q = answer["xjkd8f2hqzpv.com"]["p_legit"].as_f64().unwrap();
    assert!((p + q - 1.0).abs() < 1e-6);

    let text =
        "visit https://www.Google.com/search?q=1 or evil at xjkd8f2hqzpv.com:8080, not 10.1.2.3";
    let (code, answer) = json_post(
        &format!("{b}/get_predictions"),
        &json!({"url_string": text}),
    );
    assert_eq!(code, 200);
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "{answer}");
    assert_eq!(
        answer["www.google.com"]["classification"], "legit",
        "{answer}"
    );
    assert_eq!(answer["xjkd8f2hqzpv.com"]["classification"], "dga");

    let (code, answer) = json_post(
        &format!("{b}/get_predictions"),
        &json!({"url_string": "only 10.0.0.1 and 192.168.1.1:80 here"}),
    );
    assert_eq!(code, 422);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("no valid domain")
    );
    assert!(
        answer["skipped"].to_string().contains("IP address"),
        "{answer}"
    );
    let (code, _) = json_get(&format!("{b}/get_prediction/10.0.0.1"));
    assert_eq!(code, 422);
}

#[test]
fn score_answers_json_or_csv_in_order_and_honours_the_allow_list() {
    let server = start(&[]);
    let b = &server.base;
    let (code, answer) = json_post(
        &format!("{b}/v1/score"),
        &json!(["google.com", "", "abc12xqz.herokuapp.com"]),
    );
    assert_eq!(code, 200);
    let rows = answer.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1]["error"], "empty input");
    assert_eq!(rows[2]["risk"], "allowed", "{answer}");
    assert_eq!(rows[2]["allowed"], "herokuapp.com");

    let (code, csv) = send(
        "POST",
        &format!("{b}/v1/score?format=csv"),
        &[("Content-Type", "text/plain")],
        Some(b"google.com\r\nbad\xff.com\n"),
    );
    assert_eq!(code, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("input,domain,registrable_domain,p_dga"));
    assert!(lines[1].starts_with("google.com,google.com,"));
    assert!(lines[2].contains("not valid UTF-8"), "{csv}");
}

#[test]
fn limits_and_mistakes_get_clear_status_codes() {
    let server = start(&["--max-body", "2000", "--max-names", "5"]);
    let b = &server.base;
    let big = "a.com\n".repeat(1000);
    let (code, _) = send("POST", &format!("{b}/v1/score"), &[], Some(big.as_bytes()));
    assert_eq!(code, 413);
    let many = "a.com\n".repeat(6);
    let (code, text) = send("POST", &format!("{b}/v1/score"), &[], Some(many.as_bytes()));
    assert_eq!(code, 413);
    assert!(text.contains("at most 5"), "{text}");
    let (code, text) = send(
        "POST",
        &format!("{b}/v1/models/dga:predict"),
        &[("Content-Type", "application/json")],
        Some(b"{\"instances\": [\"a.com\""),
    );
    assert_eq!(code, 400);
    assert!(text.contains("not valid JSON"), "{text}");
    let (code, text) = send("DELETE", &format!("{b}/v1/score"), &[], None);
    assert_eq!(code, 405);
    assert!(text.contains("DELETE is not allowed"), "{text}");
    let (code, _) = send("GET", &format!("{b}/nowhere"), &[], None);
    assert_eq!(code, 404);
    let (code, metrics) = send("GET", &format!("{b}/metrics"), &[], None);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("dga_requests_total{endpoint=\"score\",code=\"413\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("dga_request_duration_seconds_bucket"));
}

#[test]
fn a_token_guards_everything_but_health() {
    let server = start(&["--token", "s3cret"]);
    let b = &server.base;
    assert_eq!(send("GET", &format!("{b}/healthz"), &[], None).0, 200);
    assert_eq!(send("GET", &format!("{b}/v1/models/dga"), &[], None).0, 401);
    let auth = [("Authorization", "Bearer s3cret")];
    assert_eq!(
        send("GET", &format!("{b}/v1/models/dga"), &auth, None).0,
        200
    );
}
