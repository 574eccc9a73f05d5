//! Words in a name: the registrable label split into dictionary words (Viterbi over word costs),
//! and what that split says, as hashed categorical features for the n-gram part's regression.
//!
//! Word-list generators glue random words from a fixed list (`weatherrepeat`); people glue words
//! that belong together (`homedepot`, `thoughtsofanidlemind`) or use brand tokens. Characters
//! alone do not tell these apart: both are made of English. What does is how much of the name
//! the words cover, how common they are, in which language, and whether adjacent words are
//! ones that occur together (the English word-pair counts). Each feature is a conjunction of
//! coarse buckets, so a linear model can weigh "all words, no known pair" differently from
//! "all words, one known pair".
//!
//! The dictionaries travel in the weights file ([`Lexicon`]), pruned to what fits the page:
//! English words most frequent first (a word's cost follows from its rank, Zipf's law), the
//! most frequent words of other languages, and the English word pairs among them.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// Buckets of the hashed word features; the n-gram part's regression holds one weight each.
pub const WORD_BUCKETS: usize = 1 << 12;
/// Longest word looked up: longer runs are split into shorter words or left uncovered.
const MAX_WORD: usize = 18;
/// Cost of a character no word covers, in the units of [`Lexicon::cost`] (-log10 of a word's
/// probability): a little above a mid-frequency word's, so a covering word always wins and
/// unknown runs stay unknown.
const UNKNOWN_CHAR: f32 = 4.5;
/// Two-letter words are mostly abbreviations that cover random strings (`xq` no, `cd` yes), so
/// only the most frequent ones count as words.
const TWO_LETTER_RANK: usize = 150;
/// Words of other languages cost this much more than English words of the same rank, so a
/// name English covers reads as English.
const OTHER_LANGUAGE_COST: f32 = 0.5;

/// The dictionaries the word features read: serialised compactly, indexed on first use.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Lexicon {
    /// English words, most frequent first, one per line.
    pub english: String,
    /// Other languages: code and words, most frequent first, one per line.
    pub other: Vec<(String, String)>,
    /// English word pairs that occur together, as `(first, second)` ranks in `english`, sorted,
    /// delta-coded as LEB128 varints and base64: a fifth of the size of a JSON list once gzipped.
    pub pairs: String,
    #[serde(skip)]
    index: OnceLock<Index>,
}

/// The n-gram part's word half: the lexicon and one log-odds weight per hashed word feature,
/// added to the network's log-odds on the host (like the anomaly shift), so the page and every
/// other consumer of the weights file score words the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordPart {
    pub lexicon: Lexicon,
    /// `WORD_BUCKETS` weights in DGA log-odds.
    pub weights: Vec<f32>,
}

impl WordPart {
    /// What the words of a registrable label add to its DGA log-odds (0 for a table of the
    /// wrong size: a damaged file).
    pub fn log_odds(&self, label: &str) -> f32 {
        if self.weights.len() != WORD_BUCKETS {
            return 0.0;
        }
        let features = self.lexicon.features(label);
        features.iter().map(|&b| self.weights[b as usize]).sum()
    }
}

impl PartialEq for Lexicon {
    fn eq(&self, other: &Self) -> bool {
        (&self.english, &self.other, &self.pairs) == (&other.english, &other.other, &other.pairs)
    }
}

#[derive(Debug, Clone, Default)]
struct Index {
    words: HashMap<Box<str>, Word, rustc_hash::FxBuildHasher>,
    pairs: std::collections::HashSet<(u32, u32), rustc_hash::FxBuildHasher>,
}

#[derive(Debug, Clone, Copy)]
struct Word {
    cost: f32,
    /// Rank among English words, `u32::MAX` for a word English lacks.
    english_rank: u32,
}

/// One word of a label's split.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub start: usize,
    pub end: usize,
    pub english: bool,
    pub rank: u32,
    pub cost: f32,
}

/// A label's split into words, and the summary the features bucket.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Split {
    /// Words of at least three letters, in order.
    pub words: Vec<Piece>,
    pub label_len: usize,
    /// Characters inside those words.
    pub covered: usize,
    /// Adjacent word pairs (words of two or more letters, nothing between them).
    pub adjacent: usize,
    /// Of those, pairs the English pair counts hold.
    pub known_pairs: usize,
}

