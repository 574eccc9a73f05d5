//! The inference API: raw strings in, one [`Verdict`] per input out, in input order.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::allow::AllowList;
use crate::batch::Shapes;
use crate::explain::Anomaly;
use crate::groups::GroupMember;
use crate::model::{DgaModel, ModelConfig};
use crate::normalise::{Domain, DomainError, normalise};
use crate::tokeniser::Tokeniser;
use crate::weights::{WeightsError, decode_weights};

/// `p_dga` at and above which a verdict is `dga`: the threshold every F1 here is measured at,
/// and the one above which a verdict names a family.
pub const DECISION_P: f32 = 0.5;

/// Families a verdict lists: the family head's best guess and its two runners-up.
pub const FAMILY_TOP: usize = 3;

/// Classes kept of the family head's output per name ([`Family::classes`]): what a group of
/// names is named from ([`crate::GroupRule`]); pooling the top 8 named held-out groups as the
/// whole distribution did, the top 3 did not.
pub const FAMILY_KEPT: usize = 8;

/// Sequences per forward pass by default: bounds memory on any input, and on the CPU backends
/// small batches of similar length measured fastest (`dga bench`).
pub const DEFAULT_BATCH: usize = 128;

/// Risk bands over `p_dga`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskThresholds {
    pub high: f32,
    pub medium: f32,
}

impl Default for RiskThresholds {
    fn default() -> Self {
        Self {
            high: 0.8,
            medium: 0.6,
        }
    }
}

impl RiskThresholds {
    /// The risk band of a verdict: an allowed name is [`Risk::Allowed`] whatever its score.
    pub fn risk_of(&self, scored: &Scored) -> Risk {
        self.risk_with(scored, &AllowList::default())
    }

    /// [`RiskThresholds::risk_of`] with `allow` applied on top of the list it was scored with
    /// (the page lets visitors edit theirs after scoring).
    pub fn risk_with(&self, scored: &Scored, allow: &AllowList) -> Risk {
        if scored.allowed.is_some() || allow.entry_for(&scored.domain).is_some() {
            Risk::Allowed
        } else {
            self.risk(scored.p_dga)
        }
    }

    pub fn risk(&self, p_dga: f32) -> Risk {
        if p_dga >= self.high {
            Risk::High
        } else if p_dga >= self.medium {
            Risk::Medium
        } else {
            Risk::Low
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    Low,
    Medium,
    High,
    /// On the operator's allow-list: reported, never alerted.
    Allowed,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Allowed => "allowed",
        }
    }
}

/// A scored domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub domain: Domain,
    /// Probability that the name was made by a domain generation algorithm.
    pub p_dga: f32,
    /// Log-odds of the same (`p_dga = sigmoid(logit)`): keeps ranking names whose `p_dga`
    /// rounds to 1 when printed or stored as a 32-bit float.
    pub logit: f32,
    pub risk: Risk,
    /// The benign-only anomaly score (see [`crate::explain::AnomalyModel`]); `None` when the
    /// weights carry no anomaly model or the label is under 2 characters.
    pub anomaly: Option<Anomaly>,
    /// The allow-list entry that covers this name, if any (its `risk` is then `allowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<String>,
    /// Which generator made the name, for names the verdict calls DGA (`p_dga` >= 0.5, not
    /// allowed) when the weights carry a family head; benign verdicts name no family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
}

/// The family head's answer for a DGA verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Family {
    /// The most probable family, or `unknown` when the name does not reach the threshold of
    /// [`crate::NameRule`] (or, in files without one, when its probability is under the head's
    /// threshold: see [`crate::FamilyConfig`]).
    pub name: String,
    /// The head's probability of its best guess (also when the answer is `unknown`).
    pub p: f32,
    /// The most probable families with their probabilities, best first ([`FAMILY_TOP`]).
    pub top: Vec<(String, f32)>,
    /// The [`FAMILY_KEPT`] most probable classes (the head's index, probability), best first:
    /// what [`crate::GroupRule`] pools.
    #[serde(skip)]
    pub classes: Vec<(u32, f32)>,
}

