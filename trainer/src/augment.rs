//! Synthetic DGA names made from the training split's own benign names, in the kinds of generator
//! the literature lists but our families under-represent: word lists (words glued together) and
//! permutations of real names (a few characters edited, a prefix replaced, a tail added).
//!
//! Real families teach the model what one generator's names look like; it then misses the next
//! generator of the same kind. Synthetic names of each kind, drawn from benign names alone, teach
//! the kind rather than the family. The benchmark (`trainer generalise --augment`) decides how
//! many (docs/results.md, "Generalisation").
//!
//! Words are not taken from a dictionary: a piece of a benign label counts as a word when many
//! benign labels start with it and many end with it (`shop`: `shopify`, `myshop`), which keeps
//! the vocabulary that of the names the model is trained on and brings no other list in.

use std::collections::{HashMap, HashSet};

use clap::Args;
use model_core::{Tokeniser, normalise};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::split::Example;

/// The `family` of synthetic word-list names.
pub const WORDLIST: &str = "synthetic-wordlist";
/// The `family` of synthetic permutations of benign names.
pub const PERMUTATION: &str = "synthetic-permutation";
/// The `family` of synthetic short random names.
pub const SHORT: &str = "synthetic-short";
/// The `family` of synthetic names glued from dictionary words.
pub const DICTIONARY: &str = "synthetic-dictionary";

/// Whether a family label is one of ours rather than a real generator's.
pub fn is_synthetic(family: &str) -> bool {
    [WORDLIST, PERMUTATION, SHORT, DICTIONARY].contains(&family)
}

#[derive(Args, Clone)]
pub struct AugmentArgs {
    /// Synthetic DGA names of each kind (word list, permutation) added to the training split;
    /// 0 adds none.
    #[arg(long, default_value_t = 0)]
    pub augment: usize,
    /// Which kinds of synthetic name --augment adds.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "wordlist,permutation"
    )]
    pub augment_kinds: Vec<Kind>,
}

/// A kind of synthetic generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Words of the benign vocabulary glued together.
    Wordlist,
    /// Benign labels edited.
    Permutation,
    /// Short random letters (5 to 8), as short-name generators draw them.
    Short,
}

/// Word pieces shorter than this are mostly syllables, not words.
const MIN_WORD: usize = 4;
const MAX_WORD: usize = 10;
/// Benign labels that must start, and as many that must end, with a piece for it to be a word.
const MIN_WORD_USES: u32 = 10;
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `per_kind` synthetic names of each kind, made from the benign names of `train` and tokenised
/// for the model; none is the registrable label of a training name.
pub fn synthesise(
    train: &[Example],
    tokeniser: &Tokeniser,
    per_kind: usize,
    kinds: &[Kind],
    seed: u64,
) -> Vec<Example> {
    if per_kind == 0 || kinds.is_empty() {
        return Vec::new();
    }
    let benign: Vec<&Example> = train.iter().filter(|e| !e.is_dga).collect();
    let words = benign_words(benign.iter().map(|e| e.key.as_str()));
    let bases: Vec<&str> = benign
        .iter()
        .map(|e| e.key.as_str())
        .filter(|k| k.len() >= 5 && k.bytes().all(|b| b.is_ascii_alphanumeric()))
        .collect();
    let mut labeller = Labeller::new(train, tokeniser);
    if words.len() < 2 || bases.is_empty() || labeller.suffixes.is_empty() {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(2 * per_kind);
    type Make = fn(&[&str], &[&str], &mut StdRng) -> String;
    for &kind in kinds {
        let (family, make, pool): (_, Make, &[&str]) = match kind {
            Kind::Wordlist => (WORDLIST, glue_words, &words),
            Kind::Permutation => (PERMUTATION, permute, &bases),
            Kind::Short => (SHORT, short_random, &bases),
        };
        out.extend(labeller.fill(per_kind, family, &mut rng, |rng| {
            Some(make(pool, &words, rng))
        }));
    }
    out
}

/// Turns drawn labels into new synthetic DGA examples: none is the label of a training name or
/// one made before, and each sits under the suffix of a random benign training name.
struct Labeller<'a> {
    taken: HashSet<&'a str>,
    suffixes: Vec<&'a str>,
    made: HashSet<String>,
    tokeniser: &'a Tokeniser,
}

impl<'a> Labeller<'a> {
    fn new(train: &'a [Example], tokeniser: &'a Tokeniser) -> Self {
        Self {
            taken: train.iter().map(|e| e.key.as_str()).collect(),
            suffixes: train
                .iter()
                .filter(|e| !e.is_dga)
                .filter_map(suffix_of)
                .collect(),
            made: HashSet::new(),
            tokeniser,
        }
    }

