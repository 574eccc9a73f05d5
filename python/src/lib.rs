//! The native half of the `dga_detect` Python package: names in as Arrow string buffers, the
//! verdict columns out as Arrow buffers, scored on the package's own threads with the GIL
//! released. The Python half (`py_src/dga_detect/__init__.py`) turns those buffers into a
//! `pyarrow.Table` without one Python object per cell.

use std::borrow::Cow;

use burn::backend::Flex;
use model_core::parallel::{Input, score_each};
use model_core::report::{COLUMN_KINDS, CSV_HEADER, Cell, Kind, cells};
use model_core::{AllowList, Detector, RiskThresholds, Verdict};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Burn's CPU backend allocates and frees a buffer per tensor operation; mimalloc reuses them
/// where the system allocator would hand them back to the kernel each time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod hosts;

/// The shipped weights, carried in the wheel so that `Detector()` needs no file (a static: a
/// const would be copied into each place that uses it).
static SHIPPED_WEIGHTS: &[u8] = include_bytes!("../../model/dga.dgaw");

/// What a null (or non-text) entry of the input gets as its error.
const MISSING: &str = "missing name: null or not text";

/// One output column as Arrow buffers: its type, validity bitmap, and then the values (a
/// bitmap for `bool`, little-endian `f32`s for `float32`, or offsets and UTF-8 bytes for
/// `string`).
type Column<'py> = (&'static str, Bound<'py, PyBytes>, Vec<Bound<'py, PyBytes>>);

/// A loaded model with its thresholds, allow-list and thread count.
#[pyclass(frozen)]
struct NativeDetector {
    detector: Detector<Flex>,
    threads: usize,
}

#[pymethods]
impl NativeDetector {
    /// `weights`: a `.dgaw` file's bytes, or None for the shipped model. `allow`: allow-list
    /// texts (one name per line, `#` comments). `threads`: 0 for every core.
    #[new]
    #[pyo3(signature = (weights, allow, shipped_allow, high, medium, threads))]
    fn new(
        weights: Option<&[u8]>,
        allow: Vec<(String, String)>,
        shipped_allow: bool,
        high: f32,
        medium: f32,
        threads: usize,
    ) -> PyResult<Self> {
        let mut detector =
            Detector::<Flex>::from_weights(weights.unwrap_or(SHIPPED_WEIGHTS), Default::default())
                .map_err(|e| PyValueError::new_err(format!("the weights are not usable: {e}")))?;
        if !(0.0..=1.0).contains(&high) || !(0.0..=high).contains(&medium) {
            return Err(PyValueError::new_err(format!(
                "thresholds must satisfy 0 <= medium <= high <= 1, not high={high} medium={medium}"
            )));
        }
        detector.thresholds = RiskThresholds { high, medium };
        let shipped = shipped_allow.then(|| {
            (
                "the shipped allow-list".to_owned(),
                model_core::allow::SHIPPED.to_owned(),
            )
        });
        for (origin, text) in shipped.into_iter().chain(allow) {
            let list = AllowList::parse_strict(&text)
                .map_err(|refused| PyValueError::new_err(format!("{origin} {refused}")))?;
            detector.allow.extend(list);
        }
        let threads = if threads == 0 {
            model_core::parallel::cores()
        } else {
            threads
        };
        Ok(Self { detector, threads })
    }

