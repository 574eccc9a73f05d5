//! Builds the word lexicon ([`model_core::words::Lexicon`]) from the word-count files under
//! `../shared/data/words/`, pruned to what the page can afford to download.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use model_core::words::Lexicon;

/// Where the word counts live by default, beside the labelled data.
pub const DEFAULT_WORDS: &str = "../shared/data/words";

#[derive(Args, Clone, Debug)]
pub struct WordArgs {
    /// Folder of the word counts (`en-unigrams.tsv.gz`, `en-bigrams.tsv.gz`,
    /// `wordfreq-top30k.tsv.gz`) the n-gram part's word features read; `none` leaves them out.
    #[arg(long, env = "DGA_WORDS", default_value = DEFAULT_WORDS)]
    pub words: PathBuf,
    /// English words kept, most frequent first.
    #[arg(long, default_value_t = 10_000)]
    pub english_words: usize,
    /// Words kept of each other language, most frequent first.
    #[arg(long, default_value_t = 1_000)]
    pub other_words: usize,
    /// English word pairs kept, most frequent first (among the kept words).
    #[arg(long, default_value_t = 20_000)]
    pub word_pairs: usize,
}

impl WordArgs {
    /// The lexicon, or `None` when asked for none.
    pub fn load(&self) -> Result<Option<Lexicon>> {
        if self.words.as_os_str() == "none" {
            return Ok(None);
        }
        load(&self.words, self)
            .with_context(|| format!("cannot read the word counts in {}", self.words.display()))
            .map(Some)
    }
}

fn rows(path: &Path) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    for line in labelled::data::open(path)?.lines().skip(1) {
        out.push(line?.split('\t').map(str::to_owned).collect());
    }
    Ok(out)
}

fn is_word(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase())
}

fn load(dir: &Path, args: &WordArgs) -> Result<Lexicon> {
    // Both count files are sorted by count, most frequent first.
    let unigrams = rows(&dir.join("en-unigrams.tsv.gz"))?;
    let english: Vec<&str> = unigrams
        .iter()
        .map(|r| r[0].as_str())
        .filter(|w| is_word(w) && w.len() >= 2)
        .take(args.english_words)
        .collect();
    let bigrams = rows(&dir.join("en-bigrams.tsv.gz"))?;
    let mut counted: Vec<(u64, &str, &str)> = bigrams
        .iter()
        .filter_map(|r| {
            let (a, b) = r.first()?.split_once(' ')?;
            Some((r.get(1)?.parse().ok()?, a, b))
        })
        .collect();
    counted.sort_by_key(|x| std::cmp::Reverse(x.0));
    let kept: std::collections::HashSet<&str> = english.iter().copied().collect();
    let pairs = counted
        .into_iter()
        .filter(|(_, a, b)| kept.contains(a) && kept.contains(b))
        .take(args.word_pairs)
        .map(|(_, a, b)| (a, b));
    let wordfreq = rows(&dir.join("wordfreq-top30k.tsv.gz"))?;
    let mut other: Vec<(String, Vec<&str>)> = Vec::new();
    for row in &wordfreq {
        let (lang, word) = (row[0].as_str(), row[1].as_str());
        if lang == "en" || !is_word(word) {
            continue;
        }
        if other.last().is_none_or(|(l, _)| l != lang) {
            other.push((lang.to_owned(), Vec::new()));
        }
        let words = &mut other.last_mut().expect("pushed above").1;
        if words.len() < args.other_words {
            words.push(word);
        }
    }
    let lexicon = Lexicon::new(&english, other, pairs);
    eprintln!(
        "word lexicon: {} English words, {} other languages, {} English pairs",
        english.len(),
        lexicon.other.len(),
        lexicon.pair_count()
    );
    Ok(lexicon)
}
