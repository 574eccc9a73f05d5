//! Turns what people paste (URLs, `host:port`, `user@host`, quoted names, unicode IDNs) into a
//! checked ASCII domain name split along the public-suffix list.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use url::{Host, Url};

/// Longest domain name DNS can carry, in ASCII characters without the root dot (RFC 1035).
pub const MAX_NAME_LEN: usize = 253;
/// Longest single label DNS can carry (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// A domain name after normalisation: lower-case ASCII (IDNs as `xn--` punycode), no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// The whole normalised name, e.g. `mail.example.co.uk`.
    pub name: String,
    /// Its public suffix, e.g. `co.uk`; for a name under a top-level label the public-suffix
    /// list does not hold (alternative roots such as `.bit` or `.bazar`), that last label.
    pub suffix: String,
    /// Whether `suffix` is on the public-suffix list. Malware uses unlisted roots precisely
    /// because they are unusual, so such names are scored, and the verdict says so.
    pub suffix_known: bool,
    /// The registrable domain (eTLD+1), e.g. `example.co.uk`.
    pub registrable_domain: String,
    /// Labels left of the registrable domain, outermost first, e.g. `["mail"]`.
    pub subdomains: Vec<String>,
    /// Which rule chose the registrable domain: what an attacker could have registered.
    #[serde(default)]
    pub rule: SuffixRule,
}

/// Which rule chose the registrable domain that is scored. A DGA's operator can register a
/// name under a public registry, an alternative root or a service that lets anyone pick a
/// subdomain; a label that a CDN or cloud platform assigned is not theirs to choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuffixRule {
    /// Under a public registry's suffix (the ICANN section of the public-suffix list), or a
    /// platform's own domain (`cloudfront.net`).
    #[default]
    Registry,
    /// Under a known alternative root (`lists/alternative-roots.txt`): `xjkd8f2h.bit`.
    AltRoot,
    /// The customer's own label under a service where anyone picks a subdomain (dynamic DNS,
    /// free hosting; `lists/open-platforms.txt`): `xjkd8f2h.ddns.net`.
    OpenPlatform,
    /// Under a private-section suffix whose labels the platform assigns (CDN, cloud): the
    /// platform's ICANN registrable domain is scored, `cloudfront.net` for
    /// `d2pp80vsjn2e6y.cloudfront.net`.
    Platform,
}

impl SuffixRule {
    pub fn as_str(self) -> &'static str {
        match self {
            SuffixRule::Registry => "registry",
            SuffixRule::AltRoot => "alt_root",
            SuffixRule::OpenPlatform => "open_platform",
            SuffixRule::Platform => "platform",
        }
    }
}

/// Why a well-formed name is no DGA candidate: nobody can register it in the public DNS, so it
/// is reported as set aside and never alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetAside {
    /// One label (`localhost`, `wpad`, a browser's random probe): resolved by search lists.
    SingleLabel,
    /// Under a special-use name (RFC 6761 and IANA's registry: `.local`, `.arpa`, `.test`, ...).
    SpecialUse,
    /// A DNS-SD or SRV name: a label starts with `_` (`_ldap._tcp.example.com`).
    Service,
    /// Under a top-level label that is neither in the root zone nor a known alternative root
    /// (`.lan`, `.corp`, a GSS-TSIG key name).
    UnknownTld,
}

impl SetAside {
    pub const ALL: [SetAside; 4] = [
        SetAside::SingleLabel,
        SetAside::SpecialUse,
        SetAside::Service,
        SetAside::UnknownTld,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SetAside::SingleLabel => "single_label",
            SetAside::SpecialUse => "special_use",
            SetAside::Service => "service",
            SetAside::UnknownTld => "unknown_tld",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            SetAside::SingleLabel => "a single label, resolved on the local network",
            SetAside::SpecialUse => "a special-use name (RFC 6761), never in the public DNS",
            SetAside::Service => "a DNS-SD or SRV service name",
            SetAside::UnknownTld => {
                "its top-level label is neither in the root zone nor a known alternative root"
            }
        }
    }
}

impl std::fmt::Display for SetAside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

impl DomainError {
    /// Why the name was set aside, when it is a well-formed name that is no DGA candidate.
    pub fn set_aside(&self) -> Option<SetAside> {
        match self {
            DomainError::NotCandidate { why, .. } => Some(*why),
            _ => None,
        }
    }
}