/// What `Family::name` says when the head is not confident.
pub const UNKNOWN_FAMILY: &str = "unknown";

/// The model's raw output for one token sequence, before the verdict is assembled.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceScore {
    /// DGA log-odds (transformer plus n-gram part), before [`Detector::log_odds_shift`].
    pub logit: f32,
    /// The family head's most probable classes as (index, probability), best first; empty
    /// without a head.
    pub family: Vec<(u32, f32)>,
}

impl SequenceScore {
    /// Reads one row of the flat layout [`Detector::score_width`] describes:
    /// `[logit, p_1 .. p_k, index_1 .. index_k]`.
    pub fn from_row(row: &[f32]) -> Self {
        let logit = row.first().copied().unwrap_or(f32::NAN);
        let k = row.len().saturating_sub(1) / 2;
        let (probs, indices) = row[1.min(row.len())..].split_at(k);
        Self {
            logit,
            family: indices
                .iter()
                .map(|&i| i as u32)
                .zip(probs.iter().copied())
                .collect(),
        }
    }

    /// The inverse of [`SequenceScore::from_row`], `width` values long.
    pub fn to_row(&self, width: usize) -> Vec<f32> {
        let k = width.saturating_sub(1) / 2;
        let mut row = vec![f32::NAN; width];
        row[0] = self.logit;
        for (j, &(class, p)) in self.family.iter().take(k).enumerate() {
            (row[1 + j], row[1 + k + j]) = (p, class as f32);
        }
        row
    }

    /// From one row of the model's output as read back: the log-odds, then one probability per
    /// family, of which the [`FAMILY_KEPT`] largest are kept (picked here: the WebGPU backend
    /// has no sort kernel, and its fallback would block).
    fn from_output(row: &[f32]) -> Self {
        let mut top: Vec<(u32, f32)> = Vec::with_capacity(FAMILY_KEPT + 1);
        for (class, &p) in row.iter().enumerate().skip(1) {
            if top.len() < FAMILY_KEPT || p > top[top.len() - 1].1 {
                let at = top.iter().position(|&(_, q)| p > q).unwrap_or(top.len());
                top.insert(at, (class as u32 - 1, p));
                top.truncate(FAMILY_KEPT);
            }
        }
        Self {
            logit: row.first().copied().unwrap_or(f32::NAN),
            family: top,
        }
    }

    /// A score whose read failed: NaN log-odds (reported as such, never dropped), no family.
    fn failed() -> Self {
        Self {
            logit: f32::NAN,
            family: Vec::new(),
        }
    }
}

/// The answer for one input: a score, or why the input could not be scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub input: String,
    pub result: Result<Scored, DomainError>,
}

/// A loaded model with its tokeniser, ready to score.
#[derive(Debug)]
pub struct Detector<B: Backend> {
    model: DgaModel<B>,
    config: ModelConfig,
    tokeniser: Tokeniser,
    device: B::Device,
    pub thresholds: RiskThresholds,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// How forward passes are shaped: [`Shapes::Fixed`] on GPU backends (see [`Shapes`]).
    pub shapes: Shapes,
    /// Names reported as `allowed` instead of a risk band; still scored.
    pub allow: AllowList,
}

/// Inputs normalised and tokenised, waiting for their log-odds (from any engine: the page
/// scores these sequences on WebGPU and hands the log-odds back to [`Detector::assemble`]).
pub struct Prepared {
    /// One per input, in input order.
    pub domains: Vec<Result<Domain, DomainError>>,
    /// Token sequences of the inputs that normalised, in input order.
    pub sequences: Vec<Vec<u32>>,
}

