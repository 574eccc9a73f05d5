//! Reading text people feed us (lists, logs, request bodies) line by line without losing any:
//! bytes that are not UTF-8 are replaced and flagged, an endless line is cut and flagged, and a
//! byte-order mark or a CR before the newline is not part of the text.

use std::io::{self, BufRead};

/// The most bytes of one line that are kept; the rest of the line is skipped (and said so). A
/// hostname is at most 253 characters and a URL or log line rarely over a few KiB, so this only
/// bounds memory against a file that has no newlines at all.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// One line of input as text, with what was wrong with its bytes, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    /// Why the line cannot be taken as it is: not UTF-8, or too long.
    pub problem: Option<String>,
}

impl Line {
    pub fn clean(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            problem: None,
        }
    }
}

/// Lines of `reader` read lossily; an IO error ends the iteration with that error.
pub struct LossyLines<R> {
    reader: R,
    buffer: Vec<u8>,
    first: bool,
}

impl<R: BufRead> LossyLines<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buffer: Vec::new(),
            first: true,
        }
    }

    /// The reader, positioned after the last line returned.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// Reads up to the next newline into `buffer`, keeping at most [`MAX_LINE_BYTES`]; returns
    /// the line's whole length without its newline, or `None` at the end of the input.
    fn read_capped(&mut self) -> io::Result<Option<usize>> {
        self.buffer.clear();
        let mut total = 0;
        let mut read_any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(read_any.then_some(total));
            }
            read_any = true;
            let (part, done) = match memchr(available) {
                Some(end) => (&available[..end], Some(end + 1)),
                None => (available, None),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.buffer.len());
            self.buffer.extend_from_slice(&part[..part.len().min(room)]);
            total += part.len();
            let used = done.unwrap_or(available.len());
            self.reader.consume(used);
            if done.is_some() {
                return Ok(Some(total));
            }
        }
    }
}

impl<R: BufRead> Iterator for LossyLines<R> {
    type Item = io::Result<Line>;

    fn next(&mut self) -> Option<io::Result<Line>> {
        let length = match self.read_capped() {
            Ok(Some(length)) => length,
            Ok(None) => return None,
            Err(e) => return Some(Err(e)),
        };
        let mut bytes = self.buffer.as_slice();
        if std::mem::take(&mut self.first) {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let text = String::from_utf8_lossy(bytes);
        let mut problems = Vec::new();
        if length > MAX_LINE_BYTES {
            problems.push(format!(
                "line is {length} bytes long; only its first {MAX_LINE_BYTES} were read"
            ));
        }
        if matches!(text, std::borrow::Cow::Owned(_)) {
            problems.push("line is not valid UTF-8 (bad bytes shown as \u{FFFD})".to_owned());
        }
        Some(Ok(Line {
            text: text.into_owned(),
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        }))
    }
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<Line> {
        LossyLines::new(io::BufReader::with_capacity(7, bytes))
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn bad_bytes_are_replaced_and_flagged_and_reading_goes_on() {
        let got = lines(b"good.com\nbad\xff\xfe.com\r\nafter.com");
        let texts: Vec<&str> = got.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["good.com", "bad\u{FFFD}\u{FFFD}.com", "after.com"]);
        assert_eq!(got[0].problem, None);
        assert!(got[1].problem.as_deref().unwrap().contains("UTF-8"));
        assert_eq!(got[2].problem, None);
    }

    #[test]
    fn a_bom_and_crlf_are_not_part_of_the_text_and_empty_lines_count() {
        let got = lines(b"\xEF\xBB\xBFfirst.com\r\n\r\n\nlast.com\n");
        let texts: Vec<&str> = got.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["first.com", "", "", "last.com"]);
        assert!(got.iter().all(|l| l.problem.is_none()));
    }

    #[test]
    fn an_endless_line_is_cut_and_the_next_line_is_intact() {
        let mut input = vec![b'a'; 3 * MAX_LINE_BYTES];
        input.extend_from_slice(b"\nnext.com\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].text.len(), MAX_LINE_BYTES);
        assert!(
            got[0]
                .problem
                .as_deref()
                .unwrap()
                .contains("only its first")
        );
        assert_eq!(got[1], Line::clean("next.com"));
    }

    #[test]
    fn no_input_is_no_lines() {
        assert!(lines(b"").is_empty());
    }
}
