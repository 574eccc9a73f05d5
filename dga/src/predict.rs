//! Scores a domain list as a stream: constant memory on any length, one output row per input
//! line in input order, errors in their own column.

use std::io::{BufRead, Write};

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::tensor::backend::Backend;
use clap::Args;
use model_core::Detector;
use model_core::extract::domain_column;
use model_core::report::{CSV_HEADER, csv_row, json_row};

use crate::lines::{Line, LossyLines};
use crate::scoring::{ScoringArgs, score_lines};

/// Lines read and scored together; large enough to fill batches, small enough to stream.
pub const CHUNK_LINES: usize = 8192;

/// How `predict` writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// CSV with a header row (columns: [`CSV_HEADER`]).
    #[default]
    Csv,
    /// One JSON object per line: the CSV columns, plus `family_top3`.
    Json,
}

/// Rows out, in the chosen format (one per run: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Rows<W: Write> {
    Csv(csv::Writer<W>),
    Json(W),
}

impl<W: Write> Rows<W> {
    fn new(format: Format, output: W) -> Result<Self> {
        Ok(match format {
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(output);
                writer.write_record(CSV_HEADER)?;
                Rows::Csv(writer)
            }
            Format::Json => Rows::Json(output),
        })
    }

    fn write(&mut self, verdict: &model_core::Verdict) -> Result<()> {
        match self {
            Rows::Csv(writer) => writer.write_record(csv_row(verdict))?,
            Rows::Json(out) => writeln!(out, "{}", json_row(verdict))?,
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match self {
            Rows::Csv(writer) => writer.flush()?,
            Rows::Json(out) => out.flush()?,
        }
        Ok(())
    }
}

#[derive(Args)]
pub struct PredictArgs {
    /// One domain (or URL, or log token) per line, or a CSV with a `domain` column, or a
    /// capture (pcap, pcapng: its distinct query names, in the order first asked); `-` or
    /// nothing reads stdin. Gzip is read as such; other binary files are refused.
    input: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// CSV, or JSON lines (which add each DGA name's three likeliest families).
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    #[command(flatten)]
    scoring: ScoringArgs,
    #[command(flatten)]
    capture: crate::input::CaptureArgs,
}

/// `dga predict`: scores the input and says how fast on stderr.
pub fn run(args: PredictArgs) -> Result<()> {
    let detector = args
        .scoring
        .detector::<crate::CpuBackend>(Default::default())?;
    let opened = match &args.input {
        Some(path) if path.as_os_str() != "-" => crate::input::open(path)?,
        _ => crate::input::classify(Box::new(std::io::BufReader::new(std::io::stdin())), "stdin")?,
    };
    let input: Box<dyn BufRead> = if opened.content.is_capture() {
        let what = args
            .input
            .as_ref()
            .map_or("stdin".into(), |p| p.display().to_string());
        let ports = args.capture.ports();
        let (names, summary) = crate::input::capture_names(opened.reader, &what, &ports)?;
        eprintln!(
            "{what}: {}",
            crate::input::describe_capture(&summary, &ports)
        );
        Box::new(std::io::Cursor::new(names.into_bytes()))
    } else {
        opened.reader
    };
    let started = std::time::Instant::now();
    let count = match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            predict(&detector, input, std::io::BufWriter::new(file), args.format)?
        }
        None => predict(&detector, input, std::io::stdout().lock(), args.format)?,
    };
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "scored {count} lines in {secs:.2} s ({:.0} lines/s)",
        count as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Reads one domain per line, or a CSV whose header has a `domain` column, and writes a row per
/// input. Nothing is dropped: a line that is not UTF-8, too long or a broken CSV row gets a row
/// with its reason in `error`, and reading goes on.
pub fn predict<B: Backend>(
    detector: &Detector<B>,
    input: Box<dyn BufRead>,
    output: impl Write,
    format: Format,
) -> Result<usize>
where
    Detector<B>: Sync,
{
    let mut writer = Rows::new(format, output)?;
    let mut lines = LossyLines::new(input);
    let Some(first) = lines.next().transpose().context("cannot read input")? else {
        writer.flush()?;
        return Ok(0);
    };
    let mut count = 0;
    let mut chunk = Vec::with_capacity(CHUNK_LINES);
    if let Some(column) = domain_column(&first.text) {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(lines.into_inner());
        for record in reader.into_byte_records() {
            chunk.push(match record {
                Ok(r) => cell_line(r.get(column).unwrap_or(b"")),
                Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                    count += score_chunk(detector, &mut chunk, &mut writer)?;
                    writer.flush()?;
                    return Err(e)
                        .context(format!("input ends early: {count} rows read and scored"));
                }
                Err(e) => Line {
                    text: String::new(),
                    problem: Some(format!("unreadable CSV row: {e}")),
                },
            });
            if chunk.len() == CHUNK_LINES {
                count += score_chunk(detector, &mut chunk, &mut writer)?;
            }
        }
    } else if looks_like_a_header(&first.text) {
        anyhow::bail!(
            "the first line looks like a CSV header ({}) but has no `domain` column; name the column of names `domain`, or give one name per line",
            first.text.trim()
        );
    } else {
        chunk.push(first);
        for line in lines {
            let line = match line {
                Ok(line) => line,
                // What was read is scored and written before the error ends the run.
                Err(e) => {
                    count += score_chunk(detector, &mut chunk, &mut writer)?;
                    writer.flush()?;
                    return Err(e)
                        .context(format!("input ends early: {count} lines read and scored"));
                }
            };
            chunk.push(line);
            if chunk.len() == CHUNK_LINES {
                count += score_chunk(detector, &mut chunk, &mut writer)?;
            }
        }
    }
    count += score_chunk(detector, &mut chunk, &mut writer)?;
    writer.flush()?;
    Ok(count)
}