    /// Up to `quota` examples of `family` from the labels `draw` makes (`None`: a label it
    /// refused). Collisions are rare; the bound of four draws per name only guards against a
    /// pool too small to fill the quota.
    fn fill(
        &mut self,
        quota: usize,
        family: &str,
        rng: &mut StdRng,
        mut draw: impl FnMut(&mut StdRng) -> Option<String>,
    ) -> Vec<Example> {
        let mut out = Vec::with_capacity(quota);
        for _ in 0..quota * 4 {
            if out.len() == quota {
                break;
            }
            let Some(label) = draw(rng) else {
                continue;
            };
            if self.taken.contains(label.as_str()) || !self.made.insert(label.clone()) {
                continue;
            }
            let suffix = self.suffixes.choose(rng).copied().unwrap_or("com");
            let Ok(domain) = normalise(&format!("{label}.{suffix}")) else {
                continue;
            };
            out.push(Example::of(
                &domain,
                self.tokeniser,
                true,
                family,
                "synthetic",
            ));
        }
        out
    }
}

/// The public suffix of an example whose text is its registrable domain (`key.suffix`).
fn suffix_of(example: &Example) -> Option<&str> {
    example
        .text
        .strip_prefix(example.key.as_str())
        .and_then(|rest| rest.strip_prefix('.'))
}

/// Pieces of benign labels that many labels start with and many end with, most used first.
fn benign_words<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut starts: HashMap<&str, u32> = HashMap::new();
    let mut ends: HashMap<&str, u32> = HashMap::new();
    for label in labels {
        for piece in label.split(|c: char| !c.is_ascii_lowercase()) {
            for n in MIN_WORD..=piece.len().min(MAX_WORD) {
                *starts.entry(&piece[..n]).or_default() += 1;
                *ends.entry(&piece[piece.len() - n..]).or_default() += 1;
            }
        }
    }
    let mut words: Vec<(&str, u32)> = starts
        .into_iter()
        .filter_map(|(w, s)| {
            let e = ends.get(w).copied().unwrap_or(0);
            (s >= MIN_WORD_USES && e >= MIN_WORD_USES).then_some((w, s.min(e)))
        })
        .collect();
    words.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    words.into_iter().map(|(w, _)| w).collect()
}

/// Two to four words, now and then joined by hyphens (as word-list generators do).
fn glue_words(words: &[&str], _: &[&str], rng: &mut StdRng) -> String {
    let n = rng.random_range(2..=4);
    let separator = if rng.random_bool(0.15) { "-" } else { "" };
    let picked: Vec<&str> = (0..n)
        .map(|_| *words.choose(rng).expect("at least two words"))
        .collect();
    let label = picked.join(separator);
    label[..label.len().min(63)]
        .trim_end_matches('-')
        .to_owned()
}

/// Five to eight random letters.
fn short_random(_: &[&str], _: &[&str], rng: &mut StdRng) -> String {
    let n = rng.random_range(5..=8);
    (0..n)
        .map(|_| LETTERS[rng.random_range(0..LETTERS.len())] as char)
        .collect()
}

/// A benign label edited the ways permutation generators edit seeds: characters substituted,
/// inserted, deleted or swapped; a prefix replaced by random letters; random characters appended;
/// or a word from the benign vocabulary glued on.
fn permute(bases: &[&str], words: &[&str], rng: &mut StdRng) -> String {
    let mut label: Vec<u8> = bases.choose(rng).expect("a base").bytes().collect();
    let random = |rng: &mut StdRng, set: &[u8]| set[rng.random_range(0..set.len())];
    match rng.random_range(0..4) {
        0 => {
            for _ in 0..rng.random_range(1..=3) {
                let at = rng.random_range(0..label.len());
                match rng.random_range(0..4) {
                    0 => label[at] = random(rng, LETTERS),
                    1 => label.insert(at, random(rng, LETTERS)),
                    2 if label.len() > 3 => {
                        label.remove(at);
                    }
                    _ if at + 1 < label.len() => label.swap(at, at + 1),
                    _ => label[at] = random(rng, LETTERS),
                }
            }
        }
        1 => {
            let n = rng.random_range(2..=4).min(label.len() - 1);
            for c in &mut label[..n] {
                *c = random(rng, LETTERS);
            }
        }
        2 => {
            for _ in 0..rng.random_range(1..=4) {
                label.push(random(rng, ALPHANUMERIC));
            }
        }
        _ => {
            let word = words.choose(rng).expect("at least two words");
            if rng.random_bool(0.5) {
                label.extend_from_slice(word.as_bytes());
            } else {
                label.splice(0..0, word.bytes());
            }
        }
    }
    label.truncate(63);
    String::from_utf8(label).expect("ASCII edits of an ASCII label")
}

/// Dictionary words a word-list generator might draw: English words of 3 to 10 letters, past
/// the most frequent (which are mostly function words no list picks).
const DICTIONARY_RANKS: std::ops::Range<usize> = 100..15_000;