impl<B: Backend> Detector<B> {
    pub fn new(config: ModelConfig, model: DgaModel<B>, device: B::Device) -> Self {
        let tokeniser = Tokeniser::new(config.tokeniser.clone());
        Self {
            model,
            config,
            tokeniser,
            device,
            thresholds: RiskThresholds::default(),
            batch_size: DEFAULT_BATCH,
            shapes: Shapes::Tight,
            allow: AllowList::default(),
        }
    }

    /// Loads a detector from a weights blob (see [`crate::weights`]).
    pub fn from_weights(bytes: &[u8], device: B::Device) -> Result<Self, WeightsError> {
        let (config, model) = decode_weights::<B>(bytes, &device)?;
        Ok(Self::new(config, model, device))
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn tokeniser(&self) -> &Tokeniser {
        &self.tokeniser
    }

    pub fn model(&self) -> &DgaModel<B> {
        &self.model
    }

    /// Scores raw inputs (names, URLs, `host:port`, ...); reads results back synchronously, so
    /// use [`Detector::score_async`] on WebGPU.
    pub fn score<S: AsRef<str>>(&self, inputs: &[S]) -> Vec<Verdict> {
        let prepared = self.prepare(inputs);
        let scores = self.scores_of_sequences(&prepared.sequences);
        self.assemble(inputs, prepared, scores)
    }

    /// [`Detector::score`] with asynchronous tensor reads, for backends that cannot block.
    pub async fn score_async<S: AsRef<str>>(&self, inputs: &[S]) -> Vec<Verdict> {
        let prepared = self.prepare(inputs);
        let scores = self.scores_of_sequences_async(&prepared.sequences).await;
        self.assemble(inputs, prepared, scores)
    }

    /// DGA log-odds (see [`Scored::logit`]) for already tokenised sequences, in their order.
    pub fn logits_of_sequences<S: AsRef<[u32]>>(&self, sequences: &[S]) -> Vec<f32> {
        let scores = self.scores_of_sequences(sequences);
        scores.into_iter().map(|s| s.logit).collect()
    }

    /// [`Detector::logits_of_sequences`] with asynchronous tensor reads, for backends that cannot block.
    pub async fn logits_of_sequences_async<S: AsRef<[u32]>>(&self, sequences: &[S]) -> Vec<f32> {
        let scores = self.scores_of_sequences_async(sequences).await;
        scores.into_iter().map(|s| s.logit).collect()
    }

    /// Log-odds and family guesses for already tokenised sequences, in their order.
    pub fn scores_of_sequences<S: AsRef<[u32]>>(&self, sequences: &[S]) -> Vec<SequenceScore> {
        let mut scores = vec![SequenceScore::failed(); sequences.len()];
        for chunk in length_sorted_chunks(sequences, self.batch_size) {
            let values = self.score_tensor(&chunk, sequences).try_into_data();
            let values = values.ok().and_then(|d| d.to_vec::<f32>().ok());
            self.scatter(&chunk, values, &mut scores);
        }
        scores
    }

    /// [`Detector::scores_of_sequences`] with asynchronous tensor reads.
    pub async fn scores_of_sequences_async<S: AsRef<[u32]>>(
        &self,
        sequences: &[S],
    ) -> Vec<SequenceScore> {
        let mut scores = vec![SequenceScore::failed(); sequences.len()];
        for chunk in length_sorted_chunks(sequences, self.batch_size) {
            let values = self.score_tensor(&chunk, sequences).into_data_async().await;
            let values = values.ok().and_then(|d| d.to_vec::<f32>().ok());
            self.scatter(&chunk, values, &mut scores);
        }
        scores
    }

    /// Values per sequence in the flat layout of [`Detector::scores_of_sequences_flat`]: the
    /// log-odds, then with a family head the top probabilities and then their class indices.
    pub fn score_width(&self) -> usize {
        let families = self.config.family.as_ref().map_or(0, |f| f.names.len());
        1 + 2 * FAMILY_KEPT.min(families)
    }

    /// [`Detector::scores_of_sequences_async`] as one flat array of [`Detector::score_width`]
    /// values per sequence (read back with [`SequenceScore::from_row`]): what crosses from the
    /// page's WebGPU module to the page.
    pub async fn scores_of_sequences_flat<S: AsRef<[u32]>>(&self, sequences: &[S]) -> Vec<f32> {
        let width = self.score_width();
        let scores = self.scores_of_sequences_async(sequences).await;
        scores.iter().flat_map(|s| s.to_row(width)).collect()
    }

    /// Values per sequence that the model's output holds: the log-odds and, with a family head,
    /// one probability per family.
    fn output_width(&self) -> usize {
        1 + self.config.family.as_ref().map_or(0, |f| f.names.len())
    }

    /// `[chunk, output_width]` rows for the sequences at `chunk`'s indices. With two classes the
    /// softmax probability of `dga` is the sigmoid of the difference of the two logits.
    fn score_tensor<S: AsRef<[u32]>>(&self, chunk: &[usize], sequences: &[S]) -> Tensor<B, 2> {
        let mut rows: Vec<&[u32]> = chunk.iter().map(|&i| sequences[i].as_ref()).collect();
        let n = rows.len();
        if self.shapes == Shapes::Fixed && n < self.batch_size {
            // Filler rows repeat a real one: an all-padding row would attend to nothing.
            rows.resize(self.batch_size, rows[0]);
        }
        let batch = self.model.batch_shaped(&rows, self.shapes, &self.device);
        let (logits, family) = self.model.forward_heads(batch); // [rows, 2], [rows, families]
        let legit = logits.clone().slice([0..n, 0..1]); // [chunk, 1]
        let dga = logits.slice([0..n, 1..2]); // [chunk, 1]
        let logit = dga - legit; // [chunk, 1]
        match family {
            Some(family) => {
                let probs = burn::tensor::activation::softmax(family.slice(0..n), 1); // [chunk, families]
                Tensor::cat(vec![logit, probs], 1) // [chunk, 1 + families]
            }
            None => logit,
        }
    }

    /// Writes a chunk's rows back to their input positions; a failed read leaves NaN, never a gap.
    fn scatter(&self, chunk: &[usize], values: Option<Vec<f32>>, out: &mut [SequenceScore]) {
        let width = self.output_width();
        let Some(values) = values.filter(|v| v.len() == chunk.len() * width) else {
            return;
        };
        for (&i, row) in chunk.iter().zip(values.chunks(width)) {
            out[i] = SequenceScore::from_output(row);
        }
    }

    /// What turns the network's log-odds of a registrable label into the verdict's: the word
    /// part's log-odds, the anomaly model's shift and the decision shift. Every consumer of
    /// [`Detector::logits_of_sequences`] adds it.
    pub fn log_odds_shift(&self, registrable_label: &str) -> f32 {
        let model = self.config.anomaly.as_ref();
        let anomaly = model.and_then(|m| m.score(registrable_label));
        self.shift_for(registrable_label, anomaly)
    }

    /// The same, given the label's anomaly score (measured once: it is reported too).
    fn shift_for(&self, registrable_label: &str, anomaly: Option<Anomaly>) -> f32 {
        let model = self.config.anomaly.as_ref();
        let words = self.config.words.as_ref();
        model.zip(anomaly).map_or(0.0, |(m, a)| m.shift_of(a))
            + words.map_or(0.0, |w| w.log_odds(registrable_label))
            + self.config.decision_shift
    }

    /// Normalises and tokenises inputs; score `sequences`, then [`Detector::assemble`].
    pub fn prepare<S: AsRef<str>>(&self, inputs: &[S]) -> Prepared {
        let domains: Vec<_> = inputs.iter().map(|s| normalise(s.as_ref())).collect();
        let sequences = domains
            .iter()
            .flatten()
            .map(|d| self.tokeniser.encode(d))
            .collect();
        Prepared { domains, sequences }
    }

    /// One verdict per input from [`Detector::prepare`]'s output and the scores of its
    /// `sequences`, in order.
    pub fn assemble<S: AsRef<str>>(
        &self,
        inputs: &[S],
        prepared: Prepared,
        scores: Vec<SequenceScore>,
    ) -> Vec<Verdict> {
        let mut scores = scores.into_iter();
        inputs
            .iter()
            .zip(prepared.domains)
            .map(|(input, domain)| Verdict {
                input: input.as_ref().to_owned(),
                result: domain.map(|domain| {
                    // Measured once: the score is reported and moves the log-odds.
                    let model = self.config.anomaly.as_ref();
                    let anomaly = model.and_then(|m| m.score(domain.registrable_label()));
                    let score = scores.next().unwrap_or_else(SequenceScore::failed);
                    let label = domain.registrable_label();
                    let logit = score.logit + self.shift_for(label, anomaly);
                    let p_dga = sigmoid(logit);
                    let allowed = self.allow.entry_for(&domain).map(str::to_owned);
                    let family = (p_dga >= DECISION_P && allowed.is_none())
                        .then(|| self.family(&score.family, &domain))
                        .flatten();
                    let mut scored = Scored {
                        domain,
                        p_dga,
                        logit,
                        risk: Risk::Low,
                        anomaly,
                        allowed,
                        family,
                    };
                    scored.risk = self.thresholds.risk_of(&scored);
                    scored
                }),
            })
            .collect()
    }
}

impl<B: Backend> Detector<B> {
    /// Whether a name of this registrable label and suffix is given its family head's first
    /// guess among `classes` (best first), rather than `unknown`: by the head's
    /// [`crate::NameRule`] where it has one, else by its probability alone.
    pub fn names_first_guess(&self, classes: &[(u32, f32)], label: &str, suffix: &str) -> bool {
        let Some(config) = self.config.family.as_ref() else {
            return false;
        };
        let Some(&(_, p)) = classes.first() else {
            return false;
        };
        let member = GroupMember {
            label,
            suffix,
            classes,
        };
        let by_rule = config.group.as_ref().and_then(|g| g.names_one(&member));
        by_rule.unwrap_or(p >= config.unknown_below)
    }