impl Lexicon {
    /// Builds a lexicon: `english` most frequent first, `other` languages likewise, `pairs` of
    /// English words (pairs with a word outside `english` are dropped).
    pub fn new<'a>(
        english: &[&'a str],
        other: Vec<(String, Vec<&'a str>)>,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let rank: HashMap<&str, u32> = english
            .iter()
            .enumerate()
            .map(|(i, w)| (*w, i as u32))
            .collect();
        let mut flat: Vec<(u32, u32)> = pairs
            .into_iter()
            .filter_map(|(a, b)| Some((*rank.get(a)?, *rank.get(b)?)))
            .collect();
        flat.sort_unstable();
        flat.dedup();
        let mut bytes = Vec::new();
        let mut previous = (0, 0);
        for &(a, b) in &flat {
            let b_delta = if a == previous.0 { b - previous.1 } else { b };
            leb128(a - previous.0, &mut bytes);
            leb128(b_delta, &mut bytes);
            previous = (a, b);
        }
        Self {
            english: english.join("\n"),
            other: other
                .into_iter()
                .map(|(lang, words)| (lang, words.join("\n")))
                .collect(),
            pairs: BASE64.encode(bytes),
            index: OnceLock::new(),
        }
        .without_unread_words()
    }

    /// The same lexicon without the other languages' words its index never reads: words that
    /// English or an earlier language already holds (the first entry wins) and words too short
    /// or too long to count. Each becomes an empty line, so the words after it keep their rank
    /// and cost: every split is unchanged, and the shipped weights are 7 KB smaller gzipped.
    pub fn without_unread_words(self) -> Self {
        let mut read: HashSet<&str> = (self.english.lines().enumerate())
            .filter(|&(rank, word)| usable(word, rank))
            .map(|(_, word)| word)
            .collect();
        let other = (self.other.iter())
            .map(|(lang, words)| {
                let kept = words.lines().enumerate().map(|(rank, word)| {
                    if usable(word, rank) && read.insert(word) {
                        word
                    } else {
                        ""
                    }
                });
                (lang.clone(), kept.collect::<Vec<_>>().join("\n"))
            })
            .collect();
        Self {
            english: self.english,
            other,
            pairs: self.pairs,
            index: OnceLock::new(),
        }
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut index = Index::default();
            for (rank, word) in self.english.lines().enumerate() {
                if usable(word, rank) {
                    let cost = zipf_cost(rank);
                    let english_rank = rank as u32;
                    index.words.insert(word.into(), Word { cost, english_rank });
                }
            }
            for (_, words) in &self.other {
                for (rank, word) in words.lines().enumerate() {
                    if !usable(word, rank) {
                        continue;
                    }
                    let cost = zipf_cost(rank) + OTHER_LANGUAGE_COST;
                    index.words.entry(word.into()).or_insert(Word {
                        cost,
                        english_rank: u32::MAX,
                    });
                }
            }
            index.pairs = decode_pairs(&self.pairs).into_iter().collect();
            index
        })
    }

    /// The cheapest split of `label` into words and uncovered characters.
    pub fn split(&self, label: &str) -> Split {
        let index = self.index();
        let bytes = label.as_bytes();
        let n = bytes.len();
        // best[i]: cost of the cheapest split of label[..i], and where its last piece starts
        // (`None`: the piece is one uncovered character).
        let mut best: Vec<(f32, usize, Option<Word>)> = vec![(0.0, 0, None); n + 1];
        for end in 1..=n {
            best[end] = (best[end - 1].0 + UNKNOWN_CHAR, end - 1, None);
            if !bytes[end - 1].is_ascii_lowercase() {
                continue;
            }
            for start in end.saturating_sub(MAX_WORD)..end - 1 {
                if !bytes[start].is_ascii_lowercase() {
                    continue;
                }
                let Some(word) = index.words.get(&label[start..end]) else {
                    continue;
                };
                let cost = best[start].0 + word.cost;
                if cost < best[end].0 {
                    best[end] = (cost, start, Some(*word));
                }
            }
        }
        let mut pieces = Vec::new();
        let mut end = n;
        while end > 0 {
            let (_, start, word) = best[end];
            pieces.push((start, end, word));
            end = start;
        }
        pieces.reverse();
        let mut split = Split {
            label_len: n,
            ..Split::default()
        };
        for pair in pieces.windows(2) {
            if let [(_, _, Some(a)), (_, _, Some(b))] = pair {
                split.adjacent += 1;
                if index.pairs.contains(&(a.english_rank, b.english_rank)) {
                    split.known_pairs += 1;
                }
            }
        }
        for (start, end, word) in pieces {
            if let Some(word) = word.filter(|_| end - start >= 3) {
                split.covered += end - start;
                split.words.push(Piece {
                    start,
                    end,
                    english: word.english_rank != u32::MAX,
                    rank: word.english_rank,
                    cost: word.cost,
                });
            }
        }
        split
    }

    /// How many English word pairs the lexicon holds.
    pub fn pair_count(&self) -> usize {
        self.index().pairs.len()
    }

    /// Whether the English pair counts hold `first second`.
    pub fn is_known_pair(&self, first: &str, second: &str) -> bool {
        let index = self.index();
        let rank = |w: &str| index.words.get(w).map(|w| w.english_rank);
        match (rank(first), rank(second)) {
            (Some(a), Some(b)) => index.pairs.contains(&(a, b)),
            _ => false,
        }
    }

    /// The hashed word features of a registrable label, each in `0..WORD_BUCKETS`.
    pub fn features(&self, label: &str) -> [u32; FEATURES] {
        self.split(label).features()
    }
}

