//! Opening what a user points `predict` and `monitor` at, told apart by its first bytes, not its
//! name: text (a log, a list of names), a capture (pcap or pcapng), either gzip-compressed or
//! not; any other binary file is refused with a message rather than read as lines of garbage.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use dnswatch::capture::{CaptureSummary, Content, read_capture, sniff};
use dnswatch::dnslog::Parsed;
use flate2::read::MultiGzDecoder;

pub type Reader = Box<dyn BufRead + Send>;

/// An opened input and what it holds.
pub struct Input {
    pub reader: Reader,
    /// `Text`, `Pcap` or `Pcapng` (a gzip stream is opened to what it holds).
    pub content: Content,
    pub gzip: bool,
}

/// Opens a file and tells what it holds.
pub fn open(path: &Path) -> Result<Input> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    classify(
        Box::new(BufReader::with_capacity(1 << 16, file)),
        &path.display().to_string(),
    )
}

/// Tells what `reader` holds (`what` names it in messages), opening gzip streams.
pub fn classify(mut reader: Reader, what: &str) -> Result<Input> {
    let mut gzip = false;
    loop {
        let head = reader
            .fill_buf()
            .with_context(|| format!("cannot read {what}"))?;
        match sniff(head) {
            Content::Gzip if !gzip => {
                gzip = true;
                reader = Box::new(BufReader::with_capacity(
                    1 << 16,
                    MultiGzDecoder::new(reader),
                ));
            }
            content @ (Content::Text | Content::Pcap | Content::Pcapng) => {
                return Ok(Input {
                    reader,
                    content,
                    gzip,
                });
            }
            Content::Gzip | Content::Binary => bail!(
                "{what} is a binary file, neither text (a DNS log, a list of names) nor a pcap or pcapng capture{}",
                if gzip { " inside its gzip stream" } else { "" }
            ),
        }
    }
}

/// Reads a capture's queries (as a log's lines would give them), handing them to `each` in
/// batches of `batch` so that a large capture is never held whole.
pub fn read_capture_batches(
    reader: Reader,
    what: &str,
    batch: usize,
    mut each: impl FnMut(Vec<Parsed>) -> Result<()>,
) -> Result<CaptureSummary> {
    let mut pending = Vec::with_capacity(batch);
    let mut failed = None;
    let summary = read_capture(reader, |parsed| {
        if failed.is_some() {
            return;
        }
        pending.push(parsed);
        if pending.len() >= batch
            && let Err(err) = each(std::mem::take(&mut pending))
        {
            failed = Some(err);
        }
    })
    .with_context(|| format!("cannot read {what}"))?;
    if let Some(err) = failed {
        return Err(err);
    }
    each(pending)?;
    Ok(summary)
}

/// A capture's distinct query names in the order first asked, as lines for `predict`.
pub fn capture_names(reader: impl Read + Send, what: &str) -> Result<(String, CaptureSummary)> {
    let mut seen = std::collections::HashSet::new();
    let mut names = String::new();
    let summary = read_capture(reader, |parsed| {
        if let Parsed::Query(query) = parsed
            && seen.insert(query.name.to_ascii_lowercase())
        {
            names.push_str(&query.name);
            names.push('\n');
        }
    })
    .with_context(|| format!("cannot read {what}"))?;
    Ok((names, summary))
}