    /// Names the family head's top classes for `domain`; `None` without a head.
    fn family(&self, top: &[(u32, f32)], domain: &Domain) -> Option<Family> {
        let config = self.config.family.as_ref()?;
        let named = |&(i, p): &(u32, f32)| Some((config.names.get(i as usize)?.clone(), p));
        let classes: Vec<(u32, f32)> = top.to_vec();
        let top: Vec<(String, f32)> = top.iter().take(FAMILY_TOP).filter_map(named).collect();
        let (best, p) = top.first()?.clone();
        let label = domain.registrable_label();
        let suffix = crate::suffix_of(&domain.registrable_domain, label);
        let name = if self.names_first_guess(&classes, label, suffix) {
            best
        } else {
            UNKNOWN_FAMILY.to_owned()
        };
        Some(Family {
            name,
            p,
            top,
            classes,
        })
    }
}

/// The logistic function: probability from log-odds.
pub fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// Groups sequence indices by length into batches of at most `batch_size`, so each batch pads
/// only to similar lengths.
fn length_sorted_chunks<S: AsRef<[u32]>>(sequences: &[S], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| sequences[i].as_ref().len());
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSize;
    use crate::weights::encode_weights;
    use burn::backend::NdArray;

    type B = NdArray;

    fn detector() -> Detector<B> {
        let config = ModelSize::Tiny.config();
        let model = config.init::<B>(&Default::default());
        Detector::new(config, model, Default::default())
    }

