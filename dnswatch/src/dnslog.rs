//! DNS query logs: each line becomes a query (when, who asked, which name, the answer's code
//! when the line has it), an answer to an earlier query, a line to skip (headers, other
//! events), or a line that was not understood. `monitor` and the page read logs through this
//! one parser, so both see the same queries in the same log.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Format {
    /// Tell the formats below apart line by line until one is recognised.
    Auto,
    /// Zeek `dns.log` as TSV with its `#fields` header (wherever the header comes).
    Zeek,
    /// JSON lines (Zeek's JSON `dns.log` among them); see --json-field.
    Json,
    /// Suricata eve.json: `dns` events of format versions 1, 2 and 3, among other events.
    Suricata,
    /// dnsmasq and Pi-hole (`query[A] name from client`, `reply name is NXDOMAIN`), also
    /// inside syslog.
    Dnsmasq,
    /// BIND query logs (`client ... (name): query: name IN A ...`), also inside syslog.
    Bind,
    /// CoreDNS `log` plugin lines (`[INFO] 10.0.0.1:5353 - 1 "A IN name. udp ..." NOERROR ...`).
    Coredns,
    /// Unbound `log-queries` and `log-replies` lines (`info: 10.0.0.1 name. A IN`).
    Unbound,
    /// One name per line.
    Plain,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Zeek => "zeek",
            Format::Json => "json",
            Format::Suricata => "suricata",
            Format::Dnsmasq => "dnsmasq",
            Format::Bind => "bind",
            Format::Coredns => "coredns",
            Format::Unbound => "unbound",
            Format::Plain => "plain",
        }
    }
}

/// A DNS query read from a log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The timestamp as the log wrote it.
    pub timestamp: Option<String>,
    /// The same in seconds, for windows on the log's own clock (see [`parse_time`]).
    pub time: Option<f64>,
    pub client: Option<String>,
    /// The queried name, without a trailing dot.
    pub name: String,
    /// The answer's code when the same line carries it (`NXDOMAIN`, `NOERROR`, ...).
    pub rcode: Option<String>,
}

/// An answer logged apart from its query (dnsmasq `reply`, Suricata answer events).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub time: Option<f64>,
    /// Who asked, when the line says.
    pub client: Option<String>,
    pub name: String,
    pub rcode: String,
}

#[derive(Debug, PartialEq)]
pub enum Parsed {
    Query(Query),
    Answer(Answer),
    /// A header, a comment, another kind of event or a blank line: nothing wrong.
    Skip,
    /// A line the format does not explain, with why.
    Unparsed(String),
}

/// Whether an answer's code says the lookup failed: most DGA lookups do, most others do not.
pub fn is_failure(rcode: &str) -> bool {
    rcode.eq_ignore_ascii_case("NXDOMAIN") || rcode.eq_ignore_ascii_case("SERVFAIL")
}

/// Fields of JSON lines tried in order when no field is named.
const JSON_NAME_FIELDS: [&str; 5] = ["query", "qname", "question", "domain", "name"];
const JSON_CLIENT_FIELDS: [&str; 4] = ["id.orig_h", "client", "client_ip", "src_ip"];
const JSON_TIME_FIELDS: [&str; 3] = ["ts", "timestamp", "time"];
const JSON_RCODE_FIELDS: [&str; 2] = ["rcode_name", "rcode"];

/// Columns of a Zeek TSV log that the parser reads, from its `#fields` header.
#[derive(Debug, Clone, Copy)]
struct ZeekColumns {
    ts: Option<usize>,
    client: Option<usize>,
    query: usize,
    rcode: Option<usize>,
}

/// Parses one source's lines; remembers the detected format and Zeek's `#fields` header.
pub struct Parser {
    format: Format,
    json_field: Option<String>,
    zeek: Option<ZeekColumns>,
}

impl Parser {
    pub fn new(format: Format, json_field: Option<String>) -> Self {
        Self {
            format,
            json_field,
            zeek: None,
        }
    }

    /// The format read so far (`Auto` until a line told).
    pub fn format(&self) -> Format {
        self.format
    }

