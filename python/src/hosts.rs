//! Host judgement for Python, with the tracker `dga monitor` feeds (`dnswatch::hosts`):
//! `Detector.hosts` judges a whole table in one pass, as `monitor` reads a log; `spark.hosts`
//! judges each client apart, pass after pass, then finds campaigns (`dnswatch::split` says why
//! that reaches the same alerts).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use burn::backend::Flex;
use dnswatch::dnslog::{is_unset, without_root_dot};
use dnswatch::hosts::{Alert, HostAlert, HostRules, HostTracker, NameScore};
use dnswatch::network::{FailedName, Position};
use dnswatch::rates::{Bucket, CATEGORIES};
use dnswatch::split::{ClientPart, Lookup, campaigns, judge_client};
use model_core::parallel::{Input, score_each};
use model_core::words::Lexicon;
use model_core::{Detector, FamilyConfig};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::{bit, read_i32};

/// An Arrow string array as its buffers: offset, validity bitmap, 32-bit offsets, UTF-8 data.
#[derive(FromPyObject)]
pub struct Strings(usize, Option<Py<PyBytes>>, Py<PyBytes>, Py<PyBytes>);

/// An Arrow array of fixed-width numbers without nulls: offset and values.
#[derive(FromPyObject)]
pub struct Numbers(usize, Py<PyBytes>);

/// An alert as Python gets it: log time, kind (`host`, `campaign`), client (hosts only) and
/// the alert as `monitor` writes it, as JSON.
pub type AlertRow = (f64, &'static str, Option<String>, String);

/// Each name's evidence as columns: registrable domain (None: no evidence), registrable label,
/// p_dga, family, and the family head's kept classes as text ([`classes_text`]).
pub type EvidenceColumns = (
    Vec<Option<String>>,
    Vec<String>,
    Vec<f32>,
    Vec<Option<String>>,
    Vec<String>,
);

/// The family head's kept classes of a name as Spark carries them between its steps:
/// `class:p` pairs separated by spaces. Rust writes each `f32` in the shortest form that reads
/// back to the same value, so the host's family is computed from the very probabilities
/// `monitor` pools.
pub fn classes_text(classes: &[(u32, f32)]) -> String {
    classes
        .iter()
        .map(|(c, p)| format!("{c}:{p}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The inverse of [`classes_text`]; pairs that do not read are dropped.
fn classes_of(text: &str) -> Vec<(u32, f32)> {
    text.split_whitespace()
        .filter_map(|pair| {
            let (c, p) = pair.split_once(':')?;
            Some((c.parse().ok()?, p.parse().ok()?))
        })
        .collect()
}

/// One client's judgement, for the next pass and the campaign pass: host alerts (as
/// [`HostAlert`] JSON), history by stretch, first lookups of popular candidates, failed
/// generated names, and changes in leaning.
type JudgedRow = (
    Vec<(f64, i64, String)>,
    Vec<(i64, Vec<u32>)>,
    Vec<(String, f64, i64)>,
    Vec<(f64, i64, String, String, f32)>,
    Vec<(f64, i64, bool)>,
);

/// A client's part in the campaign pass, as [`NativeHosts::judge`] returned it.
type PartRow = (
    String,
    Vec<(f64, i64, String, String, f32)>,
    Vec<(f64, i64, bool)>,
    Vec<(f64, i64, String)>,
);

struct StrView<'a> {
    len: usize,
    offset: usize,
    validity: Option<&'a [u8]>,
    offsets: &'a [u8],
    data: &'a [u8],
}

impl<'a> StrView<'a> {
    fn new(py: Python<'a>, column: &'a Strings, len: usize) -> PyResult<Self> {
        let offsets = column.2.as_bytes(py);
        if offsets.len() < 4 * (column.0 + len + 1) {
            return Err(PyValueError::new_err(
                "a string column's offsets are shorter than the table",
            ));
        }
        Ok(Self {
            len,
            offset: column.0,
            validity: column.1.as_ref().map(|v| v.as_bytes(py)),
            offsets,
            data: column.3.as_bytes(py),
        })
    }

    fn get(&self, i: usize) -> Option<Cow<'a, str>> {
        let at = self.offset + i;
        if i >= self.len || self.validity.is_some_and(|v| !bit(v, at)) {
            return None;
        }
        let start = read_i32(self.offsets, at) as usize;
        let end = read_i32(self.offsets, at + 1) as usize;
        Some(String::from_utf8_lossy(
            self.data.get(start..end).unwrap_or_default(),
        ))
    }

    /// The cell as a log's value: none when null or one of Zeek's marks for no value (`-`), as
    /// `monitor`'s Zeek reader takes them, for tables read from Zeek's TSV logs.
    fn value(&self, i: usize) -> Option<Cow<'a, str>> {
        self.get(i).filter(|cell| !is_unset(cell))
    }

    /// The cell as a queried name: a value, without the root's dot, as the log parsers give
    /// names; borrowed from the buffer when it is valid UTF-8.
    fn name(&self, i: usize) -> Option<Cow<'a, str>> {
        self.value(i).map(|cell| match cell {
            Cow::Borrowed(text) => Cow::Borrowed(without_root_dot(text)),
            Cow::Owned(text) => Cow::Owned(without_root_dot(&text).to_owned()),
        })
    }
}

