//! The one source of truth shared by the trainer and the page: how a pasted name becomes a domain,
//! how a domain becomes tokens, the transformer that scores them, the weights format, and the
//! inference API that turns raw strings into verdicts. No file or network IO lives here.

pub mod allow;
pub mod batch;
pub mod card;
pub mod detector;
pub mod explain;
pub mod extract;
pub mod folds;
mod gelu;
pub mod groups;
pub mod model;
pub mod normalise;
pub mod parallel;
pub mod report;
pub mod tokeniser;
pub mod weights;
pub mod words;

pub use allow::AllowList;
pub use batch::{Extras, HostBatch, SEQ_MULTIPLE, Shapes, TokenBatch};
pub use card::{Confusion, FamilyAccuracy, FamilyAccuracyRow, ModelCard, Report};
pub use detector::{
    DECISION_P, Detector, FAMILY_KEPT, FAMILY_TOP, Family, Prepared, Risk, RiskThresholds, Scored,
    SequenceScore, UNKNOWN_FAMILY, Verdict, sigmoid,
};
pub use groups::{
    FamilyProfile, GroupFamily, GroupMember, GroupRule, NameEvidence, NameRule, suffix_of,
};
pub use model::{DgaModel, FamilyConfig, ModelConfig, ModelSize};
pub use normalise::{Domain, DomainError, SetAside, SuffixRule, normalise};
pub use tokeniser::{InputView, Tokeniser, TokeniserConfig};
pub use weights::{WeightsError, decode_weights, encode_weights, replace_config};