    pub fn parse(&mut self, line: &str) -> Parsed {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Parsed::Skip;
        }
        // A Zeek header may follow other lines (a comment, a banner): it always wins.
        if line.starts_with("#fields") || line.starts_with("#separator") {
            self.format = Format::Zeek;
        }
        if self.format == Format::Auto {
            match detect(line) {
                Some(format) => self.format = format,
                None if line.starts_with('#') => return Parsed::Skip,
                None => {
                    return Parsed::Unparsed("not a line of any DNS log format read here".into());
                }
            }
        }
        let parsed = match self.format {
            Format::Zeek => self.zeek_line(line),
            Format::Json => self.json_line(line, false),
            Format::Suricata => self.json_line(line, true),
            Format::Dnsmasq => dnsmasq_line(line),
            Format::Bind => bind_line(line),
            Format::Coredns => coredns_line(line),
            Format::Unbound => unbound_line(line),
            Format::Plain | Format::Auto => plain_line(line),
        };
        match parsed {
            Parsed::Query(q) if q.name.is_empty() => {
                Parsed::Unparsed("query with an empty name".into())
            }
            Parsed::Answer(a) if a.name.is_empty() || a.rcode.is_empty() => {
                Parsed::Unparsed("answer with an empty name or code".into())
            }
            parsed => parsed,
        }
    }

    fn zeek_line(&mut self, line: &str) -> Parsed {
        if let Some(fields) = line.strip_prefix("#fields") {
            let names: Vec<&str> = fields.trim_start_matches(['\t', ' ']).split('\t').collect();
            let find = |n: &str| names.iter().position(|f| *f == n);
            return match find("query") {
                Some(query) => {
                    self.zeek = Some(ZeekColumns {
                        ts: find("ts"),
                        client: find("id.orig_h"),
                        query,
                        rcode: find("rcode_name"),
                    });
                    Parsed::Skip
                }
                None => Parsed::Unparsed("Zeek #fields header has no `query` field".into()),
            };
        }
        if line.starts_with('#') {
            return Parsed::Skip;
        }
        let Some(columns) = self.zeek else {
            return Parsed::Unparsed("Zeek line before any #fields header".into());
        };
        let cells: Vec<&str> = line.split('\t').collect();
        let cell = |i: Option<usize>| {
            i.and_then(|i| cells.get(i))
                .filter(|c| !is_unset(c))
                .map(|c| (*c).to_owned())
        };
        match cell(Some(columns.query)) {
            Some(name) => {
                let timestamp = cell(columns.ts);
                Parsed::Query(Query {
                    time: timestamp.as_deref().and_then(parse_time),
                    timestamp,
                    client: cell(columns.client),
                    name: without_root_dot(&name).to_owned(),
                    rcode: cell(columns.rcode),
                })
            }
            // Zeek logs queries with no question (`-`): nothing to score.
            None if cells.len() > columns.query => Parsed::Skip,
            None => Parsed::Unparsed(format!(
                "Zeek line has {} fields; `query` is field {}",
                cells.len(),
                columns.query + 1
            )),
        }
    }

    fn json_line(&self, line: &str, suricata: bool) -> Parsed {
        let value: Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => return Parsed::Unparsed(format!("not a JSON line: {e}")),
        };
        let Value::Object(fields) = value else {
            return Parsed::Unparsed("JSON line is not an object".into());
        };
        if suricata || fields.contains_key("event_type") {
            return suricata_event(&fields);
        }
        let name = match &self.json_field {
            Some(field) => text(&fields, &[field.as_str()]),
            None => text(&fields, &JSON_NAME_FIELDS),
        };
        match name {
            Some(name) => {
                let timestamp = text(&fields, &JSON_TIME_FIELDS);
                Parsed::Query(Query {
                    time: timestamp.as_deref().and_then(parse_time),
                    timestamp,
                    client: text(&fields, &JSON_CLIENT_FIELDS),
                    name: without_root_dot(&name).to_owned(),
                    // Zeek's numeric `rcode` is not a name; `rcode_name` comes first.
                    rcode: text(&fields, &JSON_RCODE_FIELDS)
                        .filter(|r| !r.bytes().all(|b| b.is_ascii_digit())),
                })
            }
            // A Zeek record without a question, or another record type in the same stream.
            None => Parsed::Skip,
        }
    }
}

