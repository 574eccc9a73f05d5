//! The classifier: learned character, character n-gram and position embeddings, a pre-norm
//! transformer encoder with a padding mask, a linear head on the class token, and optionally a
//! second linear head on the same token that names the DGA family.

use burn::nn::activation::Activation;
use burn::nn::attention::{MhaInput, MultiHeadAttention};
use burn::nn::transformer::{
    PositionWiseFeedForward, TransformerEncoder, TransformerEncoderConfig, TransformerEncoderLayer,
};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use serde::{Deserialize, Serialize};

use crate::batch::{Extras, HostBatch, Shapes, TokenBatch};
use crate::explain::AnomalyModel;
use crate::gelu;
use crate::tokeniser::{
    BIGRAM_VOCAB, SHAPE_BUCKETS, TRIGRAM_BUCKETS, TokeniserConfig, VOCAB_SIZE, WIDE_BUCKETS,
};
use crate::words::WordPart;

/// Classes the head scores, in logit order.
pub const CLASSES: [&str; 2] = ["legit", "dga"];

/// Everything needed to rebuild the model and feed it: shipped beside the weights.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    pub tokeniser: TokeniserConfig,
    #[config(default = 64)]
    pub d_model: usize,
    #[config(default = 256)]
    pub d_ff: usize,
    #[config(default = 4)]
    pub n_heads: usize,
    #[config(default = 2)]
    pub n_layers: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Adds bigram and hashed trigram embeddings to each character's: n-grams are what
    /// separates word-like from random names, and lookups cost far less than wider layers.
    #[config(default = true)]
    pub ngram_embeddings: bool,
    /// Adds a linear score over hashed 1- to 4-grams to the DGA log-odds (a "wide" part beside
    /// the deep one). It is fitted after the transformer by the trainer (a logistic regression
    /// on the same split, scaled by a weight chosen on validation), not by backpropagation: the
    /// two models err on different names, and their sum ranks the low-FPR tail better than
    /// either.
    #[config(default = false)]
    pub wide: bool,
    /// The benign-only anomaly model, fitted by the trainer; it travels with the weights so that
    /// every consumer reports the same `anomaly` beside `p_dga`. Not part of the forward pass.
    #[config(default = "None")]
    pub anomaly: Option<AnomalyModel>,
    /// The n-gram part's word half ([`crate::words::WordPart`]): fitted with the n-gram table,
    /// added to the log-odds on the host. Not part of the forward pass.
    #[config(default = "None")]
    pub words: Option<WordPart>,
    /// The family head's classes and when it answers `unknown`; fitted by the trainer on the
    /// class token after the transformer (see [`FamilyConfig`]).
    #[config(default = "None")]
    pub family: Option<FamilyConfig>,
    /// Log-odds added to every verdict after the network and the anomaly model: where `p_dga`
    /// 0.5 falls. Chosen by the trainer on the leave-out benchmark (families and benign lists
    /// the model never saw, at equal numbers of each), not on the random split, whose benign
    /// names the model has learned so well that its own 0.5 sits too high for unseen ones.
    #[config(default = 0.0)]
    pub decision_shift: f32,
}

/// What the family head names, and when it declines to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyConfig {
    /// The head's classes, in output order: the DGA families of the training data.
    pub names: Vec<String>,
    /// Below this top-1 probability the answer is `unknown`: chosen on families kept out of the
    /// head's training, because a family never seen is the normal case in the wild. Weights
    /// whose [`crate::GroupRule`] has a [`crate::NameRule`] name one name by that instead.
    pub unknown_below: f32,
    /// Share of names of families kept out of the head's fit that it answered `unknown` (test
    /// split; micro, then macro over families), by the rule that names one name: measured when
    /// its threshold was chosen, and kept here because the weights alone cannot reproduce it.
    #[serde(default)]
    pub unknown_on_held_out: [f32; 2],
    /// Width of the head's hidden layer (ReLU), or 0 for a linear head on the features (files
    /// from before the hidden layer).
    #[serde(default)]
    pub hidden: usize,
    /// Whether the head's first layer also reads the name's shape (label length, suffix,
    /// digits, hyphens: [`crate::tokeniser::shape_ids`]) through a table of one row per shape
    /// id, summed into its output (files from before it have none).
    #[serde(default)]
    pub shape: bool,
    /// How the names of one host are named together (files from before it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<crate::GroupRule>,
}

