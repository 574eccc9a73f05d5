//! The batch tab: a pasted list, free text or log lines, or a chosen or dropped file, scored in
//! steps with a progress bar; a sortable, filterable table, a histogram and a CSV download. A
//! DNS log (any format `monitor` reads) goes through `monitor`'s parser, and a capture file
//! (pcap, pcapng) through its capture reader, in the browser: each query name is scored once,
//! and its hosts are judged as `monitor` judges them.

use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::HashMap;

use dnswatch::capture::{self, Content};
use dnswatch::dnslog::{self, LogRead};
use dnswatch::hosts::{Alert, HostAlert, HostRules, HostTracker, NameScore};
use model_core::extract;
use model_core::report::{CSV_HEADER, csv_row};
use model_core::{AllowList, DomainError, RiskThresholds, Verdict};
use wasm_bindgen::JsCast;

use crate::app::{ModelState, Shared};
use crate::assets;
use crate::engine;

/// Uploads beyond this many lines are cut, and the visitor told.
const MAX_LINES: usize = 100_000;
/// Rows drawn in the table; all rows go into the CSV.
const MAX_SHOWN: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Line,
    DgaFirst,
    BenignFirst,
    Domain,
}

/// One scored (or unscorable) candidate, with the line it came from.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    line: usize,
    verdict: Verdict,
}

/// What a finished run left. Read through `with`, never cloned whole: it can hold 100k rows.
#[derive(Debug, Clone, Default, PartialEq)]
struct Outcome {
    rows: Vec<Row>,
    note: Option<String>,
    summary: String,
    /// For a DNS log: the hosts alerted (empty when none was); `None` for a list or text.
    hosts: Option<Vec<Alert>>,
}

/// What a run scores: text (pasted or a text file), or a capture file's bytes.
enum Job {
    Text(String),
    Capture { name: String, bytes: Vec<u8> },
}

/// Bars of the `p_dga` histogram.
const BINS: usize = 20;

