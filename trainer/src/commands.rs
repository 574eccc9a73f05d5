//! The commands that train, evaluate, export and score: each `run_*` takes its parsed
//! arguments from `main.rs` and does the work.

use crate::backend::{BackendArg, Job, dispatch, fit_detector};
use crate::inputs::{
    DataArgs, RewriteArgs, ViewArg, load_splits, weights_and_splits, write_scores, write_weights,
};
use crate::split::{Example, SplitName};
use crate::train::{SelectBy, Stop, TrainJob, TrainSettings};
use crate::{augment, metrics, split, wide};
use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, Parser};
use labelled::DEFAULT_WEIGHTS;
use labelled::files::{read_weights, write_atomic};
use model_core::explain::{AnomalyModel, BenignTrigrams};
use model_core::parallel;
use model_core::{
    Detector, ModelCard, ModelConfig, ModelSize, Shapes, Tokeniser, replace_config,
    weights::decode_config,
};
use std::path::{Path, PathBuf};

/// The shipped weights' model card, which the page loads beside them.
pub(crate) const DEFAULT_CARD: &str = "model/card.json";
/// How much the benign-only anomaly score feeds `p_dga` by default, chosen on the leave-out
/// benchmark (docs/results.md, "Generalisation"): weight 1 improves every averaged column there but
/// family recall (-1.3 points); the larger weights `generalise` picks for TPR alone (3-4) cost
/// F1 and 5 points of family recall on unseen families.
pub(crate) const ANOMALY_WEIGHT: f32 = 1.0;
/// The log-odds `train` adds to every verdict ([`ModelConfig::decision_shift`]), chosen on the
/// leave-out benchmark (docs/results.md, "Generalisation"): the largest F1 at equal priors on families
/// and benign lists the model never saw, within [`crate::generalise::MAX_UNSEEN_FPR`].
pub(crate) const DECISION_SHIFT: f32 = 1.5;

#[derive(Args)]
pub(crate) struct TrainArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Model size.
    #[arg(long, value_enum, default_value = "small")]
    pub(crate) size: ModelSize,
    /// Which part of a domain the model reads (default: the size's own choice).
    #[arg(long, value_enum)]
    pub(crate) view: Option<ViewArg>,
    /// Dropout rate inside the encoder (default: the size's own).
    #[arg(long)]
    pub(crate) dropout: Option<f64>,
    /// Encoder layers (default: the size's own).
    #[arg(long)]
    pub(crate) layers: Option<usize>,
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) backend: BackendArg,
    /// Batch shapes: `fixed` pads lengths to a few buckets and fills every batch (what a GPU
    /// needs to compile its kernels once), `tight` pads each batch to its longest name (least
    /// work on a CPU); `auto` picks by backend.
    #[arg(long, value_enum, default_value = "auto")]
    pub(crate) shapes: ShapesArg,
    /// Folder for checkpoints, the best weights and reports; an interrupted run resumes from it.
    #[arg(long)]
    pub(crate) run_dir: Option<PathBuf>,
    /// Discard an existing run in --run-dir and start over.
    #[arg(long)]
    pub(crate) fresh: bool,
    /// Where to export the best weights.
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub(crate) export: PathBuf,
    #[arg(long, default_value_t = 256)]
    pub(crate) batch_size: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub(crate) learning_rate: f64,
    #[arg(long, default_value_t = 0.01)]
    pub(crate) weight_decay: f32,
    #[arg(long, default_value_t = 300)]
    pub(crate) warmup_steps: usize,
    #[arg(long, default_value_t = 12_000)]
    pub(crate) max_steps: usize,
    /// Stop after this many minutes (after the next validation).
    #[arg(long)]
    pub(crate) max_minutes: Option<f64>,
    /// Stop at the first validation whose F1 reaches this (prints the time it took).
    #[arg(long)]
    pub(crate) stop_at_f1: Option<f64>,
    /// Validate and checkpoint every this many steps.
    #[arg(long, default_value_t = 500)]
    pub(crate) val_every: usize,
    /// Validation names scored at each validation (a fixed sample of the validation split).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) val_samples: usize,
    /// Validations without a better selection score (--select) before stopping.
    #[arg(long, default_value_t = 6)]
    pub(crate) patience: usize,
    /// Most names any one DGA family contributes to an epoch.
    #[arg(long, default_value_t = 15_000)]
    pub(crate) family_cap: usize,
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    /// What picks the best checkpoint (and the n-gram weight with `--ngram-weight validation`):
    /// F1 at 0.5, or the TPR at FPR 1% and 0.1% (`low-fpr`).
    #[arg(long, value_enum, default_value = "low-fpr")]
    pub(crate) select: SelectBy,
    /// Ship the transformer alone, without the linear n-gram part.
    #[arg(long)]
    pub(crate) no_wide: bool,
    #[command(flatten)]
    pub(crate) part: wide::PartArgs,
    #[command(flatten)]
    pub(crate) words: crate::lexicon::WordArgs,
    #[command(flatten)]
    pub(crate) augment: augment::AugmentArgs,
    /// How much the benign-only anomaly score moves the log-odds (per bit above its line).
    #[arg(long, default_value_t = ANOMALY_WEIGHT)]
    pub(crate) anomaly_weight: f32,
    /// Log-odds added to every verdict: where `p_dga` 0.5 falls (see `trainer calibrate`).
    #[arg(long, default_value_t = DECISION_SHIFT, allow_negative_numbers = true)]
    pub(crate) decision_shift: f32,
    #[command(flatten)]
    pub(crate) family: crate::family::HeadArgs,
    /// Weight of a family objective trained with the DGA one on the transformer's states (0:
    /// none; the family head is then fitted on frozen features only).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) joint_family_weight: f32,
    /// With --joint-family-weight: families of this fold (class modulo 5) add no family loss, so
    /// that the head's open-set measure on that fold stays honest; the family head's `unknown`
    /// thresholds are then chosen on that fold alone.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..crate::family::FOLDS as i64))]
    pub(crate) joint_family_held_out_fold: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ShapesArg {
    Auto,
    Tight,
    Fixed,
}

