//! The linear n-gram part: a logistic regression over the hashed 1- to 4-grams that
//! [`model_core::tokeniser::wide_ids`] defines. `trainer baseline` measures it alone, on the same
//! split and by the same metrics as the transformer, so the two compare side by side; `train` and
//! `trainer wide` add it to a trained transformer ([`model_core::ModelConfig::wide`]), scaled by a
//! weight chosen on validation.
//!
//! Written by hand: the Rust linear-model crates take dense feature matrices, and a million
//! names over a quarter of a million hashed n-grams only fits as sparse, hashed SGD.

use anyhow::{Result, bail};
use burn::backend::NdArray;
use clap::Args;
use model_core::tokeniser::{WIDE_BUCKETS, wide_ids};
use model_core::words::{self, Lexicon, WORD_BUCKETS};
use model_core::{ModelConfig, Tokeniser, decode_weights, encode_weights};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::metrics::{self, Report};
use crate::split::Example;
use crate::train::SelectBy;

#[derive(Args)]
pub struct BaselineArgs {
    #[command(flatten)]
    data: crate::inputs::DataArgs,
    #[command(flatten)]
    fit: FitArgs,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Also write every validation and test name's score into this folder (`val.csv`,
    /// `test.csv`, as `eval --scores` writes them), to compare or combine with the transformer.
    #[arg(long)]
    scores: Option<std::path::PathBuf>,
}

/// How the n-gram model is fitted.
#[derive(Args, Clone, Copy)]
pub struct FitArgs {
    /// Passes of the n-gram model over the (family-capped) training split.
    #[arg(long, default_value_t = 4)]
    pub ngram_epochs: usize,
    /// Most names any one DGA family contributes to an n-gram epoch, as in training.
    #[arg(long, default_value_t = 15_000)]
    pub ngram_family_cap: usize,
}

/// Synthetic DGA names of each kind the model's n-gram part trains on by default, chosen on the
/// leave-out benchmark (docs/results.md, "Generalisation"): beside the transformer, they lift ROC-AUC,
/// TPR at FPR 0.1% and family recall on generators the model never saw.
pub const NGRAM_AUGMENT: usize = 20_000;

/// How the model's n-gram part is fitted: the regression's settings, and the synthetic names
/// it alone trains on.
#[derive(Args, Clone)]
pub struct PartArgs {
    #[command(flatten)]
    pub fit: FitArgs,
    /// Synthetic DGA names of each kind (word list, permutation: see `--augment`) added to the
    /// n-gram part's training names, not the transformer's; 0 adds none.
    #[arg(long, default_value_t = NGRAM_AUGMENT)]
    pub ngram_augment: usize,
    /// Which kinds of synthetic name the n-gram part trains on.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "wordlist,permutation"
    )]
    pub ngram_kinds: Vec<crate::augment::Kind>,
    /// The n-gram part's weight in the sum with the transformer's log-odds, or `validation`:
    /// the weight (0 to 1 in tenths) that --select likes best on the validation split.
    #[arg(long, default_value_t = NgramWeight::Fixed(NGRAM_WEIGHT))]
    pub ngram_weight: NgramWeight,
    /// Synthetic DGA names glued from dictionary words the word features read (see
    /// `augment::dictionary_names`), added to the n-gram part's training names when it reads
    /// words.
    #[arg(long, default_value_t = 20_000)]
    pub dictionary_names: usize,
}

/// The n-gram part's weight by default, chosen on the leave-out benchmark (docs/results.md,
/// "Generalisation"): validation, whose families the model knows, picks 0.1 for the shipped
/// transformer, which keeps almost none of what the part adds on unseen generators.
pub const NGRAM_WEIGHT: f32 = 1.0;

/// How the n-gram part's weight is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NgramWeight {
    Fixed(f32),
    OnValidation,
}

impl NgramWeight {
    /// The weight, when it is not chosen on validation.
    pub fn fixed(self) -> Option<f32> {
        match self {
            NgramWeight::Fixed(weight) => Some(weight),
            NgramWeight::OnValidation => None,
        }
    }
}

impl std::fmt::Display for NgramWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NgramWeight::Fixed(weight) => write!(f, "{weight}"),
            NgramWeight::OnValidation => f.write_str("validation"),
        }
    }
}

impl std::str::FromStr for NgramWeight {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "validation" {
            return Ok(NgramWeight::OnValidation);
        }
        match s.parse::<f32>() {
            Ok(weight) if weight.is_finite() && weight >= 0.0 => Ok(NgramWeight::Fixed(weight)),
            _ => Err(format!(
                "`{s}` is neither `validation` nor a number of at least 0"
            )),
        }
    }
}

