//! Allow-lists: names an operator knows to be benign, reported as `allowed` and never alerted,
//! shared by `predict`, `serve`, `monitor` and the page so that all four match the same way.

use std::collections::HashSet;

use crate::normalise::{Domain, normalise};

/// The shipped allow-list (`model/allow.txt`, which says how it was made), compiled into the
/// native tools so they apply it wherever they run; the page fetches the same file.
pub const SHIPPED: &str = include_str!("../../model/allow.txt");

/// A set of allowed names. An entry allows itself and every name under it: `cloudfront.net`
/// allows `d1x2.cloudfront.net`, never `evilcloudfront.net`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: HashSet<String>,
}

/// A line of an allow-list that is not a name, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEntry {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

/// An allow-list refused whole for its lines that are not names: an operator who typed a wrong
/// entry would otherwise believe a name allowed that is not. Says the first bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Every line that is not a name, in order (never empty).
    pub bad: Vec<BadEntry>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(first) = self.bad.first() else {
            return write!(f, "no line is wrong");
        };
        write!(
            f,
            "line {}: `{}` is not a name to allow ({})",
            first.line, first.text, first.reason
        )?;
        match self.bad.len() {
            1 => Ok(()),
            n => write!(f, "; {} more such lines", n - 1),
        }
    }
}

impl std::error::Error for Refused {}

impl AllowList {
    /// [`AllowList::parse`] for files an operator hands over: any line that is not a name
    /// refuses the whole list.
    pub fn parse_strict(text: &str) -> Result<Self, Refused> {
        match Self::parse(text) {
            (list, bad) if bad.is_empty() => Ok(list),
            (_, bad) => Err(Refused { bad }),
        }
    }

    /// Reads one name or suffix per line; `#` starts a comment, blank lines are skipped. Names
    /// are normalised like scored input (case, punycode, a leading `*.`); lines that are not
    /// names come back beside the list so callers can report them rather than drop them.
    pub fn parse(text: &str) -> (Self, Vec<BadEntry>) {
        let mut list = Self::default();
        let mut bad = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let entry = line.split('#').next().unwrap_or("").trim();
            let entry = entry.strip_prefix("*.").unwrap_or(entry);
            if entry.is_empty() {
                continue;
            }
            match entry_name(entry) {
                Ok(name) => {
                    list.entries.insert(name);
                }
                Err(reason) => bad.push(BadEntry {
                    line: index + 1,
                    text: entry.to_owned(),
                    reason,
                }),
            }
        }
        (list, bad)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds every entry of `other`.
    pub fn extend(&mut self, other: AllowList) {
        self.entries.extend(other.entries);
    }

    /// The entry that allows `domain`: the name itself or the nearest suffix of it on the list.
    pub fn entry_for(&self, domain: &Domain) -> Option<&str> {
        if self.entries.is_empty() {
            return None;
        }
        let name = domain.name.as_str();
        let mut rest = name;
        loop {
            if let Some(entry) = self.entries.get(rest) {
                return Some(entry);
            }
            rest = &rest[rest.find('.')? + 1..];
        }
    }
}

/// The normalised form of one entry. Suffixes such as `herokuapp.com` are entries too, and the
/// public-suffix list calls them suffixes rather than registrable domains, so an entry that
/// normalisation refuses only for that reason is kept as written (lowercased).
fn entry_name(entry: &str) -> Result<String, String> {
    match normalise(entry) {
        Ok(domain) => Ok(domain.name),
        Err(
            crate::DomainError::OnlySuffix(name) | crate::DomainError::NotCandidate { name, .. },
        ) => Ok(name.to_ascii_lowercase()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strict_parse_refuses_the_whole_list_and_says_the_first_bad_line() {
        assert_eq!(
            AllowList::parse_strict("ok.com\n# note\n").unwrap().len(),
            1
        );
        let refused = AllowList::parse_strict("ok.com\n1.2.3.4\n\nhttp://[x\n").unwrap_err();
        assert_eq!(refused.bad.len(), 2);
        let said = refused.to_string();
        assert!(
            said.starts_with("line 2: `1.2.3.4` is not a name to allow ("),
            "{said}"
        );
        assert!(said.ends_with("; 1 more such lines"), "{said}");
    }

    fn allowed(list: &AllowList, name: &str) -> Option<String> {
        list.entry_for(&normalise(name).unwrap()).map(str::to_owned)
    }

    #[test]
    fn entries_allow_themselves_and_names_under_them_only() {
        let (list, bad) = AllowList::parse(
            "# CDN hosts\ncloudfront.net\n*.Akamaiedge.NET  # wildcard form\n\nherokuapp.com\ncom\n",
        );
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(list.len(), 4);
        let cases = [
            ("d1x2y3.cloudfront.net", Some("cloudfront.net")),
            ("cloudfront.net", Some("cloudfront.net")),
            ("evilcloudfront.net", None),
            ("e123.a.akamaiedge.net", Some("akamaiedge.net")),
            ("xjkd8f2h.herokuapp.com", Some("herokuapp.com")),
            ("https://a.b.cloudfront.net:443/x", Some("cloudfront.net")),
            ("example.org", None),
        ];
        for (name, entry) in cases {
            assert_eq!(allowed(&list, name).as_deref(), entry, "{name}");
        }
    }

    #[test]
    fn a_bare_tld_entry_allows_everything_under_it() {
        let (list, _) = AllowList::parse("com\n");
        assert_eq!(allowed(&list, "qwrtzpxk.com").as_deref(), Some("com"));
    }

    #[test]
    fn lines_that_are_not_names_are_reported_with_their_line() {
        let (list, bad) = AllowList::parse("good.com\n10.0.0.1\nbad name.com\n");
        assert_eq!(list.len(), 1);
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [2, 3]);
        assert!(bad[0].reason.contains("IP address"), "{bad:?}");
    }

    #[test]
    fn the_shipped_list_parses_whole() {
        let (list, bad) = AllowList::parse(SHIPPED);
        assert!(bad.is_empty(), "{bad:?}");
        assert!(!list.is_empty());
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        assert_eq!(allowed(&AllowList::default(), "example.com"), None);
    }
}