impl ShapesArg {
    /// The shapes asked for; `None` leaves the choice to the backend.
    pub(crate) fn chosen(self) -> Option<Shapes> {
        match self {
            ShapesArg::Auto => None,
            ShapesArg::Tight => Some(Shapes::Tight),
            ShapesArg::Fixed => Some(Shapes::Fixed),
        }
    }
}

#[derive(Args)]
pub(crate) struct WideArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// The transformer's own weights (a run's best.dgaw).
    #[arg(long)]
    pub(crate) weights: PathBuf,
    /// Where to write the weights with the n-gram part.
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub(crate) out: PathBuf,
    /// What picks the n-gram weight on validation.
    #[arg(long, value_enum, default_value = "low-fpr")]
    pub(crate) select: SelectBy,
    #[command(flatten)]
    pub(crate) part: wide::PartArgs,
    #[command(flatten)]
    pub(crate) words: crate::lexicon::WordArgs,
    /// Seed of the n-gram model's epochs (`train` uses its own --seed).
    #[arg(long, default_value_t = 42)]
    pub(crate) seed: u64,
    #[arg(long, value_enum, default_value = "cpu")]
    pub(crate) backend: BackendArg,
}

#[derive(Args)]
pub(crate) struct AnomalyArgs {
    #[command(flatten)]
    pub(crate) rewrite: RewriteArgs,
    /// How much the anomaly score moves the log-odds (per bit above its line).
    #[arg(long, default_value_t = ANOMALY_WEIGHT)]
    pub(crate) weight: f32,
}

#[derive(Args)]
pub(crate) struct CalibrateArgs {
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub(crate) weights: PathBuf,
    /// Where to write the result (default: over --weights).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Log-odds added to every verdict (`generalise` prints the one its folds choose).
    #[arg(long, default_value_t = DECISION_SHIFT, allow_negative_numbers = true)]
    pub(crate) shift: f32,
}