impl FamilyConfig {
    /// Width of the head's first layer: its hidden layer, or the classes of a linear head.
    pub fn first_width(&self) -> usize {
        if self.hidden > 0 {
            self.hidden
        } else {
            self.names.len()
        }
    }
}

/// Named model sizes, so side-by-side runs mean the same thing everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ModelSize {
    /// 1 layer, d_model 32: the fastest that still learns the task.
    Tiny,
    /// The shipped default: 2 layers, d_model 64, 4 heads, FFN 256, 48 characters, n-gram
    /// embeddings.
    Small,
    /// The seed system's size: 4 layers, d_model 256, 8 heads, FFN 1024, 64 characters,
    /// characters only.
    Seed,
}

impl ModelSize {
    pub fn config(self) -> ModelConfig {
        match self {
            ModelSize::Tiny => ModelConfig::new(TokeniserConfig::new())
                .with_d_model(32)
                .with_d_ff(128)
                .with_n_heads(2)
                .with_n_layers(1),
            ModelSize::Small => ModelConfig::new(TokeniserConfig::new()),
            ModelSize::Seed => ModelConfig::new(TokeniserConfig::new().with_max_len(64))
                .with_d_model(256)
                .with_d_ff(1024)
                .with_n_heads(8)
                .with_n_layers(4)
                .with_dropout(0.1)
                .with_ngram_embeddings(false),
        }
    }
}

/// The DGA classifier. Build it with [`ModelConfig::init`].
#[derive(Module, Debug)]
pub struct DgaModel<B: Backend> {
    characters: Embedding<B>,
    bigrams: Option<Embedding<B>>,
    trigrams: Option<Embedding<B>>,
    positions: Embedding<B>,
    encoder: TransformerEncoder<B>,
    norm: LayerNorm<B>,
    head: Linear<B>,
    /// `[WIDE_BUCKETS, 1]` weight of each hashed n-gram; row 0 is 0.
    wide: Option<Embedding<B>>,
    /// `3 * d_model -> families` on [`DgaModel::family_features`] (see [`FamilyConfig`]), or
    /// `hidden -> families` after `family_hidden`.
    family: Option<Linear<B>>,
    /// `3 * d_model -> hidden`, ReLU, when [`FamilyConfig::hidden`] is not 0.
    family_hidden: Option<Linear<B>>,
    /// `[SHAPE_BUCKETS, first layer's width]`, added to the family head's first layer (before
    /// the ReLU) when [`FamilyConfig::shape`]: the rows of its shape ids, summed.
    family_shape: Option<Embedding<B>>,
}

impl ModelConfig {
    /// Width of what the family head reads of the transformer ([`DgaModel::family_features`]):
    /// the class token, then the pooled embeddings and last layer's input.
    pub fn family_features_width(&self) -> usize {
        3 * self.d_model
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> DgaModel<B> {
        DgaModel {
            characters: EmbeddingConfig::new(VOCAB_SIZE, self.d_model).init(device),
            bigrams: self
                .ngram_embeddings
                .then(|| EmbeddingConfig::new(BIGRAM_VOCAB, self.d_model).init(device)),
            trigrams: self
                .ngram_embeddings
                .then(|| EmbeddingConfig::new(TRIGRAM_BUCKETS, self.d_model).init(device)),
            positions: EmbeddingConfig::new(self.tokeniser.max_len, self.d_model).init(device),
            encoder: TransformerEncoderConfig::new(
                self.d_model,
                self.d_ff,
                self.n_heads,
                self.n_layers,
            )
            .with_dropout(self.dropout)
            .with_norm_first(true)
            .init(device),
            norm: LayerNormConfig::new(self.d_model).init(device),
            head: LinearConfig::new(self.d_model, CLASSES.len()).init(device),
            wide: self.wide.then(|| Embedding {
                weight: burn::module::Param::from_tensor(Tensor::zeros([WIDE_BUCKETS, 1], device)),
            }),
            family: self.family.as_ref().map(|f| {
                let inputs = if f.hidden > 0 {
                    f.hidden
                } else {
                    self.family_features_width()
                };
                LinearConfig::new(inputs, f.names.len()).init(device)
            }),
            family_hidden: self
                .family
                .as_ref()
                .filter(|f| f.hidden > 0)
                .map(|f| LinearConfig::new(self.family_features_width(), f.hidden).init(device)),
            family_shape: self
                .family
                .as_ref()
                .filter(|f| f.shape)
                .map(|f| EmbeddingConfig::new(SHAPE_BUCKETS, f.first_width()).init(device)),
        }
    }
}

impl<B: Backend> DgaModel<B> {
    /// Class logits (`legit`, `dga`) for a batch of token sequences.
    ///
    /// # Shapes
    /// - `batch.tokens`, `batch.bigrams`, `batch.trigrams`, `batch.mask_pad`: `[batch, seq]`,
    ///   `seq <= max_len`
    /// - output: `[batch, 2]`
    ///
    /// # Panics
    /// If the model has a wide part and `batch` was not packed with its ids: build batches with
    /// [`DgaModel::batch`].
    pub fn forward(&self, batch: TokenBatch<B>) -> Tensor<B, 2> {
        self.forward_heads(batch).0
    }

