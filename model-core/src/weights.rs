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
const FORMAT_VERSION: u32 = 2;

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
    let mut check = config.clone();
    check.anomaly.clone_from(&old.anomaly);
    if check != old {
        return Err(WeightsError::Config(
            "only the anomaly model may change without new parameters".into(),
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
    fn anomaly_model_is_added_without_touching_parameters() {
        use crate::explain::AnomalyModel;
        let device = Default::default();
        let config = ModelSize::Tiny.config();
        let bytes = encode_weights(&config, config.init::<B>(&device));
        let anomaly = AnomalyModel::fit(["example"], ["examples"]);
        let with = config.clone().with_anomaly(Some(anomaly.clone()));
        let added = replace_config(&bytes, &with).unwrap();
        let (back_config, back) = decode_weights::<B>(&added, &device).unwrap();
        assert_eq!(back_config.anomaly, Some(anomaly));
        let (_, plain) = decode_weights::<B>(&bytes, &device).unwrap();
        assert_eq!(logits(&back), logits(&plain));
        // Anything but the anomaly model needs new parameters.
        let bigger = with.with_n_layers(2);
        assert!(matches!(
            replace_config(&bytes, &bigger),
            Err(WeightsError::Config(_))
        ));
    }

    /// The blob a version 1 writer made: no `wide` field in the config.
    fn version_1(config: &ModelConfig, model: DgaModel<B>) -> Vec<u8> {
        let bytes = encode_weights(config, model);
        let config_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let mut json: serde_json::Value =
            serde_json::from_slice(&bytes[12..12 + config_len]).unwrap();
        json.as_object_mut().unwrap().remove("wide");
        json.as_object_mut().unwrap().remove("anomaly");
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