#[component]
pub fn Batch() -> impl IntoView {
    let shared = expect_context::<Shared>();
    let (text, set_text) = signal(String::new());
    let progress = RwSignal::new(None::<f64>);
    let outcome = RwSignal::new(Outcome::default());
    let (filter, set_filter) = signal(String::new());
    let (risk_filter, set_risk_filter) = signal(String::from("all"));
    let (order, set_order) = signal(Order::Line);

    let run = move |job: Job, note: Option<String>| {
        if progress.get_untracked().is_some() {
            return;
        }
        progress.set(Some(0.0));
        spawn_local(async move {
            let result = match job {
                Job::Text(input) => score_text(shared, &input, progress).await,
                Job::Capture { name, bytes } => {
                    score_capture(shared, &name, &bytes, progress).await
                }
            };
            progress.set(None);
            outcome.set(match result {
                Ok(mut o) => {
                    o.note = note;
                    o
                }
                Err(e) => Outcome {
                    note: Some(e),
                    ..Default::default()
                },
            });
        });
    };
    // A chosen or dropped file: a capture by its magic number, else text; never uploaded.
    let load = move |file: web_sys::File| {
        spawn_local(async move {
            let name = file.name();
            let bytes = match assets::read_file_bytes(&file).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    outcome.set(Outcome {
                        note: Some(format!("cannot read {name}: {e}")),
                        ..Default::default()
                    });
                    return;
                }
            };
            set_text.set(String::new());
            let sniff =
                |bytes: &[u8]| capture::sniff(&bytes[..bytes.len().min(capture::SNIFF_BYTES)]);
            // A compressed capture or log is opened first, as the `dga` command opens it.
            let (bytes, content) = match sniff(&bytes) {
                Content::Gzip => match assets::gunzip(&bytes).await {
                    Ok(unpacked) => {
                        let content = sniff(&unpacked);
                        (unpacked, content)
                    }
                    Err(e) => {
                        outcome.set(Outcome {
                            note: Some(format!(
                                "{name} is gzip-compressed and was not opened: {e} (decompress it first, or read it with the `dga` command)"
                            )),
                            ..Default::default()
                        });
                        return;
                    }
                },
                content => (bytes, content),
            };
            match content {
                Content::Pcap | Content::Pcapng => run(Job::Capture { name, bytes }, None),
                Content::Text => {
                    let content = String::from_utf8_lossy(&bytes);
                    let (list, note) = file_to_list(&name, &content);
                    run(Job::Text(list), note);
                }
                Content::Gzip => outcome.set(Outcome {
                    note: Some(format!(
                        "{name} is gzip inside gzip: decompress it first (the `dga` command reads it as it is)"
                    )),
                    ..Default::default()
                }),
                Content::Binary => outcome.set(Outcome {
                    note: Some(format!(
                        "{name} is a binary file, neither text (names, a DNS log) nor a pcap or pcapng capture"
                    )),
                    ..Default::default()
                }),
            }
        });
    };
    let on_file = move |ev: leptos::ev::Event| {
        let input: Option<web_sys::HtmlInputElement> = ev.target().and_then(|t| t.dyn_into().ok());
        if let Some(file) = input.and_then(|i| i.files()).and_then(|f| f.get(0)) {
            load(file);
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        if let Some(file) = ev
            .data_transfer()
            .and_then(|d| d.files())
            .and_then(|f| f.get(0))
        {
            load(file);
        }
    };

    // Filters and sorts references; only the rows drawn are copied.
    let visible = move || {
        let needle = filter.get().to_lowercase();
        let risk = risk_filter.get();
        let thresholds = shared.thresholds.get();
        let allow = shared.allow.get();
        let order = order.get();
        outcome.with(|o| {
            let mut rows: Vec<&Row> = o
                .rows
                .iter()
                .filter(|r| needle.is_empty() || r.verdict.input.to_lowercase().contains(&needle))
                .filter(|r| match (&r.verdict.result, risk.as_str()) {
                    (_, "all") => true,
                    (Err(_), "error") => true,
                    (Ok(s), level) => thresholds.risk_with(s, &allow).as_str() == level,
                    _ => false,
                })
                .collect();
            let p = |r: &&Row| {
                r.verdict
                    .result
                    .as_ref()
                    .map(|s| s.logit)
                    .unwrap_or(f32::NEG_INFINITY)
            };
            match order {
                Order::Line => {}
                Order::DgaFirst => rows.sort_by(|a, b| p(b).total_cmp(&p(a))),
                Order::BenignFirst => rows.sort_by(|a, b| p(a).total_cmp(&p(b))),
                Order::Domain => rows.sort_by(|a, b| a.verdict.input.cmp(&b.verdict.input)),
            }
            let total = rows.len();
            let shown: Vec<Row> = rows.into_iter().take(MAX_SHOWN).cloned().collect();
            (shown, total)
        })
    };
    let histogram = Memo::new(move |_| outcome.with(|o| bin_counts(&o.rows)));

    let download = move |_| {
        let csv = outcome.with_untracked(|o| {
            to_csv(
                &o.rows,
                shared.thresholds.get_untracked(),
                &shared.allow.get_untracked(),
            )
        });
        if let Err(e) = assets::download("dga-verdicts.csv", "text/csv", &csv) {
            outcome.update(|o| o.note = Some(format!("download failed: {e}")));
        }
    };

    view! {
        <label for="batch-input">"Paste domains, URLs, e-mail addresses, free text, or a DNS log (Zeek, Suricata, dnsmasq/Pi-hole, BIND, CoreDNS, Unbound); or drop a file here, a capture (pcap, pcapng) too: it is read in this browser, never uploaded"</label>
        <textarea id="batch-input" rows="10" spellcheck="false" prop:value=text
            on:input=move |ev| set_text.set(event_target_value(&ev))
            on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
            on:drop=on_drop></textarea>
        <div class="actions">
            <button id="batch-score"
                disabled=move || shared.model.get() != ModelState::Ready || progress.get().is_some()
                on:click=move |_| run(Job::Text(text.get_untracked()), None)>"Score"</button>
            <label class="file">"or open a .txt / .csv (up to 100,000 lines), a DNS log or a .pcap / .pcapng "
                <input id="batch-file" type="file" on:change=on_file/>
            </label>
            {move || progress.get().map(|p| view! {
                <progress id="batch-progress" max="1" value=p></progress>
                <span>{format!(" {:.0}%", p * 100.0)}</span>
            })}
        </div>
        {move || outcome.with(|o| o.note.clone()).map(|n| view! { <p class="note" id="batch-note">{n}</p> })}
        <Show when=move || outcome.with(|o| !o.rows.is_empty())>
            <p id="batch-summary">{move || outcome.with(|o| o.summary.clone())}</p>
            {move || outcome.with(|o| o.hosts.clone()).map(|hosts| view! { <Hosts hosts=hosts/> })}
            <Histogram counts=histogram/>
            <div class="actions">
                <input id="batch-filter" type="search" placeholder="filter" prop:value=filter
                    on:input=move |ev| set_filter.set(event_target_value(&ev))/>
                <select id="batch-risk" on:change=move |ev| set_risk_filter.set(event_target_value(&ev))>
                    <option value="all">"all"</option>
                    <option value="high">"high risk"</option>
                    <option value="medium">"medium risk"</option>
                    <option value="low">"low risk"</option>
                    <option value="allowed">"allowed"</option>
                    <option value="error">"not scored"</option>
                </select>
                <select id="batch-order" on:change=move |ev| set_order.set(match event_target_value(&ev).as_str() {
                    "dga" => Order::DgaFirst,
                    "benign" => Order::BenignFirst,
                    "domain" => Order::Domain,
                    _ => Order::Line,
                })>
                    <option value="line">"input order"</option>
                    <option value="dga">"most DGA-like first"</option>
                    <option value="benign">"most benign first"</option>
                    <option value="domain">"by input A–Z"</option>
                </select>
                <button id="batch-download" on:click=download>"Download CSV"</button>
            </div>
            {move || {
                let (rows, total) = visible();
                let shown = rows.len();
                let thresholds = shared.thresholds.get();
                let allow = shared.allow.get();
                view! {
                    <p class="muted" id="batch-shown">{
                        if total > shown { format!("showing {shown} of {total} rows; the CSV has all") } else { format!("{total} rows") }
                    }</p>
                    <table id="batch-table">
                        <thead><tr><th>"line"</th><th>"input"</th><th>"domain"</th><th>"p_dga"</th><th>"risk"</th><th>"family"</th></tr></thead>
                        <tbody>{rows.into_iter().map(|r| row_view(r, thresholds, &allow)).collect_view()}</tbody>
                    </table>
                }
            }}
        </Show>
    }
}