/// Fits the model's n-gram part on `train` and the synthetic names `part` asks for, made from
/// the benign names of `train` alone.
pub fn fit_part(
    train: &[Example],
    tokeniser: &model_core::Tokeniser,
    part: &PartArgs,
    words: Option<&Lexicon>,
    seed: u64,
) -> NgramModel {
    let with = part_names(train, tokeniser, part, words, seed);
    NgramModel::fit(&with, part.fit, words, seed)
}

/// `train` and the synthetic DGA names the n-gram part trains on beside it (see [`PartArgs`]),
/// made from the benign names of `train` alone.
pub fn part_names(
    train: &[Example],
    tokeniser: &model_core::Tokeniser,
    part: &PartArgs,
    words: Option<&Lexicon>,
    seed: u64,
) -> Vec<Example> {
    use crate::augment::synthesise;
    let mut synthetic = synthesise(
        train,
        tokeniser,
        part.ngram_augment,
        &part.ngram_kinds,
        seed,
    );
    if let Some(lexicon) = words {
        synthetic.extend(crate::augment::dictionary_names(
            train,
            tokeniser,
            part.dictionary_names,
            lexicon,
            seed,
        ));
    }
    if !synthetic.is_empty() {
        eprintln!(
            "n-gram part: {} synthetic DGA names beside {} training names",
            synthetic.len(),
            train.len()
        );
    }
    train.iter().cloned().chain(synthetic).collect()
}

/// Shipped n-gram weights are rounded to multiples of this: few distinct values compress to a
/// third of the size when served gzipped (1/16 of a log-odds unit per n-gram changed no
/// validation figure by more than noise), and weights below half a step become exact zeros.
const QUANTUM: f32 = 1.0 / 16.0;

/// Logistic regression over hashed n-grams and, with a lexicon, the hashed word features of
/// the registrable label ([`model_core::words`]), trained with AdaGrad. The word features' weights
/// sit after the n-grams' in one vector.
pub struct NgramModel {
    weights: Vec<f32>,
    squared: Vec<f32>,
    bias: f32,
    words: Option<Lexicon>,
}

impl NgramModel {
    /// Fits on `train`: every benign name and at most `family_cap` names per DGA family in each
    /// epoch, in a seeded order.
    pub fn fit(train: &[Example], args: FitArgs, words: Option<&Lexicon>, seed: u64) -> Self {
        let buckets = WIDE_BUCKETS + if words.is_some() { WORD_BUCKETS } else { 0 };
        let mut model = Self {
            weights: vec![0.0; buckets],
            squared: vec![1e-6; buckets],
            bias: 0.0,
            words: words.cloned(),
        };
        // Split once: the Viterbi search costs more than a pass of the regression.
        let word_features = model.word_features(train);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut features = Vec::new();
        for epoch in 0..args.ngram_epochs {
            let mut order = capped(train, args.ngram_family_cap, &mut rng);
            order.shuffle(&mut rng);
            for &i in &order {
                let e = &train[i];
                Self::features(&e.tokens, word_features.get(i), &mut features);
                model.learn(&features, e.is_dga, 0.5);
            }
            eprintln!(
                "n-gram epoch {} of {}: {} names",
                epoch + 1,
                args.ngram_epochs,
                order.len()
            );
        }
        model
    }

    /// The word features of each example's registrable label; empty without a lexicon.
    fn word_features(&self, examples: &[Example]) -> Vec<[u32; words::FEATURES]> {
        let Some(lexicon) = &self.words else {
            return Vec::new();
        };
        model_core::parallel::map_chunks(examples, 4096, |chunk| {
            chunk.iter().map(|e| lexicon.features(&e.key)).collect()
        })
    }

    /// DGA log-odds of each example.
    pub fn score(&self, examples: &[Example]) -> Vec<f32> {
        let word_features = self.word_features(examples);
        let mut features = Vec::new();
        examples
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Self::features(&e.tokens, word_features.get(i), &mut features);
                self.logit(&features)
            })
            .collect()
    }

    /// The buckets of every n-gram of a token sequence, exactly as the model's batches hold them,
    /// then those of the word features, after the n-grams'.
    fn features(tokens: &[u32], words: Option<&[u32; words::FEATURES]>, out: &mut Vec<usize>) {
        out.clear();
        for j in 0..=tokens.len() {
            out.extend(
                wide_ids(tokens, j)
                    .into_iter()
                    .filter(|&id| id != 0)
                    .map(|id| id as usize),
            );
        }
        out.extend(
            words
                .into_iter()
                .flatten()
                .map(|&b| WIDE_BUCKETS + b as usize),
        );
    }

    fn logit(&self, features: &[usize]) -> f32 {
        self.bias + features.iter().map(|&f| self.weights[f]).sum::<f32>()
    }

    fn learn(&mut self, features: &[usize], is_dga: bool, lr: f32) {
        let g = model_core::detector::sigmoid(self.logit(features)) - is_dga as i32 as f32;
        self.bias -= lr * 0.1 * g;
        for &f in features {
            self.squared[f] += g * g;
            self.weights[f] -= lr * g / self.squared[f].sqrt();
        }
    }
}

