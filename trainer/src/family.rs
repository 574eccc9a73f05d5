//! The family head: which generator made a DGA name. A small classifier (linear, or one
//! hidden layer) on the transformer's class token and its pooled states (the same forward pass
//! that scores the name; see [`model_core::DgaModel::family_features`]), fitted after the
//! transformer, as the n-gram part is, on the training split's DGA names; the transformer is
//! left as it was, so `p_dga` does not move. Its `unknown` threshold is chosen on families kept
//! out of the fit: five folds each hold out a fifth of the families, and the threshold is the
//! lowest at which 80% of the held-out families' names are answered `unknown` (validation
//! split). `train` adds the head to every model it ships; `trainer family` adds it to existing
//! weights.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, bail};
use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use clap::Args;
use model_core::{
    Confusion, Detector, FamilyAccuracy, FamilyAccuracyRow, FamilyConfig, FamilyProfile,
    GroupMember, GroupRule, NameEvidence, NameRule, decode_weights, encode_weights,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use model_core::tokeniser::{SHAPE_BUCKETS, shape_ids};

use crate::backend::CpuBackend;
use crate::inputs::RewriteArgs;
use crate::split::{Example, Splits};

type Train = Autodiff<CpuBackend>;

/// `trainer family`: adds the head to --weights (an existing head is replaced).
#[derive(Args)]
pub(crate) struct FamilyArgs {
    #[command(flatten)]
    pub(crate) rewrite: RewriteArgs,
    #[command(flatten)]
    pub(crate) fit: HeadArgs,
}

/// How the head is fitted.
#[derive(Args, Clone, Copy)]
pub(crate) struct HeadArgs {
    /// Most training names per family the head is fitted on: 10,000 (with 60 passes) named 82%
    /// of test names right first time against 77% with 3,000 (20 passes), and the mean over
    /// families held (57% against 56%).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) family_head_cap: usize,
    /// Passes over those names.
    #[arg(long, default_value_t = 60)]
    pub(crate) family_head_epochs: usize,
    #[arg(long, default_value_t = 42)]
    pub(crate) family_head_seed: u64,
    /// Width of the head's hidden layer (ReLU); 0 fits a linear head.
    #[arg(long, default_value_t = 0)]
    pub(crate) family_head_hidden: usize,
    /// Whether the head also reads the name's shape (label length, suffix, digits, hyphens;
    /// see `model_core::tokeniser::shape_ids`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) family_head_shape: bool,
    /// L2 penalty on the head's weights, added to the mean cross-entropy. At 3e-4 the head is
    /// less sure of unseen families (its probability threshold falls from 0.94 to 0.78), but one
    /// name is named right 82.3% of the time against 81.8%, and the first guess per family
    /// falls from 65% to 62% (at 1e-3: 82.6% and 58%): docs/model.md, "What limits one name".
    #[arg(long, default_value_t = 0.0)]
    pub(crate) family_head_l2: f64,
    /// Most validation names per family that the `unknown` thresholds are chosen on. With every
    /// name (the data's own mix, as the test split has it) one name is named right 85.8% of
    /// the time with 80.1% of unseen families' names declined, but per family only 56.0% are
    /// declined (68.8% at 1,000), and the captures' names are named wrongly more often.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) family_val_cap: usize,
    /// Choose the `unknown` thresholds on this fold's held-out families alone (0 to 4; default:
    /// all five). For a transformer trained with the family loss, whose other folds' families
    /// it has seen (`train --joint-family-held-out-fold`).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..FOLDS as i64))]
    pub(crate) family_calibration_fold: Option<u8>,
}

/// Folds of held-out families for the `unknown` threshold: each family is held out once.
pub(crate) const FOLDS: usize = 5;
const BATCH: usize = 512;
const LEARNING_RATE: f64 = 3e-3;

/// The folds whose held-out families the `unknown` thresholds are chosen on: `only`, or all.
fn calibration_folds(only: Option<u8>) -> Vec<usize> {
    (0..FOLDS)
        .filter(|&fold| only.is_none_or(|only| usize::from(only) == fold))
        .collect()
}

pub(crate) fn run(args: FamilyArgs) -> Result<()> {
    args.rewrite.run(|weights, splits| {
        let Some((with, accuracy)) = add_family(weights, splits, args.fit)? else {
            bail!("the family head needs DGA names of at least two families in the training split");
        };
        println!("{}", render(&accuracy));
        Ok(with)
    })
}

/// The family head a jointly trained transformer carries while it trains: every DGA family
/// of `train` (synthetic names aside), linear, with the shape table; its threshold is chosen
/// later, when [`add_family`] refits it. `None` with fewer than two families.
pub(crate) fn joint_config(train: &[Example]) -> Option<FamilyConfig> {
    let names = family_names(train);
    (names.len() >= 2).then_some(FamilyConfig {
        names,
        unknown_below: 1.0,
        unknown_on_held_out: [0.0; 2],
        hidden: 0,
        shape: true,
        group: None,
    })
}

/// The DGA families of `train`, sorted: the head's classes.
fn family_names(train: &[Example]) -> Vec<String> {
    let mut names: Vec<String> = train
        .iter()
        .filter(|e| e.is_dga && !crate::augment::is_synthetic(&e.family))
        .map(|e| e.family.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Fits the head and its threshold on `splits` and returns the weights with it, and the head
/// measured on the test split; `None` when the training split has fewer than two families.
pub(crate) fn add_family(
    weights: &[u8],
    splits: &Splits,
    fit: HeadArgs,
) -> Result<Option<(Vec<u8>, FamilyAccuracy)>> {
    let device = Default::default();
    let (mut config, model) = decode_weights::<CpuBackend>(weights, &device)?;
    config.family = None;
    let detector = Detector::new(config.clone(), model, device);

    let names = family_names(&splits.train);
    if names.len() < 2 {
        return Ok(None);
    }
    let class = class_index(&names);
    let mut rng = StdRng::seed_from_u64(fit.family_head_seed);
    let train_rows = capped(&splits.train, fit.family_head_cap, &mut rng);
    let shape = fit.family_head_shape;
    let mut train = Features::of(&detector, &class, &train_rows, shape);
    let val_rows = capped(&splits.val, fit.family_val_cap, &mut rng);
    let mut val = Features::of(&detector, &class, &val_rows, shape);
    let test_rows = capped(&splits.test, usize::MAX, &mut rng);
    let mut test = Features::of(&detector, &class, &test_rows, shape);
    // Fitted on standardised features (the pooled states are not normalised), then folded
    // back into the head's weights so that the model reads raw features.
    let scale = Scale::of(&train);
    for features in [&mut train, &mut val, &mut test] {
        scale.apply(features);
    }
    eprintln!(
        "family head: {} families; {} training, {} validation, {} test names",
        names.len(),
        train.len(),
        val.len(),
        test.len()
    );

    // Open-set calibration: each fold's head never sees a fifth of the families.
    let mut rule = GroupRule::new(profiles(&train, names.len()), GROUP_FIT_AT_LEAST);
    let mut known_val = Vec::new(); // (family, right, top-1 probability) of known families
    let mut unknown_val = Vec::new(); // top-1 probability of held-out families
    let mut unknown_test = Vec::new(); // (family, top-1 probability) of held-out families
    // What one name says beyond the head's probability (model_core::NameRule): (right,
    // evidence) of known families' validation names, evidence of held-out families' ones, and
    // (family, evidence) of held-out families' test names.
    let mut known_val_one = Vec::new();
    let mut unknown_val_one = Vec::new();
    let mut unknown_test_one = Vec::new();
    // Each held-out name's kept classes under the fold's head that never saw its family.
    let mut held_val: Vec<Kept> = vec![Vec::new(); val.len()];
    let mut held_test: Vec<Kept> = vec![Vec::new(); test.len()];
    for fold in calibration_folds(fit.family_calibration_fold) {
        let held = |c: u32| c as usize % FOLDS == fold;
        let head = fit_head(&train.keep(|c| !held(c)), names.len(), fit, fold as u64);
        // One pass of the head over each split gives both the best guess and the kept classes.
        for (i, kept) in kept_classes(&head, &val).into_iter().enumerate() {
            let (c, (first, p)) = (val.classes[i], kept[0]);
            let evidence = rule.evidence(&val.member(i, &kept));
            if held(c) {
                unknown_val.push(p);
                unknown_val_one.extend(evidence);
                held_val[i] = kept;
            } else {
                known_val.push((c, first == c, p));
                known_val_one.extend(evidence.map(|e| (first == c, e)));
            }
        }
        for (i, kept) in kept_classes(&head, &test).into_iter().enumerate() {
            let c = test.classes[i];
            if held(c) {
                unknown_test.push((c, kept[0].1));
                unknown_test_one.extend(rule.evidence(&test.member(i, &kept)).map(|e| (c, e)));
                held_test[i] = kept;
            }
        }
        eprintln!("family head: fold {} of {FOLDS} fitted", fold + 1);
    }
    let unknown_below = choose_threshold(&unknown_val);
    let named = known_val
        .iter()
        .filter(|&&(_, right, p)| right && p >= unknown_below)
        .count();
    eprintln!(
        "family head (validation, five folds): {:.1}% of known families' names named right at that threshold",
        100.0 * named as f64 / known_val.len().max(1) as f64
    );
    let held_out = unknown_rates(&unknown_test, unknown_below);
    eprintln!(
        "family head: unknown below {unknown_below:.2}; held-out families answered unknown {:.1}% (macro {:.1}%)",
        100.0 * held_out[0],
        100.0 * held_out[1]
    );

    let head = fit_head(&train, names.len(), fit, FOLDS as u64);
    let known_test = kept_classes(&head, &test);
    let one_name = fit_name_rule(&known_val_one, &unknown_val_one);
    let known_test_one: Vec<(bool, f64)> = (0..test.len())
        .filter(|&i| !known_test[i].is_empty())
        .filter_map(|i| {
            let evidence = rule.evidence(&test.member(i, &known_test[i]))?;
            Some((evidence.class == test.classes[i], one_name.score(&evidence)))
        })
        .collect();
    let named = known_test_one
        .iter()
        .filter(|&&(right, score)| right && score >= f64::from(one_name.unknown_below))
        .count();
    let held_scores: Vec<(u32, f32)> = (unknown_test_one.iter())
        .map(|(c, e)| (*c, one_name.score(e) as f32))
        .collect();
    let held_out_one = unknown_rates(&held_scores, one_name.unknown_below);
    eprintln!(
        "family of one name (test split): {:.1}% of known families' names named right; {:.1}% of held-out families' names answered unknown (macro {:.1}%); evidence weights: length {}, characters {}, fit {}; unknown below {:.3}",
        100.0 * named as f64 / known_test_one.len().max(1) as f64,
        100.0 * held_out_one[0],
        100.0 * held_out_one[1],
        one_name.length_weight,
        one_name.chars_weight,
        one_name.fit_weight,
        one_name.unknown_below,
    );
    rule.one_name = Some(one_name);
    fit_group_rule(
        &mut rule,
        names.len(),
        (&val, &held_val),
        (&test, &held_test, &known_test),
    );
    config.family = Some(FamilyConfig {
        names: names.clone(),
        unknown_below,
        unknown_on_held_out: held_out_one,
        hidden: fit.family_head_hidden,
        shape,
        group: Some(rule),
    });
    let transformer = config.family_features_width();
    let (hidden, out, table) = match head.hidden {
        Some(hidden) => {
            let (hidden, table) = scale.fold(hidden, transformer);
            (Some(hidden), head.out, table)
        }
        None => {
            let (out, table) = scale.fold(head.out, transformer);
            (None, out, table)
        }
    };
    let model = detector.model().clone().with_family(hidden, out, table);
    let with = encode_weights(&config, model);
    let (_, model) = decode_weights::<CpuBackend>(&with, &Default::default())?;
    let shipped = Detector::new(config, model, Default::default());
    let accuracy = measure(&shipped, &splits.test).expect("the head was just added");
    Ok(Some((with, accuracy)))
}

/// The family head of `detector` on the DGA names of `test` whose families it knows; `None`
/// when the weights have no head.
pub(crate) fn measure(detector: &Detector<CpuBackend>, test: &[Example]) -> Option<FamilyAccuracy> {
    let config = detector.config().family.clone()?;
    let class = class_index(&config.names);
    let rows: Vec<&Example> = test
        .iter()
        .filter(|e| e.is_dga && class.contains_key(e.family.as_str()))
        .collect();
    let sequences: Vec<&[u32]> = rows.iter().map(|e| e.tokens.as_slice()).collect();
    let scores = detector.scores_of_sequences(&sequences);

    #[derive(Default)]
    struct Tally {
        n: usize,
        top1: usize,
        top3: usize,
        unknown: usize,
        named_right: usize,
        taken_for: BTreeMap<u32, usize>,
    }
    let mut tallies: BTreeMap<u32, Tally> = BTreeMap::new();
    for (e, score) in rows.iter().zip(&scores) {
        let truth = class[e.family.as_str()];
        let t = tallies.entry(truth).or_default();
        t.n += 1;
        let Some(&(first, _)) = score.family.first() else {
            continue;
        };
        t.top1 += (first == truth) as usize;
        t.top3 +=
            (score.family.iter().take(model_core::FAMILY_TOP)).any(|&(c, _)| c == truth) as usize;
        let suffix = model_core::suffix_of(&e.text, &e.key);
        let named = detector.names_first_guess(&score.family, &e.key, suffix);
        t.unknown += (!named) as usize;
        t.named_right += (first == truth && named) as usize;
        if first != truth {
            *t.taken_for.entry(first).or_default() += 1;
        }
    }
    let share = |a: usize, b: usize| {
        if b == 0 {
            f64::NAN
        } else {
            a as f64 / b as f64
        }
    };
    let n: usize = tallies.values().map(|t| t.n).sum();
    let sum = |f: fn(&Tally) -> usize| tallies.values().map(f).sum::<usize>();
    let macro_of = |f: fn(&Tally) -> usize| {
        tallies.values().map(|t| share(f(t), t.n)).sum::<f64>() / tallies.len().max(1) as f64
    };
    let name = |c: u32| config.names[c as usize].clone();
    let mut confused: Vec<Confusion> = tallies
        .iter()
        .flat_map(|(&truth, t)| {
            t.taken_for.iter().map(move |(&other, &count)| Confusion {
                family: name(truth),
                taken_for: name(other),
                n: count,
                share: share(count, t.n),
            })
        })
        .collect();
    confused.sort_by(|a, b| b.n.cmp(&a.n).then_with(|| a.family.cmp(&b.family)));
    confused.truncate(15);
    Some(FamilyAccuracy {
        n,
        top1_micro: share(sum(|t| t.top1), n),
        top1_macro: macro_of(|t| t.top1),
        top3_micro: share(sum(|t| t.top3), n),
        top3_macro: macro_of(|t| t.top3),
        unknown: share(sum(|t| t.unknown), n),
        named_right: share(sum(|t| t.named_right), n),
        unknown_on_held_out: f64::from(config.unknown_on_held_out[0]),
        unknown_on_held_out_macro: f64::from(config.unknown_on_held_out[1]),
        families: tallies
            .iter()
            .map(|(&c, t)| FamilyAccuracyRow {
                family: name(c),
                n: t.n,
                top1: share(t.top1, t.n),
                top3: share(t.top3, t.n),
                unknown: share(t.unknown, t.n),
            })
            .collect(),
        confused,
    })
}

/// The table `train` and `family` print.
pub(crate) fn render(a: &FamilyAccuracy) -> String {
    let mut out = format!(
        "family head on {} test DGA names of known families: top-1 {:.2}% (macro {:.2}%), top-3 {:.2}% (macro {:.2}%), answered unknown {:.2}%, named right {:.2}%\n\
         names of held-out families answered unknown: {:.2}% (macro {:.2}%)\n\
         most confused (family -> taken for: names, share of the family):\n",
        a.n,
        100.0 * a.top1_micro,
        100.0 * a.top1_macro,
        100.0 * a.top3_micro,
        100.0 * a.top3_macro,
        100.0 * a.unknown,
        100.0 * a.named_right,
        100.0 * a.unknown_on_held_out,
        100.0 * a.unknown_on_held_out_macro,
    );
    for c in a.confused.iter().take(10) {
        out += &format!(
            "  {} -> {}: {} ({:.1}%)\n",
            c.family,
            c.taken_for,
            c.n,
            100.0 * c.share
        );
    }
    out
}

/// What the head reads of DGA names of known families, with their classes: the transformer's
/// features, then (with the shape) one-hot shape ids.
struct Features {
    /// `[len, width]`, row-major.
    values: Vec<f32>,
    classes: Vec<u32>,
    width: usize,
    /// Each row's registrable label and public suffix, for naming groups of names.
    names: Vec<(String, String)>,
}

impl Features {
    fn of(
        detector: &Detector<CpuBackend>,
        class: &HashMap<&str, u32>,
        rows: &[&Example],
        shape: bool,
    ) -> Self {
        let rows: Vec<&&Example> = rows
            .iter()
            .filter(|e| class.contains_key(e.family.as_str()))
            .collect();
        let model = detector.model();
        let transformer = detector.config().family_features_width();
        let width = transformer + if shape { SHAPE_BUCKETS } else { 0 };
        let mut values = Vec::with_capacity(rows.len() * width);
        for chunk in rows.chunks(BATCH) {
            let sequences: Vec<&[u32]> = chunk.iter().map(|e| e.tokens.as_slice()).collect();
            let batch = model.batch(&sequences, &Default::default());
            let features = model.family_features(batch).into_data();
            let features = features.to_vec::<f32>().expect("f32 features");
            for (row, tokens) in features.chunks(transformer).zip(&sequences) {
                values.extend_from_slice(row);
                if shape {
                    let at = values.len();
                    values.resize(at + SHAPE_BUCKETS, 0.0);
                    for id in shape_ids(tokens) {
                        values[at + id as usize] = 1.0;
                    }
                }
            }
        }
        Self {
            values,
            classes: rows.iter().map(|e| class[e.family.as_str()]).collect(),
            width,
            names: rows
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        model_core::suffix_of(&e.text, &e.key).to_owned(),
                    )
                })
                .collect(),
        }
    }

    fn len(&self) -> usize {
        self.classes.len()
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    fn keep(&self, keep: impl Fn(u32) -> bool) -> Self {
        let kept: Vec<usize> = (0..self.len()).filter(|&i| keep(self.classes[i])).collect();
        Self {
            values: kept.iter().flat_map(|&i| self.row(i)).copied().collect(),
            classes: kept.iter().map(|&i| self.classes[i]).collect(),
            width: self.width,
            names: kept.iter().map(|&i| self.names[i].clone()).collect(),
        }
    }

    /// Row `i` as one name of a group, with the classes a head kept for it.
    fn member<'a>(&'a self, i: usize, kept: &'a [(u32, f32)]) -> GroupMember<'a> {
        GroupMember {
            label: &self.names[i].0,
            suffix: &self.names[i].1,
            classes: kept,
        }
    }

    fn tensor<B: Backend>(&self, rows: &[usize], device: &B::Device) -> Tensor<B, 2> {
        let values: Vec<f32> = rows.iter().flat_map(|&i| self.row(i)).copied().collect();
        Tensor::from_data(TensorData::new(values, [rows.len(), self.width]), device)
    }
}

/// Per-feature mean and standard deviation of the training features.
struct Scale {
    mean: Vec<f32>,
    std: Vec<f32>,
    /// Features that never varied in training (shape ids no training name has): their weights
    /// never learned anything, so the folded head gives them none.
    constant: Vec<bool>,
}

impl Scale {
    fn of(features: &Features) -> Self {
        let (n, width) = (features.len().max(1) as f64, features.width);
        let mut sum = vec![0f64; width];
        let mut squares = vec![0f64; width];
        for i in 0..features.len() {
            for (j, &v) in features.row(i).iter().enumerate() {
                sum[j] += f64::from(v);
                squares[j] += f64::from(v) * f64::from(v);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std: Vec<f32> = squares
            .iter()
            .zip(&mean)
            .map(|(q, m)| (q / n - m * m).max(0.0).sqrt() as f32)
            .collect();
        Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            constant: std.iter().map(|&s| s < 1e-6).collect(),
            std: std.into_iter().map(|s| s.max(1e-6)).collect(),
        }
    }

    fn apply(&self, features: &mut Features) {
        for row in features.values.chunks_mut(features.width) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// The first layer that gives on raw features what `head` gives on standardised ones:
    /// `w' = w / std` per input, `b' = b - mean · w'`; the rows of `w'` past the first
    /// `transformer` inputs (the one-hot shape ids, if any) split off as the shape table.
    fn fold(
        &self,
        mut head: Linear<CpuBackend>,
        transformer: usize,
    ) -> (Linear<CpuBackend>, Option<Tensor<CpuBackend, 2>>) {
        let device = Default::default();
        let width = self.mean.len();
        let inverse: Vec<f32> = (self.std.iter().zip(&self.constant))
            .map(|(s, &constant)| if constant { 0.0 } else { 1.0 / s })
            .collect();
        let inverse =
            Tensor::<CpuBackend, 1>::from_floats(inverse.as_slice(), &device).reshape([width, 1]);
        let weight = head.weight.val() * inverse; // [width, classes]
        let mean =
            Tensor::<CpuBackend, 1>::from_floats(self.mean.as_slice(), &device).reshape([1, width]);
        let shift = mean.matmul(weight.clone()); // [1, classes]
        let classes = weight.dims()[1];
        if let Some(bias) = head.bias.take() {
            let bias = bias.val() - shift.reshape([classes]);
            head.bias = Some(burn::module::Param::from_tensor(bias));
        }
        let table = (width > transformer).then(|| weight.clone().slice(transformer..width));
        head.weight = burn::module::Param::from_tensor(weight.slice(0..transformer));
        (head, table)
    }
}

/// Each family's class: its place in `names`.
fn class_index(names: &[String]) -> HashMap<&str, u32> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect()
}

/// At most `cap` DGA names per family, drawn at random.
fn capped<'a>(examples: &'a [Example], cap: usize, rng: &mut StdRng) -> Vec<&'a Example> {
    let mut by_family: BTreeMap<&str, Vec<&Example>> = BTreeMap::new();
    for e in examples.iter().filter(|e| e.is_dga) {
        by_family.entry(&e.family).or_default().push(e);
    }
    by_family
        .into_values()
        .flat_map(|mut v| {
            v.shuffle(rng);
            v.truncate(cap);
            v
        })
        .collect()
}

