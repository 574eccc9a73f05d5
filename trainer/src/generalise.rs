//! The leave-out benchmark: how well a recipe detects DGA families it never saw, at the
//! false-positive rate it has on benign lists it never saw. Each fold holds out one kind of
//! generator (whole families) and one or more benign sources (whole lists), trains on the rest,
//! and measures on what was held out, with the n-gram logistic regression baseline trained and
//! measured beside the model in the same fold.
//!
//! The random split says how well a model knows our data; this says how well it knows what makes
//! a name machine-made, which is what matters on a network. Every modelling choice is decided
//! here (docs/results.md, "Generalisation").

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use model_core::explain::AnomalyModel;
use model_core::{InputView, ModelConfig, ModelSize, Tokeniser};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::backend::{BackendArg, dispatch};
use crate::commands::EvalJob;
use crate::inputs::ViewArg;
use crate::metrics::{self, Report};
use crate::split::{self, Example};
use crate::tfidf::{TfidfArgs, TfidfModel};
use crate::train::{SelectBy, Stop, TrainJob};
use crate::wide::{self, NgramModel, PartArgs};
use labelled::files::write_atomic;
use model_core::folds::{FOLDS, Fold};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// 1,500 training steps a fold and a 10,000-name validation sample.
    Fast,
    /// The shipped recipe (`train`'s defaults) in every fold; a GPU makes this practical.
    Full,
}

#[derive(Args)]
pub struct GeneraliseArgs {
    /// Labelled domains (see `train --help`).
    #[arg(long, env = "DGA_DATA", default_value = labelled::data::DEFAULT_DATA)]
    data: PathBuf,
    #[arg(long, value_enum, default_value = "fast")]
    mode: Mode,
    /// Run only these folds (comma-separated names; default: all).
    #[arg(long, value_delimiter = ',')]
    folds: Vec<String>,
    /// Which part of a name the model reads.
    #[arg(long, value_enum, default_value = "registrable")]
    view: ViewArg,
    /// Dropout inside the encoder (default: the size's own).
    #[arg(long)]
    dropout: Option<f64>,
    /// Training steps per fold (default: the mode's).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Measure only the n-gram models (seconds a fold), not the transformer.
    #[arg(long)]
    ngram_only: bool,
    /// Most names any one held-out family puts in a fold's test set, so that a few huge
    /// families do not stand for a whole kind of generator.
    #[arg(long, default_value_t = 2_000)]
    test_family_cap: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value = "auto")]
    backend: BackendArg,
    /// Folder for each fold's run and the results (`results.json`); a fold whose results are
    /// already there is not run again.
    #[arg(long, default_value = "runs/generalise")]
    out_dir: PathBuf,
    /// Reuse each fold's transformer from this earlier run's folder (`<fold>/run/best.dgaw`,
    /// trained with the same --seed, --view and --augment) instead of training it: for
    /// measuring what comes after the transformer in minutes.
    #[arg(long)]
    transformers: Option<PathBuf>,
    /// Names a large resolver answers (one per line, plain or `.gz`). Their registrable domains
    /// that share no label with a fold's training names join its test set as one more held-out
    /// benign source (`resolver`), in every fold: measured, and weighed in choosing the decision
    /// shift on the other folds, never trained on. `none` leaves them out.
    #[arg(
        long,
        default_value = "../shared/data/fqdn/umbrella-2026-07-dev-half.txt.gz"
    )]
    fqdn: PathBuf,
    #[command(flatten)]
    part: PartArgs,
    /// Which regression is the model's n-gram part: the shipped hashed 1- to 4-gram one, or
    /// the TF-IDF 1- to 5-gram one of the reference row.
    #[arg(long, value_enum, default_value = "hashed")]
    ngram_recipe: NgramRecipe,
    /// Measure the reference regression (TF-IDF 1- to 5-grams, the registrable label) in every
    /// fold, the recipe we are measured against on unseen families: 1 to 2 minutes a fold.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    tfidf_reference: bool,
    #[command(flatten)]
    tfidf: TfidfArgs,
    #[command(flatten)]
    augment: crate::augment::AugmentArgs,
    #[command(flatten)]
    words: crate::lexicon::WordArgs,
    /// Train each fold's transformer with a family objective of this weight beside the DGA one
    /// (`train --joint-family-weight`), on the fold's training families only: the held-out
    /// families stay unseen by both objectives.
    #[arg(long, default_value_t = 0.0)]
    joint_family_weight: f32,
}

/// The regressions `--ngram-recipe` chooses between.
#[derive(Clone, Copy, clap::ValueEnum)]
enum NgramRecipe {
    /// Binary hashed 1- to 4-grams, AdaGrad: the shipped n-gram part.
    Hashed,
    /// Sublinear TF-IDF over 1- to 5-grams, unit length, L2 with C on validation.
    Tfidf,
}

/// A fitted n-gram part of either recipe.
enum Part {
    Hashed(NgramModel),
    Tfidf(TfidfModel),
}

impl Part {
    fn score(&self, examples: &[Example]) -> Vec<f32> {
        match self {
            Part::Hashed(model) => model.score(examples),
            Part::Tfidf(model) => model.score(examples),
        }
    }
}

/// The reference regression's row: the recipe we are measured against, on the registrable
/// label alone.
const TFIDF_REFERENCE_ROW: &str = "TF-IDF 1-5-gram LR, label (reference)";

