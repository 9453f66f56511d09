//! A fitted histogram tree, stored as parallel arrays (as `model.bin` stores them, and compact
//! in `model.json`).

use serde::{Deserialize, Serialize};

use super::binning::{Binned, MISSING_BIN};
use super::grower::Grown;

/// One fitted tree. Node `i` is a leaf when `left[i] == 0`; otherwise a row goes left when its bin
/// of `feature[i]` is at most `threshold[i]`, or, for a missing value, when `missing_left[i]`.
/// `value` holds `n_outputs` values per node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistTree {
    feature: Vec<u32>,
    threshold: Vec<u8>,
    missing_left: Vec<bool>,
    left: Vec<u32>,
    right: Vec<u32>,
    value: Vec<f64>,
    n_outputs: usize,
}

/// Trees an ensemble's prediction walks: fitted and owned ([`HistTree`]s), or read in place from a
/// mapped model file.
pub(crate) trait TreeNodes: Sync {
    fn n_trees(&self) -> usize;
    /// For rows `first..` of `binned`, one per `width` values of `out`, adds the values of the
    /// leaf each falls in, in tree `tree`, to that row's values from `at` on.
    fn add_leaves(
        &self,
        tree: usize,
        binned: &Binned,
        first: usize,
        out: &mut [f64],
        width: usize,
        at: usize,
    );
}

impl TreeNodes for [HistTree] {
    fn n_trees(&self) -> usize {
        self.len()
    }

    fn add_leaves(
        &self,
        tree: usize,
        binned: &Binned,
        first: usize,
        out: &mut [f64],
        width: usize,
        at: usize,
    ) {
        let t = &self[tree];
        for (i, o) in out.chunks_exact_mut(width).enumerate() {
            for (o, v) in o[at..].iter_mut().zip(t.value(t.leaf(binned, first + i))) {
                *o += v;
            }
        }
    }
}

/// A tree's split arrays, node by node.
pub(crate) struct Splits<'a> {
    pub(crate) feature: &'a [u32],
    pub(crate) threshold: &'a [u8],
    pub(crate) missing_left: &'a [bool],
    pub(crate) left: &'a [u32],
    pub(crate) right: &'a [u32],
}

impl HistTree {
    /// The tree of `grown`, `value` writing each node's outputs from its statistic sums.
    pub(crate) fn from_grown(
        grown: &Grown,
        n_outputs: usize,
        mut value: impl FnMut(&[f64], &mut [f64]),
    ) -> Self {
        let n = grown.n_nodes();
        // Only leaves carry values (prediction never reads a split node's); split nodes keep 0.
        let mut values = vec![0.0; n * n_outputs];
        for (i, out) in values.chunks_exact_mut(n_outputs).enumerate() {
            if grown.left[i] == 0 {
                value(grown.node_sums(i), out);
            }
        }
        Self::from_arrays(
            grown.feature.clone(),
            grown.threshold.clone(),
            grown.missing_left.clone(),
            grown.left.clone(),
            grown.right.clone(),
            values,
            n_outputs,
        )
    }

    /// A tree from its arrays, as a model file holds them (checked by `validate` when the model
    /// is loaded).
    pub(crate) fn from_arrays(
        feature: Vec<u32>,
        threshold: Vec<u8>,
        missing_left: Vec<bool>,
        left: Vec<u32>,
        right: Vec<u32>,
        value: Vec<f64>,
        n_outputs: usize,
    ) -> Self {
        HistTree {
            feature,
            threshold,
            missing_left,
            left,
            right,
            value,
            n_outputs,
        }
    }

    /// Every node's outputs, `n_outputs` per node.
    pub(crate) fn values(&self) -> &[f64] {
        &self.value
    }

    pub(crate) fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    #[must_use]
    pub fn n_nodes(&self) -> usize {
        self.left.len()
    }

    #[must_use]
    pub fn n_leaves(&self) -> usize {
        self.left.iter().filter(|&&l| l == 0).count()
    }

    /// Edges from the root to the deepest leaf.
    #[must_use]
    pub fn depth(&self) -> usize {
        let mut depth = vec![0usize; self.n_nodes()];
        let mut max = 0;
        for i in 0..self.n_nodes() {
            if self.left[i] != 0 {
                for child in [self.left[i], self.right[i]] {
                    depth[child as usize] = depth[i] + 1;
                    max = max.max(depth[i] + 1);
                }
            }
        }
        max
    }

    /// The leaf that row `row` of `binned` falls in.
    pub(crate) fn leaf(&self, binned: &Binned, row: usize) -> usize {
        let mut node = 0;
        loop {
            let left = self.left[node];
            if left == 0 {
                return node;
            }
            let b = binned.columns[self.feature[node] as usize][row];
            let go_left = if b == MISSING_BIN {
                self.missing_left[node]
            } else {
                b <= self.threshold[node]
            };
            node = if go_left { left } else { self.right[node] } as usize;
        }
    }

    /// Each node's feature, bin threshold, missing-value side and children (`0` for a leaf).
    pub(crate) fn splits(&self) -> Splits<'_> {
        Splits {
            feature: &self.feature,
            threshold: &self.threshold,
            missing_left: &self.missing_left,
            left: &self.left,
            right: &self.right,
        }
    }

    pub(crate) fn value(&self, node: usize) -> &[f64] {
        &self.value[node * self.n_outputs..(node + 1) * self.n_outputs]
    }

    /// Checks a loaded tree so that prediction cannot index out of bounds or loop.
    pub(crate) fn validate(&self, n_features: usize, n_outputs: usize) -> Result<(), String> {
        let n = self.n_nodes();
        let lengths_agree = n > 0
            && self.feature.len() == n
            && self.threshold.len() == n
            && self.missing_left.len() == n
            && self.right.len() == n
            && self.n_outputs == n_outputs
            && self.value.len() == n * n_outputs;
        if !lengths_agree {
            return Err("a tree's arrays have inconsistent lengths".to_owned());
        }
        for i in 0..n {
            if self.left[i] == 0 {
                continue;
            }
            let (l, r) = (self.left[i] as usize, self.right[i] as usize);
            // Children come after their parent, so following them always ends at a leaf.
            if l <= i || r <= i || l >= n || r >= n || self.feature[i] as usize >= n_features {
                return Err(format!("tree node {i} has an invalid split"));
            }
        }
        Ok(())
    }
}