    /// Class logits as [`DgaModel::forward`] gives them and, when the model has a family head,
    /// its family logits, from one pass.
    ///
    /// # Shapes
    /// - output: `[batch, 2]` and `[batch, families]`
    pub fn forward_heads(&self, batch: TokenBatch<B>) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        let batch_size = batch.tokens.dims()[0];
        let wide_ids = batch.wide.clone();
        let shape_ids = batch.shape.clone();
        let (cls, pooled) = self.encode(batch, self.family.is_some()); // [batch, d_model], [batch, 2 * d_model]
        let family = self.family.as_ref().zip(pooled).map(|(head, pooled)| {
            let features = Tensor::cat(vec![cls.clone(), pooled], 1); // [batch, 3 * d_model]
            let first = self.family_hidden.as_ref().unwrap_or(head);
            let mut first_out = first.forward(features); // [batch, hidden or families]
            match (&self.family_shape, shape_ids) {
                (Some(table), Some(ids)) => {
                    let width = first_out.dims()[1];
                    let shape = table.forward(ids).sum_dim(1); // [batch, 1, width]
                    first_out = first_out + shape.reshape([batch_size, width]);
                }
                (Some(_), None) => panic!("a family head with a shape table needs DgaModel::batch"),
                (None, _) => {}
            }
            match &self.family_hidden {
                Some(_) => head.forward(burn::tensor::activation::relu(first_out)), // [batch, families]
                None => first_out,
            }
        });
        let logits = self.head.forward(cls); // [batch, 2]
        let logits = match (&self.wide, wide_ids) {
            (Some(wide), Some(ids)) => {
                let score = wide.forward(ids).sum_dim(1).reshape([batch_size, 1]); // [batch, 1]
                logits + Tensor::cat(vec![score.zeros_like(), score], 1) // [batch, 2]
            }
            (Some(_), None) => panic!("a model with a wide part needs DgaModel::batch"),
            (None, _) => logits,
        };
        (logits, family)
    }

    /// What the family head reads: the normalised class token, then the mean over the name's
    /// positions of the embeddings and of the last layer's input. The class token alone was
    /// trained to tell DGA from benign and keeps little of what tells generators apart (a
    /// linear head on it named 62% of test names right); the pooled states keep the alphabet,
    /// length and suffix.
    ///
    /// # Shapes
    /// - output: `[batch, 3 * d_model]`
    pub fn family_features(&self, batch: TokenBatch<B>) -> Tensor<B, 2> {
        let (cls, pooled) = self.encode(batch, true);
        let pooled = pooled.expect("asked for");
        Tensor::cat(vec![cls, pooled], 1)
    }