/// Word features per name.
pub const FEATURES: usize = 9;

impl Split {
    /// Coarse buckets of the split, conjoined and hashed (see the module's comment).
    pub fn features(&self) -> [u32; FEATURES] {
        let coverage = match (self.covered, self.label_len) {
            (0, _) => 0,
            (c, n) if c == n => 4,
            (c, n) if c * 5 >= n * 4 => 3,
            (c, n) if c * 2 >= n => 2,
            _ => 1,
        };
        let words = self.words.len().min(5);
        let known = self.known_pairs.min(2);
        let adjacent = self.adjacent.min(3);
        let rarest = self.words.iter().map(|w| w.cost).fold(0.0f32, f32::max);
        let rarest = (rarest.clamp(1.0, 6.0) - 1.0) as usize; // 0..=5: log10 rank buckets
        let mean = if self.words.is_empty() {
            0
        } else {
            let sum: f32 = self.words.iter().map(|w| w.cost).sum();
            (sum / self.words.len() as f32).clamp(1.0, 6.0) as usize
        };
        let language = match self.words.iter().filter(|w| !w.english).count() {
            0 if self.words.is_empty() => 0,
            0 => 1,
            k if k == self.words.len() => 3,
            _ => 2,
        };
        let length = match self.label_len {
            0..=6 => 0,
            7..=9 => 1,
            10..=12 => 2,
            13..=16 => 3,
            _ => 4,
        };
        let unpaired = (self.adjacent > 0 && self.known_pairs == 0) as usize;
        let keys = [
            [coverage, words, 0, 0],
            [coverage, words, known, adjacent],
            [coverage, words, rarest, 0],
            [coverage, length, 0, 0],
            [words, known, language, 0],
            [coverage, words, unpaired, 0],
            [mean, words, 0, 0],
            [language, coverage, 0, 0],
            [coverage, words, unpaired, length],
        ];
        let mut out = [0u32; FEATURES];
        for (tag, (key, slot)) in keys.iter().zip(&mut out).enumerate() {
            *slot = bucket(tag, key);
        }
        out
    }
}

