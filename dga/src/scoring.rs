//! What `predict`, `serve` and `monitor` share: the options that load a detector (weights,
//! risk thresholds, allow-lists) and scoring lines whose bytes were already found wanting.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::tensor::backend::Backend;
use clap::Args;
use model_core::allow::SHIPPED as DEFAULT_ALLOW;
use model_core::parallel::{Input, cores, score_each};
use model_core::{AllowList, Detector, RiskThresholds, Verdict};

use crate::lines::Line;

/// The shipped weights, compiled in so that the binary works from any folder: a rebuild after
/// retraining carries the new ones (cargo tracks the file). A static, not a const: a const's
/// bytes were copied into each place that used it, twice into the binary.
pub static SHIPPED_WEIGHTS: &[u8] = include_bytes!("../../model/dga.dgaw");

/// How a detector is loaded for scoring.
#[derive(Args, Clone, Debug)]
pub struct ScoringArgs {
    /// A weights file to load instead of the shipped weights compiled into the binary.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Risk bands as `HIGH,MEDIUM` over p_dga: `high` at or above HIGH raises alerts.
    #[arg(long, default_value = "0.8,0.6", value_parser = parse_thresholds)]
    pub thresholds: RiskThresholds,
    /// An allow-list: one registrable domain or suffix per line, `#` comments. Allowed names are
    /// still scored but reported with risk `allowed` and never alerted. Repeatable.
    #[arg(long)]
    pub allow: Vec<PathBuf>,
    /// Leave out the shipped allow-list of CDN and cloud hostnames.
    #[arg(long)]
    pub no_default_allow: bool,
}

fn parse_thresholds(text: &str) -> Result<RiskThresholds, String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let [high, medium] = parts.as_slice() else {
        return Err(format!(
            "expected HIGH,MEDIUM such as 0.8,0.6, not `{text}`"
        ));
    };
    let number = |s: &str| {
        s.parse::<f32>()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| format!("`{s}` is not a probability between 0 and 1"))
    };
    let (high, medium) = (number(high)?, number(medium)?);
    if medium > high {
        return Err(format!("MEDIUM ({medium}) must not be above HIGH ({high})"));
    }
    Ok(RiskThresholds { high, medium })
}

impl ScoringArgs {
    /// The allow-list these options name: the shipped one unless left out, plus each file.
    pub fn allow_list(&self) -> Result<AllowList> {
        let mut list = AllowList::default();
        if !self.no_default_allow {
            list.extend(parse_allow(
                DEFAULT_ALLOW,
                Path::new("the shipped allow-list"),
            )?);
        }
        for path in &self.allow {
            let text = std::fs::read(path)
                .with_context(|| format!("cannot read allow-list {}", path.display()))?;
            list.extend(parse_allow(&String::from_utf8_lossy(&text), path)?);
        }
        Ok(list)
    }

    /// Loads the weights into a detector with these thresholds and allow-list.
    pub fn detector<B: Backend>(&self, device: B::Device) -> Result<Detector<B>> {
        let mut detector = match &self.weights {
            Some(path) => {
                let weights = labelled::files::read_weights(path)?;
                Detector::<B>::from_weights(&weights, device)
                    .with_context(|| format!("{} is not usable", path.display()))?
            }
            None => Detector::<B>::from_weights(SHIPPED_WEIGHTS, device)
                .context("the shipped weights compiled into this binary are not usable")?,
        };
        detector.thresholds = self.thresholds;
        detector.allow = self.allow_list()?;
        Ok(detector)
    }
}

/// An allow-list with a line that is not a name is refused whole (see [`AllowList::parse_strict`]).
fn parse_allow(text: &str, origin: &Path) -> Result<AllowList> {
    AllowList::parse_strict(text).map_err(|refused| anyhow!("{} {refused}", origin.display()))
}

/// One verdict per line, in order: lines whose bytes were wanting get their problem as the
/// error; the rest are scored on all cores.
pub fn score_lines<B: Backend>(detector: &Detector<B>, lines: &[Line]) -> Vec<Verdict>
where
    Detector<B>: Sync,
{
    let inputs: Vec<Input> = lines
        .iter()
        .map(|line| Input {
            text: &line.text,
            problem: line.problem.as_deref(),
        })
        .collect();
    score_each(detector, cores(), &inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_explain_mistakes() {
        assert_eq!(
            parse_thresholds("0.9, 0.5"),
            Ok(RiskThresholds {
                high: 0.9,
                medium: 0.5
            })
        );
        assert!(parse_thresholds("0.9").unwrap_err().contains("HIGH,MEDIUM"));
        assert!(parse_thresholds("0.5,0.9").unwrap_err().contains("above"));
        assert!(parse_thresholds("2,0.5").unwrap_err().contains("between"));
    }

    #[test]
    fn the_shipped_allow_list_parses() {
        let list = parse_allow(DEFAULT_ALLOW, Path::new("shipped")).unwrap();
        assert!(!list.is_empty());
    }

    #[test]
    fn an_allow_list_with_a_bad_line_is_refused_with_its_line() {
        let err = parse_allow("ok.com\n\n1.2.3.4\n", Path::new("mine.txt")).unwrap_err();
        assert!(err.to_string().contains("mine.txt line 3"), "{err}");
    }
}