/// The family head as the trainer fits it: what `DgaModel`'s family layers compute.
#[derive(Module, Debug)]
struct Head<B: Backend> {
    hidden: Option<Linear<B>>,
    out: Linear<B>,
}

impl<B: Backend> Head<B> {
    /// Sum of its layers' squared weights (biases left out): what `--family-head-l2` weighs.
    fn squared_weights(&self) -> Tensor<B, 1> {
        let out = self.out.weight.val().powf_scalar(2.0).sum();
        match &self.hidden {
            Some(hidden) => out + hidden.weight.val().powf_scalar(2.0).sum(),
            None => out,
        }
    }

    /// # Shapes
    /// - `features`: `[batch, width]`; output: `[batch, classes]`
    fn forward(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.hidden {
            Some(hidden) => self
                .out
                .forward(burn::tensor::activation::relu(hidden.forward(features))),
            None => self.out.forward(features),
        }
    }
}

/// A softmax classifier (linear, or with one hidden layer) from the features to `classes`
/// classes (AdamW, cross-entropy).
fn fit_head(train: &Features, classes: usize, fit: HeadArgs, salt: u64) -> Head<CpuBackend> {
    let device = Default::default();
    <Train as Backend>::seed(&device, fit.family_head_seed ^ salt);
    let width = fit.family_head_hidden;
    let mut head: Head<Train> = Head {
        hidden: (width > 0).then(|| LinearConfig::new(train.width, width).init(&device)),
        out: LinearConfig::new(if width > 0 { width } else { train.width }, classes).init(&device),
    };
    let mut optim = AdamWConfig::new()
        .with_weight_decay(1e-4)
        .init::<Train, Head<Train>>();
    let loss = CrossEntropyLossConfig::new().init(&device);
    let mut rng = StdRng::seed_from_u64(fit.family_head_seed ^ salt);
    let mut order: Vec<usize> = (0..train.len()).collect();
    for _ in 0..fit.family_head_epochs {
        order.shuffle(&mut rng);
        for rows in order.chunks(BATCH) {
            let x = train.tensor::<Train>(rows, &device);
            let y: Vec<i32> = rows.iter().map(|&i| train.classes[i] as i32).collect();
            let y = Tensor::<Train, 1, Int>::from_data(TensorData::new(y, [rows.len()]), &device);
            let mut objective = loss.forward(head.forward(x), y);
            if fit.family_head_l2 > 0.0 {
                objective = objective + head.squared_weights().mul_scalar(fit.family_head_l2);
            }
            let grads = GradientsParams::from_grads(objective.backward(), &head);
            head = optim.step(LEARNING_RATE, head, grads);
        }
    }
    head.valid()
}

