//! Why a name scored as it did: the hand-made features analysts know (length, entropy, vowel and
//! digit ratios, consonant runs, how rare the name's trigrams are among benign names) and, for
//! the model itself, how much each character moves `p_dga`.

use serde::{Deserialize, Serialize};

use crate::tokeniser::{ALPHABET, CLS, TRIGRAM_BUCKETS, Tokeniser, trigram_id};

/// Hashed trigram counts over benign training names (same buckets as the model's trigram
/// embedding), so the page can say how unusual a name's letter triples are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenignTrigrams {
    pub counts: Vec<u32>,
    pub total: u64,
}

impl BenignTrigrams {
    /// Counts the trigrams of token sequences (each the model's view of a benign domain).
    pub fn count<'a>(sequences: impl IntoIterator<Item = &'a [u32]>) -> Self {
        let mut counts = vec![0u32; TRIGRAM_BUCKETS];
        let mut total = 0;
        for tokens in sequences {
            for j in 2..tokens.len() {
                counts[trigram_id(tokens, j) as usize] += 1;
                total += 1;
            }
        }
        Self { counts, total }
    }

    /// Mean surprisal of the name's trigrams among benign names, in bits (add-one smoothed):
    /// about 8 for everyday words, 12 and up for random strings.
    pub fn rarity_bits(&self, tokens: &[u32]) -> Option<f32> {
        if tokens.len() < 3 || self.counts.len() != TRIGRAM_BUCKETS {
            return None;
        }
        let denominator = (self.total + TRIGRAM_BUCKETS as u64) as f64;
        let bits: f64 = (2..tokens.len())
            .map(|j| {
                let count = self.counts[trigram_id(tokens, j) as usize] as f64 + 1.0;
                -(count / denominator).log2()
            })
            .sum();
        Some((bits / (tokens.len() - 2) as f64) as f32)
    }
}

/// The benign-only anomaly score (what an anomaly detector trained on benign traffic reports): a
/// character trigram language model of benign registrable labels, scoring a label by its mean
/// surprisal per character, with the line that 1% of benign validation labels cross. It never
/// saw a DGA name, so it flags what is unlike benign names rather than what is like known
/// families.
///
/// Smoothing is Witten-Bell (each context backs off in proportion to how many different
/// characters followed it), written by hand: the table is 64,000 bytes and a language-model
/// crate would bring more than it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyModel {
    /// Surprisal of each symbol given the two before it, in whole bits, indexed
    /// `(a * SYMBOLS + b) * SYMBOLS + c` over the boundary (0) and [`ALPHABET`] (1..).
    #[serde(with = "one_digit_each")]
    pub surprisal: Vec<u8>,
    /// Mean surprisal (bits per character) above which a label is anomalous: the 99th
    /// percentile of benign validation labels, so 1% of benign names cross it (`f32::MAX` when
    /// fitted without any).
    pub threshold_bits: f32,
    /// How much the score feeds `p_dga`: the log-odds move by `weight * (bits - threshold_bits)`
    /// (0: reported beside `p_dga` only). Chosen on the leave-out benchmark, where names the
    /// supervised model never saw are what it must rank.
    #[serde(default)]
    pub weight: f32,
}

/// A table of small numbers in the weights' JSON: one base64 digit per number (`A` 0, `B` 1,
/// ..., `/` 63) where every number is under 64, else a list of numbers, as files from before it
/// hold. The shipped table's numbers are under 48, and as digits it gzips to 29 KB instead of
/// 34 KB as a list: bytes of the page's first download.
mod one_digit_each {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serialize, Serializer};

    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn serialize<S: Serializer>(table: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if table.iter().all(|&n| usize::from(n) < DIGITS.len()) {
            let digits: String = table
                .iter()
                .map(|&n| DIGITS[usize::from(n)] as char)
                .collect();
            s.serialize_str(&digits)
        } else {
            table.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Table;
        impl<'de> Visitor<'de> for Table {
            type Value = Vec<u8>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("base64 digits or a list of numbers from 0 to 255")
            }

            fn visit_str<E: Error>(self, digits: &str) -> Result<Vec<u8>, E> {
                (digits.bytes())
                    .map(|c| match DIGITS.iter().position(|&d| d == c) {
                        Some(n) => Ok(n as u8),
                        None => Err(E::custom(format!("`{}` is no base64 digit", c as char))),
                    })
                    .collect()
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut list: A) -> Result<Vec<u8>, A::Error> {
                let mut table = Vec::new();
                while let Some(n) = list.next_element()? {
                    table.push(n);
                }
                Ok(table)
            }
        }
        d.deserialize_any(Table)
    }
}

