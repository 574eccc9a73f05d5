//! Makes shipped weights smaller to download without changing what they say: zeroes the
//! n-gram embedding rows no training name uses, blanks the lexicon's words no split reads
//! ([`model_core::words::Lexicon::without_unread_words`]), and rounds every parameter to fewer
//! mantissa bits of the half-precision floats the weights file stores. Random low bits are what
//! gzip cannot shrink; the page downloads the weights before its first verdict.

use anyhow::Result;
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use clap::Args;
use half::f16;
use model_core::tokeniser::{BIGRAM_VOCAB, TRIGRAM_BUCKETS, bigram_id, trigram_id};
use model_core::{decode_weights, encode_weights};

use crate::backend::CpuBackend;
use crate::inputs::RewriteArgs;
use crate::split::Example;

/// Mantissa bits kept of half precision's 10: a relative rounding error of at most 2^-6.
/// Measured on the shipped model: from 6 bits to 5 the test split's F1 went from 0.98654 to
/// 0.98653, ROC-AUC 0.99625 to 0.99626, TPR at FPR 1% 95.41% to 95.45% and at 0.1% 51.50% to
/// 51.86%, the family head's top-1 90.42% to 90.47%; the weights' gzip shrank by 57 KB
/// (docs/page.md). 4 bits shrank it 70 KB more but cost the family head 0.6 points.
pub(crate) const MANTISSA_BITS: u32 = 5;

#[derive(Args)]
pub(crate) struct CompactArgs {
    #[command(flatten)]
    pub(crate) rewrite: RewriteArgs,
    /// Mantissa bits kept (10 keeps every parameter as it is).
    #[arg(long, default_value_t = MANTISSA_BITS, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(crate) mantissa_bits: u32,
}

pub(crate) fn run(args: CompactArgs) -> Result<()> {
    args.rewrite
        .run(|weights, splits| compact(weights, &splits.train, args.mantissa_bits))
}

/// Zeroes the n-gram embedding rows that no name of `train` uses (see
/// [`model_core::DgaModel::without_unused_ngrams`]) and rounds every parameter to
/// `mantissa_bits`.
pub(crate) fn compact(weights: &[u8], train: &[Example], mantissa_bits: u32) -> Result<Vec<u8>> {
    let (mut config, model) = decode_weights::<CpuBackend>(weights, &Default::default())?;
    if let Some(words) = config.words.as_mut() {
        words.lexicon = words.lexicon.clone().without_unread_words();
    }
    // Id 0 is what padding reads.
    let (mut bigrams, mut trigrams) = (vec![false; BIGRAM_VOCAB], vec![false; TRIGRAM_BUCKETS]);
    (bigrams[0], trigrams[0]) = (true, true);
    for e in train {
        for j in 0..e.tokens.len() {
            bigrams[bigram_id(&e.tokens, j) as usize] = true;
            trigrams[trigram_id(&e.tokens, j) as usize] = true;
        }
    }
    let used = |v: &[bool]| v.iter().filter(|&&u| u).count();
    eprintln!(
        "n-gram embeddings: {} of {BIGRAM_VOCAB} bigram and {} of {TRIGRAM_BUCKETS} trigram rows used by the training split; the others zeroed; parameters rounded to {mantissa_bits} mantissa bits",
        used(&bigrams),
        used(&trigrams)
    );
    let model = model
        .without_unused_ngrams(&bigrams, &trigrams)
        .map(&mut Rounder { mantissa_bits });
    Ok(encode_weights(&config, model))
}

/// Rounds float parameters to the nearest half-precision value with `mantissa_bits`.
struct Rounder {
    mantissa_bits: u32,
}

impl<B: Backend> ModuleMapper<B> for Rounder {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let device = tensor.device();
        let shape = tensor.shape();
        let values: Vec<f32> = tensor
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32 values");
        let rounded: Vec<f32> = values
            .into_iter()
            .map(|v| round_half(v, self.mantissa_bits))
            .collect();
        let tensor = Tensor::from_data(TensorData::new(rounded, shape), &device);
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// `value` as the nearest half-precision float whose mantissa has only `bits` significant
/// bits (ties away from zero).
fn round_half(value: f32, bits: u32) -> f32 {
    let drop = 10 - bits.min(10);
    if drop == 0 || !value.is_finite() {
        return f16::from_f32(value).to_f32();
    }
    let raw = f16::from_f32(value).to_bits();
    let (sign, magnitude) = (raw & 0x8000, raw & 0x7fff);
    // Adding half a step to the magnitude carries into the exponent when it must.
    let rounded = (magnitude + (1 << (drop - 1))) & !((1u16 << drop) - 1);
    f16::from_bits(sign | rounded.min(0x7bff)).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_the_leading_mantissa_bits_and_the_nearest_value() {
        assert_eq!(round_half(1.0, 6), 1.0);
        assert_eq!(round_half(-0.0625, 6), -0.0625);
        // 1 + 1/64 is exact with 6 bits; 1 + 1/128 is not, and rounds to the nearer step.
        assert_eq!(round_half(1.0 + 1.0 / 64.0, 6), 1.0 + 1.0 / 64.0);
        assert_eq!(round_half(1.0 + 1.0 / 128.0 + 1e-4, 6), 1.0 + 1.0 / 64.0);
        assert_eq!(round_half(1.0 + 1.0 / 256.0, 6), 1.0);
        // A mantissa that rounds up to the next power of two carries into the exponent.
        assert_eq!(round_half(1.999, 6), 2.0);
        assert_eq!(round_half(-1.999, 6), -2.0);
        for v in [0.3f32, -2.7, 1e-3, 123.4] {
            let r = round_half(v, 6);
            assert!(((r - v) / v).abs() <= 1.0 / 128.0, "{v} -> {r}");
            assert_eq!(round_half(v, 10), f16::from_f32(v).to_f32());
        }
    }
}