/// The weight of the n-gram log-odds in the sum with the transformer's, and the validation
/// report of that sum.
pub struct Mix {
    pub weight: f32,
    pub report: Report,
}

/// Tries weights 0 to 1 for the n-gram log-odds and keeps the one whose sum scores best on
/// validation by `select` (0 leaves the transformer alone).
pub fn choose_weight(
    val: &[Example],
    deep: &[f32],
    ngram: &[f32],
    select: SelectBy,
    fixed: Option<f32>,
) -> Mix {
    let mut best: Option<(f64, Mix)> = None;
    let weights: Vec<f32> = match fixed {
        Some(weight) => vec![weight],
        None => (0..=10).map(|step| step as f32 / 10.0).collect(),
    };
    for weight in weights {
        let sum: Vec<f32> = deep
            .iter()
            .zip(ngram)
            .map(|(d, n)| d + weight * n)
            .collect();
        let report = metrics::evaluate_examples(val, &sum);
        let score = select.score(&report);
        eprintln!(
            "n-gram weight {weight:.1}: validation F1 {:.4}, TPR {:.2}% at FPR 1%, {:.2}% at FPR 0.1%",
            report.f1,
            100.0 * report.tpr_at_fpr_1pct,
            100.0 * report.tpr_at_fpr_0_1pct
        );
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, Mix { weight, report }));
        }
    }
    best.expect("at least one weight is tried").1
}

/// Refuses weights that already hold an n-gram part: their scores already include it.
pub fn ensure_transformer_only(config: &ModelConfig) -> Result<()> {
    if config.wide || config.words.is_some() {
        bail!(
            "these weights already hold an n-gram part; pass the transformer's own weights (a run's best.dgaw)"
        );
    }
    Ok(())
}

/// Adds `ngram`, scaled by `weight` and rounded to [`QUANTUM`], to transformer-only weights.
pub fn attach(weights: &[u8], ngram: &NgramModel, weight: f32) -> Result<Vec<u8>> {
    let device = Default::default();
    let (mut config, model) = decode_weights::<NdArray>(weights, &device)?;
    ensure_transformer_only(&config)?;
    config.wide = true;
    let quantised = |weights: &[f32]| -> Vec<f32> {
        let table: Vec<f32> = weights
            .iter()
            .map(|w| weight * w)
            .map(|w| (w / QUANTUM).round() * QUANTUM)
            .collect();
        let kept = table.iter().filter(|w| **w != 0.0).count();
        eprintln!("n-gram part: {kept} of {} buckets non-zero", table.len());
        table
    };
    let (grams, words) = ngram.weights.split_at(WIDE_BUCKETS);
    config.words = ngram.words.clone().map(|lexicon| words::WordPart {
        lexicon,
        weights: quantised(words),
    });
    let model = model.with_wide(quantised(grams), weight * ngram.bias);
    Ok(encode_weights(&config, model))
}

pub fn run(args: BaselineArgs) -> Result<()> {
    let tokeniser = Tokeniser::new(model_core::ModelSize::Small.config().tokeniser);
    let splits = crate::inputs::load_splits(&args.data, &tokeniser)?;
    let started = std::time::Instant::now();
    let model = NgramModel::fit(&splits.train, args.fit, None, args.data.split_seed);
    let trained = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let logits = model.score(&splits.test);
    let scoring = splits.test.len() as f64 / started.elapsed().as_secs_f64();
    let report = metrics::evaluate_examples(&splits.test, &logits);
    println!(
        "n-gram logistic regression, test split (trained in {trained:.0} s, scores {scoring:.0} names/s):"
    );
    println!("{}", metrics::render(&report));
    if let Some(path) = args.json {
        labelled::files::write_atomic(&path, &serde_json::to_vec_pretty(&report)?)?;
    }
    if let Some(dir) = args.scores {
        std::fs::create_dir_all(&dir)?;
        crate::inputs::write_scores(&splits.val, &model.score(&splits.val), &dir.join("val.csv"))?;
        crate::inputs::write_scores(&splits.test, &logits, &dir.join("test.csv"))?;
    }
    Ok(())
}