/// `count` names glued from two or three random English words of `lexicon` that the English
/// pair counts never saw together, as word-list generators glue them (`weatherrepeat`), with
/// the suffixes of the benign names of `train`. The words are the lexicon's own, the feature
/// the model reads; the names are new, and none is a training name's label.
pub fn dictionary_names(
    train: &[Example],
    tokeniser: &Tokeniser,
    count: usize,
    lexicon: &model_core::words::Lexicon,
    seed: u64,
) -> Vec<Example> {
    let mut labeller = Labeller::new(train, tokeniser);
    let words: Vec<&str> = lexicon
        .english
        .lines()
        .take(DICTIONARY_RANKS.end)
        .skip(DICTIONARY_RANKS.start)
        .filter(|w| (3..=10).contains(&w.len()))
        .collect();
    if words.len() < 2 || labeller.suffixes.is_empty() || count == 0 {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0xd1c7);
    labeller.fill(count, DICTIONARY, &mut rng, |rng| {
        let n = if rng.random_bool(0.7) { 2 } else { 3 };
        let picked: Vec<&str> = (0..n)
            .map(|_| *words.choose(rng).expect("at least two words"))
            .collect();
        let unpaired = !picked.windows(2).any(|p| lexicon.is_known_pair(p[0], p[1]));
        let label = picked.concat();
        (unpaired && label.len() <= 63).then_some(label)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_core::TokeniserConfig;

    const BOTH: [Kind; 2] = [Kind::Wordlist, Kind::Permutation];

    fn benign(name: &str) -> Example {
        let tokeniser = Tokeniser::new(TokeniserConfig::new());
        let domain = normalise(name).unwrap();
        Example::of(&domain, &tokeniser, false, "legit", "test")
    }

    fn training_names() -> Vec<Example> {
        let mut names = Vec::new();
        for (i, word) in ["shop", "news", "game", "blue", "cloud", "media"]
            .iter()
            .enumerate()
        {
            for other in ["alpha", "bravo", "delta", "omega", "sigma", "tango"] {
                for (n, suffix) in ["com", "net", "co.uk"].iter().enumerate() {
                    names.push(benign(&format!("{word}{other}{n}.{suffix}")));
                    names.push(benign(&format!("{other}{i}{word}.{suffix}")));
                }
            }
        }
        names
    }

    #[test]
    fn dictionary_names_glue_words_never_seen_together() {
        // Letters only: digits are never part of a word.
        let letter = |i: usize| char::from(b'a' + (i % 26) as u8);
        let english: Vec<String> = (0..400)
            .map(|i| format!("w{}{}{}", letter(i / 676), letter(i / 26), letter(i)))
            .collect();
        let mut english: Vec<&str> = english.iter().map(String::as_str).collect();
        english.extend(["home", "depot"]);
        // Every pair of the last two words is known: names may only glue them apart.
        let lexicon = model_core::words::Lexicon::new(
            &english,
            Vec::new(),
            [
                ("home", "depot"),
                ("depot", "home"),
                ("home", "home"),
                ("depot", "depot"),
            ],
        );
        let train = training_names();
        let tokeniser = Tokeniser::new(TokeniserConfig::new());
        let made = dictionary_names(&train, &tokeniser, 200, &lexicon, 3);
        assert_eq!(made.len(), 200);
        for e in &made {
            assert!(e.is_dga && e.family == DICTIONARY && is_synthetic(&e.family));
            assert!(
                !e.key.contains("homedepot") && !e.key.contains("depothome"),
                "{}",
                e.key
            );
            assert_eq!(e.tokens, tokeniser.encode_text(&e.text));
        }
        let split = lexicon.split(&made[0].key);
        assert_eq!(split.covered, made[0].key.len(), "{}", made[0].key);
    }

    #[test]
    fn words_are_pieces_that_start_and_end_many_labels() {
        let labels = ["shopnow", "shopnext", "myshop", "eshop"].repeat(5);
        let words = benign_words(labels.iter().copied());
        assert!(words.contains(&"shop"), "{words:?}");
        assert!(!words.contains(&"shopnow"));
    }

    #[test]
    fn synthetic_names_are_new_labelled_dga_and_of_both_kinds() {
        let train = training_names();
        let tokeniser = Tokeniser::new(TokeniserConfig::new());
        let made = synthesise(&train, &tokeniser, 50, &BOTH, 7);
        let keys: HashSet<&str> = train.iter().map(|e| e.key.as_str()).collect();
        assert!(
            made.iter()
                .all(|e| e.is_dga && !keys.contains(e.key.as_str()))
        );
        for family in [WORDLIST, PERMUTATION] {
            let n = made.iter().filter(|e| e.family == family).count();
            assert!(n > 40, "{family}: {n} names");
        }
        // Suffixes come from the benign names, and tokens match what the model reads.
        assert!(
            made.iter()
                .all(|e| e.tokens == tokeniser.encode_text(&e.text))
        );
        assert!(
            made.iter()
                .any(|e| e.text.ends_with(".co.uk") || e.text.ends_with(".net"))
        );
        assert_eq!(
            synthesise(&train, &tokeniser, 50, &BOTH, 7).len(),
            made.len()
        );
        assert!(synthesise(&train, &tokeniser, 0, &BOTH, 7).is_empty());
    }
}