/// The weights with another decision shift, their parameters kept byte for byte.
pub(crate) fn with_decision_shift(weights: &[u8], shift: f32) -> Result<Vec<u8>> {
    let mut config = decode_config(weights)?;
    config.decision_shift = shift;
    Ok(replace_config(weights, &config)?)
}

pub(crate) fn run_calibrate(args: CalibrateArgs) -> Result<()> {
    let weights = read_weights(&args.weights)?;
    let calibrated = with_decision_shift(&weights, args.shift).with_context(|| {
        format!(
            "cannot set the decision shift of {}",
            args.weights.display()
        )
    })?;
    write_weights(args.out.as_ref().unwrap_or(&args.weights), &calibrated)
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Which split of --data to score; `all` for data the model never trained on.
    #[arg(long, value_enum, default_value = "test")]
    pub(crate) split: SplitName,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub(crate) weights: PathBuf,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write report.json, roc.svg and pr.svg into this folder.
    #[arg(long)]
    pub(crate) out_dir: Option<PathBuf>,
    /// Also write every scored name as CSV (`name,label,family,source,logit,p_dga`), for
    /// looking at the errors.
    #[arg(long)]
    pub(crate) scores: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "cpu")]
    pub(crate) backend: BackendArg,
}

#[derive(Args)]
pub(crate) struct CardArgs {
    #[command(flatten)]
    pub(crate) data: DataArgs,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub(crate) weights: PathBuf,
    #[arg(long, default_value = DEFAULT_CARD)]
    pub(crate) out: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    pub(crate) backend: BackendArg,
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// A run folder (its best.dgaw is exported) or a weights file.
    #[arg(default_value = "runs/small")]
    pub(crate) from: PathBuf,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub(crate) to: PathBuf,
}

impl TrainArgs {
    /// The settings `train` runs with, around `model`.
    pub(crate) fn settings(&self, model: ModelConfig) -> TrainSettings {
        TrainSettings {
            model,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            weight_decay: self.weight_decay,
            warmup_steps: self.warmup_steps,
            max_steps: self.max_steps,
            val_every: self.val_every,
            val_samples: self.val_samples,
            patience: self.patience,
            family_cap: self.family_cap,
            seed: self.seed,
            select: self.select,
            joint_family: (self.joint_family_weight > 0.0).then_some(crate::train::JointFamily {
                weight: self.joint_family_weight,
                held_out_fold: self.joint_family_held_out_fold.map(usize::from),
            }),
        }
    }

    /// How the family head is fitted. A transformer trained with the family loss has told apart
    /// every family outside its held-out fold, so only that fold's families show how often a
    /// family never seen is answered `unknown`; the thresholds are chosen on it.
    fn head_args(&self) -> crate::family::HeadArgs {
        let mut head = self.family;
        if self.joint_family_weight > 0.0 && head.family_calibration_fold.is_none() {
            head.family_calibration_fold = self.joint_family_held_out_fold;
            if head.family_calibration_fold.is_none() {
                eprintln!(
                    "warning: every family was in the family loss, so the family head's `unknown` thresholds are chosen on families the transformer has learnt, and unseen families will be named more often than they say (pass --joint-family-held-out-fold)"
                );
            }
        }
        head
    }

    /// `train` with every default: the shipped recipe.
    pub(crate) fn defaults() -> Self {
        match crate::Cli::parse_from(["trainer", "train"]).command {
            Some(crate::Command::Train(args)) => args,
            _ => unreachable!("`train` parses as the train command"),
        }
    }
}

