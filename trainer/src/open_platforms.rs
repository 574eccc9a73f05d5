//! `trainer open-platforms`: checks the suffix rules against the labelled data. No DGA name
//! may be hidden by them: none set aside, none scored as the platform's domain because its
//! suffix is missing from `model-core/lists/open-platforms.txt`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use model_core::{SuffixRule, normalise};

#[derive(Args, Debug)]
pub struct OpenPlatformsArgs {
    /// Labelled data (`domain,label,family,source` CSV, `.gz` read too).
    #[arg(long, default_value = "../shared/data/domains.csv.gz")]
    pub data: PathBuf,
}

pub fn run(args: OpenPlatformsArgs) -> Result<()> {
    let loaded = labelled::data::load(&args.data, None)?;
    // (is_dga, outcome) -> names
    let mut outcomes: BTreeMap<(bool, String), usize> = BTreeMap::new();
    // Private-section suffixes of DGA names scored as the platform's domain: missing entries.
    let mut missing: BTreeMap<String, usize> = BTreeMap::new();
    let mut hidden = 0;
    let mut examples: Vec<String> = Vec::new();
    for sample in &loaded.samples {
        let outcome = match normalise(&sample.domain) {
            Ok(domain) => {
                if sample.is_dga && domain.rule == SuffixRule::Platform {
                    hidden += 1;
                    let platform = domain.name[..domain.name.len() - domain.suffix.len()]
                        .split('.')
                        .filter(|l| !l.is_empty())
                        .skip(domain.subdomains.len().min(1))
                        .collect::<Vec<_>>()
                        .join(".");
                    *missing
                        .entry(format!("{platform}.{}", domain.suffix))
                        .or_default() += 1;
                }
                domain.rule.as_str().to_owned()
            }
            Err(e) => match e.set_aside() {
                Some(why) => {
                    if sample.is_dga {
                        hidden += 1;
                        if examples.len() < 10 {
                            examples.push(format!("{} ({}): {e}", sample.domain, sample.family));
                        }
                    }
                    format!("set aside: {}", why.as_str())
                }
                None => "not a name".to_owned(),
            },
        };
        *outcomes.entry((sample.is_dga, outcome)).or_default() += 1;
    }
    println!("| label | outcome | names |\n|---|---|---:|");
    for ((is_dga, outcome), n) in &outcomes {
        println!(
            "| {} | {outcome} | {n} |",
            if *is_dga { "dga" } else { "benign" }
        );
    }
    for (suffix, n) in &missing {
        println!("missing from open-platforms.txt: {suffix} ({n} DGA names)");
    }
    for example in &examples {
        println!("set aside: {example}");
    }
    if hidden > 0 {
        bail!("{hidden} DGA names are hidden by the suffix rules");
    }
    println!("\nNo DGA name of the labelled data is set aside or scored as a platform's domain.");
    Ok(())
}