/// The first of `names` that holds a string or a number, as text.
fn text(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match fields.get(*n) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// One Suricata eve event. Queries: `dns.type` `query` (versions 1 and 2, `dns.rrname`) or
/// `request` (version 3, `dns.queries[].rrname`). Answers: `answer` (1 and 2) or `response`
/// (3), with `dns.rcode`; their `dest_ip` is the client.
fn suricata_event(fields: &Map<String, Value>) -> Parsed {
    match fields.get("event_type").and_then(Value::as_str) {
        Some("dns") => {}
        Some(_) => return Parsed::Skip,
        None => return Parsed::Unparsed("Suricata event without `event_type`".into()),
    }
    let Some(Value::Object(dns)) = fields.get("dns") else {
        return Parsed::Unparsed("Suricata dns event without a `dns` object".into());
    };
    let name = text(dns, &["rrname"]).or_else(|| {
        let queries = dns.get("queries")?.as_array()?;
        text(queries.first()?.as_object()?, &["rrname"])
    });
    let timestamp = text(fields, &["timestamp"]);
    let time = timestamp.as_deref().and_then(parse_time);
    let kind = dns.get("type").and_then(Value::as_str).unwrap_or_default();
    match (kind, name) {
        ("query" | "request", Some(name)) => Parsed::Query(Query {
            time,
            timestamp,
            client: text(fields, &["src_ip"]),
            name: without_root_dot(&name).to_owned(),
            rcode: None,
        }),
        ("answer" | "response", Some(name)) => match text(dns, &["rcode"]) {
            Some(rcode) => Parsed::Answer(Answer {
                time,
                client: text(fields, &["dest_ip"]),
                name: without_root_dot(&name).to_owned(),
                rcode,
            }),
            None => Parsed::Skip,
        },
        ("query" | "request" | "answer" | "response", None) => {
            Parsed::Unparsed(format!("Suricata dns {kind} without a name"))
        }
        _ => Parsed::Unparsed(format!("Suricata dns event of unknown type `{kind}`")),
    }
}

/// A pasted or uploaded DNS log read whole, for the page: what `monitor` would read of it.
#[derive(Debug)]
pub struct LogRead {
    pub format: Format,
    /// Every line's event with its 1-based line number and log time (the line's own, else the
    /// last one seen, else 0).
    pub events: Vec<(usize, f64, Parsed)>,
    /// Distinct query names (compared without case), with the line of their first query.
    pub names: Vec<(usize, String)>,
}

impl LogRead {
    pub fn queries(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, _, p)| matches!(p, Parsed::Query(_)))
            .count()
    }

    pub fn unparsed(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, _, p)| matches!(p, Parsed::Unparsed(_)))
            .count()
    }
}

/// Lines looked at to tell a log from a list of names or free text.
const SNIFF_LINES: usize = 20;

/// Reads `text` as a DNS log when its first lines are one (Zeek, Suricata, dnsmasq, BIND,
/// CoreDNS, Unbound, or JSON lines that hold queries); `None` for a list of names or prose,
/// which the page reads as before.
pub fn read_log(text: &str) -> Option<LogRead> {
    let mut sniffer = Parser::new(Format::Auto, None);
    let mut json_queries = 0;
    for line in text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(SNIFF_LINES)
    {
        if let Parsed::Query(_) = sniffer.parse(line) {
            json_queries += 1;
        }
        if sniffer.format() != Format::Auto {
            break;
        }
    }
    match sniffer.format() {
        Format::Auto | Format::Plain => return None,
        Format::Json if json_queries == 0 => return None,
        _ => {}
    }
    let mut parser = Parser::new(Format::Auto, None);
    let mut events = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut last = 0.0;
    for (index, line) in text.lines().enumerate() {
        let parsed = parser.parse(line);
        let time = match &parsed {
            Parsed::Query(q) => q.time,
            Parsed::Answer(a) => a.time,
            _ => None,
        };
        last = time.unwrap_or(last);
        if let Parsed::Query(q) = &parsed
            && seen.insert(q.name.to_ascii_lowercase())
        {
            names.push((index + 1, q.name.clone()));
        }
        events.push((index + 1, last, parsed));
    }
    Some(LogRead {
        format: parser.format(),
        events,
        names,
    })
}

/// Tells a format from one line, or `None` when the line does not tell.
fn detect(line: &str) -> Option<Format> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        return Some(if trimmed.contains("\"event_type\"") {
            Format::Suricata
        } else {
            Format::Json
        });
    }
    if trimmed.starts_with('#') {
        return None;
    }
    if line.contains("dnsmasq[") || line.contains("dnsmasq:") || line.contains("]: query[") {
        Some(Format::Dnsmasq)
    } else if line.contains(" query: ") && line.contains("client ") {
        Some(Format::Bind)
    } else if line.contains("unbound") && line.contains(" info: ") {
        Some(Format::Unbound)
    } else if coredns_parts(line).is_some() {
        Some(Format::Coredns)
    } else if !trimmed.contains(char::is_whitespace) {
        Some(Format::Plain)
    } else {
        None
    }
}

