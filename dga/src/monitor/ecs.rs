//! Alerts in Elastic Common Schema (`--alert-format ecs`): one ECS document a line, so that
//! Elastic, OpenSearch and Security Onion take `monitor`'s alerts without an ingest pipeline
//! of the user's own. The mapping is in docs/monitoring.md; the whole alert as `monitor`
//! writes it by default stays under `dga`.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// MITRE ATT&CK's sub-technique for DGAs (of T1568, Dynamic Resolution, a Command and Control
/// technique): what every alert here is evidence of.
const SUBTECHNIQUE_ID: &str = "T1568.002";
const SUBTECHNIQUE_NAME: &str = "Dynamic Resolution: Domain Generation Algorithms";
const SUBTECHNIQUE_URL: &str = "https://attack.mitre.org/techniques/T1568/002/";

/// Whether alerts are written as `monitor`'s own JSON or as ECS documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlertFormat {
    /// `monitor`'s own JSON objects (`kind`, `client`, `ts`, ...).
    Json,
    /// Elastic Common Schema documents (`@timestamp`, `event.*`, `source.ip`, `dns.*`,
    /// `rule.*`, `threat.*`), with the verdict under `dga.*`.
    Ecs,
}

/// An alert (as `monitor` writes it by default) as an ECS document.
pub fn document(alert: &Value) -> Value {
    let kind = alert["kind"].as_str().unwrap_or("name");
    let seconds = alert["ts"]
        .as_str()
        .and_then(dnswatch::dnslog::parse_time)
        .or_else(|| alert["time"].as_f64());
    // The alert's first name stands for it in the single-valued `dns.question` fields: the
    // queried name for a name alert, the weightiest evidence for a host or campaign.
    let first = match kind {
        "name" => Some(alert),
        _ => alert["names"].as_array().and_then(|n| n.first()),
    };
    let mut doc = json!({
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "alert",
            "category": ["network", "threat"],
            "type": ["indicator"],
            "module": "dga",
            "dataset": format!("dga.{kind}"),
            "reason": reason(alert, kind),
        },
        "message": reason(alert, kind),
        "rule": {
            "name": match kind {
                "host" => "DGA: host looking up generated names",
                "campaign" => "DGA: hosts sharing failed generated names",
                _ => "DGA: generated-looking name",
            },
            "ruleset": "dga-detect",
            "reference": SUBTECHNIQUE_URL,
        },
        "threat": {
            "framework": "MITRE ATT&CK",
            "tactic": {"id": ["TA0011"], "name": ["Command and Control"]},
            "technique": {
                "id": ["T1568"],
                "name": ["Dynamic Resolution"],
                "subtechnique": {"id": [SUBTECHNIQUE_ID], "name": [SUBTECHNIQUE_NAME]},
            },
        },
    });
    if let Some(at) = seconds.and_then(iso8601) {
        doc["@timestamp"] = json!(at);
    }
    if let Some(client) = alert["client"].as_str() {
        match client.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                doc["source"] = json!({"ip": ip.to_string(), "address": client});
                doc["related"] = json!({"ip": [ip.to_string()]});
            }
            // A log that names clients by host name: ECS's `source.ip` must be an address.
            Err(_) => doc["source"] = json!({"address": client}),
        }
    }
    if let Some(first) = first {
        let mut question = Map::new();
        if let Some(name) = first["query"].as_str() {
            question.insert("name".into(), json!(name));
        }
        if let Some(domain) = first["registrable_domain"].as_str() {
            question.insert("registered_domain".into(), json!(domain));
        }
        let mut dns = json!({"question": question});
        if let Some(rcode) = first["rcode"].as_str() {
            dns["response_code"] = json!(rcode);
        }
        doc["dns"] = dns;
        // A host alert's own family (its names named together) before its first name's.
        let family = alert["family"]["name"].as_str().filter(|f| *f != "unknown");
        if let Some(family) = family.or(first["family"].as_str().filter(|f| *f != "unknown")) {
            doc["threat"]["software"] = json!({"name": family});
        }
    }
    let mut verdict = alert.clone();
    if let Some(fields) = verdict.as_object_mut() {
        for moved in ["ts", "client", "source"] {
            fields.remove(moved);
        }
    }
    doc["dga"] = verdict;
    if let Some(source) = alert["source"].as_str() {
        doc["log"] = json!({"file": {"path": source}});
    }
    doc
}

fn reason(alert: &Value, kind: &str) -> String {
    match alert["reason"].as_str() {
        Some(reason) => reason.to_owned(),
        None if kind == "name" => format!(
            "{} scored p_dga {:.3}",
            alert["query"].as_str().unwrap_or("?"),
            alert["p_dga"].as_f64().unwrap_or(f64::NAN)
        ),
        None => kind.to_owned(),
    }
}

/// Seconds since the epoch as ISO 8601 in UTC with microseconds (`None` out of range).
fn iso8601(seconds: f64) -> Option<String> {
    // Microseconds, as logs write them: nanoseconds of a 2020s time exceed f64's precision.
    let micros = (seconds * 1e6).round();
    if !micros.is_finite() || micros.abs() > 1e18 {
        return None;
    }
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros as i128 * 1000).ok()?;
    at.format(&Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso_8601_in_utc() {
        assert_eq!(
            iso8601(1_444_662_852.672_437).as_deref(),
            Some("2015-10-12T15:14:12.672437Z")
        );
        assert_eq!(iso8601(0.0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(iso8601(f64::NAN), None);
        assert_eq!(iso8601(1e300), None);
    }

    #[test]
    fn a_client_named_by_host_name_is_no_source_ip() {
        let doc = document(&json!({"kind": "host", "client": "laptop.lan", "time": 1.0}));
        assert_eq!(doc["source"], json!({"address": "laptop.lan"}));
        let doc = document(&json!({"kind": "host", "client": "fe80::1", "time": 1.0}));
        assert_eq!(doc["source"]["ip"], "fe80::1");
    }
}
