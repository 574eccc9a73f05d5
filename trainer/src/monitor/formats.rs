//! DNS log formats: each line becomes a query (when, who asked, which name), a line to skip
//! (headers, replies), or a line that was not understood.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tell the formats below apart by the first line that is not blank.
    Auto,
    /// Zeek `dns.log` as TSV with its `#fields` header.
    Zeek,
    /// JSON lines (Zeek's JSON `dns.log` among them); see --json-field.
    Json,
    /// dnsmasq and Pi-hole query logs (`query[A] name from client`).
    Dnsmasq,
    /// BIND query logs (`client ... (name): query: name IN A ...`).
    Bind,
    /// One name per line.
    Plain,
}

/// A DNS query read from a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub timestamp: Option<String>,
    pub client: Option<String>,
    pub name: String,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Query(Query),
    /// A header, a comment, a reply or a blank line: nothing to score, nothing wrong.
    Skip,
    /// A line the format does not explain, with why.
    Unparsed(String),
}

/// Fields of JSON lines tried in order when no --json-field is given.
const JSON_NAME_FIELDS: [&str; 5] = ["query", "qname", "question", "domain", "name"];
const JSON_CLIENT_FIELDS: [&str; 4] = ["id.orig_h", "client", "client_ip", "src_ip"];
const JSON_TIME_FIELDS: [&str; 3] = ["ts", "timestamp", "time"];

/// Parses one source's lines; remembers the detected format and Zeek's `#fields` header.
pub struct Parser {
    format: Format,
    json_field: Option<String>,
    /// Column indices of `ts`, `id.orig_h` and `query` from Zeek's header.
    zeek: Option<(Option<usize>, Option<usize>, usize)>,
}

impl Parser {
    pub fn new(format: Format, json_field: Option<String>) -> Self {
        Self {
            format,
            json_field,
            zeek: None,
        }
    }

    pub fn parse(&mut self, line: &str) -> Parsed {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Parsed::Skip;
        }
        if self.format == Format::Auto {
            self.format = detect(line);
        }
        match self.format {
            Format::Zeek => self.zeek_line(line),
            Format::Json => self.json_line(line),
            Format::Dnsmasq => dnsmasq_line(line),
            Format::Bind => bind_line(line),
            Format::Plain | Format::Auto => plain_line(line),
        }
    }

    fn zeek_line(&mut self, line: &str) -> Parsed {
        if let Some(fields) = line.strip_prefix("#fields") {
            let names: Vec<&str> = fields.trim_start_matches(['\t', ' ']).split('\t').collect();
            let find = |n: &str| names.iter().position(|f| *f == n);
            return match find("query") {
                Some(query) => {
                    self.zeek = Some((find("ts"), find("id.orig_h"), query));
                    Parsed::Skip
                }
                None => Parsed::Unparsed("Zeek #fields header has no `query` field".into()),
            };
        }
        if line.starts_with('#') {
            return Parsed::Skip;
        }
        let Some((ts, client, query)) = self.zeek else {
            return Parsed::Unparsed("Zeek line before any #fields header".into());
        };
        let cells: Vec<&str> = line.split('\t').collect();
        let cell = |i: Option<usize>| {
            i.and_then(|i| cells.get(i))
                .filter(|c| !matches!(**c, "-" | "(empty)"))
                .map(|c| (*c).to_owned())
        };
        match cell(Some(query)) {
            Some(name) => Parsed::Query(Query {
                timestamp: cell(ts),
                client: cell(client),
                name,
            }),
            // Zeek logs queries with no question (`-`): nothing to score.
            None if cells.len() > query => Parsed::Skip,
            None => Parsed::Unparsed(format!(
                "Zeek line has {} fields; `query` is field {}",
                cells.len(),
                query + 1
            )),
        }
    }

    fn json_line(&self, line: &str) -> Parsed {
        let value: Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => return Parsed::Unparsed(format!("not a JSON line: {e}")),
        };
        let Value::Object(fields) = value else {
            return Parsed::Unparsed("JSON line is not an object".into());
        };
        let text = |names: &[&str]| {
            names.iter().find_map(|n| match fields.get(*n) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        };
        let name = match &self.json_field {
            Some(field) => text(&[field.as_str()]),
            None => text(&JSON_NAME_FIELDS),
        };
        match name {
            Some(name) => Parsed::Query(Query {
                timestamp: text(&JSON_TIME_FIELDS),
                client: text(&JSON_CLIENT_FIELDS),
                name,
            }),
            // A Zeek record without a question, or another record type in the same stream.
            None => Parsed::Skip,
        }
    }
}

/// Tells a format from one line.
fn detect(line: &str) -> Format {
    let line = line.trim_start();
    if line.starts_with("#separator") || line.starts_with("#fields") {
        Format::Zeek
    } else if line.starts_with('{') {
        Format::Json
    } else if line.contains("dnsmasq[") || line.contains("]: query[") || line.contains("pihole") {
        Format::Dnsmasq
    } else if line.contains(" query: ") && line.contains("client ") {
        Format::Bind
    } else {
        Format::Plain
    }
}