    /// Scores `len` names held as an Arrow string array's buffers (`offsets` of 32 bits,
    /// starting at element `offset`); null entries get an error. Returns one column per verdict
    /// field, in the CSV's order.
    #[pyo3(signature = (len, offset, validity, offsets, data))]
    fn score_arrow<'py>(
        &self,
        py: Python<'py>,
        len: usize,
        offset: usize,
        validity: Option<&[u8]>,
        offsets: &[u8],
        data: &[u8],
    ) -> PyResult<Vec<Column<'py>>> {
        if offsets.len() < 4 * (offset + len + 1) {
            return Err(PyValueError::new_err(
                "the offsets buffer is shorter than the array",
            ));
        }
        let verdicts = py.detach(|| {
            let names: Vec<Option<Cow<str>>> = (offset..offset + len)
                .map(|i| {
                    let valid = validity.is_none_or(|v| bit(v, i));
                    valid.then(|| {
                        let start = read_i32(offsets, i) as usize;
                        let end = read_i32(offsets, i + 1) as usize;
                        String::from_utf8_lossy(data.get(start..end).unwrap_or_default())
                    })
                })
                .collect();
            let inputs: Vec<Input> = names
                .iter()
                .map(|name| Input {
                    text: name.as_deref().unwrap_or(""),
                    problem: name.is_none().then_some(MISSING),
                })
                .collect();
            score_each(&self.detector, self.threads, &inputs)
        });
        Ok(columns(py, &verdicts, validity.map(|v| (v, offset))))
    }

    /// Host and campaign alerts over a table of queries, in one pass as `dga monitor` reads a
    /// log (see `hosts::judge_table`); also the number of rows skipped.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (len, client, time, query, rcode, window_s, budget))]
    fn hosts(
        &self,
        py: Python<'_>,
        len: usize,
        client: hosts::Strings,
        time: hosts::Numbers,
        query: hosts::Strings,
        rcode: hosts::Strings,
        window_s: f64,
        budget: f64,
    ) -> PyResult<(Vec<hosts::AlertRow>, usize)> {
        let rules = hosts::rules(window_s, budget)?;
        hosts::judge_table(
            py,
            &self.detector,
            self.threads,
            rules,
            len,
            &client,
            &time,
            &query,
            &rcode,
        )
    }

    /// Each name's evidence for the host rule: registrable domain (null: no evidence),
    /// registrable label, p_dga, family, the family head's kept classes as text.
    fn name_evidence(
        &self,
        py: Python<'_>,
        len: usize,
        names: hosts::Strings,
    ) -> PyResult<hosts::EvidenceColumns> {
        hosts::name_evidence(py, &self.detector, self.threads, len, &names)
    }

    /// The verdict columns' names and Arrow types, in order.
    #[staticmethod]
    fn columns() -> Vec<(&'static str, &'static str)> {
        CSV_HEADER
            .iter()
            .zip(COLUMN_KINDS)
            .map(|(name, kind)| (*name, arrow_type(kind)))
            .collect()
    }
}

/// The verdicts as Arrow columns of their kinds (`model_core::report::COLUMN_KINDS`); the
/// `input` of a null name is null too (`nulls`: the input's validity bitmap and offset).
fn columns<'py>(
    py: Python<'py>,
    verdicts: &[Verdict],
    nulls: Option<(&[u8], usize)>,
) -> Vec<Column<'py>> {
    let rows: Vec<_> = verdicts.iter().map(cells).collect();
    COLUMN_KINDS
        .iter()
        .enumerate()
        .map(|(c, kind)| {
            let column = rows.iter().map(|row| &row[c]);
            let mut validity = vec![0u8; verdicts.len().div_ceil(8)];
            for (i, cell) in column.clone().enumerate() {
                let present = nulls.is_none_or(|(bitmap, offset)| bit(bitmap, offset + i));
                if *cell != Cell::Empty && (c != 0 || present) {
                    validity[i / 8] |= 1 << (i % 8);
                }
            }
            let validity_bytes = PyBytes::new(py, &validity);
            match kind {
                Kind::Number => {
                    let values: Vec<u8> = column
                        .flat_map(|cell| match cell {
                            Cell::Number(v, _) => v.to_le_bytes(),
                            _ => 0f32.to_le_bytes(),
                        })
                        .collect();
                    (
                        arrow_type(*kind),
                        validity_bytes,
                        vec![PyBytes::new(py, &values)],
                    )
                }
                Kind::Flag => {
                    let mut values = vec![0u8; verdicts.len().div_ceil(8)];
                    for (i, cell) in column.enumerate() {
                        if *cell == Cell::Flag(true) {
                            values[i / 8] |= 1 << (i % 8);
                        }
                    }
                    (
                        arrow_type(*kind),
                        validity_bytes,
                        vec![PyBytes::new(py, &values)],
                    )
                }
                Kind::Text => {
                    let mut offsets = Vec::with_capacity(4 * (verdicts.len() + 1));
                    let mut data = Vec::new();
                    offsets.extend_from_slice(&0i32.to_le_bytes());
                    for cell in column {
                        if let Cell::Text(text) = cell {
                            data.extend_from_slice(text.as_bytes());
                        }
                        let end = i32::try_from(data.len()).unwrap_or(i32::MAX);
                        offsets.extend_from_slice(&end.to_le_bytes());
                    }
                    let buffers = vec![PyBytes::new(py, &offsets), PyBytes::new(py, &data)];
                    (arrow_type(*kind), validity_bytes, buffers)
                }
            }
        })
        .collect()
}

/// The Arrow type of a column of this kind, as `pyarrow` names it.
fn arrow_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "string",
        Kind::Number => "float32",
        Kind::Flag => "bool",
    }
}

pub(crate) fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap
        .get(i / 8)
        .is_some_and(|byte| byte & (1 << (i % 8)) != 0)
}

pub(crate) fn read_i32(bytes: &[u8], i: usize) -> i32 {
    let at = 4 * i;
    i32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeDetector>()?;
    m.add_class::<hosts::NativeHosts>()?;
    Ok(())
}