/// A first line of several comma-separated cells none of which could be a name (no dot).
fn looks_like_a_header(line: &str) -> bool {
    line.contains(',')
        && line
            .split(',')
            .all(|cell| !cell.contains('.') && !cell.trim().is_empty())
}

/// A CSV cell as a line, read lossily like any other line.
fn cell_line(cell: &[u8]) -> Line {
    let text = String::from_utf8_lossy(cell);
    let problem = matches!(text, std::borrow::Cow::Owned(_))
        .then(|| "cell is not valid UTF-8 (bad bytes shown as \u{FFFD})".to_owned());
    Line {
        text: text.into_owned(),
        problem,
    }
}

fn score_chunk<B: Backend, W: Write>(
    detector: &Detector<B>,
    chunk: &mut Vec<Line>,
    writer: &mut Rows<W>,
) -> Result<usize>
where
    Detector<B>: Sync,
{
    let n = chunk.len();
    for verdict in score_lines(detector, chunk) {
        writer.write(&verdict)?;
    }
    chunk.clear();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use model_core::ModelSize;

    fn detector() -> Detector<Flex> {
        let config = ModelSize::Tiny.config();
        Detector::new(
            config.clone(),
            config.init(&Default::default()),
            Default::default(),
        )
    }

    fn run(input: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        predict(
            &detector(),
            Box::new(std::io::Cursor::new(input.to_owned())),
            &mut out,
            Format::Csv,
        )
        .unwrap();
        csv::Reader::from_reader(out.as_slice())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn one_row_per_line_in_order_with_errors_in_place() {
        let rows = run("example.com\n\n10.0.0.1\nhttps://Qxzv.ru/a\n=cmd|x\n");
        let inputs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            inputs,
            [
                "example.com",
                "",
                "10.0.0.1",
                "https://Qxzv.ru/a",
                "'=cmd|x"
            ]
        );
        assert!(rows[0][6].is_empty() && !rows[0][3].is_empty() && !rows[0][4].is_empty());
        assert_eq!(rows[1][6], "empty input");
        assert!(rows[2][6].contains("IP address"));
        assert_eq!(rows[3][1], "qxzv.ru");
        assert!(!rows[4][6].is_empty());
        // A negative log-odds is a number, not a formula to neutralise.
        assert!(rows.iter().all(|r| !r[4].starts_with('\'')), "{rows:?}");
    }

    #[test]
    fn reads_the_domain_column_of_a_csv() {
        let rows = run("id,domain,note\n1,example.com,a\n2,\"bad name\",b\n3,qwe.org\n");
        let domains: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(domains, ["example.com", "", "qwe.org"]);
    }

    #[test]
    fn bytes_that_are_not_utf8_give_an_error_row_and_reading_goes_on() {
        let mut out = Vec::new();
        let input = b"example.com\nbad\xff.com\nqwe.org\n".to_vec();
        predict(
            &detector(),
            Box::new(std::io::Cursor::new(input)),
            &mut out,
            Format::Csv,
        )
        .unwrap();
        let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(out.as_slice())
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(&rows[1][0], "bad\u{FFFD}.com");
        assert!(rows[1][6].contains("not valid UTF-8"), "{rows:?}");
        assert_eq!(&rows[2][1], "qwe.org");
    }

    #[test]
    fn streams_more_than_one_chunk() {
        let input: String = (0..CHUNK_LINES + 10)
            .map(|i| format!("n{i}.com\n"))
            .collect();
        let rows = run(&input);
        assert_eq!(rows.len(), CHUNK_LINES + 10);
        assert_eq!(
            rows[CHUNK_LINES + 9][0],
            format!("n{}.com", CHUNK_LINES + 9)
        );
    }
}