/// One name's kept classes: (class, probability), best first.
type Kept = Vec<(u32, f32)>;

/// The head's [`model_core::FAMILY_KEPT`] most probable classes for every row of `features`,
/// as a verdict keeps them.
fn kept_classes(head: &Head<CpuBackend>, features: &Features) -> Vec<Kept> {
    let device = Default::default();
    let families = head.out.weight.dims()[1];
    let mut out = Vec::with_capacity(features.len());
    let all: Vec<usize> = (0..features.len()).collect();
    for rows in all.chunks(4 * BATCH) {
        let probs = burn::tensor::activation::softmax(
            head.forward(features.tensor::<CpuBackend>(rows, &device)),
            1,
        );
        let probs = probs.into_data().to_vec::<f32>().expect("f32");
        for row in probs.chunks(families) {
            let mut ranked: Vec<(u32, f32)> = row
                .iter()
                .enumerate()
                .map(|(c, &p)| (c as u32, p))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            ranked.truncate(model_core::FAMILY_KEPT);
            out.push(ranked);
        }
    }
    out
}

/// Smallest group fit ([`model_core::FamilyProfile::fit`]) a named group must have. Among
/// 1e-6, 1e-4, 1e-3 and 1e-2 on groups of 5 and 10 validation names, 1e-3 named the most
/// known groups right for the share of held-out groups declined.
const GROUP_FIT_AT_LEAST: f32 = 1e-3;
/// Largest group the thresholds are chosen for; larger groups use its threshold.
const GROUP_SIZES: usize = 16;
/// Group sizes reported.
const GROUPS_REPORTED: [usize; 3] = [3, 5, 10];