/// `Nov 23 01:02:03 dnsmasq[612]: query[A] example.com from 192.168.1.5`; `reply`, `cached`
/// and `config` lines answer earlier queries; forwards and the rest are skipped.
fn dnsmasq_line(line: &str) -> Parsed {
    let (timestamp, time) = leading_time(line);
    let message = match line.find("]: ").or_else(|| line.find(": ")) {
        Some(at) => line[at..].split_once(": ").map_or("", |(_, m)| m),
        None => return Parsed::Unparsed("not a dnsmasq line".into()),
    };
    let mut words = message.split_whitespace();
    let verb = words.next().unwrap_or_default();
    if verb.starts_with("query[") {
        let Some(name) = words.next() else {
            return Parsed::Unparsed("dnsmasq query without a name".into());
        };
        let client = match (words.next(), words.next()) {
            (Some("from"), Some(client)) => Some(client.to_owned()),
            _ => None,
        };
        return Parsed::Query(Query {
            timestamp,
            time,
            client,
            name: without_root_dot(name).to_owned(),
            rcode: None,
        });
    }
    if matches!(verb, "reply" | "cached" | "config")
        && let (Some(name), Some("is"), Some(what)) = (words.next(), words.next(), words.next())
    {
        let rcode = if what == "NXDOMAIN" || what == "SERVFAIL" {
            what
        } else {
            "NOERROR"
        };
        return Parsed::Answer(Answer {
            time,
            client: None,
            name: without_root_dot(name).to_owned(),
            rcode: rcode.to_owned(),
        });
    }
    Parsed::Skip
}

/// `23-Nov-2026 01:02:03.456 client @0x7f 192.168.1.5#53535 (example.com): query: example.com
/// IN A +E(0) (10.0.0.1)`, with or without the time, a category, a view or a syslog prefix.
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
    let (timestamp, time) = leading_time(line);
    Parsed::Query(Query {
        timestamp,
        time,
        client,
        name: without_root_dot(name).to_owned(),
        rcode: None,
    })
}

/// The client, the quoted question and what follows it of a CoreDNS `log` line.
fn coredns_parts(line: &str) -> Option<(&str, &str, &str)> {
    let (head, rest) = line.split_once(" \"")?;
    let (question, tail) = rest.split_once('"')?;
    let mut words = question.split_whitespace();
    let (_, class) = (words.next()?, words.next()?);
    if class != "IN" && class != "CH" {
        return None;
    }
    let client = head.split(" - ").next()?.split_whitespace().last()?;
    Some((client, question, tail))
}

/// `[INFO] 10.0.0.1:52134 - 4505 "A IN example.org. udp 41 false 512" NXDOMAIN qr,rd,ra 41
/// 0.000215s`, with or without a leading timestamp (`kubectl logs --timestamps`).
fn coredns_line(line: &str) -> Parsed {
    let Some((client, question, tail)) = coredns_parts(line) else {
        return Parsed::Skip;
    };
    let Some(name) = question.split_whitespace().nth(2) else {
        return Parsed::Unparsed("CoreDNS question without a name".into());
    };
    let client = match client.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => client,
    };
    let (timestamp, time) = leading_time(line);
    Parsed::Query(Query {
        timestamp,
        time,
        client: Some(client.trim_matches(['[', ']']).to_owned()),
        name: without_root_dot(name).to_owned(),
        rcode: tail.split_whitespace().next().map(str::to_owned),
    })
}

/// `[1700000000] unbound[1234:0] info: 10.0.0.1 example.com. A IN` (`log-queries`), with
/// `NOERROR 0.000 0 45` after it for `log-replies`; also inside syslog.
fn unbound_line(line: &str) -> Parsed {
    let Some((_, message)) = line.split_once(" info: ") else {
        return Parsed::Skip;
    };
    let words: Vec<&str> = message.split_whitespace().collect();
    let is_query = words.len() >= 4
        && words[0].parse::<std::net::IpAddr>().is_ok()
        && matches!(words[3], "IN" | "CH");
    if !is_query {
        // Unbound's other info messages (start-up, statistics).
        return Parsed::Skip;
    }
    let (timestamp, time) = leading_time(line);
    Parsed::Query(Query {
        timestamp,
        time,
        client: Some(words[0].to_owned()),
        name: without_root_dot(words[1]).to_owned(),
        rcode: words.get(4).map(|r| (*r).to_owned()),
    })
}