pub(crate) fn run_train(args: TrainArgs) -> Result<()> {
    if args.batch_size == 0 || args.val_every == 0 || args.max_steps == 0 || args.val_samples == 0 {
        bail!("--batch-size, --val-every, --max-steps and --val-samples must be at least 1");
    }
    let mut model = args.size.config();
    if let Some(view) = args.view {
        model.tokeniser.view = view.into();
    }
    if let Some(dropout) = args.dropout {
        model.dropout = dropout;
    }
    if let Some(layers) = args.layers {
        model.n_layers = layers;
    }
    let run_dir = args.run_dir.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "runs/{}",
            format!("{:?}", args.size).to_lowercase()
        ))
    });
    if args.fresh && run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot clear {}", run_dir.display()))?;
    }
    let tokeniser = Tokeniser::new(model.tokeniser.clone());
    let mut splits = load_splits(&args.data, &tokeniser)?;
    // Read before hours of training, so a missing folder fails at once.
    let lexicon = if args.no_wide {
        None
    } else {
        args.words.load()?
    };
    let synthetic = augment::synthesise(
        &splits.train,
        &tokeniser,
        args.augment.augment,
        &args.augment.augment_kinds,
        args.seed,
    );
    if !synthetic.is_empty() {
        eprintln!(
            "added {} synthetic DGA names to the training split",
            synthetic.len()
        );
        splits.train.extend(synthetic);
    }
    if args.joint_family_weight > 0.0 {
        model.family = crate::family::joint_config(&splits.train);
    }
    let settings = args.settings(model);
    let outcome = dispatch(
        args.backend,
        TrainJob {
            settings,
            train: &splits.train,
            val: &splits.val,
            run_dir: run_dir.clone(),
            stop: Stop {
                after_minutes: args.max_minutes,
                at_f1: args.stop_at_f1,
            },
            shapes: args.shapes.chosen(),
        },
    )?;
    let resumed = outcome
        .resumed_from
        .map_or(String::new(), |step| format!(" (resumed at step {step})"));
    eprintln!(
        "trained {} steps{resumed} at {:.0} samples/s; best validation F1 {:.4}",
        outcome.steps, outcome.samples_per_s, outcome.best_f1
    );
    let mut weights = std::fs::read(&outcome.best_weights)
        .with_context(|| format!("cannot read {}", outcome.best_weights.display()))?;
    if !args.no_wide {
        weights = add_wide(
            &weights,
            &splits,
            (&args.part, lexicon.as_ref()),
            args.seed,
            args.select,
            args.backend,
        )?;
    }
    weights = add_anomaly(&weights, &splits, args.anomaly_weight)?;
    weights = with_decision_shift(&weights, args.decision_shift)?;
    // Compacted before the family head is fitted, so that it reads the features the shipped
    // transformer gives, and after, so that the head is rounded too (which moved its figures by
    // under 0.1 point: docs/model.md).
    weights = crate::compact::compact(&weights, &splits.train, crate::compact::MANTISSA_BITS)?;
    match crate::family::add_family(&weights, &splits, args.head_args())? {
        Some((with, family)) => {
            weights = crate::compact::compact(&with, &splits.train, crate::compact::MANTISSA_BITS)?;
            println!("{}", crate::family::render(&family));
        }
        None => eprintln!("no family head: the training split has fewer than two DGA families"),
    }
    let shipped = run_dir.join("shipped.dgaw");
    write_atomic(&shipped, &weights)?;
    let (report, _, _) = dispatch(
        args.backend,
        EvalJob {
            weights: &weights,
            examples: &splits.test,
        },
    )?;
    println!("test split:\n{}", metrics::render(&report));
    write_report(&report, &run_dir.join("test"))?;
    run_export(&shipped, &args.export)
}

/// Fits the n-gram model on the training split, picks its weight on validation against the
/// transformer's validation scores, and returns the weights with both parts.
pub(crate) fn add_wide(
    weights: &[u8],
    splits: &split::Splits,
    (part, words): (&wide::PartArgs, Option<&model_core::words::Lexicon>),
    seed: u64,
    select: SelectBy,
    backend: BackendArg,
) -> Result<Vec<u8>> {
    let (_, _, deep) = dispatch(
        backend,
        EvalJob {
            weights,
            examples: &splits.val,
        },
    )?;
    let tokeniser = Tokeniser::new(decode_config(weights)?.tokeniser);
    let ngram = wide::fit_part(&splits.train, &tokeniser, part, words, seed);
    let mix = wide::choose_weight(
        &splits.val,
        &deep,
        &ngram.score(&splits.val),
        select,
        part.ngram_weight.fixed(),
    );
    let how = match part.ngram_weight {
        wide::NgramWeight::Fixed(_) => "as asked",
        wide::NgramWeight::OnValidation => "chosen on validation",
    };
    eprintln!(
        "n-gram weight {:.1} {how} (validation: F1 {:.4}, TPR {:.2}% at FPR 1%, {:.2}% at FPR 0.1%)",
        mix.weight,
        mix.report.f1,
        100.0 * mix.report.tpr_at_fpr_1pct,
        100.0 * mix.report.tpr_at_fpr_0_1pct
    );
    wide::attach(weights, &ngram, mix.weight)
}

