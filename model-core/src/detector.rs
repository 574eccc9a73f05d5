//! The inference API: raw strings in, one [`Verdict`] per input out, in input order.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::batch::TokenBatch;
use crate::model::{DgaModel, ModelConfig};
use crate::normalise::{Domain, DomainError, normalise};
use crate::tokeniser::Tokeniser;
use crate::weights::{WeightsError, decode_weights};

/// Sequences scored in one forward pass by default; bounds memory on any input size.
pub const DEFAULT_BATCH: usize = 512;

/// Risk bands over `p_dga`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskThresholds {
    pub high: f32,
    pub medium: f32,
}

impl Default for RiskThresholds {
    fn default() -> Self {
        Self { high: 0.8, medium: 0.6 }
    }
}

impl RiskThresholds {
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
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
        }
    }
}

/// A scored domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub domain: Domain,
    /// Probability that the name was made by a domain generation algorithm.
    pub p_dga: f32,
    pub risk: Risk,
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
}

/// Inputs normalised and tokenised, waiting for their probabilities.
struct Prepared {
    domains: Vec<Result<Domain, DomainError>>,
    /// Token sequences of the inputs that normalised, in input order.
    sequences: Vec<Vec<u32>>,
}

impl<B: Backend> Detector<B> {
    pub fn new(config: ModelConfig, model: DgaModel<B>, device: B::Device) -> Self {
        let tokeniser = Tokeniser::new(config.tokeniser.clone());
        Self { model, config, tokeniser, device, thresholds: RiskThresholds::default(), batch_size: DEFAULT_BATCH }
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
        let p_dga = self.p_dga_of_sequences(&prepared.sequences);
        self.assemble(inputs, prepared, p_dga)
    }

    /// [`Detector::score`] with asynchronous tensor reads, for backends that cannot block.
    pub async fn score_async<S: AsRef<str>>(&self, inputs: &[S]) -> Vec<Verdict> {
        let prepared = self.prepare(inputs);
        let mut p_dga = vec![0.0; prepared.sequences.len()];
        for chunk in length_sorted_chunks(&prepared.sequences, self.batch_size) {
            let probs = self.p_dga_tensor(&chunk, &prepared.sequences);
            let values = probs.into_data_async().await.map(|d| d.to_vec::<f32>());
            scatter(&chunk, values.ok().and_then(Result::ok), &mut p_dga);
        }
        self.assemble(inputs, prepared, p_dga)
    }

    /// `p_dga` for already tokenised sequences, in their order.
    pub fn p_dga_of_sequences(&self, sequences: &[Vec<u32>]) -> Vec<f32> {
        let mut p_dga = vec![0.0; sequences.len()];
        for chunk in length_sorted_chunks(sequences, self.batch_size) {
            let probs = self.p_dga_tensor(&chunk, sequences);
            scatter(&chunk, probs.try_into_data().ok().and_then(|d| d.to_vec::<f32>().ok()), &mut p_dga);
        }
        p_dga
    }

    /// `[chunk]` probabilities of the `dga` class for the sequences at `chunk`'s indices.
    fn p_dga_tensor(&self, chunk: &[usize], sequences: &[Vec<u32>]) -> Tensor<B, 1> {
        let rows: Vec<Vec<u32>> = chunk.iter().map(|&i| sequences[i].clone()).collect();
        let logits = self.model.forward(TokenBatch::new(&rows, &self.device)); // [chunk, 2]
        let [n, _] = logits.dims();
        softmax(logits, 1).slice([0..n, 1..2]).reshape([n])
    }

    fn prepare<S: AsRef<str>>(&self, inputs: &[S]) -> Prepared {
        let domains: Vec<_> = inputs.iter().map(|s| normalise(s.as_ref())).collect();
        let sequences = domains.iter().flatten().map(|d| self.tokeniser.encode(d)).collect();
        Prepared { domains, sequences }
    }

    fn assemble<S: AsRef<str>>(&self, inputs: &[S], prepared: Prepared, p_dga: Vec<f32>) -> Vec<Verdict> {
        let mut p_dga = p_dga.into_iter();
        inputs
            .iter()
            .zip(prepared.domains)
            .map(|(input, domain)| Verdict {
                input: input.as_ref().to_owned(),
                result: domain.map(|domain| {
                    let p_dga = p_dga.next().unwrap_or(f32::NAN);
                    Scored { domain, p_dga, risk: self.thresholds.risk(p_dga) }
                }),
            })
            .collect()
    }
}

/// Groups sequence indices by length into batches of at most `batch_size`, so each batch pads
/// only to similar lengths.
fn length_sorted_chunks(sequences: &[Vec<u32>], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| sequences[i].len());
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// Writes a chunk's values back to their input positions; a failed read leaves NaN, never a gap.
fn scatter(chunk: &[usize], values: Option<Vec<f32>>, out: &mut [f32]) {
    let values = values.unwrap_or_else(|| vec![f32::NAN; chunk.len()]);
    for (&i, v) in chunk.iter().zip(values) {
        out[i] = v;
    }
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
    fn one_verdict_per_input_in_order_with_errors_in_place() {
        let inputs = ["xjkd8f2h.com", "", "10.0.0.1", "https://Example.com/x", "localhost"];
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
    }

    #[test]
    fn scores_do_not_depend_on_batch_mates() {
        let det = detector();
        let alone = det.score(&["ablefell.net"])[0].result.clone().unwrap().p_dga;
        let many: Vec<String> = (0..700).map(|i| format!("name{i}x{}.com", "q".repeat(i % 40))).collect();
        let mut inputs = many.clone();
        inputs.insert(333, "ablefell.net".into());
        let together = det.score(&inputs)[333].result.clone().unwrap().p_dga;
        assert!((alone - together).abs() < 1e-5);
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
    fn risk_levels_follow_thresholds() {
        let t = RiskThresholds::default();
        assert_eq!([t.risk(0.95), t.risk(0.8), t.risk(0.7), t.risk(0.6), t.risk(0.1)],
            [Risk::High, Risk::High, Risk::Medium, Risk::Medium, Risk::Low]);
    }
}