    /// The normalised class token (what the DGA head reads) and, when asked, the masked means
    /// of the embeddings and of the last layer's input.
    ///
    /// # Shapes
    /// - output: `[batch, d_model]` and `[batch, 2 * d_model]`
    fn encode(&self, batch: TokenBatch<B>, pool: bool) -> (Tensor<B, 2>, Option<Tensor<B, 2>>) {
        let [batch_size, seq] = batch.tokens.dims();
        let [max_len, d_model] = self.positions.weight.dims();
        let mut positions = self.positions.weight.val().slice(0..seq.min(max_len)); // [seq, d_model]
        if seq > max_len {
            // Fixed GPU shapes may pad past the longest name the model reads; those positions
            // are always padding, masked out of attention, so any vector does: zeros.
            let past = Tensor::zeros([seq - max_len, d_model], &positions.device());
            positions = Tensor::cat(vec![positions, past], 0); // [seq, d_model]
        }
        // Added as one row shared by every batch member: Flex broadcasts that shape with SIMD,
        // where a `[1, seq, d_model]` block took its slow element-by-element path.
        let positions = positions.reshape([1, seq * d_model]); // [1, seq * d_model]
        let characters = self.characters.forward(batch.tokens); // [batch, seq, d_model]
        let mut x = (characters.reshape([batch_size, seq * d_model]) + positions)
            .reshape([batch_size, seq, d_model]); // [batch, seq, d_model]
        if let Some(bigrams) = &self.bigrams {
            x = x + bigrams.forward(batch.bigrams); // [batch, seq, d_model]
        }
        if let Some(trigrams) = &self.trigrams {
            x = x + trigrams.forward(batch.trigrams); // [batch, seq, d_model]
        }
        // Weights of each real position in a mean: 1, and 0 on padding.
        let keep = pool.then(|| {
            batch
                .mask_pad
                .clone()
                .bool_not()
                .float()
                .unsqueeze_dim::<3>(2)
        }); // [batch, seq, 1]
        let mean = |x: Tensor<B, 3>, keep: &Tensor<B, 3>| {
            let sum = (x * keep.clone()).sum_dim(1); // [batch, 1, d_model]
            (sum / keep.clone().sum_dim(1)).reshape([batch_size, d_model]) // [batch, d_model]
        };
        let embedded = keep.as_ref().map(|keep| mean(x.clone(), keep));
        let (cls, hidden) = match self.encoder.layers.split_last() {
            Some((last, earlier)) => {
                let mut x = x;
                for layer in earlier {
                    x = layer_rows(layer, x, batch.mask_pad.clone(), false); // [batch, seq, d_model]
                }
                let hidden = keep.as_ref().map(|keep| mean(x.clone(), keep));
                (class_token_output(last, x, batch.mask_pad), hidden) // [batch, 1, d_model]
            }
            None => (x.slice([0..batch_size, 0..1]), embedded.clone()),
        };
        let cls = cls.reshape([batch_size, d_model]); // [batch, d_model]
        // Pre-norm layers leave the residual stream unnormalised; normalise once before the heads.
        let pooled = embedded
            .zip(hidden)
            .map(|(e, h)| Tensor::cat(vec![e, h], 1));
        (self.norm.forward(cls), pooled)
    }

    /// Packs token sequences for this model: with the wide part's ids only when it has one, so
    /// models without it (and training, which fits the wide part afterwards) never build them.
    pub fn batch<S: AsRef<[u32]>>(&self, sequences: &[S], device: &B::Device) -> TokenBatch<B> {
        self.batch_shaped(sequences, Shapes::Tight, device)
    }

    /// [`DgaModel::batch`] padded as `shapes` says (the batch's row count is the caller's).
    pub fn batch_shaped<S: AsRef<[u32]>>(
        &self,
        sequences: &[S],
        shapes: Shapes,
        device: &B::Device,
    ) -> TokenBatch<B> {
        self.host_batch(sequences, shapes).upload(device)
    }

    /// [`DgaModel::batch_shaped`] before its copy to the device.
    pub fn host_batch<S: AsRef<[u32]>>(&self, sequences: &[S], shapes: Shapes) -> HostBatch {
        let longest = sequences.iter().map(|s| s.as_ref().len()).max();
        let seq = shapes.seq_len(longest.unwrap_or(1));
        let extras = Extras {
            wide: self.wide.is_some(),
            shape: self.family_shape.is_some(),
        };
        HostBatch::pack(sequences, seq, extras)
    }

