//! The native command line: parses the arguments and hands each command to its module.

mod allowlist;
mod augment;
mod backend;
mod bench_train;
mod commands;
mod compact;
mod family;
mod generalise;
mod gpu;
mod inputs;
mod lexicon;
mod likeliest;
mod metrics;
mod open_platforms;
mod split;
mod tfidf;
mod train;
mod wide;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::commands::{
    AnomalyArgs, CalibrateArgs, CardArgs, EvalArgs, ExportArgs, TrainArgs, WideArgs, run_anomaly,
    run_calibrate, run_card, run_eval, run_export, run_train, run_wide,
};

/// Burn's CPU backends allocate a fresh buffer for nearly every tensor operation and free it soon
/// after. glibc's malloc returns the large ones to the kernel each time, so every step pays page
/// faults to get them back; mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train, evaluate and export the DGA domain detector (scoring, serving and monitoring are the
/// `dga` command's).
///
/// With no command, trains the default model on the default data, evaluates it on the held-out
/// test split and exports the weights.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model, evaluate it on the test split and export its weights.
    Train(TrainArgs),
    /// Measure a model on labelled data: F1, ROC/PR-AUC, TPR at low FPR, per family and source.
    Eval(EvalArgs),
    /// Check the suffix rules on the labelled data: no DGA name set aside or scored as a
    /// platform's own domain (lists the private-section suffixes missing from the open list).
    OpenPlatforms(open_platforms::OpenPlatformsArgs),
    /// Build the shipped allow-list of benign CDN and cloud hostnames from the labelled data.
    Allowlist(allowlist::AllowlistArgs),
    /// Write the model card the page shows: test-split metrics and curves, sizes, benign trigrams.
    Card(CardArgs),
    /// Copy a run's best weights to where the page loads them and print their size.
    Export(ExportArgs),
    /// Training throughput and time to the first step per batch size (see bench/README.md).
    BenchTrain(bench_train::BenchTrainArgs),
    /// Train and measure a character n-gram logistic regression on the same split.
    Baseline(wide::BaselineArgs),
    /// Fit the linear n-gram part onto a trained transformer's weights (`train` does this itself).
    Wide(WideArgs),
    /// Zero the n-gram embedding rows no training name uses and blank the lexicon's words no
    /// split reads (`train` does this itself): the same verdicts for names made of n-grams seen
    /// in training, and a smaller page download.
    Compact(compact::CompactArgs),
    /// Fit the family head (which generator made a DGA name, or `unknown`) into weights
    /// (`train` does this itself); `p_dga` does not change.
    Family(family::FamilyArgs),
    /// Fit the benign-only anomaly model (`anomaly` beside `p_dga`) into weights (`train` does
    /// this itself); the parameters are kept byte for byte.
    Anomaly(AnomalyArgs),
    /// Set the decision shift (log-odds added to every verdict, where `p_dga` 0.5 falls) of
    /// weights (`train` does this itself); the parameters are kept byte for byte.
    Calibrate(CalibrateArgs),
    /// Leave-out benchmark: per fold, hold out a kind of DGA generator and some benign lists,
    /// train the model and the n-gram baseline on the rest, and measure both on what was held out.
    Generalise(generalise::GeneraliseArgs),
    /// Which family's own names make each given name likeliest by its label length, characters
    /// and suffix, with a flat prior and with the data's: what one name can tell of its family.
    Likeliest(likeliest::LikeliestArgs),
}

fn main() {
    labelled::finish(run());
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    let command = match cli.command {
        Some(command) => command,
        None => Cli::parse_from(["trainer", "train"])
            .command
            .expect("train parses"),
    };
    match command {
        Command::Train(args) => run_train(args),
        Command::Eval(args) => run_eval(args),
        Command::OpenPlatforms(args) => open_platforms::run(args),
        Command::Allowlist(args) => allowlist::run(args),
        Command::Card(args) => run_card(args),
        Command::Export(args) => run_export(&args.from, &args.to),
        Command::BenchTrain(args) => bench_train::run(args),
        Command::Baseline(args) => wide::run(args),
        Command::Wide(args) => run_wide(args),
        Command::Anomaly(args) => run_anomaly(args),
        Command::Calibrate(args) => run_calibrate(args),
        Command::Family(args) => family::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Generalise(args) => generalise::run(args),
        Command::Likeliest(args) => likeliest::run(args),
    }
}