/// The pairs of [`Lexicon::pairs`]; a damaged list yields the pairs read before the damage.
fn decode_pairs(encoded: &str) -> Vec<(u32, u32)> {
    let bytes = BASE64.decode(encoded).unwrap_or_default();
    let mut numbers = Vec::new();
    let (mut value, mut shift) = (0u32, 0u32);
    for byte in bytes {
        if shift >= 32 {
            break;
        }
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            numbers.push(value);
            (value, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    let mut pairs = Vec::with_capacity(numbers.len() / 2);
    let mut previous = (0u32, 0u32);
    for delta in numbers.chunks_exact(2) {
        let a = previous.0.saturating_add(delta[0]);
        let b = if delta[0] == 0 {
            previous.1.saturating_add(delta[1])
        } else {
            delta[1]
        };
        pairs.push((a, b));
        previous = (a, b);
    }
    pairs
}

fn leb128(mut value: u32, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A word's cost from its frequency rank: -log10 of its probability under Zipf's law, fitted
/// to the English counts (`the`, rank 0: 1.4; rank 10,000: 5.4).
fn zipf_cost(rank: usize) -> f32 {
    1.4 + ((rank + 1) as f32).log10()
}

fn usable(word: &str, rank: usize) -> bool {
    match word.len() {
        0 | 1 => false,
        2 => rank < TWO_LETTER_RANK,
        n => n <= MAX_WORD,
    }
}

/// FNV-1a over the feature's tag and bucket values.
fn bucket(tag: usize, key: &[usize; 4]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for v in std::iter::once(tag).chain(key.iter().copied()) {
        h ^= v as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h % WORD_BUCKETS as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        let english = [
            "the", "of", "an", "home", "depot", "weather", "repeat", "idle", "mind", "thoughts",
            "best", "buy", "average", "man",
        ];
        let other = vec![("de".to_owned(), vec!["und", "wetter", "haus"])];
        let pairs = [
            ("home", "depot"),
            ("idle", "mind"),
            ("best", "buy"),
            ("of", "an"),
        ];
        Lexicon::new(&english, other, pairs)
    }

    #[test]
    fn splits_glued_words_and_finds_their_pairs() {
        let lexicon = lexicon();
        let split = lexicon.split("thoughtsofanidlemind");
        let words: Vec<&str> = split
            .words
            .iter()
            .map(|p| &"thoughtsofanidlemind"[p.start..p.end])
            .collect();
        assert_eq!(words, ["thoughts", "idle", "mind"]);
        assert_eq!(
            split.covered,
            split.label_len - 4,
            "`of` and `an` are too short to count"
        );
        assert_eq!((split.adjacent, split.known_pairs), (4, 2));

        let split = lexicon.split("weatherrepeat");
        assert_eq!((split.covered, split.words.len()), (13, 2));
        assert_eq!((split.adjacent, split.known_pairs), (1, 0));
    }

    #[test]
    fn random_letters_and_digits_stay_uncovered() {
        let split = lexicon().split("xjkd8f2h");
        assert_eq!(
            (split.covered, split.words.len(), split.adjacent),
            (0, 0, 0)
        );
    }

    #[test]
    fn other_languages_cover_what_english_lacks() {
        let split = lexicon().split("wetterhaus");
        assert_eq!(split.covered, 10);
        assert!(split.words.iter().all(|w| !w.english));
    }

    #[test]
    fn words_the_index_never_reads_are_blanked_and_splits_stay_the_same() {
        let english = ["the", "weather", "home", "xy"];
        // `home` is English, `haus` comes twice, `a` is too short, `wetter` is read.
        let other = vec![
            ("de".to_owned(), vec!["a", "home", "haus", "wetter"]),
            ("nl".to_owned(), vec!["haus", "weer"]),
        ];
        let lexicon = Lexicon::new(&english, other, []);
        let other: Vec<(&str, &str)> = (lexicon.other.iter())
            .map(|(l, w)| (l.as_str(), w.as_str()))
            .collect();
        assert_eq!(other, [("de", "\n\nhaus\nwetter"), ("nl", "\nweer")]);
        // The same words at the same ranks as with every line kept.
        let full = Lexicon {
            other: vec![
                ("de".to_owned(), "a\nhome\nhaus\nwetter".to_owned()),
                ("nl".to_owned(), "haus\nweer".to_owned()),
            ],
            ..lexicon.clone()
        };
        for label in ["wetterhaus", "homeweer", "theweatherxy", "hausweer"] {
            assert_eq!(lexicon.split(label), full.split(label), "{label}");
            assert_eq!(lexicon.features(label), full.features(label), "{label}");
        }
    }

    #[test]
    fn features_differ_between_paired_and_unpaired_word_names() {
        let lexicon = lexicon();
        let paired = lexicon.features("homedepot");
        let unpaired = lexicon.features("weatherrepeat");
        assert_ne!(paired, unpaired);
        assert!(paired.iter().all(|&b| (b as usize) < WORD_BUCKETS));
    }

    #[test]
    fn survives_serialisation() {
        let lexicon = lexicon();
        let json = serde_json::to_string(&lexicon).unwrap();
        let back: Lexicon = serde_json::from_str(&json).unwrap();
        assert_eq!(back, lexicon);
        assert_eq!(back.split("homedepot"), lexicon.split("homedepot"));
        assert!(back.is_known_pair("idle", "mind") && !back.is_known_pair("mind", "idle"));
    }

    #[test]
    fn pairs_round_trip_through_their_encoding() {
        let english: Vec<String> = (0..400).map(|i| format!("w{i:03}")).collect();
        let english: Vec<&str> = english.iter().map(String::as_str).collect();
        let pairs = [(0, 1), (0, 399), (5, 5), (200, 3), (399, 0)];
        let lexicon = Lexicon::new(
            &english,
            Vec::new(),
            pairs.iter().map(|&(a, b)| (english[a], english[b])),
        );
        let expected: Vec<(u32, u32)> = pairs.iter().map(|&(a, b)| (a as u32, b as u32)).collect();
        assert_eq!(decode_pairs(&lexicon.pairs), expected);
        assert!(decode_pairs("not base64!").is_empty());
    }

    #[test]
    fn word_part_adds_the_weights_of_a_labels_features() {
        let lexicon = lexicon();
        let mut weights = vec![0.0; WORD_BUCKETS];
        for b in lexicon.features("weatherrepeat") {
            weights[b as usize] += 0.5;
        }
        let part = WordPart { lexicon, weights };
        assert_eq!(part.log_odds("weatherrepeat"), 0.5 * FEATURES as f32);
        let damaged = WordPart {
            weights: vec![1.0; 3],
            ..part
        };
        assert_eq!(damaged.log_odds("weatherrepeat"), 0.0);
    }
}
