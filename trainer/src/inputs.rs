//! What the trainer's commands read and write: the labelled data as split examples, weights
//! files to rewrite, per-name scores. A leaf: it imports no other command module.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use labelled::DEFAULT_WEIGHTS;
use labelled::data::{self, DEFAULT_DATA, ListLabel, Sample};
use labelled::files::{read_weights, write_atomic};
use model_core::weights::decode_config;
use model_core::{InputView, ModelConfig, Tokeniser};

use crate::split::{self, Example};

#[derive(Args, Clone)]
pub(crate) struct DataArgs {
    /// Labelled domains: `domain,label,family,source` CSV, `isDGA,domain,host,subclass` CSV,
    /// JSON lines with `domain` and `threat`, or a plain list with --label; `.gz` is read too.
    #[arg(long, env = "DGA_DATA", default_value = DEFAULT_DATA)]
    pub(crate) data: PathBuf,
    /// Label for every name of a plain one-per-line list.
    #[arg(long, value_enum)]
    pub(crate) label: Option<ListLabel>,
    /// Seed of the 80/10/10 split.
    #[arg(long, default_value_t = 42)]
    pub(crate) split_seed: u64,
    /// DGA families (comma-separated) kept out of training and validation: every name of theirs
    /// goes to the test split, to measure detection of families the model never saw.
    #[arg(long, value_delimiter = ',')]
    pub(crate) holdout_families: Vec<String>,
}

/// The data and weights of a command that adds to or rewrites existing weights.
#[derive(Args)]
pub(crate) struct RewriteArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub(crate) weights: PathBuf,
    /// Where to write the result (default: over --weights).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

impl RewriteArgs {
    /// Reads --weights and splits --data, hands both to `rewrite` and writes what it returns.
    pub(crate) fn run(
        &self,
        rewrite: impl FnOnce(&[u8], &split::Splits) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let (weights, _, splits) = weights_and_splits(&self.weights, &self.data)?;
        let rewritten = rewrite(&weights, &splits)?;
        write_weights(self.out.as_ref().unwrap_or(&self.weights), &rewritten)
    }
}

/// Reads a weights file, and the labelled data split as its tokeniser reads names.
pub(crate) fn weights_and_splits(
    path: &Path,
    data: &DataArgs,
) -> Result<(Vec<u8>, ModelConfig, split::Splits)> {
    let weights = read_weights(path)?;
    let config =
        decode_config(&weights).with_context(|| format!("{} is not usable", path.display()))?;
    let splits = load_splits(data, &Tokeniser::new(config.tokeniser.clone()))?;
    Ok((weights, config, splits))
}

/// Writes weights and says where and how large.
pub(crate) fn write_weights(out: &Path, weights: &[u8]) -> Result<()> {
    write_atomic(out, weights)?;
    println!(
        "wrote {} ({:.1} KiB)",
        out.display(),
        weights.len() as f64 / 1024.0
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ViewArg {
    Registrable,
    Label,
    Full,
}

impl From<ViewArg> for InputView {
    fn from(v: ViewArg) -> Self {
        match v {
            ViewArg::Registrable => InputView::Registrable,
            ViewArg::Label => InputView::Label,
            ViewArg::Full => InputView::Full,
        }
    }
}

/// Loads and normalises labelled data into model inputs.
pub(crate) fn load_examples(
    path: &Path,
    label: Option<ListLabel>,
    tokeniser: &Tokeniser,
) -> Result<Vec<Example>> {
    Ok(split::prepare(load_samples(path, label)?, tokeniser))
}

/// Reads labelled data as its rows, saying what to pass when it is missing.
pub(crate) fn load_samples(path: &Path, label: Option<ListLabel>) -> Result<Vec<Sample>> {
    if !path.exists() {
        bail!(
            "no data at {}: pass --data FILE (or set DGA_DATA); in this repository the labelled set is ../shared/data/domains.csv.gz",
            path.display()
        );
    }
    eprintln!("reading {}", path.display());
    Ok(data::load(path, label)?.samples)
}

/// Loads, normalises and splits the labelled data the same way for training and evaluation.
pub(crate) fn load_splits(args: &DataArgs, tokeniser: &Tokeniser) -> Result<split::Splits> {
    let examples = load_examples(&args.data, args.label, tokeniser)?;
    let mut splits = split::split(examples, args.split_seed);
    if !args.holdout_families.is_empty() {
        let unknown: Vec<&str> = args
            .holdout_families
            .iter()
            .filter(|f| {
                let mut all = splits.train.iter().chain(&splits.val).chain(&splits.test);
                !all.any(|e| e.is_dga && &e.family == *f)
            })
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            bail!(
                "--holdout-families: no DGA names of {} in {}",
                unknown.join(", "),
                args.data.display()
            );
        }
        let held = splits.hold_out(&args.holdout_families);
        eprintln!(
            "held out {held} names of {} families: all in the test split",
            args.holdout_families.len()
        );
    }
    eprintln!(
        "split: {} train, {} validation, {} test",
        splits.train.len(),
        splits.val.len(),
        splits.test.len()
    );
    Ok(splits)
}

pub(crate) fn write_scores(examples: &[Example], logits: &[f32], path: &Path) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(file));
    out.write_record(["name", "label", "family", "source", "logit", "p_dga"])?;
    for (e, &logit) in examples.iter().zip(logits) {
        let label = if e.is_dga { "dga" } else { "legit" };
        let p_dga = model_core::sigmoid(logit);
        out.write_record([
            e.text.as_str(),
            label,
            &e.family,
            &e.source,
            &format!("{logit:.4}"),
            &format!("{p_dga:.6}"),
        ])?;
    }
    out.flush()?;
    eprintln!("scores written to {}", path.display());
    Ok(())
}
