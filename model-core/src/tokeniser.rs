//! The character vocabulary and which part of a domain the model reads. Both travel inside the
//! model config, so the trainer and the page cannot disagree on them.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use crate::normalise::Domain;

/// Padding fills a batch up to its longest member and is masked out of attention.
pub const PAD: u32 = 0;
/// The class token opens every sequence; its final state is what the classifier reads.
pub const CLS: u32 = 1;
/// Any character outside the alphabet (cannot come out of [`crate::normalise`], kept for safety).
pub const UNK: u32 = 2;
/// The characters a normalised hostname can hold, in token order after the specials.
pub const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
/// Vocabulary size: the three specials plus the alphabet.
pub const VOCAB_SIZE: usize = 3 + ALPHABET.len();
/// Every ordered pair of tokens has its own bigram id (the class token marks the name's start).
pub const BIGRAM_VOCAB: usize = VOCAB_SIZE * VOCAB_SIZE;
/// Trigrams are hashed into this many buckets: there are 74k possible, a few thousand common.
pub const TRIGRAM_BUCKETS: usize = 4096;

/// Bigram id of the pair ending at position `j` (0 at the first position, which has none).
pub fn bigram_id(tokens: &[u32], j: usize) -> u32 {
    if j == 0 {
        0
    } else {
        tokens[j - 1] * VOCAB_SIZE as u32 + tokens[j]
    }
}

/// Hashed trigram id of the triple ending at position `j` (0 before the third position).
pub fn trigram_id(tokens: &[u32], j: usize) -> u32 {
    if j < 2 {
        return 0;
    }
    let exact = (tokens[j - 2] * VOCAB_SIZE as u32 + tokens[j - 1]) * VOCAB_SIZE as u32 + tokens[j];
    // Fibonacci hashing spreads the structured exact ids evenly over the buckets.
    exact.wrapping_mul(2_654_435_769) >> (32 - TRIGRAM_BUCKETS.trailing_zeros())
}

/// The linear n-gram part ([`crate::ModelConfig::wide`]) reads every 1- to 4-gram.
pub const WIDE_ORDERS: usize = 4;
/// Hash bits of the linear n-gram part: 2^18 buckets keep collisions between the n-grams that
/// matter rare while its half-precision table stays at 512 KiB.
pub const WIDE_BITS: u32 = 18;
/// Rows of the linear n-gram table: bucket 0 means "no n-gram" (padding, or an n-gram that would
/// start before the class token) and always weighs 0; hashed n-grams use 1 to 2^WIDE_BITS.
pub const WIDE_BUCKETS: usize = (1 << WIDE_BITS) + 1;

/// Hashed ids of the 1- to 4-grams ending at position `j`, in order of length; 0 where the
/// n-gram would start before position 0. The class token at position 0 marks the name's start;
/// `j == tokens.len()` is a virtual end mark (read as [`PAD`], which never occurs inside a name),
/// so n-grams that end the name have features of their own, as the seed baselines' `^name$` did.
pub fn wide_ids(tokens: &[u32], j: usize) -> [u32; WIDE_ORDERS] {
    hashed_ngrams(tokens, j, WIDE_BITS)
}

/// Hashed ids of the 1- to `N`-grams ending at position `j` into `2^bits` buckets (1 to
/// `2^bits`), as [`wide_ids`] reads them; the trainer's research regressions read longer
/// n-grams and more buckets through the same hash. `N` is at most 5 (42^5 < 2^32).
pub fn hashed_ngrams<const N: usize>(tokens: &[u32], j: usize, bits: u32) -> [u32; N] {
    const { assert!(N <= 5) };
    let token = |at: usize| tokens.get(at).copied().unwrap_or(PAD);
    let mut ids = [0; N];
    let mut exact = 0u32;
    for (n, id) in ids.iter_mut().enumerate() {
        let Some(at) = j.checked_sub(n) else { break };
        // Base-VOCAB_SIZE digits, newest last; the order tag keeps a 1-gram apart from the
        // 2-gram that ends in it after the end mark.
        exact += token(at) * (VOCAB_SIZE as u32).pow(n as u32);
        let tagged = exact
            .wrapping_add((n as u32) << 24)
            .wrapping_mul(2_654_435_769);
        *id = 1 + (tagged >> (32 - bits));
    }
    ids
}