    /// Adds the linear n-gram part: `weights[i]` for hashed n-gram bucket `i` (bucket 0 is
    /// forced to 0) and `bias`, both in DGA log-odds. The config must say `wide: true` from now
    /// on; [`ModelConfig::with_wide`] does.
    pub fn with_wide(mut self, mut weights: Vec<f32>, bias: f32) -> Self {
        assert_eq!(weights.len(), WIDE_BUCKETS, "one weight per bucket");
        weights[0] = 0.0;
        let device = self.head.weight.device();
        let table =
            Tensor::<B, 1>::from_floats(weights.as_slice(), &device).reshape([WIDE_BUCKETS, 1]);
        self.wide = Some(Embedding {
            weight: burn::module::Param::from_tensor(table),
        });
        if let Some(head_bias) = self.head.bias.take() {
            let shift = Tensor::<B, 1>::from_floats([0.0, bias], &device);
            self.head.bias = Some(burn::module::Param::from_tensor(head_bias.val() + shift));
        }
        self
    }

    /// Adds the family head (`3 * d_model` inputs: fitted by the trainer on
    /// [`DgaModel::family_features`]), with its hidden layer and its shape table
    /// (`[SHAPE_BUCKETS, first layer's width]`) when it has them; the config must carry the
    /// matching [`FamilyConfig`] from now on.
    pub fn with_family(
        mut self,
        hidden: Option<Linear<B>>,
        head: Linear<B>,
        shape: Option<Tensor<B, 2>>,
    ) -> Self {
        self.family = Some(head);
        self.family_hidden = hidden;
        self.family_shape = shape.map(|table| Embedding {
            weight: burn::module::Param::from_tensor(table),
        });
        self
    }

    /// Zeroes the bigram and trigram embedding rows whose ids the training data never used
    /// (`used_*[id]` false). Training never moved them, so they hold their random start: they
    /// carry no information, and zeros compress where random half-floats do not (the page's
    /// download). Names made only of n-grams the training data had score exactly as before.
    pub fn without_unused_ngrams(mut self, used_bigrams: &[bool], used_trigrams: &[bool]) -> Self {
        let zero_unused = |table: &mut Embedding<B>, used: &[bool]| {
            let weight = table.weight.val(); // [ids, d_model]
            let [ids, _] = weight.dims();
            let keep: Vec<f32> = (0..ids)
                .map(|i| f32::from(used.get(i).copied().unwrap_or(true)))
                .collect();
            let keep =
                Tensor::<B, 1>::from_floats(keep.as_slice(), &weight.device()).reshape([ids, 1]);
            table.weight = burn::module::Param::from_tensor(weight * keep);
        };
        if let Some(table) = self.bigrams.as_mut() {
            zero_unused(table, used_bigrams);
        }
        if let Some(table) = self.trigrams.as_mut() {
            zero_unused(table, used_trigrams);
        }
        self
    }

