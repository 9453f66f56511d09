//! Deterministic synthetic datasets, for examples and tests that need realistic data without
//! downloading any.

mod random;
mod taxi;

pub use taxi::{TaxiParts, taxi};
