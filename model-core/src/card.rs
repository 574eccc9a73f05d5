//! The model card: what `trainer card` measured about the shipped weights, in the shape the
//! page reads (metrics, curves, confusion matrix, per-family recall, sizes, benign trigrams).

use serde::{Deserialize, Serialize};

use crate::explain::BenignTrigrams;
use crate::model::ModelConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyRow {
    pub family: String,
    pub n: usize,
    /// Recall at `p_dga` 0.5.
    pub recall: f64,
    /// Recall at the threshold that gives 0.1% false positives on this set's benign names.
    pub recall_at_fpr_0_1pct: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRow {
    pub source: String,
    pub n: usize,
    /// False-positive rate at `p_dga` 0.5.
    pub fpr: f64,
}

/// Detection metrics of one model on one labelled set (`dga` is the positive class).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub n: usize,
    pub n_dga: usize,
    pub n_legit: usize,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub pr_auc: f64,
    pub tpr_at_fpr_1pct: f64,
    pub tpr_at_fpr_0_1pct: f64,
    /// Log-odds threshold (flag when above) that gives the 1% operating point.
    pub logit_threshold_at_fpr_1pct: f32,
    /// Log-odds threshold that gives the 0.1% operating point.
    pub logit_threshold_at_fpr_0_1pct: f32,
    /// `[[true legit, false dga], [missed dga, true dga]]` at 0.5.
    pub confusion: [[usize; 2]; 2],
    pub families: Vec<FamilyRow>,
    pub sources: Vec<SourceRow>,
    /// `(fpr, tpr)` points, thinned for plotting.
    pub roc: Vec<(f64, f64)>,
    /// `(recall, precision)` points, thinned for plotting.
    pub pr: Vec<(f64, f64)>,
}

/// Everything the page shows about the shipped model besides its verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub config: ModelConfig,
    pub parameters: usize,
    pub weights_bytes: usize,
    /// Which split the report was measured on, e.g. `test (10%, seed 42)`.
    pub evaluated_on: String,
    pub report: Report,
    /// Trigram counts over the benign names of the training split, for the name features.
    pub benign_trigrams: BenignTrigrams,
    /// Median trigram rarity (bits) of the test split's benign and DGA names, for scale.
    pub rarity_median_benign: f32,
    pub rarity_median_dga: f32,
    /// How well the family head names families, when the weights carry one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<FamilyAccuracy>,
}

/// The family head measured on DGA names of families it was fitted on (every DGA name of the
/// test split, whatever its `p_dga`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyAccuracy {
    pub n: usize,
    /// Share of names whose family is the head's first guess.
    pub top1_micro: f64,
    /// The same averaged over families, each family counting once.
    pub top1_macro: f64,
    /// Share of names whose family is among the head's three guesses.
    pub top3_micro: f64,
    pub top3_macro: f64,
    /// Share of these known-family names answered `unknown` at the shipped threshold.
    pub unknown: f64,
    /// Share of these names whose family is named, and named right: the first guess, not
    /// declined as `unknown` (cards from before it read 0).
    #[serde(default)]
    pub named_right: f64,
    /// Share of names of families kept out of the head's fit that it answered `unknown` (test
    /// split; each family held out once in five folds): the open-set check.
    pub unknown_on_held_out: f64,
    /// The same averaged over the held-out families.
    pub unknown_on_held_out_macro: f64,
    pub families: Vec<FamilyAccuracyRow>,
    /// The most frequent mistakes, most frequent first.
    pub confused: Vec<Confusion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyAccuracyRow {
    pub family: String,
    pub n: usize,
    pub top1: f64,
    pub top3: f64,
    /// Share answered `unknown`.
    pub unknown: f64,
}

/// Names of `family` that the head took for `taken_for`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub family: String,
    pub taken_for: String,
    pub n: usize,
    /// `n` over the family's names.
    pub share: f64,
}