/// What one model scored on one fold's held-out names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub model: String,
    pub f1: f64,
    /// F1 at 0.5 had the fold held as many DGA as benign names (the test sets are mostly
    /// benign; blind evaluations of unseen families are usually balanced): from recall and FPR.
    #[serde(default = "not_measured")]
    pub f1_equal_priors: f64,
    pub roc_auc: f64,
    pub tpr_at_fpr_1pct: f64,
    pub tpr_at_fpr_0_1pct: f64,
    /// False-positive rate on the held-out benign names at `p_dga` 0.5.
    pub fpr: f64,
    /// Mean over the held-out families of their recall at 0.5.
    pub mean_family_recall: f64,
    /// Recall at 0.5 per held-out family.
    pub families: BTreeMap<String, f64>,
    /// False-positive rate at 0.5 per held-out benign source.
    #[serde(default)]
    pub sources: BTreeMap<String, f64>,
}

/// Rows saved before a column existed show a dash there.
fn not_measured() -> f64 {
    f64::NAN
}

/// F1 at equal numbers of DGA and benign names, from the recall and the false-positive rate.
fn f1_equal_priors(recall: f64, fpr: f64) -> f64 {
    let precision = if recall + fpr > 0.0 {
        recall / (recall + fpr)
    } else {
        0.0
    };
    if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    }
}

impl Row {
    fn new(model: &str, report: &Report) -> Self {
        let families: BTreeMap<String, f64> = report
            .families
            .iter()
            .map(|f| (f.family.clone(), f.recall))
            .collect();
        let fpr = report.confusion[0][1] as f64 / report.n_legit.max(1) as f64;
        Self {
            model: model.to_owned(),
            f1: report.f1,
            f1_equal_priors: f1_equal_priors(report.recall, fpr),
            roc_auc: report.roc_auc,
            tpr_at_fpr_1pct: report.tpr_at_fpr_1pct,
            tpr_at_fpr_0_1pct: report.tpr_at_fpr_0_1pct,
            fpr,
            mean_family_recall: families.values().sum::<f64>() / families.len().max(1) as f64,
            families,
            sources: report
                .sources
                .iter()
                .map(|s| (s.source.clone(), s.fpr))
                .collect(),
        }
    }
}

/// One fold's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: String,
    pub n_dga: usize,
    pub n_benign: usize,
    pub rows: Vec<Row>,
    /// The n-gram weight chosen on (in-distribution) validation for the combined model.
    pub ngram_weight: Option<f32>,
    /// The anomaly weight chosen on the other folds (see `add_anomaly_rows`).
    #[serde(default)]
    pub anomaly_weight: Option<f32>,
    /// The decision shift chosen on the other folds (see `add_shift_rows`).
    #[serde(default)]
    pub decision_shift: Option<f32>,
}