/// `Nov 23 01:02:03 dnsmasq[612]: query[A] example.com from 192.168.1.5`; replies, forwards
/// and cache lines are skipped.
fn dnsmasq_line(line: &str) -> Parsed {
    let Some(at) = line.find("query[") else {
        return if line.contains("dnsmasq") || line.contains(": ") {
            Parsed::Skip
        } else {
            Parsed::Unparsed("not a dnsmasq line".into())
        };
    };
    let timestamp = line[..at]
        .split_once(" dnsmasq")
        .map(|(ts, _)| ts.trim().to_owned())
        .filter(|ts| !ts.is_empty());
    let rest = &line[at..];
    let Some((_, rest)) = rest.split_once("] ") else {
        return Parsed::Unparsed("dnsmasq query without a name".into());
    };
    let mut words = rest.split_whitespace();
    let Some(name) = words.next() else {
        return Parsed::Unparsed("dnsmasq query without a name".into());
    };
    let client = match (words.next(), words.next()) {
        (Some("from"), Some(client)) => Some(client.to_owned()),
        _ => None,
    };
    Parsed::Query(Query {
        timestamp,
        client,
        name: name.to_owned(),
    })
}

/// `23-Nov-2026 01:02:03.456 client @0x7f 192.168.1.5#53535 (example.com): query: example.com IN A +E(0) (10.0.0.1)`.
fn bind_line(line: &str) -> Parsed {
    let Some(at) = line.find(" query: ") else {
        return Parsed::Skip;
    };
    let Some(name) = line[at + 8..].split_whitespace().next() else {
        return Parsed::Unparsed("BIND query without a name".into());
    };
    let before = &line[..at];
    let client = before.split_once("client ").and_then(|(_, rest)| {
        rest.split_whitespace()
            .find(|w| !w.starts_with('@'))
            .map(|w| w.split('#').next().unwrap_or(w).to_owned())
    });
    let timestamp = before
        .split_once(" client")
        .map(|(ts, _)| ts.trim().to_owned())
        .filter(|ts| !ts.is_empty());
    Parsed::Query(Query {
        timestamp,
        client,
        name: name.to_owned(),
    })
}

fn plain_line(line: &str) -> Parsed {
    let name = line.trim();
    if name.starts_with('#') {
        return Parsed::Skip;
    }
    Parsed::Query(Query {
        timestamp: None,
        client: None,
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queries(format: Format, text: &str) -> Vec<Parsed> {
        let mut parser = Parser::new(format, None);
        text.lines().map(|l| parser.parse(l)).collect()
    }

    fn query(ts: Option<&str>, client: Option<&str>, name: &str) -> Parsed {
        Parsed::Query(Query {
            timestamp: ts.map(str::to_owned),
            client: client.map(str::to_owned),
            name: name.to_owned(),
        })
    }

    #[test]
    fn every_format_is_detected_and_read() {
        let cases = [
            (
                "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tquery\tqtype\n\
                 1700000000.1\tC1\t10.0.0.5\t5353\txjkd8f2h.com\tA\n1700000000.2\tC2\t10.0.0.6\t53\t-\tA",
                vec![
                    Parsed::Skip,
                    Parsed::Skip,
                    query(Some("1700000000.1"), Some("10.0.0.5"), "xjkd8f2h.com"),
                    Parsed::Skip,
                ],
            ),
            (
                r#"{"ts":1700000000.5,"id.orig_h":"10.0.0.7","query":"ablefell.net","qtype_name":"A"}"#,
                vec![query(
                    Some("1700000000.5"),
                    Some("10.0.0.7"),
                    "ablefell.net",
                )],
            ),
            (
                "Nov 23 01:02:03 dnsmasq[612]: query[A] qwrtzpxk.net from 192.168.1.5\n\
                 Nov 23 01:02:03 dnsmasq[612]: forwarded qwrtzpxk.net to 1.1.1.1",
                vec![
                    query(Some("Nov 23 01:02:03"), Some("192.168.1.5"), "qwrtzpxk.net"),
                    Parsed::Skip,
                ],
            ),
            (
                "23-Nov-2026 01:02:03.456 client @0x7f1c 192.168.1.9#53535 (Example.com): query: Example.com IN A +E(0) (10.0.0.1)",
                vec![query(
                    Some("23-Nov-2026 01:02:03.456"),
                    Some("192.168.1.9"),
                    "Example.com",
                )],
            ),
            (
                "google.com\n# a comment\n",
                vec![query(None, None, "google.com"), Parsed::Skip],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(queries(Format::Auto, text), expected, "{text}");
        }
    }

    #[test]
    fn lines_a_format_cannot_explain_say_why() {
        let zeek = queries(Format::Zeek, "1700000000.1\tC1\tx.com");
        assert!(matches!(&zeek[0], Parsed::Unparsed(why) if why.contains("#fields")));
        let json = queries(Format::Json, "{\"query\": ");
        assert!(matches!(&json[0], Parsed::Unparsed(why) if why.contains("JSON")));
    }

    #[test]
    fn a_json_field_can_be_named() {
        let mut parser = Parser::new(Format::Json, Some("dns.rrname".into()));
        assert_eq!(
            parser.parse(r#"{"dns.rrname":"evil.biz","query":"other.com"}"#),
            query(None, None, "evil.biz")
        );
    }
}
