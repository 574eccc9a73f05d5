//! The one source of truth shared by the trainer and the page: how a pasted name becomes a domain,
//! how a domain becomes tokens, the transformer that scores them, the weights format, and the
//! inference API that turns raw strings into verdicts. No file or network IO lives here.

pub mod allow;
pub mod batch;
pub mod card;
pub mod detector;
pub mod explain;
pub mod extract;
pub mod model;
pub mod normalise;
pub mod report;
pub mod tokeniser;
pub mod weights;

pub use allow::AllowList;
pub use batch::{SEQ_MULTIPLE, Shapes, TokenBatch};
pub use card::{ModelCard, Report};
pub use detector::{Detector, Prepared, Risk, RiskThresholds, Scored, Verdict, sigmoid};
pub use model::{DgaModel, ModelConfig, ModelSize};
pub use normalise::{Domain, DomainError, normalise};
pub use tokeniser::{InputView, Tokeniser, TokeniserConfig};
pub use weights::{WeightsError, decode_weights, encode_weights, replace_config};