/// `len` numbers of `WIDTH` bytes from `column`, read by `read`.
fn numbers<T, const WIDTH: usize>(
    py: Python<'_>,
    column: &Numbers,
    len: usize,
    read: fn([u8; WIDTH]) -> T,
) -> PyResult<Vec<T>> {
    let bytes = column.1.as_bytes(py);
    let start = WIDTH * column.0;
    let values = bytes
        .get(start..start + WIDTH * len)
        .ok_or_else(|| PyValueError::new_err("a number column is shorter than the table"))?;
    Ok(values
        .chunks_exact(WIDTH)
        .map(|c| read(c.try_into().expect("WIDTH bytes")))
        .collect())
}

/// The host rules `monitor` takes from `--host-window-s` and `--host-budget`.
pub fn rules(window_s: f64, budget: f64) -> PyResult<HostRules> {
    let usable = window_s.is_finite() && window_s >= 1.0 && budget.is_finite() && budget > 0.0;
    if !usable {
        return Err(PyValueError::new_err(format!(
            "window_s must be at least 1 and budget above 0, not window_s={window_s} budget={budget}"
        )));
    }
    Ok(HostRules {
        window_s,
        budget,
        ..HostRules::default()
    })
}

/// The word graph's dictionaries, from the detector's weights.
pub fn lexicon(detector: &Detector<Flex>) -> Option<Arc<Lexicon>> {
    detector
        .config()
        .words
        .as_ref()
        .map(|w| Arc::new(w.lexicon.clone()))
}

/// Each name's evidence (`None`: no evidence, such as an IP address or an empty name), each
/// distinct name scored once. Names lose the root's dot, as the log parsers drop it.
fn evidence(
    detector: &Detector<Flex>,
    threads: usize,
    names: &[Option<&str>],
) -> Vec<Option<NameScore>> {
    let mut distinct: HashMap<&str, usize> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for &name in names.iter().flatten() {
        distinct.entry(name).or_insert_with(|| {
            order.push(name);
            order.len() - 1
        });
    }
    let inputs: Vec<Input> = order
        .iter()
        .map(|text| Input {
            text,
            problem: None,
        })
        .collect();
    let scores: Vec<Option<NameScore>> = score_each(detector, threads, &inputs)
        .iter()
        .map(NameScore::of)
        .collect();
    names
        .iter()
        .map(|name| name.and_then(|n| scores[distinct[n]].clone()))
        .collect()
}

fn alert_row(alert: &Alert) -> AlertRow {
    match alert {
        Alert::Host(host) => (
            host.time,
            "host",
            Some(host.client.clone()),
            host.json().to_string(),
        ),
        Alert::Campaign(campaign) => (campaign.time, "campaign", None, campaign.json().to_string()),
    }
}

/// `Detector.hosts`: one pass over the rows in log order (time, then row), the network's facts
/// learned as they come, as `monitor` does. Rows without a client, a finite time or a name are
/// skipped and counted.
#[allow(clippy::too_many_arguments)]
pub fn judge_table(
    py: Python<'_>,
    detector: &Detector<Flex>,
    threads: usize,
    rules: HostRules,
    len: usize,
    client: &Strings,
    time: &Numbers,
    query: &Strings,
    rcode: &Strings,
) -> PyResult<(Vec<AlertRow>, usize)> {
    let clients = StrView::new(py, client, len)?;
    let queries = StrView::new(py, query, len)?;
    let rcodes = StrView::new(py, rcode, len)?;
    let times = numbers(py, time, len, f64::from_le_bytes)?;
    let mut rows = Vec::with_capacity(len);
    let mut skipped = 0;
    for (i, &t) in times.iter().enumerate() {
        match (clients.value(i), queries.name(i)) {
            (Some(c), Some(q)) if t.is_finite() && !q.is_empty() => rows.push((
                Position {
                    time: t,
                    seq: i as i64,
                },
                c,
                q,
                rcodes.value(i),
            )),
            _ => skipped += 1,
        }
    }
    rows.sort_by(|a, b| a.0.order(&b.0));
    let names: Vec<Option<&str>> = rows.iter().map(|r| Some(r.2.as_ref())).collect();
    let alerts = py.detach(|| {
        let scores = evidence(detector, threads, &names);
        let mut tracker = HostTracker::new(rules)
            .with_lexicon(lexicon(detector))
            .with_families(detector.config().family.clone().map(Arc::new));
        let mut alerts = Vec::new();
        for ((position, client, name, rcode), score) in rows.iter().zip(&scores) {
            if let Some(score) = score {
                let raised = tracker.observe(client, position.time, name, rcode.as_deref(), score);
                alerts.extend(raised.iter().map(alert_row));
            }
        }
        alerts
    });
    Ok((alerts, skipped))
}