fn row_view(row: Row, thresholds: RiskThresholds, allow: &AllowList) -> impl IntoView + use<> {
    let family = match &row.verdict.result {
        Ok(s) if allow.entry_for(&s.domain).is_none() => s
            .family
            .as_ref()
            .map_or(String::new(), |f| format!("{} {:.0}%", f.name, 100.0 * f.p)),
        _ => String::new(),
    };
    let (domain, p, risk, class) = match &row.verdict.result {
        Ok(s) => {
            let risk = thresholds.risk_with(s, allow).as_str();
            (
                s.domain.name.clone(),
                format!("{:.4}", s.p_dga),
                risk.to_owned(),
                format!("risk risk-{risk}"),
            )
        }
        Err(DomainError::IpAddress(_)) => (
            String::new(),
            String::new(),
            "IP skipped".into(),
            "skipped".into(),
        ),
        Err(e) => (
            e.to_string(),
            String::new(),
            "not scored".into(),
            "skipped".into(),
        ),
    };
    view! {
        <tr>
            <td>{row.line}</td>
            <td>{row.verdict.input}</td>
            <td>{domain}</td>
            <td class="num">{p}</td>
            <td><span class=class>{risk}</span></td>
            <td>{family}</td>
        </tr>
    }
}

/// Extracts candidates, normalises and scores them on the batch backend.
async fn score_text(
    shared: Shared,
    input: &str,
    progress: RwSignal<Option<f64>>,
) -> Result<Outcome, String> {
    let Some(engine) = engine::engine() else {
        return Err("the model is not loaded".into());
    };
    if let Some(log) = dnslog::read_log(input) {
        let label = format!("{} log:", log.format.as_str());
        return score_log(shared, log, &label, &engine, progress).await;
    }
    let extracted = extract::candidates(input);
    if extracted.candidates.is_empty() {
        return Err("nothing to score: no line holds a name".into());
    }
    let inputs: Vec<&str> = extracted.candidates.iter().map(|c| c.text).collect();
    let (verdicts, seconds, backend) = score_timed(shared, &engine, &inputs, progress).await?;
    let rows: Vec<Row> = extracted
        .candidates
        .iter()
        .zip(verdicts)
        .map(|(c, verdict)| Row {
            line: c.line,
            verdict,
        })
        .collect();
    let scored = rows.iter().filter(|r| r.verdict.result.is_ok()).count();
    let ips = rows
        .iter()
        .filter(|r| matches!(r.verdict.result, Err(DomainError::IpAddress(_))))
        .count();
    let unparsable = rows.len() - scored - ips;
    let summary = format!(
        "{scored} scored, {ips} IP addresses skipped, {unparsable} not scorable, {} other words ignored; {:.2} s on {} ({:.0} names/s)",
        extracted.skipped_words,
        seconds,
        backend.label(),
        rows.len() as f64 / seconds.max(1e-6)
    );
    Ok(Outcome {
        rows,
        note: None,
        summary,
        hosts: None,
    })
}