impl Domain {
    /// The registrable domain's own label, e.g. `example` for `mail.example.co.uk`.
    pub fn registrable_label(&self) -> &str {
        let cut = self.registrable_domain.len() - self.suffix.len() - 1;
        &self.registrable_domain[..cut]
    }
}

/// Why a string is not a domain we can score.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum DomainError {
    #[error("empty input")]
    Empty,
    #[error("name is {0} characters long; DNS allows at most 253")]
    TooLong(usize),
    #[error("label `{label}` is {len} characters long; DNS allows at most 63")]
    LabelTooLong { label: String, len: usize },
    #[error("name has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("character {0:?} cannot appear in a hostname")]
    InvalidCharacter(char),
    #[error("`{0}` is an IP address, not a domain name")]
    IpAddress(String),
    #[error("`{name}` is no DGA candidate: {why}")]
    NotCandidate { name: String, why: SetAside },
    #[error("`{0}` is a top-level public suffix itself, with no registrable domain")]
    OnlySuffix(String),
    #[error("cannot read a hostname from this input: {0}")]
    Unparsable(String),
}

/// Normalises one pasted name or URL into a [`Domain`].
pub fn normalise(raw: &str) -> Result<Domain, DomainError> {
    let trimmed = strip_wrapping(raw);
    if trimmed.is_empty() {
        return Err(DomainError::Empty);
    }
    // Overlong input is rejected before URL parsing so a megabyte of pasted text costs nothing.
    if trimmed.len() > 4 * MAX_NAME_LEN {
        return Err(DomainError::TooLong(trimmed.chars().count()));
    }
    // mDNS names carry characters no hostname has (`My Printer._ipp._tcp.local`): a name under
    // a special-use label is set aside before the hostname checks could call it malformed.
    if let Some((_, tld)) = trimmed.trim_end_matches('.').rsplit_once('.')
        && SPECIAL_USE_TLDS.contains(&tld.to_ascii_lowercase().as_str())
        && !trimmed.contains('/')
    {
        return Err(DomainError::NotCandidate {
            name: trimmed.to_owned(),
            why: SetAside::SpecialUse,
        });
    }
    let host = extract_host(trimmed)?;
    let name = host.strip_suffix('.').unwrap_or(&host).to_owned();
    check_hostname(&name)?;
    check_candidate(&name)?;
    split_on_suffix(name)
}

/// Special-use top-level labels (RFC 6761 and IANA's special-use domain names registry; RFC
/// 9476 for `.alt`; `.internal` reserved by ICANN for private use). `.arpa` holds the reverse
/// zones, `home.arpa` and `ipv4only.arpa`.
const SPECIAL_USE_TLDS: [&str; 9] = [
    "arpa",
    "local",
    "localhost",
    "test",
    "invalid",
    "example",
    "onion",
    "alt",
    "internal",
];

/// Sets aside well-formed names that no DGA can use (see [`SetAside`]).
fn check_candidate(name: &str) -> Result<(), DomainError> {
    let set_aside = |why| {
        Err(DomainError::NotCandidate {
            name: name.to_owned(),
            why,
        })
    };
    let Some((_, tld)) = name.rsplit_once('.') else {
        // One label: a public suffix itself (`com`) is refused as such by the split.
        return match psl::suffix(name.as_bytes()) {
            Some(suffix) if suffix.is_known() => Ok(()),
            _ => set_aside(SetAside::SingleLabel),
        };
    };
    if SPECIAL_USE_TLDS.contains(&tld) {
        return set_aside(SetAside::SpecialUse);
    }
    if name.split('.').any(|label| label.starts_with('_')) {
        return set_aside(SetAside::Service);
    }
    if !in_root_zone(name, tld) && !alternative_roots().contains(tld) {
        return set_aside(SetAside::UnknownTld);
    }
    Ok(())
}

/// Whether a name's top-level label is delegated in the root zone: the public-suffix list's
/// ICANN section holds every delegated top-level domain (IDN ones in Unicode), some only
/// through their second-level rules (`co.za`, `*.jm`).
fn in_root_zone(name: &str, tld: &str) -> bool {
    let known = |label: &str| {
        psl::suffix(label.as_bytes())
            .is_some_and(|s| s.is_known() && s.typ() == Some(psl::Type::Icann))
    };
    known(tld)
        || known(name)
        || tld.starts_with("xn--") && {
            let (unicode, decoded) = idna::domain_to_unicode(tld);
            decoded.is_ok() && known(&unicode)
        }
}