/// `spark.hosts`' first step: each distinct name's evidence, as columns (registrable domain,
/// registrable label, p_dga, family); names with no evidence get a null registrable domain.
pub fn name_evidence(
    py: Python<'_>,
    detector: &Detector<Flex>,
    threads: usize,
    len: usize,
    names: &Strings,
) -> PyResult<EvidenceColumns> {
    let view = StrView::new(py, names, len)?;
    let names: Vec<Option<Cow<str>>> = (0..len).map(|i| view.name(i)).collect();
    let names: Vec<Option<&str>> = names.iter().map(Option::as_deref).collect();
    let scores = py.detach(|| evidence(detector, threads, &names));
    let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for score in scores {
        match score {
            Some(s) => {
                columns.0.push(Some(s.registrable_domain));
                columns.1.push(s.label);
                columns.2.push(s.p_dga);
                columns.3.push(s.family);
                columns.4.push(classes_text(&s.family_classes));
            }
            None => {
                columns.0.push(None);
                columns.1.push(String::new());
                columns.2.push(0.0);
                columns.3.push(None);
                columns.4.push(String::new());
            }
        }
    }
    Ok(columns)
}

/// The rules and the word graph's dictionaries `spark.hosts` judges clients with, and the
/// network's facts of one pass.
#[pyclass(frozen)]
pub struct NativeHosts {
    rules: HostRules,
    lexicon: Option<Arc<Lexicon>>,
    families: Option<Arc<FamilyConfig>>,
    history: BTreeMap<i64, Bucket>,
    popular: Arc<HashMap<String, Position>>,
}

#[pymethods]
impl NativeHosts {
    /// `weights`: a `.dgaw` file's bytes (None: the shipped model), for its dictionaries; no
    /// facts yet (see [`NativeHosts::given`]). Made once per Python worker.
    #[new]
    #[pyo3(signature = (weights, window_s, budget))]
    fn new(weights: Option<&[u8]>, window_s: f64, budget: f64) -> PyResult<Self> {
        let detector = Detector::<Flex>::from_weights(
            weights.unwrap_or(crate::SHIPPED_WEIGHTS),
            Default::default(),
        )
        .map_err(|e| PyValueError::new_err(format!("the weights are not usable: {e}")))?;
        Ok(Self {
            rules: rules(window_s, budget)?,
            lexicon: lexicon(&detector),
            families: detector.config().family.clone().map(Arc::new),
            history: BTreeMap::new(),
            popular: Arc::default(),
        })
    }

    /// The same rules and dictionaries with one pass's facts: `history`, (stretch, counts by
    /// category); `popular`, (registrable domain, time, seq) of the lookup that made each name
    /// popular.
    fn given(
        &self,
        history: Vec<(i64, Vec<u32>)>,
        popular: Vec<(String, f64, i64)>,
    ) -> PyResult<Self> {
        let mut buckets = BTreeMap::new();
        for (bucket, counts) in history {
            let counts: Bucket = counts.try_into().map_err(|c: Vec<u32>| {
                PyValueError::new_err(format!(
                    "a history stretch has {} counts, not {CATEGORIES}",
                    c.len()
                ))
            })?;
            buckets.insert(bucket, counts);
        }
        Ok(Self {
            rules: self.rules,
            lexicon: self.lexicon.clone(),
            families: self.families.clone(),
            history: buckets,
            popular: Arc::new(
                popular
                    .into_iter()
                    .map(|(name, time, seq)| (name, Position { time, seq }))
                    .collect(),
            ),
        })
    }

    /// Distinct clients that make an answered name popular.
    #[getter]
    fn popular_clients(&self) -> usize {
        self.rules.popular_clients
    }