/// The family head's shape features ([`shape_ids`]): one id each for the registrable label's
/// length, its suffix, and how many digits and hyphens the label holds.
pub const SHAPE_FEATURES: usize = 4;
/// Label lengths 0 to 47 (the longest a sequence of the shipped length holds) have an id each;
/// longer ones share the last.
const SHAPE_LENGTHS: usize = 48;
/// Suffixes are hashed into this many ids: the families of the training data use about 150.
const SHAPE_SUFFIXES: usize = 128;
/// Digit counts 0 to 6, then 7 or more.
const SHAPE_DIGITS: usize = 8;
/// Hyphen counts 0, 1, then 2 or more.
const SHAPE_HYPHENS: usize = 3;
/// Rows of the family head's shape table ([`crate::FamilyConfig::shape`]).
pub const SHAPE_BUCKETS: usize = SHAPE_LENGTHS + SHAPE_SUFFIXES + SHAPE_DIGITS + SHAPE_HYPHENS;

/// The token of an alphabet character (the alphabet's order is the vocabulary's).
const fn token_of(c: u8) -> u32 {
    let alphabet = ALPHABET.as_bytes();
    let mut i = 0;
    while alphabet[i] != c {
        i += 1;
    }
    3 + i as u32
}
const DOT: u32 = token_of(b'.');
const HYPHEN: u32 = token_of(b'-');
const DIGITS: std::ops::RangeInclusive<u32> = token_of(b'0')..=token_of(b'9');

/// Ids (below [`SHAPE_BUCKETS`]) of the shape of the name a token sequence reads: the length
/// of its first label (the registrable label, in the shipped view), a hash of what follows it
/// (the suffix), and the label's digit and hyphen counts. Generators of random-looking names
/// differ most in these (how long, under which top-level domains, with digits or not), and the
/// mean of the transformer's states keeps them only blurred: a lookup table of these four,
/// learned from nine tenths of the labelled DGA names, names 88% of the other tenth's families
/// right; the head on those states named 82% of the test split's.
pub fn shape_ids(tokens: &[u32]) -> [u32; SHAPE_FEATURES] {
    let characters = tokens.get(1..).unwrap_or_default(); // after the class token
    let end = characters.iter().position(|&t| t == DOT);
    let (label, suffix) = characters.split_at(end.unwrap_or(characters.len()));
    let count = |keep: &dyn Fn(u32) -> bool| label.iter().filter(|&&t| keep(t)).count();
    let digits = count(&|t| DIGITS.contains(&t));
    let hyphens = count(&|t| t == HYPHEN);
    // FNV-1a over the suffix's tokens (its dot included: an empty suffix hashes apart).
    let hash = suffix
        .iter()
        .fold(0x811c_9dc5u32, |h, &t| (h ^ t).wrapping_mul(0x0100_0193));
    let mut base = 0;
    let mut id = |value: usize, ids: usize| {
        let at = base + value.min(ids - 1);
        base += ids;
        at as u32
    };
    [
        id(label.len(), SHAPE_LENGTHS),
        id(hash as usize % SHAPE_SUFFIXES, SHAPE_SUFFIXES),
        id(digits, SHAPE_DIGITS),
        id(hyphens, SHAPE_HYPHENS),
    ]
}

/// Which part of a normalised domain the model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputView {
    /// The registrable domain with its suffix (`example.co.uk`): subdomains chosen by the
    /// owner of a legitimate domain say nothing about how the domain itself was made.
    Registrable,
    /// The registrable label alone (`example`).
    Label,
    /// The whole name, subdomains included.
    Full,
}

/// How a domain becomes a token sequence.
#[derive(Config, Debug, PartialEq)]
pub struct TokeniserConfig {
    /// Longest sequence, class token included; longer names are cut at the end.
    #[config(default = 48)]
    pub max_len: usize,
    /// Which part of the domain is read.
    #[config(default = "InputView::Registrable")]
    pub view: InputView,
}

