//! Why a name scored as it did: the hand-made features analysts know (length, entropy, vowel and
//! digit ratios, consonant runs, how rare the name's trigrams are among benign names) and, for
//! the model itself, how much each character moves `p_dga`.

use serde::{Deserialize, Serialize};

use crate::tokeniser::{CLS, TRIGRAM_BUCKETS, Tokeniser, trigram_id};

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