/// The boundary symbol and the characters of [`ALPHABET`].
const SYMBOLS: usize = 1 + ALPHABET.len();
/// Surprisal is stored in whole bits, at most 255: quarter and half bits scored the same on
/// the leave-out benchmark and cost the page 26 and 11 KiB more gzip.
const STEPS_PER_BIT: f32 = 1.0;

impl AnomalyModel {
    /// Fits on benign training labels and sets the line on benign validation labels.
    pub fn fit<'a>(
        train_benign: impl IntoIterator<Item = &'a str>,
        val_benign: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut tri = vec![0u32; SYMBOLS * SYMBOLS * SYMBOLS];
        for label in train_benign {
            for i in trigram_indices(label) {
                tri[i] += 1;
            }
        }
        let mut bi = vec![0u64; SYMBOLS * SYMBOLS];
        let mut uni = vec![0u64; SYMBOLS];
        for (i, &n) in tri.iter().enumerate() {
            bi[i % (SYMBOLS * SYMBOLS)] += u64::from(n);
            uni[i % SYMBOLS] += u64::from(n);
        }
        let total: u64 = uni.iter().sum();
        let p_uni: Vec<f64> = uni
            .iter()
            .map(|&n| (n as f64 + 1.0) / (total + SYMBOLS as u64) as f64)
            .collect();
        // P(c | b), Witten-Bell over the unigram.
        let mut p_bi = vec![0.0f64; SYMBOLS * SYMBOLS];
        for b in 0..SYMBOLS {
            let row = &bi[b * SYMBOLS..(b + 1) * SYMBOLS];
            let (n, types) = (
                row.iter().sum::<u64>() as f64,
                row.iter().filter(|&&k| k > 0).count() as f64,
            );
            for c in 0..SYMBOLS {
                p_bi[b * SYMBOLS + c] = if n == 0.0 {
                    p_uni[c]
                } else {
                    (row[c] as f64 + types * p_uni[c]) / (n + types)
                };
            }
        }
        let mut surprisal = vec![0u8; tri.len()];
        for ab in 0..SYMBOLS * SYMBOLS {
            let row = &tri[ab * SYMBOLS..(ab + 1) * SYMBOLS];
            let n = row.iter().map(|&k| f64::from(k)).sum::<f64>();
            let types = row.iter().filter(|&&k| k > 0).count() as f64;
            let b = ab % SYMBOLS;
            for c in 0..SYMBOLS {
                let backoff = p_bi[b * SYMBOLS + c];
                let p = if n == 0.0 {
                    backoff
                } else {
                    (f64::from(row[c]) + types * backoff) / (n + types)
                };
                let steps = (-p.log2() * f64::from(STEPS_PER_BIT)).round();
                surprisal[ab * SYMBOLS + c] = steps.clamp(0.0, 255.0) as u8;
            }
        }
        let mut model = Self {
            surprisal,
            threshold_bits: f32::MAX,
            weight: 0.0,
        };
        let mut bits: Vec<f32> = val_benign
            .into_iter()
            .filter_map(|label| model.bits(label))
            .collect();
        bits.sort_by(f32::total_cmp);
        if let Some(&line) = bits.get(bits.len() * 99 / 100) {
            model.threshold_bits = line;
        }
        model
    }

    /// Mean surprisal per character of a registrable label, end included; `None` for an empty
    /// label or a table of the wrong size (a damaged file).
    fn bits(&self, label: &str) -> Option<f32> {
        if label.is_empty() || self.surprisal.len() != SYMBOLS * SYMBOLS * SYMBOLS {
            return None;
        }
        let (steps, n) = trigram_indices(label).fold((0u32, 0u32), |(steps, n), i| {
            (steps + u32::from(self.surprisal[i]), n + 1)
        });
        Some(steps as f32 / STEPS_PER_BIT / n as f32)
    }

    /// The anomaly of a registrable label (`example` of `mail.example.co.uk`).
    pub fn score(&self, label: &str) -> Option<Anomaly> {
        self.bits(label).map(|bits| Anomaly {
            bits,
            unusual: bits > self.threshold_bits,
        })
    }

    /// How much a label's anomaly moves its DGA log-odds (see [`AnomalyModel::weight`]).
    pub fn shift_of(&self, anomaly: Anomaly) -> f32 {
        self.weight * (anomaly.bits - self.threshold_bits)
    }
}