    #[test]
    fn anomaly_and_decision_shift_move_the_log_odds() {
        let plain = detector();
        let inputs = ["xjkd8f2h.com", "google.com"];
        // Scored before the clone: Burn draws parameters lazily, and a clone of parameters not
        // yet drawn would draw its own.
        let before = plain.score(&inputs);
        let mut config = plain.config().clone();
        let mut anomaly = crate::explain::AnomalyModel::fit(["google", "goodle"], ["google"]);
        anomaly.weight = 2.0;
        config.anomaly = Some(anomaly.clone());
        config.decision_shift = 3.0;
        let with = Detector::<B>::new(config, plain.model().clone(), Default::default());
        for (a, b) in before.iter().zip(with.score(&inputs)) {
            let (a, b) = (a.result.as_ref().unwrap(), b.result.unwrap());
            assert_eq!(a.anomaly, None);
            let label = b.domain.registrable_label();
            let measured = b.anomaly.unwrap();
            let shift = 2.0 * (measured.bits - anomaly.threshold_bits) + 3.0;
            assert!((b.logit - a.logit - shift).abs() < 1e-4, "{a:?} {b:?}");
            assert!((with.log_odds_shift(label) - shift).abs() < 1e-5);
            assert!((b.p_dga - sigmoid(b.logit)).abs() < 1e-6);
        }
        let scored = with.score(&inputs);
        let random = scored[0].result.as_ref().unwrap().anomaly.unwrap();
        assert!(random.unusual, "{random:?}");
    }