/// Fits the benign-only language model on benign training labels and its line on benign
/// validation labels, returning the weights with that model in their config.
pub(crate) fn add_anomaly(weights: &[u8], splits: &split::Splits, weight: f32) -> Result<Vec<u8>> {
    if !weight.is_finite() || weight < 0.0 {
        bail!("the anomaly weight must be a finite number of at least 0, not {weight}");
    }
    let mut config = decode_config(weights)?;
    let mut anomaly = AnomalyModel::fit(
        split::benign_labels(&splits.train),
        split::benign_labels(&splits.val),
    );
    eprintln!(
        "anomaly model: character trigrams of {} benign training labels; 1% of benign validation labels score above {:.2} bits",
        split::benign_labels(&splits.train).count(),
        anomaly.threshold_bits
    );
    anomaly.weight = weight;
    config.anomaly = Some(anomaly);
    Ok(replace_config(weights, &config)?)
}

pub(crate) fn run_anomaly(args: AnomalyArgs) -> Result<()> {
    args.rewrite
        .run(|weights, splits| add_anomaly(weights, splits, args.weight))
}

pub(crate) fn run_wide(args: WideArgs) -> Result<()> {
    let (weights, config, splits) = weights_and_splits(&args.weights, &args.data)?;
    wide::ensure_transformer_only(&config)?;
    let lexicon = args.words.load()?;
    let combined = add_wide(
        &weights,
        &splits,
        (&args.part, lexicon.as_ref()),
        args.seed,
        args.select,
        args.backend,
    )?;
    write_weights(&args.out, &combined)
}

pub(crate) fn write_report(report: &metrics::Report, dir: &Path) -> Result<()> {
    metrics::plot_curves(report, dir)?;
    write_atomic(
        &dir.join("report.json"),
        &serde_json::to_vec_pretty(report)?,
    )?;
    eprintln!("report, ROC and PR curves written to {}", dir.display());
    Ok(())
}

pub(crate) fn run_eval(args: EvalArgs) -> Result<()> {
    let (weights, _, splits) = weights_and_splits(&args.weights, &args.data)?;
    let examples = splits.take(args.split);
    let (report, _, logits) = dispatch(
        args.backend,
        EvalJob {
            weights: &weights,
            examples: &examples,
        },
    )?;
    if let Some(path) = &args.scores {
        write_scores(&examples, &logits, path)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", metrics::render(&report));
    }
    if let Some(dir) = args.out_dir {
        write_report(&report, &dir)?;
    }
    Ok(())
}

pub(crate) fn run_card(args: CardArgs) -> Result<()> {
    let (weights, config, splits) = weights_and_splits(&args.weights, &args.data)?;
    let benign = splits
        .train
        .iter()
        .filter(|e| !e.is_dga)
        .map(|e| e.tokens.as_slice());
    let benign_trigrams = BenignTrigrams::count(benign);
    let (report, parameters, _) = dispatch(
        args.backend,
        EvalJob {
            weights: &weights,
            examples: &splits.test,
        },
    )?;
    let tokeniser = Tokeniser::new(config.tokeniser.clone());
    let median_rarity = |dga: bool| {
        let mut bits: Vec<f32> = splits
            .test
            .iter()
            .filter(|e| e.is_dga == dga)
            .filter_map(|e| benign_trigrams.rarity_bits(&tokeniser.encode_text(&e.key)))
            .collect();
        bits.sort_by(f32::total_cmp);
        bits.get(bits.len() / 2).copied().unwrap_or(f32::NAN)
    };
    let (rarity_median_benign, rarity_median_dga) = (median_rarity(false), median_rarity(true));
    let detector =
        Detector::<crate::backend::CpuBackend>::from_weights(&weights, Default::default())?;
    let family = crate::family::measure(&detector, &splits.test);
    let data_name = args
        .data
        .data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let card = ModelCard {
        // The anomaly model's table (64 KiB) and the word lexicon (about 300 KiB) travel in the
        // weights; the card keeps the rest.
        config: ModelConfig {
            anomaly: None,
            words: None,
            ..config
        },
        parameters,
        weights_bytes: weights.len(),
        evaluated_on: format!(
            "test split (10%, seed {}) of {data_name}",
            args.data.split_seed
        ),
        report,
        benign_trigrams,
        rarity_median_benign,
        rarity_median_dga,
        family,
    };
    write_atomic(&args.out, serde_json::to_string(&card)?.as_bytes())?;
    println!(
        "wrote {} (test F1 {:.4}, {} parameters)",
        args.out.display(),
        card.report.f1,
        parameters
    );
    Ok(())
}