fn plain_line(line: &str) -> Parsed {
    let name = line.trim();
    if name.starts_with('#') {
        return Parsed::Skip;
    }
    Parsed::Query(Query {
        timestamp: None,
        time: None,
        client: None,
        name: without_root_dot(name).to_owned(),
        rcode: None,
    })
}

/// Whether a Zeek TSV cell is one of Zeek's marks for a field with no value (`-`, `(empty)`),
/// which tables read from such logs carry as text.
pub fn is_unset(cell: &str) -> bool {
    matches!(cell, "-" | "(empty)")
}

/// Logs write fully qualified names with the root's dot (`example.com.`); the root alone stays.
pub fn without_root_dot(name: &str) -> &str {
    match name.strip_suffix('.') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => name,
    }
}

/// The timestamp a line starts with, as written and in seconds: Unbound's `[epoch]`, ISO 8601
/// (RFC 5424 syslog, Suricata, `kubectl --timestamps`), BIND's `23-Nov-2026 01:02:03.456`, or
/// RFC 3164 syslog's `Nov 23 01:02:03`.
fn leading_time(line: &str) -> (Option<String>, Option<f64>) {
    let line = line.trim_start();
    // Where each of the first three words ends, so a candidate keeps the line's own spacing.
    let mut ends = Vec::with_capacity(3);
    let mut in_word = false;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() {
            if in_word {
                ends.push(i);
                if ends.len() == 3 {
                    break;
                }
            }
            in_word = false;
        } else {
            in_word = true;
        }
    }
    if in_word && ends.len() < 3 {
        ends.push(line.len());
    }
    for (n, end) in ends.into_iter().enumerate() {
        let candidate = &line[..end];
        let candidate = if n == 0 {
            candidate.trim_matches(['[', ']'])
        } else {
            candidate
        };
        if let Some(time) = parse_time(candidate) {
            return (Some(candidate.to_owned()), Some(time));
        }
    }
    (None, None)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since 1970 from the timestamps DNS logs write: epoch seconds (`1700000000.123`),
/// ISO 8601 with or without an offset (`2021-06-06T16:26:27.43+0200`), BIND's
/// `23-Nov-2026 01:02:03.456` and syslog's `Nov 23 01:02:03`. Syslog has no year, so its
/// times fall in the year 2000: only their differences are used (windows), never the date.
pub fn parse_time(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let (date, clock) = text.split_once(['T', ' '])?;
    let (year, month, day) = if date.len() == 10 && date.as_bytes()[4] == b'-' {
        // `2023-11-14`.
        let mut parts = date.split('-');
        let year = parts.next()?.parse().ok()?;
        (
            year,
            parts.next()?.parse().ok()?,
            parts.next()?.parse().ok()?,
        )
    } else if let Some(month) = MONTHS.iter().position(|m| *m == date) {
        // `Nov 23 01:02:03` or `Nov  3 01:02:03`.
        let (day, rest) = clock.trim_start().split_once(' ')?;
        return seconds_at(2000, month as u32 + 1, day.parse().ok()?, rest);
    } else {
        // `23-Nov-2026`.
        let mut parts = date.split('-');
        let day = parts.next()?.parse().ok()?;
        let month_name = parts.next()?;
        let month = MONTHS.iter().position(|m| *m == month_name)? as u32 + 1;
        (parts.next()?.parse().ok()?, month, day)
    };
    seconds_at(year, month, day, clock)
}

/// Seconds since 1970 of a civil date and a `hh:mm:ss[.fff][Z|+hh[:]mm|-hh[:]mm]` clock.
fn seconds_at(year: i64, month: u32, day: u32, clock: &str) -> Option<f64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let clock = clock.trim();
    let offset_at = clock.rfind(['+', '-', 'Z']).filter(|&i| i >= 8);
    let (time, offset) = match offset_at {
        Some(i) => (&clock[..i], offset_seconds(&clock[i..])?),
        None => (clock, 0),
    };
    let mut parts = time.split(':');
    let hours: i64 = parts.next()?.parse().ok()?;
    let minutes: i64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || !(0.0..61.0).contains(&seconds) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hours * 3_600 + minutes * 60 - offset) as f64 + seconds)
}

