//! Packs token sequences into one padded tensor pair, padded to the batch's longest member or
//! to one of a few fixed lengths (see [`Shapes`]).

use burn::prelude::*;

use crate::tokeniser::{
    PAD, SHAPE_FEATURES, WIDE_ORDERS, bigram_id, shape_ids, trigram_id, wide_ids,
};

/// Under [`Shapes::Fixed`] lengths are padded up to a multiple of this: the GPU's plane
/// width. With other lengths cubecl's autotune picks a vector-matrix kernel for the class
/// token's attention that then refuses to launch ("Rhs dimension n=24 must be a multiple of
/// plane size 32", seen on an H100 with burn 0.21). Names are short, so nearly every batch is 32.
pub const SEQ_MULTIPLE: usize = 32;

/// How batches are shaped. The CPU pays for every padded position, so it pads each batch to its
/// longest member; a GPU backend compiles and autotunes kernels once per tensor shape, so there
/// two or three fixed shapes (lengths in steps of [`SEQ_MULTIPLE`], full batches) cost far less
/// than compiling kernels for every new length and batch size that comes along.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Shapes {
    /// Pad to the longest member; batches as they come.
    #[default]
    Tight,
    /// Pad lengths up to a multiple of [`SEQ_MULTIPLE`] and every batch to the full batch size.
    Fixed,
}

impl Shapes {
    /// The padded length of a batch whose longest member has `longest` tokens. It may exceed the
    /// model's `max_len`: positions past it are always padding (see [`crate::DgaModel::forward`]).
    pub fn seq_len(self, longest: usize) -> usize {
        let longest = longest.max(1);
        match self {
            Shapes::Tight => longest,
            Shapes::Fixed => longest.next_multiple_of(SEQ_MULTIPLE),
        }
    }
}

/// Token ids and their padding mask, ready for [`crate::DgaModel::forward`].
#[derive(Debug, Clone)]
pub struct TokenBatch<B: Backend> {
    /// `[batch, seq]` token ids.
    pub tokens: Tensor<B, 2, Int>,
    /// `[batch, seq]` id of the bigram ending at each position.
    pub bigrams: Tensor<B, 2, Int>,
    /// `[batch, seq]` hashed id of the trigram ending at each position.
    pub trigrams: Tensor<B, 2, Int>,
    /// `[batch, seq]`, `true` where the position is padding.
    pub mask_pad: Tensor<B, 2, Bool>,
    /// `[batch, (seq + 1) * WIDE_ORDERS]` hashed 1- to 4-gram ids for the linear n-gram part,
    /// end mark included; 0 (a row that weighs nothing) on padding. Only packed for models that
    /// have that part (see [`crate::DgaModel::batch`]).
    pub wide: Option<Tensor<B, 2, Int>>,
    /// `[batch, SHAPE_FEATURES]` ids of the family head's shape table (see
    /// [`crate::tokeniser::shape_ids`]). Only packed for models whose family head has one.
    pub shape: Option<Tensor<B, 2, Int>>,
}

/// What a batch packs beside the tokens: only what the model reads is built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// The linear n-gram part's ids.
    pub wide: bool,
    /// The family head's shape ids.
    pub shape: bool,
}

impl<B: Backend> TokenBatch<B> {
    /// Pads every sequence to the longest one in `sequences` (not to the model's maximum: short
    /// names are the common case and attention cost grows with the square of the length).
    pub fn new<S: AsRef<[u32]>>(sequences: &[S], device: &B::Device) -> Self {
        let longest = sequences.iter().map(|s| s.as_ref().len()).max();
        Self::padded(
            sequences,
            longest.unwrap_or(1).max(1),
            Extras::default(),
            device,
        )
    }

    /// Packs `sequences` padded to `seq` positions (at least their longest member), with the
    /// `extras` asked for.
    pub fn padded<S: AsRef<[u32]>>(
        sequences: &[S],
        seq: usize,
        extras: Extras,
        device: &B::Device,
    ) -> Self {
        HostBatch::pack(sequences, seq, extras).upload(device)
    }
}

