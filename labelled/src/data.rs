//! Reads labelled domain lists in the formats we meet (our normalised CSV, the seed projects' CSV
//! and JSON lines, plain lists), counting and reporting bad rows instead of dropping them silently.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Where the labelled data lives when no --data is given (relative to the repository root).
pub const DEFAULT_DATA: &str = "../shared/data/domains.csv.gz";

use anyhow::{Context, Result, bail};
use flate2::read::MultiGzDecoder;
use serde::Deserialize;

/// One labelled name as read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub domain: String,
    pub is_dga: bool,
    /// DGA family, or `legit` for benign names.
    pub family: String,
    /// Where the row came from (a benign list, a feed); `unknown` when the file does not say.
    pub source: String,
}

/// Label for files that carry none (plain one-per-line lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListLabel {
    Dga,
    Legit,
}

/// Rows that could not be read, with the first few kept for the report.
#[derive(Debug, Default)]
pub struct BadRows {
    pub count: usize,
    pub examples: Vec<(u64, String)>,
}

const BAD_EXAMPLES: usize = 5;

impl BadRows {
    pub fn push(&mut self, line: u64, why: String) {
        self.count += 1;
        if self.examples.len() < BAD_EXAMPLES {
            self.examples.push((line, why));
        }
    }

    /// Prints the count and the first examples to stderr.
    pub fn report(&self, what: &str, total: usize) {
        if self.count == 0 {
            return;
        }
        eprintln!("{} of {} {what} skipped; first ones:", self.count, total);
        for (line, why) in &self.examples {
            eprintln!("  line {line}: {why}");
        }
    }
}

/// A loaded file: good samples plus the bad-row report.
#[derive(Debug)]
pub struct Loaded {
    pub samples: Vec<Sample>,
    pub bad: BadRows,
}

/// Opens a file, decompressing `.gz` transparently.
pub fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, reader)))
}

/// Loads labelled samples, detecting the format from the first line.
pub fn load(path: &Path, list_label: Option<ListLabel>) -> Result<Loaded> {
    let mut reader = open(path)?;
    let mut first = String::new();
    reader
        .read_line(&mut first)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let header = first
        .trim_start_matches('\u{feff}')
        .trim()
        .to_ascii_lowercase();
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let loaded = if header.starts_with('{') {
        read_json_lines(first, reader)?
    } else if columns.contains(&"domain") && columns.contains(&"label") {
        read_csv(first, reader, CsvKind::Normalised)?
    } else if columns.contains(&"isdga") && columns.contains(&"domain") {
        read_csv(first, reader, CsvKind::Seed)?
    } else {
        let Some(label) = list_label else {
            bail!(
                "{} has no header this tool knows (`domain,label,family,source`, \
                 `isDGA,domain,host,subclass`, or JSON lines with `domain` and `threat`); \
                 for a plain one-per-line list pass --label dga or --label legit",
                path.display()
            );
        };
        read_plain(first, reader, label)?
    };
    let total = loaded.samples.len() + loaded.bad.count;
    loaded.bad.report("rows", total);
    if total == 0 {
        bail!("{} holds no rows", path.display());
    }
    if loaded.bad.count * 2 > total {
        bail!(
            "{} of {total} rows in {} are unreadable; is this the right file?",
            loaded.bad.count,
            path.display()
        );
    }
    Ok(loaded)
}

#[derive(Clone, Copy)]
enum CsvKind {
    /// `domain,label,family,source` with label `dga`/`legit`.
    Normalised,
    /// `isDGA,domain,host,subclass` with `dga`/`legitimate`.
    Seed,
}

fn read_csv(header: String, rest: Box<dyn BufRead>, kind: CsvKind) -> Result<Loaded> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::Cursor::new(header.into_bytes()).chain(rest));
    let headers: Vec<String> = reader
        .headers()?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (domain_col, label_col, family_col, source_col) = match kind {
        CsvKind::Normalised => (col("domain"), col("label"), col("family"), col("source")),
        CsvKind::Seed => (col("domain"), col("isdga"), col("subclass"), None),
    };
    let (domain_col, label_col) = (domain_col.expect("checked"), label_col.expect("checked"));
    let mut loaded = Loaded {
        samples: Vec::new(),
        bad: BadRows::default(),
    };
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                loaded.bad.push(line, e.to_string());
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(str::trim).unwrap_or("");
        let domain = field(Some(domain_col));
        let is_dga = match field(Some(label_col)).to_ascii_lowercase().as_str() {
            "dga" | "1" | "malicious" => true,
            "legit" | "legitimate" | "benign" | "0" => false,
            other => {
                loaded.bad.push(line, format!("unknown label {other:?}"));
                continue;
            }
        };
        if domain.is_empty() {
            loaded.bad.push(line, "empty domain".into());
            continue;
        }
        let family = match field(family_col) {
            "" => default_family(is_dga),
            f => f.to_ascii_lowercase(),
        };
        let family = if is_dga { family } else { "legit".into() };
        let source = match field(source_col) {
            "" => "unknown".into(),
            s => s.to_owned(),
        };
        loaded.samples.push(Sample {
            domain: domain.to_owned(),
            is_dga,
            family,
            source,
        });
    }
    Ok(loaded)
}

