//! Scores a domain list as a stream: constant memory on any length, one output row per input
//! line in input order, errors in their own column.

use std::io::{BufRead, Write};

use anyhow::{Context, Result};
use burn::tensor::backend::Backend;
use model_core::Detector;
use model_core::extract::domain_column;
use model_core::report::{CSV_HEADER, csv_row, unscored_row};

/// Lines read and scored together; large enough to fill batches, small enough to stream.
pub const CHUNK_LINES: usize = 8192;

/// Reads one domain per line, or a CSV whose header has a `domain` column, and writes CSV.
pub fn predict<B: Backend>(
    detector: &Detector<B>,
    mut input: Box<dyn BufRead>,
    output: impl Write,
) -> Result<usize>
where
    Detector<B>: Sync,
{
    let mut writer = csv::Writer::from_writer(output);
    writer.write_record(CSV_HEADER)?;
    let mut first = String::new();
    input.read_line(&mut first).context("cannot read input")?;
    let mut count = 0;
    if let Some(column) = domain_column(&first) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut chunk = Vec::with_capacity(CHUNK_LINES);
        for record in reader.records() {
            // A malformed CSV row still gets its output row, with the reason as its error.
            chunk.push(match record {
                Ok(r) => r.get(column).unwrap_or("").to_owned(),
                Err(e) => format!("\u{0}{e}"),
            });
            if chunk.len() == CHUNK_LINES {
                count += score_chunk(detector, &mut chunk, &mut writer)?;
            }
        }
        count += score_chunk(detector, &mut chunk, &mut writer)?;
    } else {
        let mut chunk = vec![first.trim_end_matches(['\n', '\r']).to_owned()];
        if first.is_empty() {
            chunk.clear();
        }
        for line in input.lines() {
            chunk.push(line.context("cannot read input")?);
            if chunk.len() == CHUNK_LINES {
                count += score_chunk(detector, &mut chunk, &mut writer)?;
            }
        }
        count += score_chunk(detector, &mut chunk, &mut writer)?;
    }
    writer.flush()?;
    Ok(count)
}

fn score_chunk<B: Backend, W: Write>(
    detector: &Detector<B>,
    chunk: &mut Vec<String>,
    writer: &mut csv::Writer<W>,
) -> Result<usize>
where
    Detector<B>: Sync,
{
    let n = chunk.len();
    for verdict in
        crate::parallel::map_chunks(chunk, detector.batch_size, |part| detector.score(part))
    {
        let row = match verdict.input.strip_prefix('\u{0}') {
            Some(csv_error) => unscored_row("", &format!("unreadable CSV row: {csv_error}")),
            None => csv_row(&verdict),
        };
        writer.write_record(&row)?;
    }
    chunk.clear();
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use model_core::ModelSize;

    fn detector() -> Detector<NdArray> {
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
