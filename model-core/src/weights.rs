//! The weights file: one self-describing blob holding the model config and half-precision
//! parameters, checked before Burn decodes it so a damaged download fails with a message.
//!
//! Layout (little-endian): `DGAW` magic, format version `u32`, config length `u32`, config JSON,
//! CRC-32 of everything after it `u32`, then Burn's named MessagePack record.

use burn::module::Module;
use burn::prelude::*;
use burn::record::{HalfPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use thiserror::Error;

use crate::model::{DgaModel, ModelConfig};

const MAGIC: &[u8; 4] = b"DGAW";
/// Version 2 added [`ModelConfig::wide`]; version 1 files read as having no wide part.
/// Version 3 added the family head ([`ModelConfig::family`] and its parameters); older files
/// read as having none. Version 4 added the family head's shape table
/// ([`crate::FamilyConfig::shape`]): a build that reads only version 3 would ignore it and name
/// families wrongly, so it refuses such files instead.
const FORMAT_VERSION: u32 = 4;

/// Why a weights blob cannot be loaded.
#[derive(Debug, Error)]
pub enum WeightsError {
    #[error("not a weights file (it does not start with `DGAW`)")]
    NotWeights,
    #[error(
        "weights format version {0} is not supported (this build reads versions 1 to {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u32),
    #[error("weights file is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("weights file is corrupt: checksum mismatch")]
    Checksum,
    #[error("model config in the weights file is invalid: {0}")]
    Config(String),
    #[error("parameters in the weights file do not match the config: {0}")]
    Record(String),
}

/// Serialises the config and half-precision parameters into one blob.
pub fn encode_weights<B: Backend>(config: &ModelConfig, model: DgaModel<B>) -> Vec<u8> {
    let record = NamedMpkBytesRecorder::<HalfPrecisionSettings>::default()
        .record(model.into_record(), ())
        .expect("a record always serialises");
    frame(config, &record)
}

/// The blob around a config and an encoded record.
fn frame(config: &ModelConfig, record: &[u8]) -> Vec<u8> {
    let config_json = serde_json::to_vec(config).expect("a config always serialises");
    let mut out = Vec::with_capacity(record.len() + config_json.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(config_json.len() as u32).to_le_bytes());
    out.extend_from_slice(&config_json);
    out.extend_from_slice(&crc32fast::hash(record).to_le_bytes());
    out.extend_from_slice(record);
    out
}

/// The same blob with another config (the anomaly model, say), its parameters kept byte for
/// byte; the config must still describe those parameters.
pub fn replace_config(bytes: &[u8], config: &ModelConfig) -> Result<Vec<u8>, WeightsError> {
    let (old, record) = split(bytes)?;
    validate(config)?;
    let mut check = config.clone();
    check.anomaly.clone_from(&old.anomaly);
    check.words.clone_from(&old.words);
    check.decision_shift = old.decision_shift;
    if check != old {
        return Err(WeightsError::Config(
            "only the anomaly model, the word part and the decision shift may change without new parameters"
                .into(),
        ));
    }
    Ok(frame(config, record))
}

/// Reads only the config, e.g. to show the model card before parameters are decoded.
pub fn decode_config(bytes: &[u8]) -> Result<ModelConfig, WeightsError> {
    split(bytes).map(|(config, _)| config)
}

/// Rebuilds the model from a blob made by [`encode_weights`].
pub fn decode_weights<B: Backend>(
    bytes: &[u8],
    device: &B::Device,
) -> Result<(ModelConfig, DgaModel<B>), WeightsError> {
    let (config, record) = split(bytes)?;
    let record = NamedMpkBytesRecorder::<HalfPrecisionSettings>::default()
        .load(record.to_vec(), device)
        .map_err(|e| WeightsError::Record(e.to_string()))?;
    let model = config.init::<B>(device).load_record(record);
    Ok((config, model))
}

fn split(bytes: &[u8]) -> Result<(ModelConfig, &[u8]), WeightsError> {
    let word = |at: usize| -> Result<u32, WeightsError> {
        let slice = bytes
            .get(at..at + 4)
            .ok_or(WeightsError::Truncated(bytes.len()))?;
        Ok(u32::from_le_bytes(slice.try_into().expect("four bytes")))
    };
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err(WeightsError::NotWeights);
    }
    let version = word(4)?;
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(WeightsError::UnsupportedVersion(version));
    }
    let config_len = word(8)? as usize;
    let config_end = 12usize
        .checked_add(config_len)
        .ok_or(WeightsError::Truncated(bytes.len()))?;
    let config_bytes = bytes
        .get(12..config_end)
        .ok_or(WeightsError::Truncated(bytes.len()))?;
    let checksum = word(config_end)?;
    let record = &bytes[config_end + 4..];
    if crc32fast::hash(record) != checksum {
        return Err(WeightsError::Checksum);
    }
    let invalid = |e: serde_json::Error| WeightsError::Config(e.to_string());
    let mut config: serde_json::Value = serde_json::from_slice(config_bytes).map_err(invalid)?;
    if let Some(fields) = config.as_object_mut() {
        if version == 1 {
            fields.insert("wide".into(), false.into());
        }
        // Files from before the anomaly model read as having none.
        fields.entry("anomaly").or_insert(serde_json::Value::Null);
        fields.entry("family").or_insert(serde_json::Value::Null);
        fields.entry("words").or_insert(serde_json::Value::Null);
        fields.entry("decision_shift").or_insert(0.0.into());
    }
    let config: ModelConfig = serde_json::from_value(config).map_err(invalid)?;
    validate(&config)?;
    Ok((config, record))
}