    /// Judges one client's rows (any order; judged in time, then `seq`, order). A null
    /// registrable domain marks a name that is no evidence.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (client, len, time, seq, query, rcode, registrable, label, p_dga, family, classes))]
    fn judge(
        &self,
        py: Python<'_>,
        client: String,
        len: usize,
        time: Numbers,
        seq: Numbers,
        query: Strings,
        rcode: Strings,
        registrable: Strings,
        label: Strings,
        p_dga: Numbers,
        family: Strings,
        classes: Strings,
    ) -> PyResult<JudgedRow> {
        if is_unset(&client) {
            // No client (Zeek's `-`): `monitor` judges no host for such lines either.
            return Ok(Default::default());
        }
        let times = numbers(py, &time, len, f64::from_le_bytes)?;
        let seqs = numbers(py, &seq, len, i64::from_le_bytes)?;
        let ps = numbers(py, &p_dga, len, f32::from_le_bytes)?;
        let queries = StrView::new(py, &query, len)?;
        let rcodes = StrView::new(py, &rcode, len)?;
        let registrables = StrView::new(py, &registrable, len)?;
        let labels = StrView::new(py, &label, len)?;
        let families = StrView::new(py, &family, len)?;
        let classes = StrView::new(py, &classes, len)?;
        let names: Vec<Cow<str>> = (0..len)
            .map(|i| queries.name(i).unwrap_or_default())
            .collect();
        let codes: Vec<Option<Cow<str>>> = (0..len).map(|i| rcodes.value(i)).collect();
        let lookups: Vec<Lookup> = (0..len)
            .map(|i| Lookup {
                position: Position {
                    time: times[i],
                    seq: seqs[i],
                },
                name: &names[i],
                rcode: codes[i].as_deref(),
                score: registrables.get(i).map(|r| NameScore {
                    registrable_domain: r.into_owned(),
                    label: labels.get(i).map(Cow::into_owned).unwrap_or_default(),
                    p_dga: ps[i],
                    family: families.get(i).map(Cow::into_owned),
                    family_classes: classes.get(i).map_or_else(Vec::new, |t| classes_of(&t)),
                }),
            })
            .collect();
        let judged = judge_client(
            self.rules,
            (self.lexicon.clone(), self.families.clone()),
            &self.history,
            self.popular.clone(),
            &client,
            lookups,
        );
        let alerts = judged
            .alerts
            .iter()
            .map(|(p, alert)| {
                serde_json::to_string(alert)
                    .map(|json| (p.time, p.seq, json))
                    .map_err(|e| PyValueError::new_err(e.to_string()))
            })
            .collect::<PyResult<_>>()?;
        let record = judged.record;
        Ok((
            alerts,
            record
                .history
                .into_iter()
                .map(|(b, counts)| (b, counts.to_vec()))
                .collect(),
            record
                .popular
                .into_iter()
                .map(|(name, p)| (name, p.time, p.seq))
                .collect(),
            record
                .failed
                .into_iter()
                .map(|f| {
                    (
                        f.position.time,
                        f.position.seq,
                        f.query,
                        f.registrable_domain,
                        f.p_dga,
                    )
                })
                .collect(),
            judged
                .leaning
                .into_iter()
                .map(|(p, l)| (p.time, p.seq, l))
                .collect(),
        ))
    }

    /// The campaign pass over every client's part: campaign alerts and the host alerts,
    /// completed with the hosts each shares failed names with, in log order.
    fn campaigns(&self, parts: Vec<PartRow>) -> PyResult<Vec<AlertRow>> {
        let position = |time, seq| Position { time, seq };
        let parts = parts
            .into_iter()
            .map(|(client, failed, leaning, alerts)| {
                let alerts = alerts
                    .into_iter()
                    .map(|(time, seq, json)| {
                        serde_json::from_str::<HostAlert>(&json)
                            .map(|alert| (position(time, seq), alert))
                            .map_err(|e| PyValueError::new_err(format!("not a host alert: {e}")))
                    })
                    .collect::<PyResult<_>>()?;
                Ok(ClientPart {
                    client,
                    failed: failed
                        .into_iter()
                        .map(|(time, seq, query, registrable_domain, p_dga)| FailedName {
                            position: position(time, seq),
                            query,
                            registrable_domain,
                            p_dga,
                        })
                        .collect(),
                    leaning: leaning
                        .into_iter()
                        .map(|(time, seq, l)| (position(time, seq), l))
                        .collect(),
                    alerts,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(campaigns(self.rules, parts)
            .iter()
            .map(|(_, alert)| alert_row(alert))
            .collect())
    }
}