pub fn run(args: GeneraliseArgs) -> Result<()> {
    let folds: Vec<&Fold> = if args.folds.is_empty() {
        FOLDS.iter().collect()
    } else {
        args.folds
            .iter()
            .map(|name| {
                FOLDS.iter().find(|f| f.name == name).with_context(|| {
                    let names: Vec<&str> = FOLDS.iter().map(|f| f.name).collect();
                    format!("no fold `{name}`; the folds are {}", names.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    let mut model = ModelSize::Small.config();
    model.tokeniser.view = args.view.into();
    if let Some(dropout) = args.dropout {
        model.dropout = dropout;
    }
    let tokeniser = Tokeniser::new(model.tokeniser.clone());
    let examples = crate::inputs::load_examples(&args.data, None, &tokeniser)?;
    check_folds(&examples)?;
    let resolver = resolver_names(&args.fqdn, &tokeniser)?;
    let lexicon = args.words.load()?;
    // The baseline reads the registrable label alone, as the reference regression does.
    let label_tokeniser = Tokeniser::new(model_core::TokeniserConfig {
        view: InputView::Label,
        ..model.tokeniser.clone()
    });
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    let mut results = Vec::new();
    for fold in folds {
        let saved = args.out_dir.join(fold.name).join("result.json");
        if let Ok(bytes) = std::fs::read(&saved) {
            let mut result: FoldResult = serde_json::from_slice(&bytes)
                .with_context(|| format!("cannot read {}", saved.display()))?;
            refresh_rows(&args.out_dir, &mut result)?;
            eprintln!("fold {}: results from {}", fold.name, saved.display());
            results.push(result);
            continue;
        }
        let data = FoldData::new(fold, &examples, &resolver, &args);
        eprintln!(
            "fold {}: training on {} names ({} for validation); testing on {} DGA names of {} families and {} benign names of {} lists",
            fold.name,
            data.train.len(),
            data.val.len(),
            data.test.iter().filter(|e| e.is_dga).count(),
            fold.families.len(),
            data.test.iter().filter(|e| !e.is_dga).count(),
            fold.sources.len()
        );
        let result = run_fold(
            fold,
            &data,
            &model,
            (&tokeniser, &label_tokeniser),
            lexicon.as_ref(),
            &args,
        )?;
        std::fs::create_dir_all(args.out_dir.join(fold.name))?;
        write_atomic(&saved, &serde_json::to_vec_pretty(&result)?)?;
        println!("{}", render_fold(&result));
        results.push(result);
    }
    if let Some((base_model, folds)) = read_scores(&args.out_dir, &results)? {
        let weight = add_anomaly_rows(&base_model, &folds, &mut results);
        let shift = add_shift_rows(&base_model, &folds, &mut results);
        println!(
            "\nover all {} folds: the anomaly weight that maximises TPR at FPR 1% + 0.1% is {weight}; \
             with `train`'s weight, the decision shift that maximises F1 at equal priors within \
             {:.0}% FPR is {shift} (`train`'s: {})",
            results.len(),
            100.0 * MAX_UNSEEN_FPR,
            crate::commands::DECISION_SHIFT
        );
    }
    println!("{}", render_summary(&results));
    write_atomic(
        &args.out_dir.join("results.json"),
        &serde_json::to_vec_pretty(&results)?,
    )?;
    Ok(())
}

/// The benign source resolver names are measured as (see `--fqdn`).
pub const RESOLVER_SOURCE: &str = "resolver";

/// The distinct registrable domains of the names in `path` (one per line, plain or `.gz`) as
/// benign test names of source [`RESOLVER_SOURCE`]: read as a registrable domain is, so the
/// model sees them as it sees the labelled lists' names. Names no DGA could use (set aside by
/// the suffix rules) and lines that are not names are left out. None for `none`.
fn resolver_names(path: &Path, tokeniser: &Tokeniser) -> Result<Vec<Example>> {
    if path == Path::new("none") {
        return Ok(Vec::new());
    }
    let reader = labelled::data::open(path)
        .context("the resolver's names (--fqdn; `--fqdn none` leaves them out)")?;
    let mut domains: HashSet<String> = HashSet::new();
    let mut names = Vec::new();
    let mut lines = 0;
    for line in reader.lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        lines += 1;
        let Ok(domain) = model_core::normalise::normalise(name) else {
            continue;
        };
        if !domains.insert(domain.registrable_domain.clone()) {
            continue;
        }
        if let Ok(registrable) = model_core::normalise::normalise(&domain.registrable_domain) {
            names.push(Example::of(
                &registrable,
                tokeniser,
                false,
                "legit",
                RESOLVER_SOURCE,
            ));
        }
    }
    eprintln!(
        "{}: {} registrable domains of {lines} names, held out of every fold",
        path.display(),
        names.len()
    );
    Ok(names)
}

/// A fold's three sets. Training and validation never hold a held-out family or source, and
/// no test name shares its registrable label with a training or validation name, so benign test
/// names are the lists' long tail rather than brands the model saw under another suffix.
struct FoldData {
    train: Vec<Example>,
    val: Vec<Example>,
    test: Vec<Example>,
}

impl FoldData {
    /// `resolver`: names a large resolver answers, held out of every fold (see `--fqdn`).
    fn new(fold: &Fold, examples: &[Example], resolver: &[Example], args: &GeneraliseArgs) -> Self {
        let held = |e: &Example| {
            if e.is_dga {
                fold.families.contains(&e.family.as_str())
            } else {
                fold.sources.contains(&e.source.as_str())
            }
        };
        let (held_out, rest): (Vec<Example>, Vec<Example>) =
            examples.iter().cloned().partition(|e| held(e));
        // Names the suffix rules set aside only keep the split's places; no fold tests them.
        let held_out: Vec<Example> = held_out.into_iter().filter(|e| e.candidate).collect();
        // The 10% test part of the usual split trains here: this fold's test set is held_out.
        let splits = split::split(rest, args.seed);
        let (mut train, val) = (splits.train, splits.val);
        train.extend(splits.test);
        let seen: HashSet<&str> = train.iter().chain(&val).map(|e| e.key.as_str()).collect();
        let mut by_family: BTreeMap<String, Vec<Example>> = BTreeMap::new();
        for e in held_out.into_iter().chain(resolver.iter().cloned()) {
            if !seen.contains(e.key.as_str()) {
                by_family.entry(e.family.clone()).or_default().push(e);
            }
        }
        let mut rng = StdRng::seed_from_u64(args.seed);
        let mut test = Vec::new();
        for (family, mut members) in by_family {
            if family != "legit" {
                members.shuffle(&mut rng);
                members.truncate(args.test_family_cap);
            }
            test.extend(members);
        }
        Self { train, val, test }
    }
}

fn run_fold(
    fold: &Fold,
    data: &FoldData,
    model: &ModelConfig,
    (tokeniser, label_tokeniser): (&Tokeniser, &Tokeniser),
    lexicon: Option<&model_core::words::Lexicon>,
    args: &GeneraliseArgs,
) -> Result<FoldResult> {
    // Each model's row and its test scores (kept for combining models across folds).
    let mut rows = Vec::new();
    let mut scores: Vec<(String, Vec<f32>)> = Vec::new();
    let mut evaluate = |name: &str, logits: &[f32]| {
        scores.push((name.to_owned(), logits.to_vec()));
        Row::new(name, &metrics::evaluate_examples(&data.test, logits))
    };

    // The baseline: the same regression, reading the registrable label alone.
    let relabel = |set: &[Example]| -> Vec<Example> {
        set.iter()
            .map(|e| Example {
                tokens: label_tokeniser.encode_text(&e.key),
                text: e.key.clone(),
                ..e.clone()
            })
            .collect()
    };
    let (label_train, label_test) = (relabel(&data.train), relabel(&data.test));
    let baseline = NgramModel::fit(&label_train, args.part.fit, None, args.seed);
    rows.push(evaluate(
        "n-gram LR, label (baseline)",
        &baseline.score(&label_test),
    ));
    if args.tfidf_reference {
        let reference = TfidfModel::fit(
            &label_train,
            &relabel(&data.val),
            &args.tfidf,
            None,
            args.part.fit.ngram_family_cap,
            args.seed,
        );
        eprintln!(
            "fold {}: reference regression's C {}",
            fold.name, reference.c
        );
        rows.push(evaluate(TFIDF_REFERENCE_ROW, &reference.score(&label_test)));
    }
    // The benign-only anomaly score `predict` and the page report beside `p_dga`: it never saw
    // a DGA name. Flagged above its line (1% of benign validation labels), so its F1, FPR and
    // recall are at that line rather than at 0.5.
    let anomaly = AnomalyModel::fit(
        split::benign_labels(&data.train),
        split::benign_labels(&data.val),
    );
    let above_line: Vec<f32> = data
        .test
        .iter()
        .map(|e| {
            anomaly
                .score(&e.key)
                .map_or(0.0, |a| a.bits - anomaly.threshold_bits)
        })
        .collect();
    rows.push(evaluate(ANOMALY_ROW, &above_line));
    // The model and its n-gram part train on the fold's training names and, with --augment,
    // synthetic names made from its benign training names alone (never from held-out ones).
    let mut train = data.train.clone();
    train.extend(crate::augment::synthesise(
        &data.train,
        tokeniser,
        args.augment.augment,
        &args.augment.augment_kinds,
        args.seed,
    ));
    // The model's own n-gram part, reading what the transformer reads.
    let part_names = wide::part_names(&train, tokeniser, &args.part, lexicon, args.seed);
    let ngram = match args.ngram_recipe {
        NgramRecipe::Hashed => Part::Hashed(NgramModel::fit(
            &part_names,
            args.part.fit,
            lexicon,
            args.seed,
        )),
        NgramRecipe::Tfidf => {
            let model = TfidfModel::fit(
                &part_names,
                &data.val,
                &args.tfidf,
                lexicon,
                args.part.fit.ngram_family_cap,
                args.seed,
            );
            eprintln!("fold {}: n-gram part's C {}", fold.name, model.c);
            Part::Tfidf(model)
        }
    };
    // The training names and their synthetic company are not needed past the fit.
    drop(part_names);
    let ngram_test = ngram.score(&data.test);
    rows.push(evaluate("n-gram LR, model's view", &ngram_test));

    let mut ngram_weight = None;
    if !args.ngram_only {
        let weights = match &args.transformers {
            Some(dir) => {
                let path = dir.join(fold.name).join("run").join("best.dgaw");
                std::fs::read(&path).with_context(|| {
                    format!(
                        "no transformer for fold {} at {}",
                        fold.name,
                        path.display()
                    )
                })?
            }
            None => train_transformer(fold, data, &train, model, args)?,
        };
        let score = |examples: &[Example]| -> Result<Vec<f32>> {
            let (_, _, logits) = dispatch(
                args.backend,
                EvalJob {
                    weights: &weights,
                    examples,
                },
            )?;
            Ok(logits)
        };
        let (deep_val, deep_test) = (score(&data.val)?, score(&data.test)?);
        rows.push(evaluate("transformer", &deep_test));
        let mix = wide::choose_weight(
            &data.val,
            &deep_val,
            &ngram.score(&data.val),
            SelectBy::LowFpr,
            args.part.ngram_weight.fixed(),
        );
        let combined: Vec<f32> = deep_test
            .iter()
            .zip(&ngram_test)
            .map(|(d, n)| d + mix.weight * n)
            .collect();
        rows.push(evaluate("transformer + n-gram part", &combined));
        ngram_weight = Some(mix.weight);
    }
    write_scores(
        &args.out_dir.join(fold.name).join(SCORES),
        &data.test,
        &scores,
    )?;
    Ok(FoldResult {
        fold: fold.name.to_owned(),
        n_dga: data.test.iter().filter(|e| e.is_dga).count(),
        n_benign: data.test.iter().filter(|e| !e.is_dga).count(),
        rows,
        ngram_weight,
        anomaly_weight: None,
        decision_shift: None,
    })
}

/// Trains a fold's transformer by the shipped recipe (`train`'s defaults, shortened in fast
/// mode) and returns its best weights.
fn train_transformer(
    fold: &Fold,
    data: &FoldData,
    train: &[Example],
    model: &ModelConfig,
    args: &GeneraliseArgs,
) -> Result<Vec<u8>> {
    let run_dir = args.out_dir.join(fold.name).join("run");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir)
            .with_context(|| format!("cannot clear {}", run_dir.display()))?;
    }
    let mut recipe = crate::TrainArgs::defaults();
    if args.mode == Mode::Fast {
        (recipe.max_steps, recipe.val_samples) = (1_500, 10_000);
    }
    recipe.max_steps = args.max_steps.unwrap_or(recipe.max_steps);
    recipe.seed = args.seed;
    recipe.joint_family_weight = args.joint_family_weight;
    let mut model = model.clone();
    if args.joint_family_weight > 0.0 {
        model.family = crate::family::joint_config(train);
    }
    let settings = recipe.settings(model);
    let outcome = dispatch(
        args.backend,
        TrainJob {
            settings,
            train,
            val: &data.val,
            run_dir,
            stop: Stop::default(),
            shapes: None,
        },
    )?;
    std::fs::read(&outcome.best_weights)
        .with_context(|| format!("cannot read {}", outcome.best_weights.display()))
}

/// Anomaly weights tried when the anomaly score feeds the model's log-odds.
const ANOMALY_WEIGHTS: [f32; 10] = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0];

/// Decision shifts tried (log-odds added to every verdict): 0 to 8 in quarters.
const SHIFTS: std::ops::RangeInclusive<u8> = 0..=32;
const SHIFT_STEP: f32 = 0.25;

/// The most of the held-out benign names a decision shift may flag at 0.5, averaged over the
/// folds it is chosen on: under the n-gram baseline's own rate on the same folds (6.0%), so the
/// shift buys recall on unseen families without flagging more unseen benign names than the
/// simplest model does.
pub const MAX_UNSEEN_FPR: f64 = 0.05;

/// One held-out name's scores, as `scores.csv` keeps them.
struct Name {
    is_dga: bool,
    family: String,
    source: String,
    /// The best model's log-odds before the anomaly model and any shift.
    base: f32,
    /// The anomaly score, in bits above its line.
    anomaly: f32,
}

/// One fold's `scores.csv`: each held-out name's label, family and source, and its log-odds
/// under every model, by model name.
struct FoldScores {
    labels: Vec<(bool, String, String)>,
    models: Vec<(String, Vec<f32>)>,
}

impl FoldScores {
    /// `None` when the fold has no scores (runs from before they were written).
    fn read(out_dir: &Path, fold: &str) -> Result<Option<Self>> {
        let path = out_dir.join(fold).join(SCORES);
        let Ok(mut reader) = csv::Reader::from_path(&path) else {
            return Ok(None);
        };
        let header = reader.headers()?.clone();
        let mut labels = Vec::new();
        let mut models: Vec<(String, Vec<f32>)> = header
            .iter()
            .skip(4)
            .map(|model| (model.to_owned(), Vec::new()))
            .collect();
        for row in reader.records() {
            let row = row.with_context(|| format!("cannot read {}", path.display()))?;
            labels.push((&row[3] == "true", row[1].to_owned(), row[2].to_owned()));
            for ((_, column), value) in models.iter_mut().zip(row.iter().skip(4)) {
                column.push(value.parse().unwrap_or(0.0));
            }
        }
        Ok(Some(Self { labels, models }))
    }

    fn column(&self, model: &str) -> Option<&[f32]> {
        let found = self.models.iter().find(|(name, _)| name == model);
        found.map(|(_, logits)| logits.as_slice())
    }
}

/// Each fold's held-out names (in `results` order), and the name of the model they carry;
/// `None` unless every fold has scores.
fn read_scores(out_dir: &Path, results: &[FoldResult]) -> Result<Option<(String, Vec<Vec<Name>>)>> {
    let mut base_model = "";
    let mut folds = Vec::new();
    for result in results {
        let Some(scores) = FoldScores::read(out_dir, &result.fold)? else {
            return Ok(None);
        };
        let base_name = ["transformer + n-gram part", "n-gram LR, model's view"]
            .into_iter()
            .find(|m| scores.column(m).is_some())
            .context("scores have no model column")?;
        // Folds measured with and without the transformer do not mix.
        if !base_model.is_empty() && base_model != base_name {
            return Ok(None);
        }
        base_model = base_name;
        let base = scores.column(base_name).context("base column")?;
        let anomaly = scores
            .column(ANOMALY_ROW)
            .context("scores have no anomaly column")?;
        let names = scores
            .labels
            .iter()
            .zip(base.iter().zip(anomaly))
            .map(|((is_dga, family, source), (&base, &anomaly))| Name {
                is_dga: *is_dga,
                family: family.clone(),
                source: source.clone(),
                base,
                anomaly,
            })
            .collect();
        folds.push(names);
    }
    Ok((folds.len() >= 2).then(|| (base_model.to_owned(), folds)))
}

/// Measures every model of a fold's `scores.csv` again, so that rows saved before a column
/// existed gain it; rows keep their order. Leaves the rows as they are without scores.
fn refresh_rows(out_dir: &Path, result: &mut FoldResult) -> Result<()> {
    let Some(scores) = FoldScores::read(out_dir, &result.fold)? else {
        return Ok(());
    };
    for (model, logits) in &scores.models {
        let scored: Vec<metrics::Scored> = scores
            .labels
            .iter()
            .zip(logits)
            .map(|((is_dga, family, source), &logit)| metrics::Scored {
                logit,
                is_dga: *is_dga,
                family,
                source,
            })
            .collect();
        let row = Row::new(model, &metrics::evaluate(&scored));
        match result.rows.iter_mut().find(|r| &r.model == model) {
            Some(old) => *old = row,
            None => result.rows.push(row),
        }
    }
    Ok(())
}

/// A fold's report with every name's log-odds `base + weight * anomaly + shift`.
fn report_of(names: &[Name], weight: f32, shift: f32) -> Report {
    let scored: Vec<metrics::Scored> = names
        .iter()
        .map(|n| metrics::Scored {
            logit: n.base + weight * n.anomaly + shift,
            is_dga: n.is_dga,
            family: &n.family,
            source: &n.source,
        })
        .collect();
    metrics::evaluate(&scored)
}

/// Replaces a fold's row of that name.
fn put_row(result: &mut FoldResult, row: Row) {
    result.rows.retain(|r| r.model != row.model);
    result.rows.push(row);
}

/// Adds to each fold the best model with the anomaly score fed into its log-odds
/// (`logit + weight * (bits - line)`), the weight chosen on the other folds' held-out names, so
/// that no fold's figures saw that fold; returns the weight that is best over all folds.
fn add_anomaly_rows(base_model: &str, folds: &[Vec<Name>], results: &mut [FoldResult]) -> f32 {
    // reports[fold][weight]
    let reports: Vec<Vec<Report>> = folds
        .iter()
        .map(|names| {
            ANOMALY_WEIGHTS
                .iter()
                .map(|&w| report_of(names, w, 0.0))
                .collect()
        })
        .collect();
    // The low-FPR operating points, as `train --select low-fpr` picks checkpoints.
    let objective = |r: &Report| r.tpr_at_fpr_1pct + r.tpr_at_fpr_0_1pct;
    let best_over = |folds: &mut dyn Iterator<Item = &Vec<Report>>| -> usize {
        let mut totals = [0.0f64; ANOMALY_WEIGHTS.len()];
        for reports in folds {
            for (total, r) in totals.iter_mut().zip(reports) {
                *total += objective(r);
            }
        }
        (0..totals.len())
            .max_by(|&a, &b| totals[a].total_cmp(&totals[b]))
            .unwrap_or(0)
    };
    let name = format!("{base_model} + anomaly (weight chosen on the other folds)");
    for (i, result) in results.iter_mut().enumerate() {
        let others = reports.iter().enumerate().filter(|(j, _)| *j != i);
        let chosen = best_over(&mut others.map(|(_, r)| r));
        put_row(result, Row::new(&name, &reports[i][chosen]));
        result.anomaly_weight = Some(ANOMALY_WEIGHTS[chosen]);
    }
    ANOMALY_WEIGHTS[best_over(&mut reports.iter())]
}

/// Adds to each fold the shipped combination (anomaly at `train`'s weight), as is and with a
/// decision shift chosen on the other folds: the largest equal-priors F1 whose mean FPR at 0.5
/// stays within [`MAX_UNSEEN_FPR`]. Returns the shift chosen on all folds.
fn add_shift_rows(base_model: &str, folds: &[Vec<Name>], results: &mut [FoldResult]) -> f32 {
    let weight = crate::commands::ANOMALY_WEIGHT;
    let shifts: Vec<f32> = SHIFTS.map(|s| f32::from(s) * SHIFT_STEP).collect();
    // (recall, fpr) at 0.5 per fold and shift: all a shift's choice needs, without curves.
    let at_half: Vec<Vec<(f64, f64)>> = folds
        .iter()
        .map(|names| {
            let (dga, benign) = names.iter().partition::<Vec<&Name>, _>(|n| n.is_dga);
            let rate = |set: &[&Name], shift: f32| {
                let flagged = set
                    .iter()
                    .filter(|n| n.base + weight * n.anomaly + shift >= metrics::THRESHOLD)
                    .count();
                flagged as f64 / set.len().max(1) as f64
            };
            shifts
                .iter()
                .map(|&s| (rate(&dga, s), rate(&benign, s)))
                .collect()
        })
        .collect();
    let choose = |folds: &[&Vec<(f64, f64)>]| -> f32 {
        let n = folds.len().max(1) as f64;
        let mean =
            |i: usize, f: fn((f64, f64)) -> f64| folds.iter().map(|r| f(r[i])).sum::<f64>() / n;
        (0..shifts.len())
            .filter(|&i| mean(i, |(_, fpr)| fpr) <= MAX_UNSEEN_FPR)
            .max_by(|&a, &b| {
                let f1 = |i| mean(i, |(recall, fpr)| f1_equal_priors(recall, fpr));
                f1(a).total_cmp(&f1(b))
            })
            .map_or(0.0, |i| shifts[i])
    };
    let shipped = format!("{base_model} + anomaly, weight {weight} (`train`'s)");
    let shifted = format!("{shipped} + decision shift chosen on the other folds");
    for (i, result) in results.iter_mut().enumerate() {
        let others: Vec<&Vec<(f64, f64)>> = (0..folds.len())
            .filter(|&j| j != i)
            .map(|j| &at_half[j])
            .collect();
        let shift = choose(&others);
        put_row(
            result,
            Row::new(&shipped, &report_of(&folds[i], weight, 0.0)),
        );
        put_row(
            result,
            Row::new(&shifted, &report_of(&folds[i], weight, shift)),
        );
        result.decision_shift = Some(shift);
    }
    choose(&at_half.iter().collect::<Vec<_>>())
}

/// The anomaly score's row (its scores: bits above its line).
const ANOMALY_ROW: &str = "benign-only anomaly score (at its 1% line)";

/// Per fold, every test name's score under every model.
const SCORES: &str = "scores.csv";

fn write_scores(path: &Path, test: &[Example], scores: &[(String, Vec<f32>)]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out =
        csv::Writer::from_path(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut header = vec!["key", "family", "source", "is_dga"];
    header.extend(scores.iter().map(|(name, _)| name.as_str()));
    out.write_record(&header)?;
    for (i, e) in test.iter().enumerate() {
        let mut row = vec![
            e.key.clone(),
            e.family.clone(),
            e.source.clone(),
            e.is_dga.to_string(),
        ];
        row.extend(scores.iter().map(|(_, s)| format!("{:.4}", s[i])));
        out.write_record(&row)?;
    }
    out.flush()?;
    Ok(())
}

const HEADER: &str = "| model | F1 @0.5 | F1 @0.5, equal priors | ROC-AUC | TPR @ FPR 1% | TPR @ FPR 0.1% | FPR @0.5 | mean family recall |\n|---|---:|---:|---:|---:|---:|---:|---:|";

/// A figure, or a dash where a score has no threshold of 0.5 (the anomaly score).
fn cell(value: f64, scale: f64, decimals: usize, unit: &str) -> String {
    if value.is_nan() {
        "—".to_owned()
    } else {
        format!("{:.*}{unit}", decimals, scale * value)
    }
}

fn render_row(row: &Row) -> String {
    format!(
        "| {} | {} | {} | {:.3} | {:.1}% | {:.1}% | {} | {} |",
        row.model,
        cell(row.f1, 1.0, 3, ""),
        cell(row.f1_equal_priors, 1.0, 3, ""),
        row.roc_auc,
        100.0 * row.tpr_at_fpr_1pct,
        100.0 * row.tpr_at_fpr_0_1pct,
        cell(row.fpr, 100.0, 2, "%"),
        cell(row.mean_family_recall, 100.0, 1, "%")
    )
}

fn render_fold(result: &FoldResult) -> String {
    let mut out = format!(
        "\nfold `{}`: {} held-out DGA names, {} held-out benign names{}\n{HEADER}\n",
        result.fold,
        result.n_dga,
        result.n_benign,
        [
            result.ngram_weight.map(|w| format!("n-gram weight {w:.1}")),
            result.anomaly_weight.map(|w| format!("anomaly weight {w}")),
            result.decision_shift.map(|s| format!("decision shift {s}")),
        ]
        .into_iter()
        .flatten()
        .map(|w| format!(" ({w})"))
        .collect::<String>()
    );
    for row in &result.rows {
        out += &render_row(row);
        out.push('\n');
    }
    out += &per_key(result, "recall at 0.5 per held-out family", |r| &r.families);
    out += &per_key(
        result,
        "false-positive rate at 0.5 per held-out benign source",
        |r| &r.sources,
    );
    out
}

/// One line per family or source: each model's figure for it, in the rows' order.
fn per_key(
    result: &FoldResult,
    title: &str,
    figures: fn(&Row) -> &BTreeMap<String, f64>,
) -> String {
    let rows: Vec<&Row> = result
        .rows
        .iter()
        .filter(|r| !figures(r).is_empty())
        .collect();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    let mut out = format!("{title} ({}):\n", models.join(" / "));
    for key in figures(first).keys() {
        let values: Vec<String> = rows
            .iter()
            .map(|r| {
                let value = figures(r).get(key).copied().unwrap_or(f64::NAN);
                format!("{:.1}%", 100.0 * value)
            })
            .collect();
        out += &format!("  {key}: {}\n", values.join(" / "));
    }
    out
}

/// Each model's figures averaged over the folds that measured it.
fn render_summary(results: &[FoldResult]) -> String {
    let mut models: Vec<&str> = Vec::new();
    for row in results.iter().flat_map(|r| &r.rows) {
        if !models.contains(&row.model.as_str()) {
            models.push(&row.model);
        }
    }
    let names: Vec<&str> = results.iter().map(|r| r.fold.as_str()).collect();
    let mut out = format!(
        "\nmean over {} folds ({}):\n{HEADER}\n",
        results.len(),
        names.join(", ")
    );
    let mut by_source = Vec::new();
    for model in models {
        let rows: Vec<&Row> = results
            .iter()
            .flat_map(|r| &r.rows)
            .filter(|r| r.model == model)
            .collect();
        let mean = |f: fn(&Row) -> f64| rows.iter().map(|r| f(r)).sum::<f64>() / rows.len() as f64;
        let summary = Row {
            model: format!("{model} ({} folds)", rows.len()),
            f1: mean(|r| r.f1),
            f1_equal_priors: mean(|r| r.f1_equal_priors),
            roc_auc: mean(|r| r.roc_auc),
            tpr_at_fpr_1pct: mean(|r| r.tpr_at_fpr_1pct),
            tpr_at_fpr_0_1pct: mean(|r| r.tpr_at_fpr_0_1pct),
            fpr: mean(|r| r.fpr),
            mean_family_recall: mean(|r| r.mean_family_recall),
            families: BTreeMap::new(),
            sources: BTreeMap::new(),
        };
        out += &render_row(&summary);
        out.push('\n');
        by_source.push((summary.model, by_source_means(&rows)));
    }
    out += "\nfalse-positive rate at 0.5 by benign source, mean over folds:\n";
    out += "| model | the fold's held-out lists | names a resolver answers |\n|---|---:|---:|\n";
    for (model, (lists, resolver)) in by_source {
        out += &format!(
            "| {model} | {} | {} |\n",
            cell(lists, 100.0, 2, "%"),
            cell(resolver, 100.0, 2, "%")
        );
    }
    out
}

/// A model's false-positive rates at 0.5 over its folds: on each fold's own held-out lists
/// (their mean), and on the resolver's names; each the mean over the folds that have it.
fn by_source_means(rows: &[&Row]) -> (f64, f64) {
    let mean = |values: Vec<f64>| {
        if values.is_empty() {
            f64::NAN
        } else {
            values.iter().sum::<f64>() / values.len() as f64
        }
    };
    let lists = rows
        .iter()
        .filter_map(|r| {
            let own: Vec<f64> = r
                .sources
                .iter()
                .filter(|(s, _)| s.as_str() != RESOLVER_SOURCE)
                .map(|(_, f)| *f)
                .collect();
            (!own.is_empty()).then(|| mean(own))
        })
        .collect();
    let resolver = rows
        .iter()
        .filter_map(|r| r.sources.get(RESOLVER_SOURCE).copied())
        .collect();
    (mean(lists), mean(resolver))
}

/// Refuses a benchmark whose folds name nothing in the data (another data set, say).
pub fn check_folds(examples: &[Example]) -> Result<()> {
    let families: HashSet<&str> = examples
        .iter()
        .filter(|e| e.is_dga)
        .map(|e| e.family.as_str())
        .collect();
    let sources: HashSet<&str> = examples
        .iter()
        .filter(|e| !e.is_dga)
        .map(|e| e.source.as_str())
        .collect();
    for fold in &FOLDS {
        if !fold.families.iter().any(|f| families.contains(f))
            || !fold.sources.iter().any(|s| sources.contains(s))
        {
            bail!(
                "fold `{}` holds out families and benign sources that are not in this data; the folds are made for ../shared/data/domains.csv.gz",
                fold.name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_shift_is_the_best_equal_priors_f1_within_the_fpr_cap() {
        // Benign log-odds -0.1 to -10 and DGA log-odds -5 to 5: a shift s flags the benign
        // names above -s, so FPR at 0.5 grows 1% per 0.1 of shift, and recall grows with it.
        let fold = || -> Vec<Name> {
            let name = |is_dga: bool, base: f32| Name {
                is_dga,
                family: if is_dga { "x" } else { "legit" }.to_owned(),
                source: "list".to_owned(),
                base,
                anomaly: 0.0,
            };
            let benign = (1..=100).map(|i| name(false, -0.1 * i as f32));
            benign
                .chain((0..100).map(|i| name(true, -5.0 + 0.1 * i as f32)))
                .collect()
        };
        let folds = vec![fold(), fold()];
        let mut results: Vec<FoldResult> = ["a", "b"]
            .iter()
            .map(|name| FoldResult {
                fold: (*name).to_owned(),
                n_dga: 100,
                n_benign: 100,
                rows: Vec::new(),
                ngram_weight: None,
                anomaly_weight: None,
                decision_shift: None,
            })
            .collect();
        let shift = add_shift_rows("model", &folds, &mut results);
        // 0.5 flags 5 of 100 benign names (the cap); 0.75 would flag 7.
        assert_eq!(shift, 0.5);
        for result in &results {
            assert_eq!(result.decision_shift, Some(0.5));
            let shifted = result.rows.last().unwrap();
            assert!(shifted.model.contains("decision shift"), "{shifted:?}");
            assert!(shifted.fpr <= MAX_UNSEEN_FPR + 1e-9, "{shifted:?}");
            assert!(shifted.f1_equal_priors > result.rows[0].f1_equal_priors);
        }
    }

    #[test]
    fn every_family_is_held_out_at_most_once() {
        let mut seen = HashSet::new();
        for fold in &FOLDS {
            for family in fold.families.iter().chain(fold.sources) {
                assert!(seen.insert(*family), "{family} is held out twice");
            }
        }
    }

    fn example(key: &str, family: &str, source: &str) -> Example {
        Example {
            text: format!("{key}.com"),
            key: key.to_owned(),
            tokens: vec![1],
            is_dga: family != "legit",
            family: family.to_owned(),
            source: source.to_owned(),
            split_key: key.to_owned(),
            split_order: format!("{key}.com"),
            candidate: true,
        }
    }

    #[test]
    fn fold_tests_hold_only_unseen_families_sources_and_labels() {
        let fold = &FOLDS[0];
        let mut examples = Vec::new();
        for i in 0..200 {
            examples.push(example(&format!("w{i}"), "matsnu", "a"));
            examples.push(example(&format!("c{i}"), "conficker", "a"));
            examples.push(example(
                &format!("b{i}"),
                "legit",
                "zer0h/top-1000000-domains:alexa",
            ));
            examples.push(example(
                &format!("o{i}"),
                "legit",
                "andrewaeva/DGA:opendns-top",
            ));
        }
        // A brand in both benign lists: seen in training, so not a test name.
        examples.push(example("b1", "legit", "andrewaeva/DGA:opendns-top"));
        let args = GeneraliseArgs::parse_from_for_tests();
        // Names a resolver answers: one whose label training saw, one it did not.
        let resolver = [
            example("b2", "legit", RESOLVER_SOURCE),
            example("r1", "legit", RESOLVER_SOURCE),
        ];
        let data = FoldData::new(fold, &examples, &resolver, &args);
        assert!(
            data.train
                .iter()
                .chain(&data.val)
                .all(|e| e.family != "matsnu" && !e.source.contains("opendns"))
        );
        assert_eq!(
            data.test.iter().filter(|e| e.family == "matsnu").count(),
            200
        );
        assert_eq!(data.test.iter().filter(|e| !e.is_dga).count(), 201);
        assert!(data.test.iter().all(|e| e.key != "b1" && e.key != "b2"));
        assert!(
            data.test
                .iter()
                .any(|e| e.key == "r1" && e.source == RESOLVER_SOURCE)
        );
        assert_eq!(data.train.len() + data.val.len(), 400);
    }

    impl GeneraliseArgs {
        fn parse_from_for_tests() -> Self {
            #[derive(clap::Parser)]
            struct Wrapper {
                #[command(flatten)]
                args: GeneraliseArgs,
            }
            <Wrapper as clap::Parser>::parse_from(["generalise"]).args
        }
    }
}