/// Table indices of a label's trigrams, the label framed by two boundaries before and one
/// after (no allocation: this runs for every name scored); characters outside the alphabet
/// (none after normalisation) count as the boundary.
fn trigram_indices(label: &str) -> impl Iterator<Item = usize> + '_ {
    let symbol = |b: u8| ALPHABET.bytes().position(|a| a == b).map_or(0, |i| i + 1);
    label
        .bytes()
        .map(symbol)
        .chain(std::iter::once(0))
        .scan((0, 0), |(a, b), c| {
            let index = (*a * SYMBOLS + *b) * SYMBOLS + c;
            (*a, *b) = (*b, c);
            Some(index)
        })
}

/// A name's anomaly score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Mean surprisal per character under the benign language model, bits.
    pub bits: f32,
    /// Above the line only 1% of benign names cross.
    pub unusual: bool,
}

/// The features a SOC analyst reads off a name, computed on its registrable label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameFeatures {
    pub length: usize,
    /// Shannon entropy of the characters, bits per character.
    pub entropy: f32,
    pub vowel_ratio: f32,
    pub digit_ratio: f32,
    pub longest_consonant_run: usize,
    /// See [`BenignTrigrams::rarity_bits`]; `None` without benign counts or for names under 2 characters.
    pub trigram_rarity_bits: Option<f32>,
}

/// Features of a registrable label (`example` of `mail.example.co.uk`).
pub fn features(
    label: &str,
    tokeniser: &Tokeniser,
    benign: Option<&BenignTrigrams>,
) -> NameFeatures {
    let chars: Vec<char> = label.chars().collect();
    let n = chars.len().max(1) as f32;
    let mut frequency = std::collections::HashMap::new();
    for c in &chars {
        *frequency.entry(*c).or_insert(0usize) += 1;
    }
    let entropy = frequency
        .values()
        .map(|&k| k as f32 / n)
        .map(|p| -p * p.log2())
        .sum();
    let is_vowel = |c: &char| "aeiou".contains(*c);
    let is_consonant = |c: &char| c.is_ascii_lowercase() && !is_vowel(c);
    let longest_consonant_run = chars
        .split(|c| !is_consonant(c))
        .map(<[char]>::len)
        .max()
        .unwrap_or(0);
    NameFeatures {
        length: chars.len(),
        entropy,
        vowel_ratio: chars.iter().filter(|c| is_vowel(c)).count() as f32 / n,
        digit_ratio: chars.iter().filter(|c| c.is_ascii_digit()).count() as f32 / n,
        longest_consonant_run,
        trigram_rarity_bits: benign.and_then(|b| b.rarity_bits(&tokeniser.encode_text(label))),
    }
}

/// The name's token sequence followed by one copy per character with that character deleted:
/// scoring them in one batch tells how much each character moves the verdict. Deleting keeps
/// every copy a plausible name, where masking would show the model a token it never trained on.
pub fn deletion_variants(tokens: &[u32]) -> Vec<Vec<u32>> {
    debug_assert_eq!(tokens.first(), Some(&CLS));
    let mut variants = vec![tokens.to_vec()];
    for skip in 1..tokens.len() {
        let mut variant = tokens.to_vec();
        variant.remove(skip);
        variants.push(variant);
    }
    variants
}

