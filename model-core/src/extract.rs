//! Finds the names worth scoring in what people paste: a list with one name per line, or free
//! text and log lines holding URLs, `host:port` pairs and e-mail addresses among other words.

/// A piece of pasted text that may name a domain, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub text: &'a str,
    pub line: usize,
}

/// What was pulled out of a paste.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Extracted<'a> {
    /// Candidates in the order they appear; each is normalised and scored, or reported.
    pub candidates: Vec<Candidate<'a>>,
    /// Words of free-text lines that cannot be names (no dot, no scheme, no `@`), only counted.
    pub skipped_words: usize,
}

/// Splits pasted text into candidate names.
///
/// A line holding one token is always a candidate, so a plain list loses nothing and a bad line
/// is reported rather than dropped. In a line of several words (a log line, a sentence) only the
/// words that look like a host are: they hold a dot, a `://` or an `@`, and a letter or a digit.
pub fn candidates(text: &str) -> Extracted<'_> {
    let mut out = Extracted::default();
    for (index, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split(is_separator).filter(|w| !w.is_empty()).collect();
        let line = index + 1;
        if words.len() == 1 {
            out.candidates.push(Candidate {
                text: words[0],
                line,
            });
            continue;
        }
        for word in words {
            if looks_like_host(word) {
                out.candidates.push(Candidate {
                    text: trim_prose(word),
                    line,
                });
            } else {
                out.skipped_words += 1;
            }
        }
    }
    out
}

/// The index of the `domain` column when `header_line` is a CSV header that has one; `None`
/// for a plain list (one name per line), which has no comma in its first line.
pub fn domain_column(header_line: &str) -> Option<usize> {
    if !header_line.contains(',') {
        return None;
    }
    header_line
        .trim()
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .position(|c| c.eq_ignore_ascii_case("domain"))
}

/// Characters that separate words in logs, CSV rows and prose; `[` `]` stay for IPv6 literals.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | ';' | '|' | '"' | '\'' | '`' | '<' | '>' | '(' | ')' | '{' | '}'
        )
}

fn looks_like_host(word: &str) -> bool {
    let marked = word.contains('.') || word.contains("://") || word.contains('@');
    marked && word.chars().any(char::is_alphanumeric)
}

/// Sentence punctuation after a name in prose (`see evil.com.` or `evil.com:`) is not part of it.
fn trim_prose(word: &str) -> &str {
    word.trim_end_matches(['.', ':', '!', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        candidates(text)
            .candidates
            .into_iter()
            .map(|c| c.text)
            .collect()
    }

    #[test]
    fn a_list_keeps_every_line() {
        assert_eq!(
            texts("google.com\nxjkd8f2h.com\n\nlocalhost\n10.0.0.1\n"),
            ["google.com", "xjkd8f2h.com", "localhost", "10.0.0.1"]
        );
    }

    #[test]
    fn log_lines_give_their_hosts() {
        let log = "2024-05-01 12:00:01 query A ablefell.net from 10.1.2.3\n\
                   GET https://Example.COM:8443/path?q=1 200 \"curl/8.0\"\n\
                   mail from <bob@mail.example.org>; see evil.com.";
        assert_eq!(
            texts(log),
            [
                "ablefell.net",
                "10.1.2.3",
                "https://Example.COM:8443/path?q=1",
                "curl/8.0",
                "bob@mail.example.org",
                "evil.com"
            ]
        );
        let extracted = candidates(log);
        assert_eq!(extracted.candidates[2].line, 2);
        assert!(extracted.skipped_words >= 8);
    }

    #[test]
    fn finds_the_domain_column_of_a_csv_header_only() {
        assert_eq!(domain_column("id,\"Domain\",note\n"), Some(1));
        assert_eq!(domain_column("domain,label,family,source"), Some(0));
        assert_eq!(domain_column("domain"), None);
        assert_eq!(domain_column("example.com"), None);
        assert_eq!(domain_column("id,host"), None);
    }

    #[test]
    fn empty_paste_has_no_candidates() {
        assert_eq!(candidates("  \n\t\n"), Extracted::default());
    }
}