/// Entries of a compiled-in list: one per line, `#` comments.
fn list_entries(text: &'static str) -> HashSet<&'static str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// Top-level labels of alternative roots (`lists/alternative-roots.txt`).
pub fn alternative_roots() -> &'static HashSet<&'static str> {
    static ROOTS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    ROOTS.get_or_init(|| list_entries(include_str!("../lists/alternative-roots.txt")))
}

/// Private-section suffixes under which anyone picks a subdomain (`lists/open-platforms.txt`).
pub fn open_platforms() -> &'static HashSet<&'static str> {
    static OPEN: OnceLock<HashSet<&'static str>> = OnceLock::new();
    OPEN.get_or_init(|| list_entries(include_str!("../lists/open-platforms.txt")))
}

/// Whether customers pick their own labels under this private-section suffix, or under a
/// suffix above it (wildcard entries such as `*.elb.amazonaws.com` match deeper names).
fn is_open_platform(suffix: &str) -> bool {
    let open = open_platforms();
    let mut rest = suffix;
    loop {
        if open.contains(rest) {
            return true;
        }
        match rest.split_once('.') {
            Some((_, parent)) if parent.contains('.') => rest = parent,
            _ => return false,
        }
    }
}

/// Strips whitespace, quotes and brackets that surround names in logs, CSV cells and prose.
fn strip_wrapping(raw: &str) -> &str {
    raw.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | '(' | ')' | ',' | ';')
    })
}

/// Finds the host in a bare name, `host:port`, `user@host` or URL, applying IDNA (UTS #46).
fn extract_host(text: &str) -> Result<String, DomainError> {
    if let Some(ip) = bare_ip(text) {
        return Err(DomainError::IpAddress(ip));
    }
    // Special schemes (http, https, ftp, ws) get WHATWG host parsing, which does IDNA; any other
    // scheme, or none, is read as if it were http.
    let rest = match text.split_once("://") {
        Some((_, rest)) => rest,
        None => text.strip_prefix("//").unwrap_or(text),
    };
    let rest = rest.strip_prefix("mailto:").unwrap_or(rest);
    if let Some(bad) = rest.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(DomainError::InvalidCharacter(bad));
    }
    let url = match Url::parse(&format!("http://{rest}")) {
        // Strict IDNA rejects labels that are plainly hostnames all the same (punycode that does
        // not decode, say); those are read leniently rather than left unscored.
        Err(url::ParseError::IdnaError) => {
            let host = lenient_host(rest);
            // The URL parser reads a host whose last label is a number as IPv4 (`1.6` is
            // 1.0.0.6); the lenient reading must agree, or a name would normalise differently
            // the second time round.
            return if ends_in_number(&host) {
                Err(DomainError::IpAddress(host))
            } else {
                Ok(host)
            };
        }
        parsed => parsed,
    };
    let url = url.map_err(|e| match e {
        url::ParseError::InvalidDomainCharacter => match rest.chars().find(|c| is_forbidden(*c)) {
            Some(c) => DomainError::InvalidCharacter(c),
            None => DomainError::Unparsable(e.to_string()),
        },
        url::ParseError::InvalidIpv4Address | url::ParseError::InvalidIpv6Address => {
            DomainError::IpAddress(rest.to_owned())
        }
        url::ParseError::EmptyHost => DomainError::Empty,
        other => DomainError::Unparsable(other.to_string()),
    })?;
    match url.host() {
        Some(Host::Domain(domain)) => Ok(domain.to_owned()),
        Some(Host::Ipv4(ip)) => Err(DomainError::IpAddress(ip.to_string())),
        Some(Host::Ipv6(ip)) => Err(DomainError::IpAddress(ip.to_string())),
        None => Err(DomainError::Empty),
    }
}

/// The host of `rest` (`user@host:port/path` without scheme) with each label lower-cased, and
/// non-ASCII labels that IDNA refuses punycode-encoded as they are.
fn lenient_host(rest: &str) -> String {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    };
    let labels: Vec<String> = host
        .split('.')
        .map(|label| {
            if label.is_ascii() {
                label.to_ascii_lowercase()
            } else {
                let lower = label.to_lowercase();
                match idna::domain_to_ascii_cow(lower.as_bytes(), idna::AsciiDenyList::EMPTY) {
                    Ok(ascii) if !ascii.contains('.') => ascii.into_owned(),
                    _ => idna::punycode::encode_str(&lower)
                        .map(|code| format!("xn--{code}"))
                        .unwrap_or(lower),
                }
            }
        })
        .collect();
    labels.join(".")
}