/// Per-character influence on `p_dga` from the log-odds of [`deletion_variants`]: how much
/// higher `p_dga` is with the character than without it (negative: it makes the name look benign).
pub fn influence(variant_logits: &[f32]) -> Vec<f32> {
    let Some((&full, deleted)) = variant_logits.split_first() else {
        return Vec::new();
    };
    let p = crate::detector::sigmoid(full);
    deleted
        .iter()
        .map(|&l| p - crate::detector::sigmoid(l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokeniser::TokeniserConfig;

    fn tokeniser() -> Tokeniser {
        Tokeniser::new(TokeniserConfig::new())
    }

    #[test]
    fn the_table_travels_as_digits_and_older_lists_still_load() {
        let model = |surprisal: Vec<u8>| AnomalyModel {
            surprisal,
            threshold_bits: 4.5,
            weight: 1.0,
        };
        let small = model(vec![0, 1, 25, 26, 61, 62, 63]);
        let json = serde_json::to_string(&small).unwrap();
        assert!(json.contains(r#""surprisal":"ABZa9+/""#), "{json}");
        assert_eq!(serde_json::from_str::<AnomalyModel>(&json).unwrap(), small);
        // A number of 64 or more has no digit: the table stays a list.
        let large = model(vec![3, 64, 255]);
        let json = serde_json::to_string(&large).unwrap();
        assert!(json.contains(r#""surprisal":[3,64,255]"#), "{json}");
        assert_eq!(serde_json::from_str::<AnomalyModel>(&json).unwrap(), large);
        let older = r#"{"surprisal":[0,1,63],"threshold_bits":4.5,"weight":1.0}"#;
        assert_eq!(
            serde_json::from_str::<AnomalyModel>(older).unwrap(),
            model(vec![0, 1, 63])
        );
        let broken = r#"{"surprisal":"AB!","threshold_bits":4.5}"#;
        let error = serde_json::from_str::<AnomalyModel>(broken).unwrap_err();
        assert!(
            error.to_string().contains("`!` is no base64 digit"),
            "{error}"
        );
    }

    #[test]
    fn features_of_known_names() {
        let f = features("xjkd8f2h", &tokeniser(), None);
        assert_eq!(f.length, 8);
        assert_eq!(f.entropy, 3.0); // eight different characters
        assert_eq!(f.vowel_ratio, 0.0);
        assert_eq!(f.digit_ratio, 0.25);
        assert_eq!(f.longest_consonant_run, 4);
        assert_eq!(f.trigram_rarity_bits, None);
        let g = features("google", &tokeniser(), None);
        assert_eq!((g.vowel_ratio, g.longest_consonant_run), (0.5, 2));
    }

    #[test]
    fn trigrams_seen_in_benign_names_are_less_rare() {
        let t = tokeniser();
        let names: Vec<Vec<u32>> = ["google", "goodle", "poodle", "doodle"]
            .map(|n| t.encode_text(n))
            .into();
        let benign = BenignTrigrams::count(names.iter().map(Vec::as_slice));
        let common = benign.rarity_bits(&t.encode_text("oodle")).unwrap();
        let rare = benign.rarity_bits(&t.encode_text("xqzvk")).unwrap();
        assert!(common < rare, "{common} !< {rare}");
        assert_eq!(benign.rarity_bits(&t.encode_text("x")), None);
    }

    #[test]
    fn anomaly_line_passes_99_percent_of_benign_validation_names() {
        let train = ["google", "goodle", "poodle", "doodle", "noodle", "toodle"];
        let val: Vec<&str> = (0..100)
            .map(|i| if i == 99 { "qxzvkj" } else { "oodle" })
            .collect();
        let model = AnomalyModel::fit(train, val);
        let common = model.score("oodle").unwrap();
        let rare = model.score("qxzvkj").unwrap();
        assert!(common.bits + 5.0 < rare.bits, "{common:?} {rare:?}");
        assert!(common.bits <= model.threshold_bits && model.threshold_bits <= rare.bits);
        assert!(!common.unusual);
        assert_eq!(model.score(""), None);
    }

    #[test]
    fn one_variant_per_character_each_missing_it() {
        let tokens = tokeniser().encode_text("abc");
        let variants = deletion_variants(&tokens);
        assert_eq!(variants.len(), 4);
        assert_eq!(variants[0], tokens);
        assert_eq!(variants[2], vec![CLS, tokens[1], tokens[3]]);
        let logits = [0.0, 0.0, 10.0, -10.0];
        let moved = influence(&logits);
        assert_eq!(moved.len(), 3);
        assert_eq!(moved[0], 0.0);
        assert!(moved[1] < -0.49 && moved[2] > 0.49);
    }
}
