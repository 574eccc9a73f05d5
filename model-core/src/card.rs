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
}