    #[test]
    fn word_part_moves_the_log_odds_by_what_its_words_weigh() {
        use crate::words::{Lexicon, WORD_BUCKETS, WordPart};
        let plain = detector();
        let inputs = ["weatherrepeat.com", "homedepot.com", "xjkd8f2h.com"];
        let before = plain.score(&inputs);
        let lexicon = Lexicon::new(
            &["home", "depot", "weather", "repeat"],
            Vec::new(),
            [("home", "depot")],
        );
        let weights = (0..WORD_BUCKETS).map(|i| (i % 7) as f32 / 8.0).collect();
        let words = WordPart { lexicon, weights };
        let mut config = plain.config().clone();
        config.words = Some(words.clone());
        let with = Detector::<B>::new(config, plain.model().clone(), Default::default());
        for (a, b) in before.iter().zip(with.score(&inputs)) {
            let (a, b) = (a.result.as_ref().unwrap(), b.result.unwrap());
            let moved = words.log_odds(b.domain.registrable_label());
            assert!((b.logit - a.logit - moved).abs() < 1e-4, "{a:?} {b:?}");
        }
        assert_ne!(words.log_odds("weatherrepeat"), words.log_odds("homedepot"));
    }

    #[test]
    fn one_verdict_per_input_in_order_with_errors_in_place() {
        let inputs = [
            "xjkd8f2h.com",
            "",
            "10.0.0.1",
            "https://Example.com/x",
            "localhost",
        ];
        let verdicts = detector().score(&inputs);
        assert_eq!(verdicts.len(), inputs.len());
        for (v, input) in verdicts.iter().zip(inputs) {
            assert_eq!(v.input, input);
        }
        let ok: Vec<bool> = verdicts.iter().map(|v| v.result.is_ok()).collect();
        assert_eq!(ok, [true, false, false, true, false]);
        let scored = verdicts[3].result.as_ref().unwrap();
        assert_eq!(scored.domain.registrable_domain, "example.com");
        assert!((0.0..=1.0).contains(&scored.p_dga));
        assert!((sigmoid(scored.logit) - scored.p_dga).abs() < 1e-6);
    }

    #[test]
    fn scores_do_not_depend_on_batch_mates() {
        let det = detector();
        let alone = det.score(&["ablefell.net"])[0]
            .result
            .clone()
            .unwrap()
            .p_dga;
        let many: Vec<String> = (0..700)
            .map(|i| format!("name{i}x{}.com", "q".repeat(i % 40)))
            .collect();
        let mut inputs = many.clone();
        inputs.insert(333, "ablefell.net".into());
        let together = det.score(&inputs)[333].result.clone().unwrap().p_dga;
        assert!((alone - together).abs() < 1e-5);
    }