/// Indices of every benign name and at most `cap` names per DGA family.
pub(crate) fn capped(train: &[Example], cap: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut by_family: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, e) in train.iter().enumerate() {
        by_family.entry(&e.family).or_default().push(i);
    }
    by_family
        .into_iter()
        .flat_map(|(family, mut members)| {
            if family != "legit" {
                members.shuffle(rng);
                members.truncate(cap);
            }
            members
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::tests::fixture;
    use burn::backend::Flex;
    use model_core::{Detector, ModelSize};

    #[test]
    fn ngram_weight_is_a_number_or_validation() {
        assert_eq!("0.5".parse(), Ok(NgramWeight::Fixed(0.5)));
        assert_eq!("validation".parse(), Ok(NgramWeight::OnValidation));
        assert_eq!(NgramWeight::OnValidation.fixed(), None);
        for bad in ["-1", "NaN", "inf", "half", ""] {
            let err = bad.parse::<NgramWeight>().unwrap_err();
            assert!(err.contains("validation"), "{bad}: {err}");
        }
        // The default prints as it parses, as clap shows it in --help.
        let shown = NgramWeight::Fixed(NGRAM_WEIGHT).to_string();
        assert_eq!(shown.parse(), Ok(NgramWeight::Fixed(NGRAM_WEIGHT)));
    }

    #[test]
    fn fitted_ngram_model_separates_the_fixture() {
        let (train, test) = (fixture(4000, 1), fixture(400, 2));
        let args = FitArgs {
            ngram_epochs: 2,
            ngram_family_cap: 10_000,
        };
        let model = NgramModel::fit(&train, args, None, 1);
        let report = metrics::evaluate_examples(&test, &model.score(&test));
        assert!(report.roc_auc > 0.95, "ROC-AUC {}", report.roc_auc);
    }

    #[test]
    fn attached_part_adds_exactly_what_the_trainer_scored() {
        // The hand-written regression and the model's batches must hash the same n-grams.
        let examples = fixture(50, 3);
        let config = ModelSize::Tiny.config();
        let device = Default::default();
        let plain = model_core::encode_weights(&config, config.init::<Flex>(&device));
        // Weights already on the quantum, so rounding changes nothing and f16 holds them exactly.
        let ngram = NgramModel {
            weights: (0..WIDE_BUCKETS)
                .map(|i| (i % 5) as f32 * QUANTUM - 2.0 * QUANTUM)
                .collect(),
            squared: Vec::new(),
            bias: 0.5,
            words: None,
        };
        let combined = attach(&plain, &ngram, 1.0).unwrap();
        assert!(attach(&combined, &ngram, 1.0).is_err(), "attaching twice");
        let logits = |bytes: &[u8]| {
            let detector = Detector::<Flex>::from_weights(bytes, device).unwrap();
            let tokens: Vec<&[u32]> = examples.iter().map(|e| e.tokens.as_slice()).collect();
            detector.logits_of_sequences(&tokens)
        };
        let (before, after) = (logits(&plain), logits(&combined));
        for ((b, a), n) in before.iter().zip(&after).zip(ngram.score(&examples)) {
            assert!((a - b - n).abs() < 1e-3, "{a} - {b} != {n}");
        }
    }

    #[test]
    fn word_weights_ship_as_the_word_part_and_add_what_the_trainer_scored() {
        let examples = fixture(400, 4);
        let keys: Vec<&str> = examples.iter().map(|e| e.key.as_str()).collect();
        // Every fixture label a word, so the word features vary across names.
        let lexicon = Lexicon::new(&keys, Vec::new(), keys.windows(2).map(|p| (p[0], p[1])));
        // Weights already on the quantum, as in the test above, so attaching changes none.
        let ngram = NgramModel {
            weights: (0..WIDE_BUCKETS + WORD_BUCKETS)
                .map(|i| (i % 7) as f32 * QUANTUM - 3.0 * QUANTUM)
                .collect(),
            squared: Vec::new(),
            bias: 0.25,
            words: Some(lexicon),
        };
        let config = ModelSize::Tiny.config();
        let device = Default::default();
        let plain = model_core::encode_weights(&config, config.init::<Flex>(&device));
        let combined = attach(&plain, &ngram, 1.0).unwrap();
        assert!(attach(&combined, &ngram, 1.0).is_err(), "attaching twice");
        let detector = |bytes: &[u8]| Detector::<Flex>::from_weights(bytes, device).unwrap();
        let (before, after) = (detector(&plain), detector(&combined));
        let words = after.config().words.clone().expect("a word part");
        let tokens: Vec<&[u32]> = examples.iter().map(|e| e.tokens.as_slice()).collect();
        let moved = before.logits_of_sequences(&tokens);
        let with = after.logits_of_sequences(&tokens);
        for (((e, b), a), n) in examples
            .iter()
            .zip(&moved)
            .zip(&with)
            .zip(ngram.score(&examples))
        {
            let total = a + words.log_odds(&e.key) - b;
            assert!((total - n).abs() < 1e-3, "{}: {total} != {n}", e.key);
        }
    }
}