/// Scores inputs on the batch backend with progress; returns the verdicts, the seconds it took
/// and the backend it ran on.
async fn score_timed(
    shared: Shared,
    engine: &engine::Engine,
    inputs: &[&str],
    progress: RwSignal<Option<f64>>,
) -> Result<(Vec<Verdict>, f64, engine::Backend), String> {
    let backend = shared.backend_for(true);
    let started = assets::now_ms();
    let verdicts = engine
        .score(inputs, backend, &|p| progress.set(Some(p)))
        .await?;
    Ok((verdicts, (assets::now_ms() - started) / 1000.0, backend))
}

/// Reads a capture file in the browser and scores it as the log of it.
async fn score_capture(
    shared: Shared,
    name: &str,
    bytes: &[u8],
    progress: RwSignal<Option<f64>>,
) -> Result<Outcome, String> {
    let Some(engine) = engine::engine() else {
        return Err("the model is not loaded".into());
    };
    let (log, summary) =
        capture::read_capture_log(bytes).map_err(|e| format!("cannot read {name}: {e}"))?;
    let label = format!("{name}: {};", summary.describe());
    score_log(shared, log, &label, &engine, progress).await
}

/// Scores a DNS log's distinct query names once each, then judges its hosts in log order.
/// `label` opens the summary (the log's format, or what a capture held).
async fn score_log(
    shared: Shared,
    log: LogRead,
    label: &str,
    engine: &engine::Engine,
    progress: RwSignal<Option<f64>>,
) -> Result<Outcome, String> {
    if log.names.is_empty() {
        return Err(format!("nothing to score: {label} no query"));
    }
    let inputs: Vec<&str> = log.names.iter().map(|(_, n)| n.as_str()).collect();
    let (verdicts, seconds, backend) = score_timed(shared, engine, &inputs, progress).await?;
    let evidence: HashMap<String, Option<NameScore>> = log
        .names
        .iter()
        .zip(&verdicts)
        .map(|((_, name), verdict)| (name.to_ascii_lowercase(), NameScore::of(verdict)))
        .collect();
    let mut tracker = HostTracker::new(HostRules::default())
        .with_lexicon(engine.lexicon().cloned().map(std::sync::Arc::new))
        .with_families(engine.families().cloned().map(std::sync::Arc::new));
    let hosts: Vec<Alert> = log
        .events
        .iter()
        .flat_map(|(_, time, parsed)| {
            let name = match parsed {
                dnslog::Parsed::Query(q) => Some(&q.name),
                dnslog::Parsed::Answer(a) => Some(&a.name),
                _ => None,
            };
            let score = name
                .and_then(|n| evidence.get(&n.to_ascii_lowercase()))
                .and_then(Option::as_ref);
            tracker.feed(parsed, *time, score)
        })
        .collect();
    let set_aside = verdicts
        .iter()
        .filter(|v| {
            v.result
                .as_ref()
                .err()
                .and_then(|e| e.set_aside())
                .is_some()
        })
        .count();
    let rows: Vec<Row> = log
        .names
        .iter()
        .zip(verdicts)
        .map(|((line, _), verdict)| Row {
            line: *line,
            verdict,
        })
        .collect();
    let summary = format!(
        "{label} {} queries, {} distinct names ({set_aside} no DGA candidate), {} lines not understood, {} hosts alerted; {:.2} s on {}",
        log.queries(),
        rows.len(),
        log.unparsed(),
        hosts.len(),
        seconds,
        backend.label(),
    );
    Ok(Outcome {
        rows,
        note: None,
        summary,
        hosts: Some(hosts),
    })
}