/// Consecutive groups of `n` rows of one family (rows of a family come in random order).
fn family_groups(
    classes: &[u32],
    n: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<(u32, Vec<usize>)> {
    let mut by_family: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &c) in classes.iter().enumerate().filter(|&(i, _)| keep(i)) {
        by_family.entry(c).or_default().push(i);
    }
    by_family
        .into_iter()
        .flat_map(|(c, rows)| {
            rows.chunks_exact(n)
                .map(|g| (c, g.to_vec()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The profiles of the head's training names, and for each group size the lowest mean
/// probability at which [`UNKNOWN_AIM`] of the held-out families' validation groups are
/// declined (by it or by their fit); then the rule measured on the test split, printed.
fn fit_group_rule(
    rule: &mut GroupRule,
    families: usize,
    (val, held_val): (&Features, &[Kept]),
    (test, held_test, known_test): (&Features, &[Kept], &[Kept]),
) {
    let scores = |rule: &GroupRule, features: &Features, kept: &[Kept], n: usize| {
        (family_groups(&features.classes, n, |i| !kept[i].is_empty()).into_iter())
            .filter_map(|group| score_group(rule, families, features, kept, group))
            .collect::<Vec<_>>()
    };
    for n in 2..=GROUP_SIZES {
        let held: Vec<f32> = (scores(rule, val, held_val, n).into_iter())
            .map(|g| g.2)
            .collect();
        rule.unknown_below.push(if held.is_empty() {
            1.0
        } else {
            choose_threshold(&held)
        });
    }
    for n in GROUPS_REPORTED {
        let threshold = rule.threshold(n);
        let known = scores(rule, test, known_test, n);
        let right = (known.iter())
            .filter(|&(c, best, p, _)| c == best && *p >= threshold)
            .count();
        let held = scores(rule, test, held_test, n);
        let declined = held.iter().filter(|g| g.2 < threshold).count();
        let declined = declined as f32 / held.len().max(1) as f32;
        eprintln!(
            "family of a group of {n} names (test split): {:.1}% of {} known families' groups named right; {:.1}% of {} held-out families' groups answered unknown (threshold {threshold:.2})",
            100.0 * right as f64 / known.len().max(1) as f64,
            known.len(),
            100.0 * declined,
            held.len(),
        );
        let in_groups = |groups: &[Group], kept: &[Kept]| {
            let names = groups
                .iter()
                .flat_map(|g| names_in_group(rule, test, kept, g));
            named_rates(&names.collect::<Vec<_>>())
        };
        let [right_alone, right_within, wrong_alone, wrong_within] = in_groups(&known, known_test);
        let [_, _, held_alone, held_within] = in_groups(&held, held_test);
        // A stray name in a host's alert: each known group's last name swapped for the first
        // of the group half the list away, when that is of another family.
        let strays: Vec<Named> = (0..known.len())
            .map(|i| (&known[i], &known[(i + known.len() / 2) % known.len()]))
            .filter(|(host, other)| host.0 != other.0)
            .filter_map(|(host, other)| {
                let rows = [&host.3[..n - 1], &other.3[..1]].concat();
                let group = score_group(rule, families, test, known_test, (host.0, rows))?;
                names_in_group(rule, test, known_test, &group).pop()
            })
            .collect();
        let [_, _, stray_alone, stray_within] = named_rates(&strays);
        eprintln!(
            "  their names, alone -> in their group: known families' named right {right_alone:.1}% -> {right_within:.1}%, named wrongly {wrong_alone:.1}% -> {wrong_within:.1}%; held-out families' named {held_alone:.1}% -> {held_within:.1}%; a stray name of another family named wrongly {stray_alone:.1}% -> {stray_within:.1}% ({} groups)",
            strays.len()
        );
        rule.unknown_on_held_out.push((n as u32, declined));
        rule.named_right
            .push((n as u32, right as f32 / known.len().max(1) as f32));
    }
}

/// A name's family, what it is named alone and what in its group (`None`: `unknown`).
type Named = (u32, Option<u32>, Option<u32>);

/// A group as the rule reads it: the family of its first rows, the family it pools to, the
/// pooled probability (-1 where the group does not fit that family) and its rows.
type Group = (u32, u32, f32, Vec<usize>);

/// `rows` of family `c` read as one group; `None` where no family pools.
fn score_group(
    rule: &GroupRule,
    families: usize,
    features: &Features,
    kept: &[Kept],
    (c, rows): (u32, Vec<usize>),
) -> Option<Group> {
    let group: Vec<GroupMember> = (rows.iter())
        .map(|&i| features.member(i, &kept[i]))
        .collect();
    let (best, p) = rule.pooled(families, &group)?;
    let fit = rule.profiles[best as usize].fit(&group);
    let p = if fit >= f64::from(rule.fit_at_least) {
        p
    } else {
        -1.0
    };
    Some((c, best, p, rows))
}

/// What each name of a group is named alone, and in its group as `dga monitor` names a host's
/// names: the group's family where the name belongs to it, else its own reading.
fn names_in_group(
    rule: &GroupRule,
    features: &Features,
    kept: &[Kept],
    (_, best, p, rows): &Group,
) -> Vec<Named> {
    let named = (*p >= rule.threshold(rows.len())).then_some(*best);
    (rows.iter())
        .map(|&i| {
            let member = features.member(i, &kept[i]);
            let alone = (rule.names_one(&member) == Some(true)).then(|| kept[i][0].0);
            let within = named.filter(|&g| rule.belongs(g, &member));
            (features.classes[i], alone, within.or(alone))
        })
        .collect()
}

/// Percentages of names (as [`names_in_group`] gives them) named right alone, in their group,
/// named wrongly alone, in their group.
fn named_rates(names: &[Named]) -> [f64; 4] {
    let share = |pick: &dyn Fn(&Named) -> bool| {
        100.0 * names.iter().filter(|n| pick(n)).count() as f64 / names.len().max(1) as f64
    };
    let wrong = |c: u32, f: Option<u32>| f.is_some_and(|f| f != c);
    [
        share(&|&(c, alone, _)| alone == Some(c)),
        share(&|&(c, _, within)| within == Some(c)),
        share(&|&(c, alone, _)| wrong(c, alone)),
        share(&|&(c, _, within)| wrong(c, within)),
    ]
}

/// Each family's profile, from the head's training names, in class order.
fn profiles(train: &Features, families: usize) -> Vec<FamilyProfile> {
    (0..families as u32)
        .map(|c| {
            let rows = (0..train.len()).filter(|&i| train.classes[i] == c);
            FamilyProfile::of(rows.map(|i| (train.names[i].0.as_str(), train.names[i].1.as_str())))
        })
        .collect()
}

/// Weights tried for the evidence of [`NameRule`]: on validation names of held-out and known
/// families, the best named 75% of known names right against 56% by the probability alone at
/// the same share of unseen names declined; weights near them did about as well.
const LENGTH_WEIGHTS: [f32; 5] = [0.0, 0.1, 0.15, 0.25, 0.5];
const CHARS_WEIGHTS: [f32; 4] = [0.0, 0.05, 0.1, 0.2];
const FIT_WEIGHTS: [f32; 4] = [0.0, 0.1, 0.2, 0.3];

/// The [`NameRule`] whose weights (from the tables above) name the most `known` validation
/// names right when its threshold declines [`UNKNOWN_AIM`] of the `held` ones.
fn fit_name_rule(known: &[(bool, NameEvidence)], held: &[NameEvidence]) -> NameRule {
    let mut best: Option<(usize, NameRule)> = None;
    for length_weight in LENGTH_WEIGHTS {
        for chars_weight in CHARS_WEIGHTS {
            for fit_weight in FIT_WEIGHTS {
                let mut rule = NameRule {
                    length_weight,
                    chars_weight,
                    fit_weight,
                    unknown_below: 0.0,
                };
                let scores: Vec<f64> = held.iter().map(|e| rule.score(e)).collect();
                rule.unknown_below = choose_score_threshold(&scores);
                let named = (known.iter())
                    .filter(|(right, e)| *right && rule.score(e) >= f64::from(rule.unknown_below))
                    .count();
                if best.as_ref().is_none_or(|(most, _)| named > *most) {
                    best = Some((named, rule));
                }
            }
        }
    }
    best.map(|(_, rule)| rule)
        .expect("the weight tables are not empty")
}

/// The lowest threshold below which at least [`UNKNOWN_AIM`] of `scores` fall: halfway
/// between the score at that share and the next higher one.
fn choose_score_threshold(scores: &[f64]) -> f32 {
    let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let Some(at) = ((UNKNOWN_AIM * sorted.len() as f64).ceil() as usize).checked_sub(1) else {
        return 0.0;
    };
    let last = sorted[at];
    let next = sorted[at..].iter().find(|&&s| s > last).copied();
    next.map_or(last + 1.0, |next| (last + next) / 2.0) as f32
}

/// Share of names of families the head never saw that it must answer `unknown` (on
/// validation): a family never seen is the normal case in the wild, and naming it wrongly is
/// worse than declining.
const UNKNOWN_AIM: f64 = 0.8;

/// The lowest threshold (in steps of 0.01) at which at least [`UNKNOWN_AIM`] of the held-out
/// families' names fall below it: the most known names named while unseen ones are declined.
fn choose_threshold(unknown: &[f32]) -> f32 {
    let declined = |t: f32| unknown.iter().filter(|&&p| p < t).count() as f64;
    (0..=100)
        .map(|t| t as f32 / 100.0)
        .find(|&t| declined(t) >= UNKNOWN_AIM * unknown.len() as f64)
        .unwrap_or(1.0)
}

/// Share of held-out names answered `unknown` at `threshold`: over names, and over families.
fn unknown_rates(held_out: &[(u32, f32)], threshold: f32) -> [f32; 2] {
    let mut per_family: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
    for &(c, p) in held_out {
        let e = per_family.entry(c).or_default();
        e.0 += (p < threshold) as usize;
        e.1 += 1;
    }
    let declined: usize = per_family.values().map(|e| e.0).sum();
    let micro = declined as f32 / held_out.len().max(1) as f32;
    let macro_ = per_family
        .values()
        .map(|&(d, n)| d as f32 / n as f32)
        .sum::<f32>()
        / per_family.len().max(1) as f32;
    [micro, macro_]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_chosen_on_one_fold_or_on_all() {
        assert_eq!(calibration_folds(None), (0..FOLDS).collect::<Vec<_>>());
        assert_eq!(calibration_folds(Some(3)), vec![3]);
    }

    #[test]
    fn the_threshold_is_the_lowest_that_declines_enough_unseen_names() {
        // Four of five held-out names (80%) fall below 0.41, not below 0.40.
        let unknown = [0.2, 0.4, 0.35, 0.1, 0.9];
        let t = choose_threshold(&unknown);
        assert!((t - 0.41).abs() < 1e-6, "{t}");
        assert_eq!(choose_threshold(&[1.0, 1.0]), 1.0);
        assert_eq!(
            unknown_rates(&[(3, 0.2), (3, 0.5), (4, 0.1)], t),
            [2.0 / 3.0, 0.75]
        );
    }

    #[test]
    fn the_score_threshold_declines_enough_unseen_names_and_no_more() {
        // Log-scores: four of five (80%) must fall below it; ties at the edge move it up.
        let t = choose_score_threshold(&[-3.0, -1.0, -2.0, -0.5, 0.5]);
        assert!((t - 0.0).abs() < 1e-6, "{t}");
        let tied = choose_score_threshold(&[-1.0, -1.0, -1.0, -1.0, -1.0, 2.0]);
        assert!((tied - 0.5).abs() < 1e-6, "{tied}");
        assert_eq!(choose_score_threshold(&[]), 0.0);
        let all_equal = choose_score_threshold(&[-2.0, -2.0]);
        assert!(all_equal > -2.0, "{all_equal}");
    }

    #[test]
    fn the_one_name_rule_takes_the_weights_that_name_most_known_names() {
        let evidence = |log_p: f64, length: f64| NameEvidence {
            class: 0,
            log_p,
            length,
            chars: 0.0,
            log_fit: 0.0,
        };
        // Unseen names are as sure as known ones, but their lengths are rare in the family:
        // only the length term tells them apart.
        let held: Vec<NameEvidence> = (0..10).map(|i| evidence(-0.1, -4.0 - i as f64)).collect();
        let known: Vec<(bool, NameEvidence)> =
            (0..10).map(|_| (true, evidence(-0.1, 1.0))).collect();
        let rule = fit_name_rule(&known, &held);
        assert!(rule.length_weight > 0.0, "{rule:?}");
        assert!(
            known
                .iter()
                .all(|(_, e)| rule.score(e) >= f64::from(rule.unknown_below))
        );
        let declined = held
            .iter()
            .filter(|e| rule.score(e) < f64::from(rule.unknown_below));
        assert!(declined.count() >= 8);
    }

    #[test]
    fn the_l2_penalty_weighs_every_layer_but_not_the_biases() {
        let device = Default::default();
        let linear = |inputs, outputs, value: f32| {
            let mut layer = LinearConfig::new(inputs, outputs).init::<CpuBackend>(&device);
            layer.weight = layer.weight.map(|w| w.ones_like().mul_scalar(value));
            layer.bias = layer
                .bias
                .map(|b| b.map(|b| b.ones_like().mul_scalar(100.0)));
            layer
        };
        let linear_head = Head {
            hidden: None,
            out: linear(3, 2, 0.5),
        };
        let total = |head: &Head<CpuBackend>| head.squared_weights().into_scalar();
        assert!((total(&linear_head) - 6.0 * 0.25).abs() < 1e-6);
        let deep_head = Head {
            hidden: Some(linear(3, 4, 1.0)),
            out: linear(4, 2, 2.0),
        };
        assert!((total(&deep_head) - (12.0 + 8.0 * 4.0)).abs() < 1e-5);
    }

    #[test]
    fn the_folded_head_reads_raw_features_as_the_fitted_one_read_standardised_ones() {
        let device = Default::default();
        // Two transformer features, then three one-hot shape ids; no name has the last one.
        let raw = vec![
            0.5, -1.0, 1.0, 0.0, 0.0, //
            2.0, 3.0, 0.0, 1.0, 0.0, //
            -1.5, 0.25, 1.0, 0.0, 0.0,
        ];
        let features = || Features {
            values: raw.clone(),
            classes: vec![0, 1, 0],
            width: 5,
            names: Vec::new(),
        };
        let scale = Scale::of(&features());
        let mut standardised = features();
        scale.apply(&mut standardised);
        let head = LinearConfig::new(5, 2).init::<CpuBackend>(&device);
        let rows = [0, 1, 2];
        let fitted = head.forward(standardised.tensor::<CpuBackend>(&rows, &device));
        let (first, table) = scale.fold(head, 2);
        let table = table.expect("shape columns become the table"); // [3, 2]
        let never: Vec<f32> = table.clone().slice(2..3).into_data().to_vec().unwrap();
        assert_eq!(
            never,
            vec![0.0, 0.0],
            "an id no training name had weighs nothing"
        );
        let raw = features().tensor::<CpuBackend>(&rows, &device);
        let folded =
            first.forward(raw.clone().slice([0..3, 0..2])) + raw.slice([0..3, 2..5]).matmul(table);
        let (a, b): (Vec<f32>, Vec<f32>) = (
            fitted.into_data().to_vec().unwrap(),
            folded.into_data().to_vec().unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
        }
    }
}
