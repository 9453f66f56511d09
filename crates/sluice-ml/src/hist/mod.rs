//! The machinery shared by the histogram tree learners: binning, histograms, split search, tree
//! growing and the fitted tree.

mod binning;
mod grower;
mod histogram;
mod nodes;
mod split;

pub use binning::BinMapper;
pub(crate) use binning::{Binned, MAX_BINS, MISSING_BIN};
pub(crate) use grower::{GrowParams, Histograms, Purity, Scratch, grow};
pub(crate) use histogram::{Layout, N_BINS, RowMatrix, fill_stats};
pub use nodes::HistTree;
pub(crate) use nodes::Splits;
pub(crate) use nodes::TreeNodes;
pub(crate) use split::SplitRules;