/// The hosts a log's queries alerted, as `monitor --alert-on hosts` would.
#[component]
fn Hosts(
    /// Host and campaign alerts in the order they were raised.
    hosts: Vec<Alert>,
) -> impl IntoView {
    if hosts.is_empty() {
        return view! {
            <p id="batch-hosts" class="muted">"Hosts: none alerted (no client's failed, generated-looking lookups in 10 minutes were improbable for its own traffic, and no hosts shared such names)."</p>
        }
        .into_any();
    }
    let mut campaigns = Vec::new();
    let mut alerted: Vec<HostAlert> = Vec::new();
    for alert in hosts {
        match alert {
            Alert::Host(host) => alerted.push(host),
            Alert::Campaign(campaign) => campaigns.push(campaign),
        }
    }
    let campaign_rows = campaigns
        .iter()
        .map(|c| view! { <li class="campaign">{c.reason()}</li> })
        .collect_view();
    let rows = alerted
        .into_iter()
        .map(|h| {
            let reason = h.reason();
            let families = h
                .families
                .iter()
                .map(|(f, n)| format!("{f} ({n})"))
                .collect::<Vec<_>>()
                .join(", ");
            let family = h
                .family
                .as_ref()
                .map_or_else(String::new, |f| f.name.clone());
            let names = h
                .names
                .iter()
                .take(5)
                .map(|e| format!("{} {}", e.query, e.rcode.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ");
            view! {
                <tr>
                    <td class="host-client">{h.client}</td>
                    <td class="num">{format!("{:.1}", h.evidence)}</td>
                    <td class="num">{h.names.len()}</td>
                    <td class="host-family">{family}</td>
                    <td>{families}</td>
                    <td>{names}</td>
                    <td class="host-reason">{reason}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div id="batch-hosts">
            <h3>"Hosts alerted"</h3>
            <table id="batch-hosts-table">
                <thead><tr><th>"client"</th><th>"evidence (log-likelihood ratio)"</th><th>"names"</th><th>"family of the host"</th><th>"families by name"</th><th>"first names"</th><th>"why"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <ul id="batch-campaigns">{campaign_rows}</ul>
        </div>
    }
    .into_any()
}

/// An uploaded file as a list to score: a CSV's `domain` column, or the text itself; at most
/// [`MAX_LINES`] lines, with a note when cut.
fn file_to_list(name: &str, content: &str) -> (String, Option<String>) {
    let total = content.lines().count();
    let kept: String = if total > MAX_LINES {
        content
            .lines()
            .take(MAX_LINES)
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        content.to_owned()
    };
    let mut note = (total > MAX_LINES)
        .then(|| format!("{name} has {total} lines; scored the first {MAX_LINES}"));
    if let Some(column) = extract::domain_column(kept.lines().next().unwrap_or_default()) {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(kept.as_bytes());
        let mut list = Vec::new();
        let mut bad = 0;
        for record in reader.records() {
            match record {
                Ok(r) => list.push(r.get(column).unwrap_or("").replace(['\n', '\r'], " ")),
                Err(_) => bad += 1,
            }
        }
        if bad > 0 {
            note = Some(format!(
                "{}{bad} unreadable CSV rows skipped",
                note.map(|n| n + "; ").unwrap_or_default()
            ));
        }
        return (list.join("\n"), note);
    }
    (kept, note)
}

/// All rows as CSV (same columns as `dga predict`, plus the input line), with the risk at
/// the thresholds on screen.
fn to_csv(rows: &[Row], thresholds: RiskThresholds, allow: &AllowList) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = std::iter::once("line").chain(CSV_HEADER).collect();
    let _ = writer.write_record(&header);
    for row in rows {
        let mut verdict: Verdict = row.verdict.clone();
        if let Ok(s) = &mut verdict.result {
            s.allowed = allow.entry_for(&s.domain).map(str::to_owned);
            s.risk = thresholds.risk_of(s);
            if s.allowed.is_some() {
                // Allowed names are benign by the visitor's word: no family, as in `predict`.
                s.family = None;
            }
        }
        let cells = csv_row(&verdict);
        let _ = writer.write_record(std::iter::once(row.line.to_string()).chain(cells));
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// How many scored rows fall in each of the [`BINS`] equal `p_dga` ranges.
fn bin_counts(rows: &[Row]) -> [usize; BINS] {
    let mut counts = [0usize; BINS];
    for row in rows {
        if let Ok(s) = &row.verdict.result {
            counts[((s.p_dga * BINS as f32) as usize).min(BINS - 1)] += 1;
        }
    }
    counts
}

/// `p_dga` counts as SVG bars.
#[component]
fn Histogram(
    /// Scored rows per bin (see [`bin_counts`]).
    #[prop(into)]
    counts: Signal<[usize; BINS]>,
) -> impl IntoView {
    let bars = move || {
        let counts = counts.get();
        let most = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        counts
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let h = 100.0 * c as f64 / most;
                let title = format!("p_dga {:.2}–{:.2}: {c}", i as f64 / BINS as f64, (i + 1) as f64 / BINS as f64);
                view! { <rect x=i * 20 + 1 y=100.0 - h width="18" height=h><title>{title}</title></rect> }
            })
            .collect_view()
    };
    view! {
        <figure class="histogram">
            <svg viewBox="0 0 400 100" role="img" aria-label="histogram of p_dga">{bars}</svg>
            <figcaption>"p_dga from 0 (left) to 1 (right)"</figcaption>
        </figure>
    }
}
