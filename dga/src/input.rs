//! Opening what a user points `predict` and `monitor` at, told apart by its first bytes, not its
//! name: text (a log, a list of names), a capture (pcap or pcapng), either gzip-compressed or
//! not; any other binary file is refused with a message rather than read as lines of garbage.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::Args;
use dnswatch::capture::{CaptureSummary, Content, DNS_PORTS, read_capture_on, sniff};
use dnswatch::dnslog::Parsed;
use flate2::read::MultiGzDecoder;

pub type Reader = Box<dyn BufRead + Send>;

/// Which traffic of a capture file is DNS.
#[derive(Args, Clone, Debug, Default)]
pub struct CaptureArgs {
    /// Also read this port's traffic in capture files as DNS, besides the standard ports (53,
    /// 5353, 5355); repeat for more. For a resolver on a port of its own, as Unbound on 5335
    /// behind Pi-hole.
    #[arg(long = "dns-port", value_name = "PORT")]
    pub dns_ports: Vec<u16>,
}

impl CaptureArgs {
    /// The standard ports and those named.
    pub fn ports(&self) -> Vec<u16> {
        DNS_PORTS.iter().chain(&self.dns_ports).copied().collect()
    }
}

/// What a capture held, for stderr; where it held packets but no DNS, which ports were looked
/// at and how to name another.
pub fn describe_capture(summary: &CaptureSummary, ports: &[u16]) -> String {
    let mut line = summary.describe();
    if summary.packets > 0 && summary.messages == 0 {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        line.push_str(&format!(
            "; no DNS on ports {} (--dns-port PORT reads another)",
            ports.join(", ")
        ));
    }
    line
}

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
    ports: &[u16],
    batch: usize,
    mut each: impl FnMut(Vec<Parsed>) -> Result<()>,
) -> Result<CaptureSummary> {
    let mut pending = Vec::with_capacity(batch);
    let mut failed = None;
    let summary = read_capture_on(reader, ports, |parsed| {
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
pub fn capture_names(
    reader: impl Read + Send,
    what: &str,
    ports: &[u16],
) -> Result<(String, CaptureSummary)> {
    let mut seen = std::collections::HashSet::new();
    let mut names = String::new();
    let summary = read_capture_on(reader, ports, |parsed| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_without_dns_says_which_ports_were_read_and_how_to_name_another() {
        let args = CaptureArgs {
            dns_ports: vec![5335],
        };
        assert_eq!(args.ports(), [53, 5353, 5355, 5335]);
        let mut summary = CaptureSummary {
            packets: 3045,
            ..Default::default()
        };
        let line = describe_capture(&summary, &args.ports());
        assert!(
            line.ends_with(
                "; no DNS on ports 53, 5353, 5355, 5335 (--dns-port PORT reads another)"
            ),
            "{line}"
        );
        summary.messages = 69;
        assert!(!describe_capture(&summary, &args.ports()).contains("--dns-port"));
    }
}