/// The WHATWG URL standard's "ends in a number" test: such a host is parsed as IPv4.
fn ends_in_number(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or_default();
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

/// Recognises IP literals the URL parser would otherwise read as a host and port (`::1`).
fn bare_ip(text: &str) -> Option<String> {
    let inner = text.trim_start_matches('[').trim_end_matches(']');
    if inner.parse::<Ipv6Addr>().is_ok() || inner.parse::<Ipv4Addr>().is_ok() {
        Some(inner.to_owned())
    } else {
        None
    }
}

fn is_forbidden(c: char) -> bool {
    !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/' | '@' | '[' | ']'))
}

/// Checks the DNS limits the URL parser does not: lengths, empty labels and the hostname alphabet.
fn check_hostname(name: &str) -> Result<(), DomainError> {
    if name.is_empty() {
        return Err(DomainError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(DomainError::TooLong(name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !is_hostname_char(*c)) {
        return Err(DomainError::InvalidCharacter(bad));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(DomainError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(DomainError::LabelTooLong {
                label: label.to_owned(),
                len: label.len(),
            });
        }
    }
    Ok(())
}

/// The hostname alphabet; `_` is kept because it is common in real DNS (service records, CDNs).
pub fn is_hostname_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
}

/// Splits a checked candidate name into registrable domain and suffix (see [`SuffixRule`]).
/// Names under an alternative root take that label as their suffix; a name that is itself a
/// private-section suffix (`vercel.app`, `iki.fi`: platforms' own domains) is split by the
/// ICANN rules alone, and so is any name under a platform that assigns its labels.
fn split_on_suffix(name: String) -> Result<Domain, DomainError> {
    if !name.contains('.') {
        return Err(DomainError::OnlySuffix(name));
    }
    let Some(found) = psl::suffix(name.as_bytes()) else {
        return Err(DomainError::Unparsable(name));
    };
    let suffix_known = found.is_known();
    let private = found.typ() == Some(psl::Type::Private);
    let icann = || icann_suffix(&name).ok_or_else(|| DomainError::OnlySuffix(name.clone()));
    let (suffix_len, rule) = if psl::domain(name.as_bytes()).is_none() {
        if !private {
            return Err(DomainError::OnlySuffix(name));
        }
        (icann()?, SuffixRule::Registry)
    } else if private {
        let platform = &name[name.len() - found.as_bytes().len()..];
        if is_open_platform(platform) {
            (found.as_bytes().len(), SuffixRule::OpenPlatform)
        } else {
            (icann()?, SuffixRule::Platform)
        }
    } else if suffix_known {
        (found.as_bytes().len(), SuffixRule::Registry)
    } else {
        (found.as_bytes().len(), SuffixRule::AltRoot)
    };
    let suffix = name[name.len() - suffix_len..].to_owned();
    let head = &name[..name.len() - suffix_len - 1];
    let label_start = head.rfind('.').map_or(0, |dot| dot + 1);
    let registrable_domain = name[label_start..].to_owned();
    let subdomains = head[..label_start]
        .split('.')
        .filter(|label| !label.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Domain {
        suffix,
        suffix_known,
        registrable_domain,
        subdomains,
        name,
        rule,
    })
}

/// The private-section suffix a name is under (`cloudfront.net` for `d2pp.cloudfront.net`),
/// whichever rule scores it.
pub fn private_suffix(name: &str) -> Option<&str> {
    let found = psl::suffix(name.as_bytes())?;
    (found.typ() == Some(psl::Type::Private) && found.as_bytes().len() < name.len())
        .then(|| &name[name.len() - found.as_bytes().len()..])
}

/// Length of the longest proper tail of `name` that is a suffix by the list's ICANN rules.
fn icann_suffix(name: &str) -> Option<usize> {
    let tails = name.match_indices('.').map(|(dot, _)| &name[dot + 1..]);
    tails
        .filter(|tail| {
            psl::suffix(tail.as_bytes()).is_some_and(|s| {
                s.typ() == Some(psl::Type::Icann) && s.as_bytes().len() == tail.len()
            })
        })
        .map(str::len)
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected outcome: `Ok((name, suffix, registrable))` or the error's variant name.
    fn check(input: &str, expected: Result<(&str, &str, &str), &str>) {
        let got = normalise(input);
        match (&got, expected) {
            (Ok(d), Ok((name, suffix, registrable))) => {
                assert_eq!(
                    (
                        d.name.as_str(),
                        d.suffix.as_str(),
                        d.registrable_domain.as_str()
                    ),
                    (name, suffix, registrable),
                    "input {input:?}"
                );
            }
            (Err(e), Err(variant)) => {
                let debug = format!("{e:?}");
                assert!(
                    debug.starts_with(variant),
                    "input {input:?}: got {debug}, want {variant}"
                );
            }
            _ => panic!("input {input:?}: got {got:?}, want {expected:?}"),
        }
    }

    #[test]
    fn normalisation_table() {
        // (input, Ok((name, suffix, registrable)) or Err(error variant))
        type Want<'a> = Result<(&'a str, &'a str, &'a str), &'a str>;
        let ok = |n, s, r| Ok((n, s, r));
        let table: &[(&str, Want)] = &[
            ("example.com", ok("example.com", "com", "example.com")),
            ("Example.COM", ok("example.com", "com", "example.com")),
            ("  example.com  ", ok("example.com", "com", "example.com")),
            ("example.com.", ok("example.com", "com", "example.com")),
            ("\"example.com\"", ok("example.com", "com", "example.com")),
            ("'example.com',", ok("example.com", "com", "example.com")),
            ("<example.com>", ok("example.com", "com", "example.com")),
            (
                "HTTPS://Www.Example.COM:8080/a?b",
                ok("www.example.com", "com", "example.com"),
            ),
            (
                "http://example.com/path/to?q=1#frag",
                ok("example.com", "com", "example.com"),
            ),
            ("example.com:443", ok("example.com", "com", "example.com")),
            (
                "example.com/login.php",
                ok("example.com", "com", "example.com"),
            ),
            (
                "//cdn.example.com/x.js",
                ok("cdn.example.com", "com", "example.com"),
            ),
            (
                "ftp://files.example.org",
                ok("files.example.org", "org", "example.org"),
            ),
            (
                "hxxp://evil.example.net/a",
                ok("evil.example.net", "net", "example.net"),
            ),
            (
                "user@mail.example.com",
                ok("mail.example.com", "com", "example.com"),
            ),
            (
                "mailto:alice@example.org",
                ok("example.org", "org", "example.org"),
            ),
            (
                "https://user:pw@example.com:8443/",
                ok("example.com", "com", "example.com"),
            ),
            (
                "mail.example.co.uk",
                ok("mail.example.co.uk", "co.uk", "example.co.uk"),
            ),
            (
                "a.b.c.example.com.au",
                ok("a.b.c.example.com.au", "com.au", "example.com.au"),
            ),
            ("xjkd8f2h.com", ok("xjkd8f2h.com", "com", "xjkd8f2h.com")),
            ("ablefell.net", ok("ablefell.net", "net", "ablefell.net")),
            ("_dmarc.example.com", Err("NotCandidate")),
            ("my-site.io", ok("my-site.io", "io", "my-site.io")),
            (
                "bücher.de",
                ok("xn--bcher-kva.de", "de", "xn--bcher-kva.de"),
            ),
            (
                "xn--bcher-kva.de",
                ok("xn--bcher-kva.de", "de", "xn--bcher-kva.de"),
            ),
            (
                "BÜCHER.DE",
                ok("xn--bcher-kva.de", "de", "xn--bcher-kva.de"),
            ),
            (
                "例子.中国",
                ok(
                    "xn--fsqu00a.xn--fiqs8s",
                    "xn--fiqs8s",
                    "xn--fsqu00a.xn--fiqs8s",
                ),
            ),
            (
                "ｅｘａｍｐｌｅ.com",
                ok("example.com", "com", "example.com"),
            ),
            // A private-section suffix itself is a registrable domain by the ICANN rules.
            ("blogspot.com", ok("blogspot.com", "com", "blogspot.com")),
            ("vercel.app", ok("vercel.app", "app", "vercel.app")),
            ("iki.fi", ok("iki.fi", "fi", "iki.fi")),
            ("onrender.com", ok("onrender.com", "com", "onrender.com")),
            (
                "s3.amazonaws.com",
                ok("s3.amazonaws.com", "com", "amazonaws.com"),
            ),
            // Unlisted top-level labels (alternative roots) are the suffix.
            (
                "example.bazar",
                ok("example.bazar", "bazar", "example.bazar"),
            ),
            ("xjkd8f2h.bit", ok("xjkd8f2h.bit", "bit", "xjkd8f2h.bit")),
            ("www.Foo.GEEK", ok("www.foo.geek", "geek", "foo.geek")),
            // Plainly hostnames, though strict IDNA refuses them: read leniently.
            (
                "xn----7sbbpj7ruwnffhk.me",
                ok("xn----7sbbpj7ruwnffhk.me", "me", "xn----7sbbpj7ruwnffhk.me"),
            ),
            ("XN--ZZ.com", ok("xn--zz.com", "com", "xn--zz.com")),
            (
                "https://u:p@xn--zz.Example.com:8080/a?b#c",
                ok("xn--zz.example.com", "com", "example.com"),
            ),
            (
                "-lead.example.com",
                ok("-lead.example.com", "com", "example.com"),
            ),
            ("-lead-.com", ok("-lead-.com", "com", "-lead-.com")),
            (
                "under_score.net",
                ok("under_score.net", "net", "under_score.net"),
            ),
            (
                "раураl.com",
                ok("xn--l-7sba6dbr.com", "com", "xn--l-7sba6dbr.com"),
            ),
            ("exa%20mple.com", Err("InvalidCharacter")),
            (
                "foo.blogspot.com",
                ok("foo.blogspot.com", "blogspot.com", "foo.blogspot.com"),
            ),
            ("", Err("Empty")),
            ("   ", Err("Empty")),
            ("\"\"", Err("Empty")),
            ("http://", Err("Empty")),
            ("192.168.0.1", Err("IpAddress")),
            ("http://10.0.0.1:8080/x", Err("IpAddress")),
            ("::1", Err("IpAddress")),
            ("[2001:db8::1]", Err("IpAddress")),
            ("http://[2001:db8::1]:80/", Err("IpAddress")),
            // Found by the fuzz test: IDNA refuses the userinfo, and the lenient reading left
            // `1.6`, which the strict reading takes for the IPv4 address 1.0.0.6.
            ("\u{fffd}\u{fffd}\\@1.6", Err("IpAddress")),
            ("\u{fffd}@1.0x1f", Err("IpAddress")),
            ("localhost", Err("NotCandidate")),
            ("xjkd8f2h", Err("NotCandidate")),
            ("example.notatld", Err("NotCandidate")),
            ("com", Err("OnlySuffix")),
            ("co.uk", Err("OnlySuffix")),
            ("exa mple.com", Err("InvalidCharacter")),
            ("exa$mple.com", Err("InvalidCharacter")),
            ("<img src=x onerror=alert(1)>", Err("InvalidCharacter")),
            ("example..com", Err("EmptyLabel")),
            (".example.com", Err("EmptyLabel")),
            (&format!("{}.com", "a".repeat(64)), Err("LabelTooLong")),
            (
                &format!("{}.com", ["abcdefghij"; 30].join(".")),
                Err("TooLong"),
            ),
            (&"a".repeat(5000), Err("TooLong")),
        ];
        assert!(table.len() >= 40);
        for (input, expected) in table {
            check(input, *expected);
        }
    }

    #[test]
    fn verdict_says_whether_the_suffix_is_listed() {
        for (input, known) in [
            ("example.com", true),
            ("vercel.app", true),
            ("foo.blogspot.com", true),
            ("example.bazar", false),
            ("a.b.example.bit", false),
        ] {
            assert_eq!(normalise(input).unwrap().suffix_known, known, "{input}");
        }
        let bit = normalise("a.b.example.bit").unwrap();
        assert_eq!(bit.registrable_label(), "example");
        assert_eq!(bit.subdomains, vec!["a", "b"]);
    }

    /// What an attacker can register is scored; a label a platform assigned is not.
    #[test]
    fn the_registrable_domain_is_what_an_attacker_could_register() {
        let table = [
            ("www.example.co.uk", "example.co.uk", SuffixRule::Registry),
            ("xjkd8f2h.bit", "xjkd8f2h.bit", SuffixRule::AltRoot),
            ("a.qwrtzpxk.bazar", "qwrtzpxk.bazar", SuffixRule::AltRoot),
            (
                "xjkd8f2h.ddns.net",
                "xjkd8f2h.ddns.net",
                SuffixRule::OpenPlatform,
            ),
            (
                "qwe.duckdns.org",
                "qwe.duckdns.org",
                SuffixRule::OpenPlatform,
            ),
            ("x.y.dyndns.org", "y.dyndns.org", SuffixRule::OpenPlatform),
            ("kqzx.github.io", "kqzx.github.io", SuffixRule::OpenPlatform),
            (
                "d2pp80vsjn2e6y.cloudfront.net",
                "cloudfront.net",
                SuffixRule::Platform,
            ),
            (
                "valb1-553939474.us-east-1.elb.amazonaws.com",
                "amazonaws.com",
                SuffixRule::Platform,
            ),
            (
                "eyaqdhucaci6ajqacqauaaaaabtdaabi-pq1emq-1edc9a6ca-clienttons-s.akamaihd.net",
                "akamaihd.net",
                SuffixRule::Platform,
            ),
            (
                "avatars0.githubusercontent.com",
                "githubusercontent.com",
                SuffixRule::Platform,
            ),
            (
                "a80a9201ee101bbc3.awsglobalaccelerator.com",
                "awsglobalaccelerator.com",
                SuffixRule::Platform,
            ),
            ("cloudfront.net", "cloudfront.net", SuffixRule::Registry),
            (
                "xn--80ak6aa92e.xn--p1ai",
                "xn--80ak6aa92e.xn--p1ai",
                SuffixRule::Registry,
            ),
        ];
        for (input, registrable, rule) in table {
            let d = normalise(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (d.registrable_domain.as_str(), d.rule),
                (registrable, rule),
                "{input}"
            );
        }
    }

    #[test]
    fn names_no_dga_can_use_are_set_aside_with_their_reason() {
        let table = [
            ("_vlmcs._tcp", SetAside::Service),
            ("_ldap._tcp.dc._msdcs.example.com", SetAside::Service),
            ("ipv4only.arpa", SetAside::SpecialUse),
            ("5.1.168.192.in-addr.arpa", SetAside::SpecialUse),
            ("b.d.0.1.0.0.2.ip6.arpa", SetAside::SpecialUse),
            ("printer.home.arpa", SetAside::SpecialUse),
            ("macbook.local", SetAside::SpecialUse),
            ("_services._dns-sd._udp.local", SetAside::SpecialUse),
            (
                "samsung m267x 287x series (sec842519711a42)._privet._tcp.local",
                SetAside::SpecialUse,
            ),
            ("My-MacBook.LOCAL.", SetAside::SpecialUse),
            ("db.internal", SetAside::SpecialUse),
            ("x.test", SetAside::SpecialUse),
            ("foo.localhost", SetAside::SpecialUse),
            (
                "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion",
                SetAside::SpecialUse,
            ),
            ("wpad.corp.lan", SetAside::UnknownTld),
            ("yoda.starwars.lan", SetAside::UnknownTld),
            ("www.google.com.localdomain", SetAside::UnknownTld),
            (
                "336-ms-7.1-6c1a.0b750ce3-de33-11e8-b8b9-00306744e976",
                SetAside::UnknownTld,
            ),
            ("fzmydupfghimno", SetAside::SingleLabel),
            ("WPAD", SetAside::SingleLabel),
        ];
        for (input, why) in table {
            let got = normalise(input).map_err(|e| e.set_aside());
            assert_eq!(got.map(|d| d.name), Err(Some(why)), "{input}");
        }
        // Still scored: the public DNS and alternative roots.
        for input in [
            "example.com",
            "xjkd8f2h.bit",
            "www.foo.geek",
            "example.com.",
            "bücher.рф",
            // Top-level domains the list holds only through their second-level rules.
            "adzba.co.za",
            "afvv.com.jm",
        ] {
            assert!(normalise(input).is_ok(), "{input}");
        }
    }

    #[test]
    fn registrable_label_drops_suffix() {
        let d = normalise("www.example.co.uk").unwrap();
        assert_eq!(d.registrable_label(), "example");
        assert_eq!(d.subdomains, vec!["www"]);
    }
}
