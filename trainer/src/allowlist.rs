//! Builds the shipped allow-list from the labelled data alone: hosting, CDN and cloud platforms
//! (private entries of the public-suffix list) under which the benign lists hold customer
//! hostnames and no DGA name of the data lives. Customer labels there are often machine-made
//! (`d1x2y3kq9z.cloudfront.net`) and benign.
//!
//! Left out as well, because anyone can register names there much as under a top-level domain
//! and malware does: resold registries (`us.com`, `com.ru`, `spb.ru`: a first label that is a
//! top-level domain, or two labels the first of which is at most 3 letters) and dynamic DNS
//! (the markers in [`DYNAMIC_DNS`]). Hand-written rules, stated in the list's header.
//!
//! Benign names the model flags are not a source: the benign top lists hold real DGA names
//! (resolver popularity lists see malware traffic too), and allowing those would hide them.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use model_core::normalise;
use model_core::normalise::private_suffix;

/// Words that mark a dynamic DNS provider's suffix (`dyndns.tv`, `myqnapcloud.com`).
const DYNAMIC_DNS: [&str; 8] = [
    "dyn",
    "ddns",
    "homeip",
    "qnapcloud",
    "synology",
    "dscloud",
    "duckdns",
    "no-ip",
];

/// Whether names under `suffix` are registered by anyone, as under a top-level domain.
fn open_registry(suffix: &str) -> bool {
    let labels: Vec<&str> = suffix.split('.').collect();
    let first_is_tld = psl::suffix(labels[0].as_bytes())
        .is_some_and(|s| s.is_known() && s.as_bytes().len() == labels[0].len());
    let short_second_level = labels.len() == 2 && labels[0].len() <= 3;
    first_is_tld || short_second_level || DYNAMIC_DNS.iter().any(|m| suffix.contains(m))
}

#[derive(Args)]
pub struct AllowlistArgs {
    /// Labelled domains (`domain,label,family,source` CSV).
    #[arg(long, env = "DGA_DATA", default_value = labelled::data::DEFAULT_DATA)]
    data: PathBuf,
    /// Fewest benign hostnames under a platform for it to be listed.
    #[arg(long, default_value_t = 10)]
    min_names: usize,
    /// Where to write the list.
    #[arg(long, default_value = "model/allow.txt")]
    out: PathBuf,
}

pub fn run(args: AllowlistArgs) -> Result<()> {
    let loaded = labelled::data::load(&args.data, None)?;
    let mut benign: BTreeMap<String, usize> = BTreeMap::new();
    let mut under_dga: HashSet<String> = HashSet::new();
    for sample in &loaded.samples {
        let Ok(domain) = normalise(&sample.domain) else {
            continue;
        };
        // The platform the name is under, whether its own label or the platform's domain is
        // scored (see `SuffixRule`).
        let Some(suffix) = private_suffix(&domain.name).map(str::to_owned) else {
            continue;
        };
        if open_registry(&suffix) {
            continue;
        }
        if sample.is_dga {
            under_dga.insert(suffix);
        } else {
            *benign.entry(suffix).or_default() += 1;
        }
    }
    let mut text = format!(
        "# Hosting, CDN and cloud platforms whose customer hostnames are benign however random they\n\
         # look. Made from the labelled data alone by\n\
         #   cargo run --release -p trainer -- allowlist --min-names {}\n\
         # which keeps each private entry of the public-suffix list under which the benign lists\n\
         # hold at least that many hostnames and the data holds no DGA name; resold registries\n\
         # (us.com, com.ru, spb.ru) and dynamic DNS are left out, since anyone registers there.\n\
         # After `#`: benign hostnames under it. Names under an entry are allowed too.\n",
        args.min_names
    );
    let mut kept = 0;
    let mut left_out = Vec::new();
    for (suffix, count) in &benign {
        if under_dga.contains(suffix) {
            left_out.push(suffix.as_str());
        } else if *count >= args.min_names {
            text.push_str(&format!("{suffix}  # {count} benign hostnames\n"));
            kept += 1;
        }
    }
    labelled::files::write_atomic(&args.out, text.as_bytes())?;
    println!(
        "wrote {} ({kept} platforms; left out for DGA names under them: {})",
        args.out.display(),
        if left_out.is_empty() {
            "none".to_owned()
        } else {
            left_out.join(", ")
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_registries_and_dynamic_dns_are_not_platforms() {
        for open in [
            "us.com",
            "com.ru",
            "spb.ru",
            "js.org",
            "dyndns.tv",
            "myqnapcloud.com",
        ] {
            assert!(open_registry(open), "{open}");
        }
        for platform in [
            "cloudfront.net",
            "herokuapp.com",
            "rsc.cdn77.org",
            "blogspot.com",
        ] {
            assert!(!open_registry(platform), "{platform}");
        }
    }
}
