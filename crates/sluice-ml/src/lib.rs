//! The learners behind Sluice's built-in training steps: pure Rust, deterministic, no Python.
//!
//! - [`linear`]: ordinary least squares and ridge, by normal equations and Cholesky.
//! - [`logistic`]: binary and multinomial logistic regression with an L2 penalty, by L-BFGS.
//! - [`tree`], [`forest`], [`boosting`]: histogram tree learners in the style of `LightGBM` and
//!   scikit-learn's `HistGradientBoosting`: features are binned once to `u8`, splits are searched
//!   over gradient histograms, and a child's histogram is derived from its parent's and its
//!   sibling's.
//! - [`Model`]: any fitted model, its predictions and its versioned on-disk format.
//! - [`metrics`]: regression and classification scores.
//!
//! Every learner is deterministic: the same data, parameters and seed give a bit-identical model
//! whatever the number of threads, because each tree draws from its own seeded generator and every
//! parallel sum is reduced in a fixed order.

pub mod boosting;
mod dataset;
mod error;
pub mod forest;
mod hist;
mod lbfgs;
mod linalg;
pub mod linear;
pub mod logistic;
mod max_features;
pub mod metrics;
mod model;
mod model_bin;
mod model_map;
mod onnx;
mod par;
mod rng;
mod schema;
pub mod tree;

pub use boosting::{BoostingModel, BoostingParams};
pub use dataset::{Dataset, Task};
pub use error::MlError;
pub use forest::{ForestModel, ForestParams};
pub use hist::{BinMapper, HistTree};
pub use linear::{LinearModel, LinearParams};
pub use logistic::{LogisticModel, LogisticParams};
pub use max_features::MaxFeatures;
pub use model::{FORMAT, FORMAT_VERSION, JSON_MODEL_FILE, MODEL_FILE, Model, Predict};
pub use model_bin::BINARY_VERSION;
pub use model_map::MappedModel;
pub use onnx::{onnx_nodes, to_onnx};
pub use schema::Schema;
pub use tree::{TreeModel, TreeParams};