/// `Z`, `+02:00`, `+0200` or `-05` as seconds east of UTC.
fn offset_seconds(text: &str) -> Option<i64> {
    if text == "Z" {
        return Some(0);
    }
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let digits: String = text[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
        return None;
    }
    let hours: i64 = digits[..2].parse().ok()?;
    let minutes: i64 = digits.get(2..).map_or(Ok(0), str::parse).ok()?;
    Some(sign * (hours * 3_600 + minutes * 60))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(format: Format, text: &str) -> Vec<Parsed> {
        let mut parser = Parser::new(format, None);
        text.lines().map(|l| parser.parse(l)).collect()
    }

    fn query(ts: Option<&str>, client: Option<&str>, name: &str, rcode: Option<&str>) -> Parsed {
        Parsed::Query(Query {
            timestamp: ts.map(str::to_owned),
            time: ts.and_then(parse_time),
            client: client.map(str::to_owned),
            name: name.to_owned(),
            rcode: rcode.map(str::to_owned),
        })
    }

    fn answer(time: Option<&str>, client: Option<&str>, name: &str, rcode: &str) -> Parsed {
        Parsed::Answer(Answer {
            time: time.and_then(parse_time),
            client: client.map(str::to_owned),
            name: name.to_owned(),
            rcode: rcode.to_owned(),
        })
    }

    /// One case per format and variant, each detected by `auto` from its own lines. The
    /// samples follow each program's documentation of its log line.
    #[test]
    fn every_format_is_detected_and_read() {
        let cases = [
            (
                "zeek",
                "#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tquery\tqtype\trcode_name\n\
                 1700000000.1\tC1\t10.0.0.5\t5353\txjkd8f2h.com\tA\tNXDOMAIN\n1700000000.2\tC2\t10.0.0.6\t53\t-\tA\t-",
                vec![
                    Parsed::Skip,
                    Parsed::Skip,
                    query(
                        Some("1700000000.1"),
                        Some("10.0.0.5"),
                        "xjkd8f2h.com",
                        Some("NXDOMAIN"),
                    ),
                    Parsed::Skip,
                ],
            ),
            (
                "zeek, header after a banner",
                "### BTest baseline data generated by btest-diff.\n#separator \\x09\n\
                 #fields\tts\tid.orig_h\tquery\n1.5\t10.0.0.5\tgoogle.com.",
                vec![
                    Parsed::Skip,
                    Parsed::Skip,
                    Parsed::Skip,
                    query(Some("1.5"), Some("10.0.0.5"), "google.com", None),
                ],
            ),
            (
                "zeek json",
                r#"{"ts":1700000000.5,"id.orig_h":"10.0.0.7","query":"ablefell.net","rcode":3,"rcode_name":"NXDOMAIN"}"#,
                vec![query(
                    Some("1700000000.5"),
                    Some("10.0.0.7"),
                    "ablefell.net",
                    Some("NXDOMAIN"),
                )],
            ),
            (
                "suricata v1 and v2",
                "{\"timestamp\":\"2021-06-06T16:26:27.431769+0200\",\"event_type\":\"dns\",\"src_ip\":\"192.168.1.129\",\"dest_ip\":\"192.168.1.1\",\"dns\":{\"type\":\"query\",\"id\":2,\"rrname\":\"www.google.com\",\"rrtype\":\"A\",\"tx_id\":0}}\n\
                 {\"timestamp\":\"2021-06-06T16:26:27.5+0200\",\"event_type\":\"dns\",\"src_ip\":\"192.168.1.1\",\"dest_ip\":\"192.168.1.129\",\"dns\":{\"version\":2,\"type\":\"answer\",\"id\":2,\"flags\":\"8183\",\"rrname\":\"qwrtzpxk.net\",\"rrtype\":\"A\",\"rcode\":\"NXDOMAIN\"}}\n\
                 {\"timestamp\":\"2021-06-06T16:26:28+0200\",\"event_type\":\"flow\",\"src_ip\":\"192.168.1.129\"}",
                vec![
                    query(
                        Some("2021-06-06T16:26:27.431769+0200"),
                        Some("192.168.1.129"),
                        "www.google.com",
                        None,
                    ),
                    answer(
                        Some("2021-06-06T16:26:27.5+0200"),
                        Some("192.168.1.129"),
                        "qwrtzpxk.net",
                        "NXDOMAIN",
                    ),
                    Parsed::Skip,
                ],
            ),
            (
                "suricata v3",
                "{\"timestamp\":\"2024-05-01T10:00:00.000000+0000\",\"event_type\":\"dns\",\"src_ip\":\"10.0.0.9\",\"dest_ip\":\"10.0.0.1\",\"dns\":{\"version\":3,\"type\":\"request\",\"id\":1,\"queries\":[{\"rrname\":\"xjkd8f2h.com\",\"rrtype\":\"A\"}]}}\n\
                 {\"timestamp\":\"2024-05-01T10:00:00.010000+0000\",\"event_type\":\"dns\",\"src_ip\":\"10.0.0.1\",\"dest_ip\":\"10.0.0.9\",\"dns\":{\"version\":3,\"type\":\"response\",\"id\":1,\"rcode\":\"NXDOMAIN\",\"queries\":[{\"rrname\":\"xjkd8f2h.com\",\"rrtype\":\"A\"}]}}",
                vec![
                    query(
                        Some("2024-05-01T10:00:00.000000+0000"),
                        Some("10.0.0.9"),
                        "xjkd8f2h.com",
                        None,
                    ),
                    answer(
                        Some("2024-05-01T10:00:00.010000+0000"),
                        Some("10.0.0.9"),
                        "xjkd8f2h.com",
                        "NXDOMAIN",
                    ),
                ],
            ),
            (
                "dnsmasq",
                "Nov 23 01:02:03 dnsmasq[612]: query[A] qwrtzpxk.net from 192.168.1.5\n\
                 Nov 23 01:02:03 dnsmasq[612]: forwarded qwrtzpxk.net to 1.1.1.1\n\
                 Nov 23 01:02:03 dnsmasq[612]: reply qwrtzpxk.net is NXDOMAIN\n\
                 Nov 23 01:02:04 dnsmasq[612]: reply www.google.com is 142.250.1.1",
                vec![
                    query(
                        Some("Nov 23 01:02:03"),
                        Some("192.168.1.5"),
                        "qwrtzpxk.net",
                        None,
                    ),
                    Parsed::Skip,
                    answer(Some("Nov 23 01:02:03"), None, "qwrtzpxk.net", "NXDOMAIN"),
                    answer(Some("Nov 23 01:02:04"), None, "www.google.com", "NOERROR"),
                ],
            ),
            (
                "dnsmasq in syslog",
                "Nov  3 01:02:03 gateway dnsmasq[612]: query[AAAA] example.org from 192.168.1.7",
                vec![query(
                    Some("Nov  3 01:02:03"),
                    Some("192.168.1.7"),
                    "example.org",
                    None,
                )],
            ),
            (
                "dnsmasq on stderr",
                "dnsmasq: query[A] example.org from 192.168.50.10",
                vec![query(None, Some("192.168.50.10"), "example.org", None)],
            ),
            (
                "bind",
                "23-Nov-2026 01:02:03.456 client @0x7f1c 192.168.1.9#53535 (Example.com): query: Example.com IN A +E(0) (10.0.0.1)",
                vec![query(
                    Some("23-Nov-2026 01:02:03.456"),
                    Some("192.168.1.9"),
                    "Example.com",
                    None,
                )],
            ),
            (
                "bind in syslog, with a category",
                "Nov 27 10:00:00 ns1 named[1234]: queries: info: client @0x7f3a 10.1.2.3#41000 (xjkd8f2h.com): query: xjkd8f2h.com IN A + (10.0.0.53)",
                vec![query(
                    Some("Nov 27 10:00:00"),
                    Some("10.1.2.3"),
                    "xjkd8f2h.com",
                    None,
                )],
            ),
            (
                "coredns",
                "[INFO] 10.244.0.1:52134 - 4505 \"A IN example.org. udp 41 false 512\" NXDOMAIN qr,rd,ra 41 0.000215s",
                vec![query(
                    None,
                    Some("10.244.0.1"),
                    "example.org",
                    Some("NXDOMAIN"),
                )],
            ),
            (
                "coredns with kubectl's timestamps",
                "2024-05-01T12:00:00.123456789Z [INFO] [::1]:50759 - 29008 \"AAAA IN qwrtzpxk.net. udp 41 false 4096\" NOERROR qr,rd,ra 68 0.0001s",
                vec![query(
                    Some("2024-05-01T12:00:00.123456789Z"),
                    Some("::1"),
                    "qwrtzpxk.net",
                    Some("NOERROR"),
                )],
            ),
            (
                "unbound queries and replies",
                "[1700000000] unbound[1234:0] info: 192.168.1.10 example.com. A IN\n\
                 [1700000001] unbound[1234:0] info: 192.168.1.10 xjkd8f2h.com. A IN NXDOMAIN 0.000000 0 45\n\
                 [1700000002] unbound[1234:0] info: start of service (unbound 1.19.0).",
                vec![
                    query(
                        Some("1700000000"),
                        Some("192.168.1.10"),
                        "example.com",
                        None,
                    ),
                    query(
                        Some("1700000001"),
                        Some("192.168.1.10"),
                        "xjkd8f2h.com",
                        Some("NXDOMAIN"),
                    ),
                    Parsed::Skip,
                ],
            ),
            (
                "unbound in syslog",
                "Mar 21 10:00:00 resolver unbound: [1234:0] info: 10.0.0.2 example.net. AAAA IN",
                vec![query(
                    Some("Mar 21 10:00:00"),
                    Some("10.0.0.2"),
                    "example.net",
                    None,
                )],
            ),
            (
                "plain",
                "google.com\n# a comment\nexample.com.",
                vec![
                    query(None, None, "google.com", None),
                    Parsed::Skip,
                    query(None, None, "example.com", None),
                ],
            ),
        ];
        for (what, text, expected) in cases {
            assert_eq!(parse_all(Format::Auto, text), expected, "{what}");
        }
    }

    #[test]
    fn lines_a_format_cannot_explain_say_why() {
        let zeek = parse_all(Format::Zeek, "1700000000.1\tC1\tx.com");
        assert!(matches!(&zeek[0], Parsed::Unparsed(why) if why.contains("#fields")));
        let json = parse_all(Format::Json, "{\"query\": ");
        assert!(matches!(&json[0], Parsed::Unparsed(why) if why.contains("JSON")));
        let auto = parse_all(Format::Auto, "some words that are no log line");
        assert!(matches!(&auto[0], Parsed::Unparsed(_)));
    }

    #[test]
    fn a_json_field_can_be_named() {
        let mut parser = Parser::new(Format::Json, Some("dns.rrname".into()));
        assert_eq!(
            parser.parse(r#"{"dns.rrname":"evil.biz","query":"other.com"}"#),
            query(None, None, "evil.biz", None)
        );
    }

    #[test]
    fn a_pasted_log_is_read_whole_and_a_list_is_not_a_log() {
        let zeek = "#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_p\tquery\n\
                    1.0\t10.0.0.5\t53\tGoogle.com\n2.0\t10.0.0.6\t53\tgoogle.com\n3.0\t10.0.0.6\t53\tx.org";
        let log = read_log(zeek).expect("a Zeek log");
        assert_eq!(log.format, Format::Zeek);
        assert_eq!(log.queries(), 3);
        assert_eq!(
            log.names,
            [(3, "Google.com".to_owned()), (5, "x.org".to_owned())]
        );
        assert_eq!(log.events.last().map(|e| e.1), Some(3.0));
        assert!(read_log("google.com\nxjkd8f2h.com\n").is_none());
        assert!(read_log("see https://www.google.com/x and xjkd8f2h.com, not 10.0.0.1").is_none());
        assert!(read_log("{\"other\": 1}").is_none());
    }

    #[test]
    fn timestamps_become_seconds_on_one_clock() {
        let table = [
            ("1700000000.25", Some(1_700_000_000.25)),
            ("1970-01-02T00:00:00Z", Some(86_400.0)),
            ("2023-11-14T22:13:20+00:00", Some(1_700_000_000.0)),
            ("2023-11-15T00:13:20.5+0200", Some(1_700_000_000.5)),
            ("2023-11-14 22:13:20", Some(1_700_000_000.0)),
            ("14-Nov-2023 22:13:20.000", Some(1_700_000_000.0)),
            ("Jan  1 00:00:10", Some(946_684_810.0)),
            ("Feb 29 00:00:00", Some(951_782_400.0)),
            ("Nov 31 25:00:00", None),
            ("yesterday", None),
            ("12-Nov-2015 23:34:08.622", Some(1_447_371_248.622)),
            ("", None),
        ];
        for (text, expected) in table {
            assert_eq!(parse_time(text), expected, "{text}");
        }
    }
}