#[derive(Deserialize)]
struct JsonRow {
    domain: String,
    threat: String,
    #[serde(default)]
    family: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

fn read_json_lines(first: String, rest: Box<dyn BufRead>) -> Result<Loaded> {
    let mut loaded = Loaded {
        samples: Vec::new(),
        bad: BadRows::default(),
    };
    let lines = std::iter::once(Ok(first)).chain(rest.lines());
    for (i, line) in lines.enumerate() {
        let line_no = i as u64 + 1;
        let line = line.with_context(|| format!("read error at line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: JsonRow = match serde_json::from_str(&line) {
            Ok(row) => row,
            Err(e) => {
                loaded.bad.push(line_no, e.to_string());
                continue;
            }
        };
        let is_dga = match row.threat.to_ascii_lowercase().as_str() {
            "dga" | "malicious" => true,
            "benign" | "legit" | "legitimate" => false,
            other => {
                loaded
                    .bad
                    .push(line_no, format!("unknown threat {other:?}"));
                continue;
            }
        };
        let family = if is_dga {
            row.family.unwrap_or_else(|| default_family(true))
        } else {
            "legit".into()
        };
        let source = row.source.unwrap_or_else(|| "unknown".into());
        loaded.samples.push(Sample {
            domain: row.domain.trim().to_owned(),
            is_dga,
            family,
            source,
        });
    }
    Ok(loaded)
}

fn read_plain(first: String, rest: Box<dyn BufRead>, label: ListLabel) -> Result<Loaded> {
    let is_dga = label == ListLabel::Dga;
    let mut samples = Vec::new();
    for line in std::iter::once(Ok(first)).chain(rest.lines()) {
        let line = line.context("read error")?;
        let domain = line.trim();
        if !domain.is_empty() && !domain.starts_with('#') {
            samples.push(Sample {
                domain: domain.to_owned(),
                is_dga,
                family: default_family(is_dga),
                source: "list".into(),
            });
        }
    }
    Ok(Loaded {
        samples,
        bad: BadRows::default(),
    })
}

fn default_family(is_dga: bool) -> String {
    if is_dga {
        "unknown".into()
    } else {
        "legit".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dga-data-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        if name.ends_with(".gz") {
            let mut gz =
                flate2::write::GzEncoder::new(File::create(&path).unwrap(), Default::default());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap();
        } else {
            std::fs::write(&path, text).unwrap();
        }
        path
    }

    #[test]
    fn reads_every_supported_format() {
        let normalised = write(
            "n.csv.gz",
            "domain,label,family,source,extra\nabc.com,legit,legit,alexa,x\nqwkz.ru,dga,goz,feed,y\n",
        );
        let seed = write(
            "s.csv",
            "isDGA,domain,host,subclass\ndga,qwkz.ru,qwkz.ru,goz\nlegitimate,abc.com,abc.com,alexa\n",
        );
        let json = write(
            "j.jsonl",
            "{\"domain\":\"qwkz.ru\",\"threat\":\"dga\"}\n{\"domain\":\"abc.com\",\"threat\":\"benign\"}\n",
        );
        let plain = write("p.txt", "abc.com\n\n# comment\nxyz.org\n");
        for path in [&normalised, &seed, &json] {
            let loaded = load(path, None).unwrap();
            let labels: Vec<bool> = loaded.samples.iter().map(|s| s.is_dga).collect();
            assert_eq!(loaded.samples.len(), 2, "{}", path.display());
            assert!(labels.contains(&true) && labels.contains(&false));
        }
        assert_eq!(load(&normalised, None).unwrap().samples[1].family, "goz");
        let list = load(&plain, Some(ListLabel::Legit)).unwrap();
        assert_eq!(list.samples.len(), 2);
        assert!(
            load(&plain, None)
                .unwrap_err()
                .to_string()
                .contains("--label")
        );
    }

    #[test]
    fn bad_rows_are_counted_with_line_numbers() {
        let path = write(
            "bad.csv",
            "domain,label,family,source\nabc.com,legit,legit,a\nx.com,maybe,?,b\nqq.ru,dga,goz,c\n",
        );
        let loaded = load(&path, None).unwrap();
        assert_eq!(loaded.samples.len(), 2);
        assert_eq!(loaded.bad.count, 1);
        assert_eq!(loaded.bad.examples[0].0, 3);
    }

    #[test]
    fn mostly_bad_file_is_an_error() {
        let path = write(
            "worse.csv",
            "domain,label\na.com,what\nb.com,huh\nc.com,dga\n",
        );
        assert!(
            load(&path, None)
                .unwrap_err()
                .to_string()
                .contains("unreadable")
        );
    }
}