/// Rejects configs that would make `init` panic or allocate absurdly.
fn validate(config: &ModelConfig) -> Result<(), WeightsError> {
    let fail = |why: &str| Err(WeightsError::Config(why.to_owned()));
    if config.n_heads == 0 || config.d_model == 0 || !config.d_model.is_multiple_of(config.n_heads)
    {
        return fail("d_model must be a positive multiple of n_heads");
    }
    if !(2..=512).contains(&config.tokeniser.max_len)
        || config.d_model > 4096
        || config.n_layers > 64
    {
        return fail("sizes out of range");
    }
    if let Some(family) = &config.family
        && (family.names.is_empty()
            || family.names.len() > 100_000
            || !(0.0..=1.0).contains(&family.unknown_below))
    {
        return fail("family head: 1 to 100,000 names and a threshold between 0 and 1");
    }
    if let Some(group) = config.family.as_ref().and_then(|f| f.group.as_ref()) {
        group.check().or_else(fail)?;
    }
    if let Some(words) = &config.words
        && (words.weights.len() != crate::words::WORD_BUCKETS
            || words.weights.iter().any(|w| !w.is_finite()))
    {
        return fail("word part: one finite weight per word-feature bucket");
    }
    if !config.decision_shift.is_finite() || config.decision_shift.abs() > 50.0 {
        return fail("the decision shift must be a number of log-odds between -50 and 50");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSize;
    use burn::backend::NdArray;

    type B = NdArray;

    fn logits(model: &DgaModel<B>) -> Vec<f32> {
        let device = Default::default();
        let batch = model.batch(&[vec![1, 5, 6, 7], vec![1, 9, 30]], &device);
        model.forward(batch).into_data().to_vec().unwrap()
    }

    #[test]
    fn round_trip_gives_identical_outputs() {
        let device = Default::default();
        let config = ModelSize::Tiny.config();
        let model = config.init::<B>(&device);
        let bytes = encode_weights(&config, model);
        let (config_back, model_back) = decode_weights::<B>(&bytes, &device).unwrap();
        assert_eq!(config_back, config);
        // Saving is lossy once (to f16); after that a round trip must not change a single output.
        let again = encode_weights(&config_back, model_back.clone());
        let (_, model_again) = decode_weights::<B>(&again, &device).unwrap();
        assert_eq!(logits(&model_back), logits(&model_again));
        assert_eq!(again, bytes);
    }

    #[test]
    fn wide_part_survives_a_round_trip_and_version_1_files_still_load() {
        let device = Default::default();
        let mut config = ModelSize::Tiny.config();
        let plain = config.init::<B>(&device);
        let (old_config, old) =
            decode_weights::<B>(&version_1(&config, plain.clone()), &device).unwrap();
        assert!(!old_config.wide);
        config.wide = true;
        let weights: Vec<f32> = (0..crate::tokeniser::WIDE_BUCKETS)
            .map(|i| (i % 7) as f32 / 8.0)
            .collect();
        let model = plain.with_wide(weights, 0.5);
        let bytes = encode_weights(&config, model.clone());
        let (back_config, back) = decode_weights::<B>(&bytes, &device).unwrap();
        assert!(back_config.wide);
        // Same f16 transformer as the version 1 blob; the wide part moved the log-odds.
        assert_ne!(logits(&back), logits(&old));
        let again = encode_weights(&back_config, back.clone());
        assert_eq!(again, bytes);
        let (_, back_again) = decode_weights::<B>(&again, &device).unwrap();
        assert_eq!(logits(&back), logits(&back_again));
    }

    #[test]
    fn anomaly_model_and_decision_shift_change_without_touching_parameters() {
        use crate::explain::AnomalyModel;
        let device = Default::default();
        let config = ModelSize::Tiny.config();
        let bytes = encode_weights(&config, config.init::<B>(&device));
        let anomaly = AnomalyModel::fit(["example"], ["examples"]);
        let with = config
            .clone()
            .with_anomaly(Some(anomaly.clone()))
            .with_decision_shift(2.5);
        let added = replace_config(&bytes, &with).unwrap();
        let (back_config, back) = decode_weights::<B>(&added, &device).unwrap();
        assert_eq!(back_config.anomaly, Some(anomaly));
        assert_eq!(back_config.decision_shift, 2.5);
        let (_, plain) = decode_weights::<B>(&bytes, &device).unwrap();
        assert_eq!(logits(&back), logits(&plain));
        // A shift no calibration would choose is refused when written and when read.
        let broken = with.clone().with_decision_shift(1_000.0);
        assert!(matches!(
            replace_config(&bytes, &broken),
            Err(WeightsError::Config(_))
        ));
        assert!(matches!(
            decode_config(&frame(&broken, &[])),
            Err(WeightsError::Config(_))
        ));
        // The word part travels in the config too, and a damaged table is refused.
        let lexicon = crate::words::Lexicon::new(&["weather", "repeat"], Vec::new(), []);
        let words = crate::words::WordPart {
            lexicon,
            weights: vec![0.25; crate::words::WORD_BUCKETS],
        };
        let worded = with.clone().with_words(Some(words.clone()));
        let (back_config, _) =
            decode_weights::<B>(&replace_config(&bytes, &worded).unwrap(), &device).unwrap();
        assert_eq!(back_config.words, Some(words.clone()));
        let damaged = worded.clone().with_words(Some(crate::words::WordPart {
            weights: vec![f32::NAN; crate::words::WORD_BUCKETS],
            ..words
        }));
        assert!(matches!(
            replace_config(&bytes, &damaged),
            Err(WeightsError::Config(_))
        ));
        // Anything else needs new parameters.
        let bigger = with.with_n_layers(2);
        assert!(matches!(
            replace_config(&bytes, &bigger),
            Err(WeightsError::Config(_))
        ));
    }

    #[test]
    fn family_names_round_trip_and_benign_verdicts_name_no_family() {
        use crate::detector::{Detector, UNKNOWN_FAMILY};
        use crate::model::FamilyConfig;
        use crate::tokeniser::WIDE_BUCKETS;
        use burn::nn::LinearConfig;
        let device = Default::default();
        let names: Vec<String> = ["banjori", "conficker", "matsnu", "ramdo"]
            .map(String::from)
            .into();
        // The n-gram part's bias moves every name's log-odds, so `bias` decides the verdict.
        let detector = |bias: f32, unknown_below: f32| {
            let config = ModelSize::Tiny
                .config()
                .with_wide(true)
                .with_family(Some(FamilyConfig {
                    names: names.clone(),
                    unknown_below,
                    unknown_on_held_out: [0.9, 0.8],
                    hidden: 0,
                    shape: true,
                    group: None,
                }));
            let head = LinearConfig::new(3 * config.d_model, names.len()).init::<B>(&device);
            let table = Tensor::zeros([crate::tokeniser::SHAPE_BUCKETS, names.len()], &device);
            let model = config
                .init::<B>(&device)
                .with_family(None, head, Some(table));
            let model = model.with_wide(vec![0.0; WIDE_BUCKETS], bias);
            let (back, model) =
                decode_weights::<B>(&encode_weights(&config, model), &device).unwrap();
            assert_eq!(back.family.as_ref().unwrap().names, names);
            Detector::new(back, model, device)
        };
        let scored = |d: &Detector<B>| d.score(&["xjkd8f2h.com"])[0].result.clone().unwrap();

        let dga = scored(&detector(20.0, 0.0));
        assert!(dga.p_dga > 0.99);
        let family = dga.family.expect("a DGA verdict names a family");
        assert_eq!(family.name, family.top[0].0);
        assert_eq!(family.p, family.top[0].1);
        assert_eq!(family.top.len(), 3);
        assert!(family.top.iter().all(|(n, _)| names.contains(n)));
        assert!(family.top.windows(2).all(|w| w[0].1 >= w[1].1));

        // Not confident enough: the head says so rather than forcing the nearest family.
        let unsure = scored(&detector(20.0, 1.0)).family.unwrap();
        assert_eq!(unsure.name, UNKNOWN_FAMILY);

        let benign = scored(&detector(-20.0, 0.0));
        assert!(benign.p_dga < 0.01);
        assert_eq!(benign.family, None);
        // So is an allowed name, whatever its score.
        let mut allowed = detector(20.0, 0.0);
        allowed.allow = crate::allow::AllowList::parse("xjkd8f2h.com").0;
        assert_eq!(scored(&allowed).family, None);
    }

    /// The blob a version 1 writer made: no `wide` field in the config.
    fn version_1(config: &ModelConfig, model: DgaModel<B>) -> Vec<u8> {
        let bytes = encode_weights(config, model);
        let config_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let mut json: serde_json::Value =
            serde_json::from_slice(&bytes[12..12 + config_len]).unwrap();
        json.as_object_mut().unwrap().remove("wide");
        json.as_object_mut().unwrap().remove("anomaly");
        json.as_object_mut().unwrap().remove("decision_shift");
        let json = serde_json::to_vec(&json).unwrap();
        let mut out = b"DGAW".to_vec();
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&bytes[12 + config_len..]);
        out
    }

    #[test]
    fn damaged_blobs_are_rejected_with_a_reason() {
        let device = Default::default();
        let config = ModelSize::Tiny.config();
        let bytes = encode_weights(&config, config.init::<B>(&device));
        let err = |b: &[u8]| {
            decode_weights::<B>(b, &device)
                .err()
                .map(|e| format!("{e:?}"))
                .unwrap()
        };
        assert!(err(b"").starts_with("NotWeights"));
        assert!(err(b"<html>404</html>").starts_with("NotWeights"));
        assert!(err(&bytes[..10]).starts_with("Truncated"));
        assert!(err(&bytes[..bytes.len() - 100]).starts_with("Checksum"));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 0xff;
        assert!(err(&flipped).starts_with("Checksum"));
        let mut future = bytes.clone();
        future[4] = 9;
        assert!(err(&future).starts_with("UnsupportedVersion"));
    }
}