    /// Whether the model has a family head.
    pub fn has_family(&self) -> bool {
        self.family.is_some()
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> usize {
        self.num_params()
    }
}

/// One encoder layer computed for the class token only, exactly as Burn's
/// `TransformerEncoderLayer::forward` computes it for every position: keys and values still come
/// from the whole sequence, but the query, the feed-forward block and the norms run on one row.
/// Only the class token's final state is read, so this saves most of the last layer's work
/// (its feed-forward block is two thirds of a layer) in training and inference alike.
///
/// # Shapes
/// - `x`: `[batch, seq, d_model]`, `mask_pad`: `[batch, seq]`
/// - output: `[batch, 1, d_model]`
fn class_token_output<B: Backend>(
    layer: &TransformerEncoderLayer<B>,
    x: Tensor<B, 3>,
    mask_pad: Tensor<B, 2, Bool>,
) -> Tensor<B, 3> {
    layer_rows(layer, x, mask_pad, true)
}

/// One pre- or post-norm encoder layer, as `TransformerEncoderLayer::forward` computes it, for
/// every position or (`class_only`) for the class token's row alone.
///
/// # Shapes
/// - `x`: `[batch, seq, d_model]`, `mask_pad`: `[batch, seq]`
/// - output: `[batch, seq, d_model]`, or `[batch, 1, d_model]` when `class_only`
fn layer_rows<B: Backend>(
    layer: &TransformerEncoderLayer<B>,
    x: Tensor<B, 3>,
    mask_pad: Tensor<B, 2, Bool>,
    class_only: bool,
) -> Tensor<B, 3> {
    let [batch, _, _] = x.dims();
    let attended = if layer.norm_first {
        layer.norm_2.forward(x.clone())
    } else {
        x.clone()
    }; // [batch, seq, d_model]
    let (query, x) = if class_only {
        let query = attended.clone().slice([0..batch, 0..1]); // [batch, 1, d_model]
        (query, x.slice([0..batch, 0..1]))
    } else {
        (attended.clone(), x)
    };
    let context = attend(&layer.mha, query, attended, mask_pad); // [batch, rows, d_model]
    let mut x = x + layer.dropout.forward(context); // [batch, rows, d_model]
    let feed_forward_input = if layer.norm_first {
        layer.norm_1.forward(x.clone())
    } else {
        x = layer.norm_1.forward(x);
        x.clone()
    };
    let x = x + layer
        .dropout
        .forward(feed_forward(&layer.pwff, feed_forward_input)); // [batch, rows, d_model]
    if layer.norm_first {
        x
    } else {
        layer.norm_2.forward(x)
    }
}

/// The layer's feed-forward block; on the CPU backends with GELU computed by [`crate::gelu`].
fn feed_forward<B: Backend>(pwff: &PositionWiseFeedForward<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    if !(matches!(pwff.activation, Activation::Gelu(_)) && gelu::on_host::<B>(&x.device())) {
        return pwff.forward(x);
    }
    let hidden = gelu::gelu(pwff.linear_inner.forward(x)); // [batch, rows, d_ff]
    pwff.linear_outer.forward(hidden) // [batch, rows, d_model]
}

/// Multi-head attention of `query` rows over `keys` (values are the same rows), padding hidden.
///
/// Training runs Burn's own module, which drops attention weights out. Inference computes the
/// same without the module's two whole-tensor copies, which took a sixth of scoring time on the
/// CPU (measured with `perf`): padding is an additive bias broadcast over heads and queries
/// instead of a mask expanded to every score, and each head's context goes through its own
/// rows of the output projection instead of being merged back into one row per position.
/// The bias is the module's own fill value (-1e4), which keeps infinities out of GPU shaders.
///
/// # Shapes
/// - `query`: `[batch, rows, d_model]`, `keys`: `[batch, seq, d_model]`, `mask_pad`: `[batch, seq]`
/// - output: `[batch, rows, d_model]`
fn attend<B: Backend>(
    mha: &MultiHeadAttention<B>,
    query: Tensor<B, 3>,
    keys: Tensor<B, 3>,
    mask_pad: Tensor<B, 2, Bool>,
) -> Tensor<B, 3> {
    if B::ad_enabled(&query.device()) {
        let input = MhaInput::new(query, keys.clone(), keys).mask_pad(mask_pad);
        return mha.forward(input).context;
    }
    let [batch, rows, d_model] = query.dims();
    let [_, seq, _] = keys.dims();
    let (heads, d_k) = (mha.n_heads, mha.d_k);
    let split = |x: Tensor<B, 3>, linear: &Linear<B>, len: usize| {
        linear
            .forward(x)
            .reshape([batch, len, heads, d_k])
            .swap_dims(1, 2) // [batch, heads, len, d_k], a view: matmul reads it strided
    };
    let q = split(query, &mha.query, rows);
    let k = split(keys.clone(), &mha.key, seq);
    let v = split(keys, &mha.value, seq);
    // The padding bias is spelled out for every head and query row (an outer product with
    // ones): Flex's element-by-element broadcast of a `[batch, 1, 1, seq]` bias cost more.
    let bias = mask_pad
        .float()
        .mul_scalar(mha.min_float)
        .unsqueeze_dim::<3>(1); // [batch, 1, seq]
    let ones = Tensor::<B, 3>::ones([batch, heads * rows, 1], &bias.device());
    let bias = ones.matmul(bias).reshape([batch, heads, rows, seq]); // [batch, heads, rows, seq]
    let scores = q.matmul(k.transpose()).div_scalar((d_k as f32).sqrt()) + bias; // [batch, heads, rows, seq]
    let context = softmax(scores, 3).matmul(v); // [batch, heads, rows, d_k]
    let weight = mha.output.weight.val(); // [d_model, d_model]
    let mut out = (0..heads)
        .map(|h| {
            let head = context
                .clone()
                .slice([0..batch, h..h + 1])
                .reshape([batch, rows, d_k]);
            head.matmul(
                weight
                    .clone()
                    .slice(h * d_k..(h + 1) * d_k)
                    .unsqueeze::<3>(),
            ) // [batch, rows, d_model]
        })
        .reduce(|a, b| a + b)
        .expect("at least one head");
    if let Some(bias) = &mha.output.bias {
        out = out + bias.val().reshape([1, 1, d_model]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::nn::transformer::TransformerEncoderInput;

    type B = NdArray;

    #[test]
    fn forward_gives_two_logits_per_row() {
        let device = Default::default();
        let model = ModelSize::Tiny.config().init::<B>(&device);
        let batch = TokenBatch::new(&[vec![1, 5, 6, 7], vec![1, 8]], &device);
        assert_eq!(model.forward(batch).dims(), [2, 2]);
    }

    #[test]
    fn inference_computes_what_training_computes() {
        // Training runs Burn's attention and GELU; inference on the CPU its own (see `attend`,
        // `feed_forward`): the same weights must give the same logits and family scores.
        use burn::backend::Autodiff;
        use burn::module::AutodiffModule;
        let device = Default::default();
        let mut config = ModelSize::Tiny.config();
        config.n_layers = 2;
        config.family = Some(FamilyConfig {
            names: vec!["a".into(), "b".into(), "c".into()],
            unknown_below: 0.5,
            unknown_on_held_out: [0.0; 2],
            hidden: 4,
            shape: true,
            group: None,
        });
        let trained = config.init::<Autodiff<B>>(&device);
        let sequences = [vec![1, 5, 6, 9], vec![1, 7, 8, 41, 10, 11, 12], vec![1, 4]];
        fn read<Any: Backend>(
            (logits, family): (Tensor<Any, 2>, Option<Tensor<Any, 2>>),
        ) -> Vec<f32> {
            let mut values: Vec<f32> = logits.into_data().to_vec().unwrap();
            values.extend(family.unwrap().into_data().to_vec::<f32>().unwrap());
            values
        }
        let training = read(trained.forward_heads(trained.batch(&sequences, &device)));
        let valid = trained.valid();
        let inference = read(valid.forward_heads(valid.batch(&sequences, &device)));
        for (a, b) in training.iter().zip(&inference) {
            assert!((a - b).abs() < 1e-5, "{training:?} vs {inference:?}");
        }
    }

    #[test]
    fn the_shape_table_adds_its_rows_to_the_family_logits() {
        let device = Default::default();
        let mut config = ModelSize::Tiny.config();
        config.family = Some(FamilyConfig {
            names: vec!["a".into(), "b".into()],
            unknown_below: 0.5,
            unknown_on_held_out: [0.0; 2],
            hidden: 0,
            shape: true,
            group: None,
        });
        // A head that reads nothing from the transformer: the logits are the table's alone.
        let mut head = LinearConfig::new(3 * config.d_model, 2).init::<B>(&device);
        head.weight = burn::module::Param::from_tensor(head.weight.val().zeros_like());
        head.bias = None;
        let rows: Vec<f32> = (0..SHAPE_BUCKETS * 2).map(|i| i as f32).collect();
        let table =
            Tensor::<B, 1>::from_floats(rows.as_slice(), &device).reshape([SHAPE_BUCKETS, 2]);
        let model = config
            .init::<B>(&device)
            .with_family(None, head, Some(table));
        let tokens = crate::Tokeniser::new(config.tokeniser.clone()).encode_text("ab9.com");
        let ids = crate::tokeniser::shape_ids(&tokens);
        let (_, family) = model.forward_heads(model.batch(&[tokens], &device));
        let family: Vec<f32> = family.unwrap().into_data().to_vec().unwrap();
        let expected = |class: usize| {
            ids.iter()
                .map(|&id| (2 * id as usize + class) as f32)
                .sum::<f32>()
        };
        assert_eq!(family, vec![expected(0), expected(1)]);
    }

    #[test]
    fn padding_does_not_change_a_sequence_score() {
        // The seed model attended to padding, so a name's score depended on its batch-mates.
        let device = Default::default();
        let model = ModelSize::Tiny.config().init::<B>(&device);
        let short = vec![1, 5, 6];
        let alone = model.forward(TokenBatch::new(std::slice::from_ref(&short), &device));
        let padded = model.forward(TokenBatch::new(&[short, vec![1; 20]], &device));
        let alone: Vec<f32> = alone.into_data().to_vec().unwrap();
        let padded: Vec<f32> = padded.slice(0..1).into_data().to_vec().unwrap();
        for (a, b) in alone.iter().zip(&padded) {
            assert!((a - b).abs() < 1e-5, "{alone:?} vs {padded:?}");
        }
    }

    #[test]
    fn mask_hides_padding_tokens_from_attention() {
        // Same row, different padding contents: with the mask, the padded ids must not matter.
        let device = Default::default();
        let model = ModelSize::Tiny.config().init::<B>(&device);
        let logits = |pad_id: i32| {
            let mut batch = TokenBatch::<B>::new(&[vec![1, 5, 6], vec![1, 7, 8, 9, 10]], &device);
            let filler = Tensor::<B, 2, Int>::full([2, 5], pad_id, &device);
            batch.tokens = batch
                .tokens
                .clone()
                .mask_where(batch.mask_pad.clone(), filler);
            model.forward(batch).into_data().to_vec::<f32>().unwrap()
        };
        let (a, b) = (logits(0), logits(17));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn class_token_shortcut_matches_the_full_encoder() {
        // The last layer runs for the class token only; it must equal Burn's full encoder's
        // class-token row, for pre-norm (shipped) and post-norm layers.
        let device = Default::default();
        for norm_first in [true, false] {
            let mut config = ModelSize::Tiny.config();
            config.n_layers = 2;
            let model = config.init::<B>(&device);
            let mut encoder = model.encoder.clone();
            for layer in &mut encoder.layers {
                layer.norm_first = norm_first;
            }
            let model = DgaModel { encoder, ..model };
            let batch =
                TokenBatch::<B>::new(&[vec![1, 5, 6, 9], vec![1, 7, 8, 9, 10, 11]], &device);
            let x = Tensor::<B, 3>::random(
                [2, 6, model.encoder.d_model],
                burn::tensor::Distribution::Default,
                &device,
            );
            let full = model
                .encoder
                .forward(TransformerEncoderInput::new(x.clone()).mask_pad(batch.mask_pad.clone()));
            let full: Vec<f32> = full.slice([0..2, 0..1]).into_data().to_vec().unwrap();
            let (last, earlier) = model.encoder.layers.split_last().unwrap();
            let mut y = x;
            for layer in earlier {
                y = layer.forward(y, Some(batch.mask_pad.clone()), None);
            }
            let short: Vec<f32> = class_token_output(last, y, batch.mask_pad)
                .into_data()
                .to_vec()
                .unwrap();
            for (a, b) in full.iter().zip(&short) {
                assert!((a - b).abs() < 1e-5, "norm_first {norm_first}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn wide_part_adds_its_bucket_weights_and_bias_to_the_dga_log_odds() {
        let device = Default::default();
        let model = ModelSize::Tiny.config().init::<B>(&device);
        let sequences = [vec![1, 5, 6, 7], vec![1, 8]];
        let log_odds = |model: &DgaModel<B>| {
            let out: Vec<f32> = model
                .forward(model.batch(&sequences, &device))
                .into_data()
                .to_vec()
                .unwrap();
            [out[1] - out[0], out[3] - out[2]]
        };
        let before = log_odds(&model);
        // Every bucket weighs 0.25 (bucket 0, padding, is forced to 0), bias 1.
        let after = log_odds(&model.with_wide(vec![0.25; WIDE_BUCKETS], 1.0));
        for (i, tokens) in sequences.iter().enumerate() {
            let grams = (0..=tokens.len())
                .flat_map(|j| crate::tokeniser::wide_ids(tokens, j))
                .filter(|&id| id != 0)
                .count();
            let expected = before[i] + 1.0 + 0.25 * grams as f32;
            assert!(
                (after[i] - expected).abs() < 1e-4,
                "{after:?} vs {expected}"
            );
        }
    }

    #[test]
    fn named_sizes_have_the_documented_shapes() {
        let seed = ModelSize::Seed.config();
        assert_eq!(
            (
                seed.n_layers,
                seed.d_model,
                seed.n_heads,
                seed.d_ff,
                seed.tokeniser.max_len
            ),
            (4, 256, 8, 1024, 64)
        );
        let device = Default::default();
        let params = seed.init::<B>(&device).parameter_count();
        assert!((3_000_000..3_400_000).contains(&params), "{params}");
    }
}
