//! `trainer likeliest`: which labelled family's own names make each given name likeliest, by
//! label length, characters and suffix ([`model_core::FamilyProfile::log_likelihood`]), under
//! a flat prior over families and under the labelled data's. No model is involved: it says what
//! one name's shape can tell of its family, the bound for naming a capture's names one at a
//! time (docs/model.md, "What limits one name").

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use labelled::data::DEFAULT_DATA;
use model_core::{FamilyProfile, normalise, suffix_of};

use crate::inputs::load_samples;

#[derive(Args)]
pub(crate) struct LikeliestArgs {
    /// Labelled domains, as `train` reads them: each DGA family's names make its profile.
    #[arg(long, env = "DGA_DATA", default_value = DEFAULT_DATA)]
    data: PathBuf,
    /// Names to read, one per line (a capture's flagged names); `-` reads standard input.
    names: PathBuf,
    /// The family the names are known to be of: each line also says how far it is behind.
    #[arg(long)]
    family: Option<String>,
}

pub(crate) fn run(args: LikeliestArgs) -> Result<()> {
    // The names first: a missing file is said before the labelled data is read.
    let reader: Box<dyn BufRead> = if args.names.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.names)
            .with_context(|| format!("cannot read {}", args.names.display()))?;
        Box::new(BufReader::new(file))
    };
    let profiles = profiles(&args)?;
    if let Some(family) = &args.family
        && !profiles.contains_key(family)
    {
        bail!(
            "--family: no DGA names of {family} in {}",
            args.data.display()
        );
    }
    let total: f64 = profiles.values().map(|p| f64::from(p.names)).sum();
    let mut firsts: [BTreeMap<&str, usize>; 2] = Default::default();
    let mut read = 0;
    for line in reader.lines() {
        let line = line.with_context(|| format!("{} is not text", args.names.display()))?;
        let Some(raw) = line.split_whitespace().next() else {
            continue;
        };
        let domain = match normalise(raw) {
            Ok(domain) => domain,
            Err(why) => {
                eprintln!("skipped {raw}: {why}");
                continue;
            }
        };
        let label = domain.registrable_label();
        let suffix = suffix_of(&domain.registrable_domain, label);
        let mut ranked: Vec<(&str, f64)> = (profiles.iter())
            .map(|(f, p)| (f.as_str(), p.log_likelihood(label, suffix)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let best = ranked[0].1;
        let by_data = (ranked.iter())
            .max_by(|a, b| {
                let prior = |f: &str| (f64::from(profiles[f].names) / total).ln();
                (a.1 + prior(a.0)).total_cmp(&(b.1 + prior(b.0)))
            })
            .map(|&(f, _)| f)
            .expect("at least one family");
        *firsts[0].entry(ranked[0].0).or_default() += 1;
        *firsts[1].entry(by_data).or_default() += 1;
        read += 1;
        let top: Vec<String> = (ranked.iter().take(3))
            .map(|(f, l)| format!("{f} {:+.1}", l - best))
            .collect();
        let known = (args.family.as_deref())
            .and_then(|family| ranked.iter().position(|(f, _)| *f == family))
            .map(|at| {
                format!(
                    " | {} #{} {:+.1}",
                    ranked[at].0,
                    at + 1,
                    ranked[at].1 - best
                )
            })
            .unwrap_or_default();
        println!(
            "{:<32} likeliest: {}; with the data's prior: {by_data}{known}",
            domain.registrable_domain,
            top.join(", ")
        );
    }
    for (prior, counts) in ["a flat prior", "the data's prior"].iter().zip(&firsts) {
        let mut counts: Vec<(&&str, &usize)> = counts.iter().collect();
        counts.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let counts: Vec<String> = counts.iter().map(|(f, n)| format!("{f} {n}")).collect();
        println!(
            "likeliest of {read} names under {prior}: {}",
            counts.join(", ")
        );
    }
    Ok(())
}

/// Each DGA family's profile, from every labelled name of it (all splits: no model is fitted).
fn profiles(args: &LikeliestArgs) -> Result<BTreeMap<String, FamilyProfile>> {
    let path = &args.data;
    let mut names: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for sample in load_samples(path, None)?.into_iter().filter(|s| s.is_dga) {
        let Ok(domain) = normalise(&sample.domain) else {
            continue;
        };
        let label = domain.registrable_label().to_owned();
        let suffix = suffix_of(&domain.registrable_domain, &label).to_owned();
        names
            .entry(sample.family)
            .or_default()
            .push((label, suffix));
    }
    if names.is_empty() {
        bail!("no DGA names in {}", path.display());
    }
    Ok((names.into_iter())
        .map(|(family, names)| {
            let profile = FamilyProfile::of(names.iter().map(|(l, s)| (l.as_str(), s.as_str())));
            (family, profile)
        })
        .collect())
}