/// A [`TokenBatch`] still in host memory: what packing costs apart from the copy to the device
/// (the trainer's `bench-train --phase-steps` times the two apart).
#[derive(Debug, Clone)]
pub struct HostBatch {
    batch: usize,
    seq: usize,
    ids: Vec<i32>,
    bigrams: Vec<i32>,
    trigrams: Vec<i32>,
    pad: Vec<bool>,
    wide: Option<Vec<i32>>,
    shape: Option<Vec<i32>>,
}

impl HostBatch {
    /// Packs `sequences` padded to `seq` positions (at least their longest member), with the
    /// `extras` asked for.
    pub fn pack<S: AsRef<[u32]>>(sequences: &[S], seq: usize, extras: Extras) -> Self {
        let batch = sequences.len();
        let longest = sequences.iter().map(|s| s.as_ref().len()).max();
        let seq = seq.max(longest.unwrap_or(1)).max(1);
        let mut ids = vec![PAD as i32; batch * seq];
        let mut bigrams = vec![0i32; batch * seq];
        let mut trigrams = vec![0i32; batch * seq];
        let mut pad = vec![true; batch * seq];
        let wide_width = (seq + 1) * WIDE_ORDERS;
        let mut wide = vec![0i32; if extras.wide { batch * wide_width } else { 0 }];
        let mut shape = Vec::with_capacity(if extras.shape {
            batch * SHAPE_FEATURES
        } else {
            0
        });
        for (row, tokens) in sequences.iter().enumerate() {
            let tokens = tokens.as_ref();
            for (col, &id) in tokens.iter().enumerate() {
                let at = row * seq + col;
                ids[at] = id as i32;
                bigrams[at] = bigram_id(tokens, col) as i32;
                trigrams[at] = trigram_id(tokens, col) as i32;
                pad[at] = false;
            }
            for col in (0..=tokens.len()).filter(|_| extras.wide) {
                for (k, gram) in wide_ids(tokens, col).into_iter().enumerate() {
                    wide[row * wide_width + col * WIDE_ORDERS + k] = gram as i32;
                }
            }
            if extras.shape {
                shape.extend(shape_ids(tokens).map(|id| id as i32));
            }
        }
        Self {
            batch,
            seq,
            ids,
            bigrams,
            trigrams,
            pad,
            wide: extras.wide.then_some(wide),
            shape: extras.shape.then_some(shape),
        }
    }

    /// Copies the batch to `device`.
    pub fn upload<B: Backend>(self, device: &B::Device) -> TokenBatch<B> {
        let (batch, seq) = (self.batch, self.seq);
        let int = |values: Vec<i32>, width: usize| {
            Tensor::from_data(TensorData::new(values, [batch, width]), device)
        };
        TokenBatch {
            tokens: int(self.ids, seq),
            bigrams: int(self.bigrams, seq),
            trigrams: int(self.trigrams, seq),
            mask_pad: Tensor::from_data(TensorData::new(self.pad, [batch, seq]), device),
            wide: self.wide.map(|wide| int(wide, (seq + 1) * WIDE_ORDERS)),
            shape: self.shape.map(|shape| int(shape, SHAPE_FEATURES)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn pads_to_longest_member_and_masks_padding() {
        let device = Default::default();
        let batch = TokenBatch::<NdArray>::new(&[vec![1, 5, 6], vec![1, 7]], &device);
        assert_eq!(batch.tokens.dims(), [2, 3]);
        let ids: Vec<i64> = batch.tokens.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(ids, vec![1, 5, 6, 1, 7, 0]);
        let mask: Vec<bool> = batch.mask_pad.into_data().to_vec().unwrap();
        assert_eq!(mask, vec![false, false, false, false, false, true]);
    }

    #[test]
    fn fixed_shapes_pad_to_multiples_of_the_plane_width() {
        assert_eq!(Shapes::Tight.seq_len(13), 13);
        assert_eq!(Shapes::Fixed.seq_len(13), 32);
        assert_eq!(Shapes::Fixed.seq_len(32), 32);
        assert_eq!(Shapes::Fixed.seq_len(33), 64);
        assert_eq!(Shapes::Fixed.seq_len(0), 32);
    }
}