    #[test]
    fn the_likeliest_families_are_kept_best_first_and_survive_the_flat_layout() {
        // Ten families: the eight likeliest are kept, best first.
        let s = SequenceScore::from_output(&[
            1.5, 0.1, 0.2, 0.01, 0.3, 0.02, 0.12, 0.05, 0.08, 0.04, 0.07,
        ]);
        assert_eq!(s.logit, 1.5);
        assert_eq!(
            s.family,
            vec![
                (3, 0.3),
                (1, 0.2),
                (5, 0.12),
                (0, 0.1),
                (7, 0.08),
                (9, 0.07),
                (6, 0.05),
                (8, 0.04)
            ]
        );
        assert_eq!(SequenceScore::from_row(&s.to_row(1 + 2 * FAMILY_KEPT)), s);
        // Fewer families than places: all of them.
        assert_eq!(
            SequenceScore::from_output(&[0.0, 0.2, 0.8]).family,
            vec![(1, 0.8), (0, 0.2)]
        );
    }

    #[test]
    fn fixed_shapes_give_the_scores_tight_padding_gives() {
        let model = detector();
        let weights = encode_weights(model.config(), model.model().clone());
        let tight = Detector::<B>::from_weights(&weights, Default::default()).unwrap();
        let mut fixed = Detector::<B>::from_weights(&weights, Default::default()).unwrap();
        fixed.shapes = Shapes::Fixed;
        fixed.batch_size = 32;
        // Lengths in and across buckets, a part-filled last batch, and the longest names.
        let inputs: Vec<String> = (0..75)
            .map(|i| {
                format!(
                    "{}{i}.com",
                    "abcdefghijklmnopqrstuvwxyz0123456789".repeat(2)[..i % 60].to_owned()
                )
            })
            .chain(["ablefell.net".to_owned(), "xjkd8f2h.com".to_owned()])
            .collect();
        for (a, b) in tight.score(&inputs).iter().zip(fixed.score(&inputs)) {
            let (a, b) = (a.result.as_ref().unwrap(), b.result.unwrap());
            assert!(
                (a.logit - b.logit).abs() < 1e-4,
                "{}: {} vs {}",
                a.domain.name,
                a.logit,
                b.logit
            );
        }
    }

    #[test]
    fn async_and_sync_agree() {
        let det = detector();
        let inputs = ["a.com", "qwrtzpxk.net", "bad input"];
        let sync = det.score(&inputs);
        let asynchronous = pollster::block_on(det.score_async(&inputs));
        assert_eq!(sync, asynchronous);
    }

    #[test]
    fn loads_from_weights_blob() {
        let config = ModelSize::Tiny.config();
        let bytes = encode_weights(&config, config.init::<B>(&Default::default()));
        let det = Detector::<B>::from_weights(&bytes, Default::default()).unwrap();
        assert_eq!(det.config(), &config);
        assert!(Detector::<B>::from_weights(b"junk", Default::default()).is_err());
    }

    #[test]
    fn logit_matches_softmax_of_the_model_output() {
        let det = detector();
        let tokens = det.tokeniser().encode_text("qwrtzpxk.net");
        let logits = det.model().forward(
            det.model()
                .batch(std::slice::from_ref(&tokens), &Default::default()),
        );
        let softmax: Vec<f32> = burn::tensor::activation::softmax(logits, 1)
            .into_data()
            .to_vec()
            .unwrap();
        let logit = det.logits_of_sequences(&[tokens])[0];
        assert!((sigmoid(logit) - softmax[1]).abs() < 1e-6);
    }

    #[test]
    fn risk_levels_follow_thresholds() {
        let t = RiskThresholds::default();
        assert_eq!(
            [
                t.risk(0.95),
                t.risk(0.8),
                t.risk(0.7),
                t.risk(0.6),
                t.risk(0.1)
            ],
            [
                Risk::High,
                Risk::High,
                Risk::Medium,
                Risk::Medium,
                Risk::Low
            ]
        );
    }
}