/// Maps domains to token ids with a fixed lookup table.
#[derive(Debug, Clone)]
pub struct Tokeniser {
    config: TokeniserConfig,
    ids: [u32; 128],
}

impl Tokeniser {
    pub fn new(config: TokeniserConfig) -> Self {
        let mut ids = [UNK; 128];
        for (i, c) in ALPHABET.bytes().enumerate() {
            ids[c as usize] = 3 + i as u32;
        }
        Self { config, ids }
    }

    pub fn config(&self) -> &TokeniserConfig {
        &self.config
    }

    /// The text the model reads for this domain.
    pub fn view<'a>(&self, domain: &'a Domain) -> &'a str {
        match self.config.view {
            InputView::Registrable => &domain.registrable_domain,
            InputView::Label => domain.registrable_label(),
            InputView::Full => &domain.name,
        }
    }

    /// Token ids for a domain: the class token, then one id per character, at most `max_len`.
    pub fn encode(&self, domain: &Domain) -> Vec<u32> {
        self.encode_text(self.view(domain))
    }

    /// Token ids for text that is already the model's view of a domain.
    pub fn encode_text(&self, text: &str) -> Vec<u32> {
        let mut tokens = Vec::with_capacity(text.len().min(self.config.max_len) + 1);
        tokens.push(CLS);
        tokens.extend(
            text.bytes()
                .take(self.config.max_len - 1)
                .map(|b| self.ids.get(b as usize).copied().unwrap_or(UNK)),
        );
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::normalise;

    #[test]
    fn encodes_class_token_then_characters() {
        let tok = Tokeniser::new(TokeniserConfig::new());
        let ids = tok.encode(&normalise("www.ab9-.co.uk").unwrap_or_else(|e| panic!("{e}")));
        // `ab9-.co.uk`: subdomain dropped by the registrable view.
        let expected: Vec<u32> = std::iter::once(CLS)
            .chain(
                "ab9-.co.uk"
                    .bytes()
                    .map(|b| 3 + ALPHABET.find(b as char).unwrap() as u32),
            )
            .collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn views_select_parts_of_the_name() {
        let domain = normalise("mail.example.co.uk").unwrap();
        let view = |view| {
            Tokeniser::new(TokeniserConfig::new().with_view(view))
                .view(&domain)
                .to_owned()
        };
        assert_eq!(view(InputView::Registrable), "example.co.uk");
        assert_eq!(view(InputView::Label), "example");
        assert_eq!(view(InputView::Full), "mail.example.co.uk");
    }

    /// The top-level label is evidence (an alternative root, a novelty TLD), so the shipped view
    /// keeps the suffix under every suffix rule, and only a platform's assigned labels go.
    #[test]
    fn the_shipped_view_reads_the_suffix_under_every_rule() {
        let tok = Tokeniser::new(TokeniserConfig::new());
        for (name, read) in [
            ("xjkd8f2h.bit", "xjkd8f2h.bit"),
            ("www.qwrtzpxk.bazar", "qwrtzpxk.bazar"),
            ("xjkd8f2h.ddns.net", "xjkd8f2h.ddns.net"),
            ("xjkd8f2h.top", "xjkd8f2h.top"),
            ("d2pp80vsjn2e6y.cloudfront.net", "cloudfront.net"),
        ] {
            let domain = normalise(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(tok.view(&domain), read, "{name} ({:?})", domain.rule);
        }
    }

    #[test]
    fn ngram_ids_stay_in_range_and_tell_pairs_apart() {
        let tok = Tokeniser::new(TokeniserConfig::new());
        let ids = tok.encode_text("ab.ba");
        assert_eq!(bigram_id(&ids, 0), 0);
        assert_ne!(bigram_id(&ids, 2), bigram_id(&ids, 5)); // `ab` vs `ba`
        for j in 0..ids.len() {
            assert!((bigram_id(&ids, j) as usize) < BIGRAM_VOCAB);
            assert!((trigram_id(&ids, j) as usize) < TRIGRAM_BUCKETS);
        }
        assert_eq!(trigram_id(&ids, 1), 0);
    }

    #[test]
    fn shape_ids_read_the_label_and_its_suffix() {
        let tok = Tokeniser::new(TokeniserConfig::new());
        let shape = |text: &str| shape_ids(&tok.encode_text(text));
        let [length, suffix, digits, hyphens] = shape("ab9-x2.co.uk");
        assert_eq!(length, 6);
        assert_eq!(digits, (SHAPE_LENGTHS + SHAPE_SUFFIXES + 2) as u32);
        assert_eq!(
            hyphens,
            (SHAPE_LENGTHS + SHAPE_SUFFIXES + SHAPE_DIGITS + 1) as u32
        );
        // The suffix decides its id, the label does not.
        assert_eq!(shape("qwerty.co.uk")[1], suffix);
        assert_ne!(shape("ab9-x2.com")[1], suffix);
        assert!((SHAPE_LENGTHS as u32..(SHAPE_LENGTHS + SHAPE_SUFFIXES) as u32).contains(&suffix));
        // Capped counts, an empty sequence and a name without a dot stay in range.
        let long = format!("{}.com", "7-".repeat(30));
        for ids in [shape(&long), shape_ids(&[]), shape("localhost")] {
            assert!(
                ids.iter().all(|&id| (id as usize) < SHAPE_BUCKETS),
                "{ids:?}"
            );
        }
        assert_eq!(shape(&long)[0], (SHAPE_LENGTHS - 1) as u32);
    }

    #[test]
    fn wide_ids_are_in_range_and_zero_only_before_the_start() {
        let tok = Tokeniser::new(TokeniserConfig::new());
        let ids = tok.encode_text("abab.com");
        assert_eq!(wide_ids(&ids, 0)[1..], [0, 0, 0]);
        assert_eq!(wide_ids(&ids, 2)[3], 0);
        for j in 0..=ids.len() {
            let grams = wide_ids(&ids, j);
            for (n, &id) in grams.iter().enumerate() {
                assert!((id as usize) < WIDE_BUCKETS);
                assert_eq!(id == 0, n > j, "position {j}, order {}", n + 1);
            }
        }
        // `ab` ends at positions 2 and 4: same bigram, same bucket; the 3-grams differ.
        assert_eq!(wide_ids(&ids, 2)[1], wide_ids(&ids, 4)[1]);
        assert_ne!(wide_ids(&ids, 2)[2], wide_ids(&ids, 4)[2]);
        // A character and the same character after the class token are different features.
        assert_ne!(wide_ids(&ids, 1)[0], wide_ids(&ids, 1)[1]);
        // `m` and `m` at the end of the name are different features.
        assert_ne!(
            wide_ids(&ids, ids.len() - 1)[0],
            wide_ids(&ids, ids.len())[1]
        );
        // Longer n-grams hash the shorter ones as the wide part does.
        let five: [u32; 5] = hashed_ngrams(&ids, 5, WIDE_BITS);
        assert_eq!(five[..WIDE_ORDERS], wide_ids(&ids, 5));
        assert!(five[4] > 0);
    }

    #[test]
    fn long_names_are_cut_to_max_len() {
        let tok = Tokeniser::new(TokeniserConfig::new().with_max_len(8));
        assert_eq!(tok.encode_text("abcdefghijklmnop").len(), 8);
    }

    #[test]
    fn every_alphabet_character_has_its_own_id_and_others_are_unknown() {
        let tok = Tokeniser::new(TokeniserConfig::new());
        let ids = tok.encode_text(ALPHABET);
        let mut unique = ids[1..].to_vec();
        unique.dedup();
        assert_eq!(unique.len(), ALPHABET.len());
        assert!(
            ids[1..]
                .iter()
                .all(|&id| id >= 3 && (id as usize) < VOCAB_SIZE)
        );
        assert_eq!(tok.encode_text("A!é"), vec![CLS, UNK, UNK, UNK, UNK]);
    }
}