pub(crate) struct EvalJob<'a> {
    pub(crate) weights: &'a [u8],
    pub(crate) examples: &'a [Example],
}

impl Job for EvalJob<'_> {
    /// The report, the model's parameter count and each example's log-odds.
    type Output = (metrics::Report, usize, Vec<f32>);

    fn run<B: AutodiffBackend>(
        self,
        device: B::Device,
        backend: &'static str,
    ) -> Result<Self::Output> {
        let mut detector = Detector::<B::InnerBackend>::from_weights(self.weights, device)?;
        fit_detector(&mut detector, backend);
        let sequences: Vec<&[u32]> = self.examples.iter().map(|e| e.tokens.as_slice()).collect();
        let mut logits = if detector.shapes == Shapes::Fixed {
            // One device: threads would only queue behind each other.
            detector.logits_of_sequences(&sequences)
        } else {
            parallel::map_chunks(&sequences, detector.batch_size, |part| {
                detector.logits_of_sequences(part)
            })
        };
        for (logit, e) in logits.iter_mut().zip(self.examples) {
            *logit += detector.log_odds_shift(&e.key);
        }
        Ok((
            metrics::evaluate_examples(self.examples, &logits),
            detector.model().num_params(),
            logits,
        ))
    }
}

pub(crate) fn run_export(from: &Path, to: &Path) -> Result<()> {
    let source = if from.is_dir() {
        from.join("best.dgaw")
    } else {
        from.to_owned()
    };
    let bytes = read_weights(&source)?;
    let config =
        decode_config(&bytes).with_context(|| format!("{} is not usable", source.display()))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_atomic(to, &bytes)?;
    println!(
        "exported {} ({:.1} KiB; {} layers, d_model {}) to {}",
        source.display(),
        bytes.len() as f64 / 1024.0,
        config.n_layers,
        config.d_model,
        to.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::TrainArgs;

    fn train(args: &[&str]) -> Result<TrainArgs, clap::Error> {
        let argv = ["trainer", "train"].iter().chain(args);
        match crate::Cli::try_parse_from(argv)?.command {
            Some(crate::Command::Train(args)) => Ok(args),
            _ => unreachable!("`train` parses as the train command"),
        }
    }

    #[test]
    fn a_joint_transformer_calibrates_on_the_fold_kept_out_of_its_family_loss() {
        let joint = [
            "--joint-family-weight",
            "1",
            "--joint-family-held-out-fold",
            "2",
        ];
        assert_eq!(
            train(&joint).unwrap().head_args().family_calibration_fold,
            Some(2)
        );
        let chosen = [&joint[..], &["--family-calibration-fold", "0"]].concat();
        assert_eq!(
            train(&chosen).unwrap().head_args().family_calibration_fold,
            Some(0)
        );
        // Without the family loss the transformer has seen no family: all five folds count.
        let plain = train(&["--joint-family-held-out-fold", "2"]).unwrap();
        assert_eq!(plain.head_args().family_calibration_fold, None);
        assert!(train(&["--joint-family-held-out-fold", "5"]).is_err());
    }
}
