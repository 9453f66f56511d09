//! Grows one tree on binned features and per-row statistics.
//!
//! Rows live in one array, each node owning a contiguous range; a split partitions the node's
//! range stably (left rows first), so every order below is a function of the data alone. A node
//! whose histograms or sorted bins are needed first gathers its rows' statistics into one
//! contiguous buffer, read once per feature.
//!
//! Split search per node:
//! - When every feature may be used at every split (boosting; regression forests), nodes of at
//!   least [`SORT_BELOW`] rows keep a histogram of every feature; of a split's two children only
//!   the smaller one's histogram is built from its rows, the sibling's is the parent's minus it.
//!   Given a [`RowMatrix`] (boosting), those histograms are built row by row from it: each row's
//!   statistics and bins are read at one place, in blocks of rows summed in parallel (a node of
//!   one block: its slots divided among the threads).
//! - When a few features are drawn per split (classification forests), only the drawn features'
//!   histograms are built, from the node's rows.
//! - Nodes of fewer than [`SORT_BELOW`] rows sort their rows by bin instead: cheaper than
//!   clearing and scanning 256 bins per feature.
//!
//! Large nodes build and scan features in parallel; the best split is then chosen in feature
//! order, so the result does not depend on the number of threads.
//!
//! Nodes are split depth first, or best first (largest gain) under a leaf budget.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use super::binning::{Binned, MISSING_BIN};
use super::histogram::{self, N_BINS, RowMatrix};
use super::split::{FeatureBest, SplitRules};
use crate::rng::Rng;

/// Nodes with fewer rows search splits by sorting their rows' bins.
pub(crate) const SORT_BELOW: usize = 256;
/// Nodes with fewer rows times features than this stay on one thread (measured with the other
/// workers kept awake, `par::in_pool_awake`).
const PARALLEL_WORK: usize = 1 << 13;
/// Nodes with at least this many rows are partitioned in parallel, in chunks of
/// `PARTITION_CHUNK` rows.
const PARALLEL_PARTITION: usize = 1 << 11;
const PARTITION_CHUNK: usize = 1 << 10;
/// A histogram built row by row sums blocks of about this many rows apart (in parallel) and then
/// adds them in order; the blocks' buffers together take at most [`BLOCK_BYTES`].
const ROW_BLOCK: usize = 1 << 14;
const BLOCK_BYTES: usize = 2 << 20;

pub(crate) struct GrowParams {
    pub(crate) max_depth: Option<usize>,
    pub(crate) max_leaf_nodes: Option<usize>,
    pub(crate) min_samples_split: usize,
    /// Features drawn at random for each split; all of them when equal to their number.
    pub(crate) max_features: usize,
    pub(crate) rules: SplitRules,
}

/// How a node is known to be pure (all targets equal) and so left unsplit.
pub(crate) enum Purity<'a> {
    /// Only by every split scoring zero (classification, boosting).
    ByGain,
    /// By the rows' values of this target (regression trees).
    Target(&'a [f64]),
}

/// A grown tree: its nodes, each node's statistic sums and row range, and the rows partitioned
/// so that every leaf's rows are `rows[range]`.
pub(crate) struct Grown {
    pub(crate) feature: Vec<u32>,
    pub(crate) threshold: Vec<u8>,
    pub(crate) missing_left: Vec<bool>,
    /// `0` for a leaf (the root is no one's child).
    pub(crate) left: Vec<u32>,
    pub(crate) right: Vec<u32>,
    pub(crate) range: Vec<(usize, usize)>,
    pub(crate) sums: Vec<f64>,
    pub(crate) stride: usize,
    pub(crate) rows: Vec<u32>,
    /// With [`Histograms::keep`]: the root's histograms, and each leaf's where it has them.
    pub(crate) root_hist: Option<Vec<f64>>,
    pub(crate) hists: Vec<Option<Vec<f64>>>,
    /// The grower's buffers, for the next tree ([`Histograms::scratch`]).
    pub(crate) scratch: Scratch,
}

impl Grown {
    /// The buffers this tree is done with (its kept histograms among them) for the next tree's
    /// [`Histograms::scratch`].
    pub(crate) fn into_scratch(self) -> Scratch {
        let mut scratch = self.scratch;
        scratch
            .pool
            .extend(self.hists.into_iter().flatten().chain(self.root_hist));
        scratch
    }

    pub(crate) fn n_nodes(&self) -> usize {
        self.left.len()
    }

    pub(crate) fn node_sums(&self, node: usize) -> &[f64] {
        &self.sums[node * self.stride..(node + 1) * self.stride]
    }

    /// The leaves, each with its rows.
    pub(crate) fn leaves(&self) -> impl Iterator<Item = (usize, &[u32])> {
        (0..self.n_nodes())
            .filter(|&i| self.left[i] == 0)
            .map(|i| (i, &self.rows[self.range[i].0..self.range[i].1]))
    }

    /// Shifts `root`, the root's histograms of every feature (as [`Histograms::keep`] left
    /// them), to what they become once the first statistic of every row moves by `shift(leaf)`
    /// of its leaf: each entry's first sum moves by the shift times the leaf's rows in it (its
    /// `count` statistic in the leaf's histogram, or counted from the leaf's rows when it has
    /// none). With the squared loss a row's gradient moves with its prediction, so the next
    /// round's root needs no pass over the rows.
    pub(crate) fn shift_root(
        &self,
        binned: &Binned,
        root: &mut [f64],
        count: usize,
        shift: impl Fn(usize) -> f64 + Sync,
    ) {
        let stride = self.stride;
        let chunk = N_BINS * stride;
        let leaves: Vec<(usize, f64)> = (0..self.n_nodes())
            .filter(|&i| self.left[i] == 0)
            .map(|i| (i, shift(i)))
            .collect();
        root.par_chunks_mut(chunk)
            .zip(binned.columns.par_iter())
            .enumerate()
            .for_each(|(f, (h, column))| {
                for &(leaf, v) in &leaves {
                    if let Some(Some(leaf_hist)) = self.hists.get(leaf) {
                        let leaf_hist = &leaf_hist[f * chunk..(f + 1) * chunk];
                        for (e, l) in h
                            .chunks_exact_mut(stride)
                            .zip(leaf_hist.chunks_exact(stride))
                        {
                            e[0] += v * l[count];
                        }
                    } else {
                        let (start, end) = self.range[leaf];
                        for &r in &self.rows[start..end] {
                            h[usize::from(column[r as usize]) * stride] += v;
                        }
                    }
                }
            });
    }
}

/// How a tree's histograms of every feature are had (when it keeps them, see
/// [`GrowParams`]'s `max_features`).
#[derive(Default)]
pub(crate) struct Histograms<'a> {
    /// Built row by row from this matrix.
    pub(crate) packed: Option<&'a RowMatrix>,
    /// The root's, when the caller has them: not built again.
    pub(crate) root: Option<Vec<f64>>,
    /// Keep the root's and the leaves' in the grown tree ([`Grown::shift_root`]).
    pub(crate) keep: bool,
    /// Buffers of an earlier tree ([`Grown::into_scratch`]), used again rather than allocated
    /// and faulted in anew for every tree.
    pub(crate) scratch: Scratch,
}

/// Working buffers of a grower, handed from tree to tree. Every buffer is written before it is
/// read, so what an earlier tree left in them does not matter.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Histogram buffers of every feature, free to be taken.
    pool: Vec<Vec<f64>>,
    /// Per-block histograms of a row-wise build (the blocks after the first).
    blocks: Vec<Vec<f64>>,
    /// The slots' histograms of a row-wise build with joint slots.
    slot_hist: Vec<f64>,
    /// The statistics of one node's rows (the grower's `gathered_for`), in node order.
    gathered: Vec<f64>,
    /// A partition's rows before they are put back in order.
    partitioned: Vec<u32>,
    /// Sort keys, bins and sums of a small node's feature.
    keys: Vec<u64>,
    group_bins: Vec<u8>,
    group_sums: Vec<f64>,
}

struct Choice {
    gain: f64,
    feature: usize,
    bin: u8,
    missing_left: bool,
    left: Vec<f64>,
}

struct Pending {
    gain: f64,
    node: u32,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Larger gain first, then the older node.
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain
            .total_cmp(&other.gain)
            .then_with(|| other.node.cmp(&self.node))
    }
}

struct Grower<'a> {
    binned: &'a Binned,
    /// Whether the root's rows are every row in order, so its statistics need no gathering.
    identity_root: bool,
    params: &'a GrowParams,
    purity: Purity<'a>,
    rng: &'a mut Rng,
    stride: usize,
    n_features: usize,
    /// Keep every feature's histogram in large nodes and derive siblings by subtraction.
    subtract: bool,
    /// Build those histograms row by row from this matrix.
    packed: Option<&'a RowMatrix>,
    /// Keep the leaves' histograms.
    keep: bool,
    rows: Vec<u32>,
    /// Statistics by original row index, unless they are in this matrix.
    stats: &'a [f64],
    stats_matrix: Option<&'a RowMatrix>,
    /// Whose statistics `scratch.gathered` holds.
    gathered_for: Option<u32>,
    out: Grown,
    depth: Vec<usize>,
    hist: Vec<Option<Vec<f64>>>,
    choice: Vec<Option<Choice>>,
    perm: Vec<usize>,
    scratch: Scratch,
    missing: Vec<f64>,
}

/// Grows a tree on the rows `rows` of `binned`; `stats` holds `rules.layout.stride()` values per
/// row of `binned` (only those of `rows` are read). `rng` draws the features of each split.
/// `hists` says how histograms of every feature are built, or given for the root, and whether
/// they are kept; given a matrix, the statistics are read from it (and `stats` may be empty).
pub(crate) fn grow(
    binned: &Binned,
    params: &GrowParams,
    purity: Purity<'_>,
    rng: &mut Rng,
    rows: Vec<u32>,
    stats: &[f64],
    hists: Histograms<'_>,
) -> Grown {
    let stride = params.rules.layout.stride();
    let n_features = binned.columns.len();
    let n = rows.len();
    let subtract = params.max_features * 2 > n_features;
    let all_rows = hists.packed.map_or(stats.len() / stride, RowMatrix::n_rows);
    let identity_root =
        rows.len() == all_rows && rows.iter().enumerate().all(|(i, &r)| r as usize == i);
    let mut g = Grower {
        binned,
        identity_root,
        params,
        purity,
        rng,
        stride,
        n_features,
        subtract,
        packed: hists.packed.filter(|_| subtract),
        keep: hists.keep,
        rows,
        stats,
        stats_matrix: hists.packed,
        gathered_for: None,
        out: Grown {
            feature: Vec::new(),
            threshold: Vec::new(),
            missing_left: Vec::new(),
            left: Vec::new(),
            right: Vec::new(),
            range: Vec::new(),
            sums: Vec::new(),
            stride,
            rows: Vec::new(),
            root_hist: None,
            hists: Vec::new(),
            scratch: Scratch::default(),
        },
        depth: Vec::new(),
        hist: Vec::new(),
        choice: Vec::new(),
        perm: (0..n_features).collect(),
        scratch: hists.scratch,
        missing: vec![0.0; stride],
    };
    // The root's sums are those of its histograms when it has some (of any one feature: every
    // row is in one of its bins), else of its rows.
    let root = g.new_node(0, n, 0, &vec![0.0; stride]);
    if g.subtract && n >= SORT_BELOW && g.n_features > 0 {
        let len = g.n_features * N_BINS * stride;
        let buffer = match hists.root {
            Some(given) if given.len() == len => given,
            _ => {
                let mut buffer = g.buffer();
                g.build_all(root, &mut buffer);
                buffer
            }
        };
        for bin in buffer[..N_BINS * stride].chunks_exact(stride) {
            for (t, v) in g.out.sums[..stride].iter_mut().zip(bin) {
                *t += v;
            }
        }
        if g.keep {
            // Into a spare buffer's memory when there is one.
            let mut copy = g.scratch.pool.pop().unwrap_or_default();
            copy.clone_from(&buffer);
            g.out.root_hist = Some(copy);
        }
        g.hist[0] = Some(buffer);
    } else {
        let total = match g.stats_matrix {
            Some(matrix) => matrix.sums(&g.rows),
            None => total_sums(&g.rows, g.stats, stride),
        };
        g.out.sums[..stride].copy_from_slice(&total);
    }
    g.choice[0] = g.search(root);

    let best_first = params.max_leaf_nodes.is_some();
    let mut heap = BinaryHeap::new();
    let mut stack = Vec::new();
    if let Some(c) = &g.choice[0] {
        heap.push(Pending {
            gain: c.gain,
            node: root,
        });
        stack.push(root);
    }
    let mut leaves = 1;
    loop {
        let next = if best_first {
            heap.pop().map(|p| p.node)
        } else {
            stack.pop()
        };
        let Some(node) = next else { break };
        if params.max_leaf_nodes.is_some_and(|max| leaves >= max) {
            break;
        }
        let (l, r) = g.split(node);
        leaves += 1;
        for child in [r, l] {
            if let Some(c) = &g.choice[child as usize] {
                if best_first {
                    heap.push(Pending {
                        gain: c.gain,
                        node: child,
                    });
                } else {
                    stack.push(child);
                }
            }
        }
    }
    let mut out = g.out;
    out.rows = g.rows;
    out.scratch = g.scratch;
    if g.keep {
        out.hists = g.hist;
    } else {
        out.scratch.pool.extend(g.hist.into_iter().flatten());
    }
    out
}

/// The sums of the statistics of `rows`, over fixed chunks added in order.
fn total_sums(rows: &[u32], stats: &[f64], stride: usize) -> Vec<f64> {
    crate::par::chunked(
        rows.len(),
        |range| {
            let mut s = vec![0.0; stride];
            for &r in &rows[range] {
                let r = r as usize;
                for (a, b) in s.iter_mut().zip(&stats[r * stride..(r + 1) * stride]) {
                    *a += b;
                }
            }
            s
        },
        crate::par::add_into,
    )
    .unwrap_or_else(|| vec![0.0; stride])
}

impl Grower<'_> {
    fn new_node(&mut self, start: usize, end: usize, depth: usize, sums: &[f64]) -> u32 {
        let id = crate::par::row_u32(self.out.left.len());
        self.out.feature.push(0);
        self.out.threshold.push(0);
        self.out.missing_left.push(false);
        self.out.left.push(0);
        self.out.right.push(0);
        self.out.range.push((start, end));
        self.out.sums.extend_from_slice(sums);
        self.depth.push(depth);
        self.hist.push(None);
        self.choice.push(None);
        id
    }

    fn buffer(&mut self) -> Vec<f64> {
        let len = self.n_features * N_BINS * self.stride;
        let mut b = self.scratch.pool.pop().unwrap_or_default();
        b.resize(len, 0.0);
        b
    }

    /// Drops `node`'s histograms (a leaf's: unless they are kept).
    fn release(&mut self, node: u32) {
        if self.keep {
            return;
        }
        if let Some(b) = self.hist[node as usize].take() {
            self.scratch.pool.push(b);
        }
    }

    fn sums(&self, node: u32) -> &[f64] {
        self.out.node_sums(node as usize)
    }

    /// Whether `node`'s statistics are `stats` as they are (every row, in order).
    fn stats_in_place(&self, node: u32) -> bool {
        node == 0 && self.identity_root && self.stats_matrix.is_none()
    }

    /// Gathers the statistics of `node`'s rows into `gathered`, unless they are there already.
    fn gather(&mut self, node: u32) {
        if self.gathered_for == Some(node) || self.stats_in_place(node) {
            return;
        }
        let (start, end) = self.out.range[node as usize];
        let rows = &self.rows[start..end];
        match self.stats_matrix {
            Some(matrix) => matrix.gather_stats(&mut self.scratch.gathered, rows),
            None => histogram::gather(&mut self.scratch.gathered, self.stats, rows, self.stride),
        }
        self.gathered_for = Some(node);
    }

    /// The statistics of `node`'s rows in node order (after [`Self::gather`]).
    fn node_stats(&self, node: u32) -> &[f64] {
        if self.stats_in_place(node) {
            self.stats
        } else {
            debug_assert_eq!(self.gathered_for, Some(node));
            &self.scratch.gathered
        }
    }

    /// Every feature's histogram of `node` into `buffer`.
    fn build_all(&mut self, node: u32, buffer: &mut [f64]) {
        if let Some(packed) = self.packed {
            self.build_rows(packed, node, buffer);
            return;
        }
        self.gather(node);
        let (start, end) = self.out.range[node as usize];
        let rows = &self.rows[start..end];
        let stats = self.node_stats(node);
        let dense = self.stats_in_place(node);
        let stride = self.stride;
        let work = |(h, column): (&mut [f64], &Vec<u8>)| {
            h.fill(0.0);
            if dense {
                histogram::accumulate_dense(h, column, stats, stride);
            } else {
                histogram::accumulate(h, column, rows, stats, stride);
            }
        };
        if rows.len() * self.n_features >= PARALLEL_WORK {
            buffer
                .par_chunks_mut(N_BINS * stride)
                .zip(self.binned.columns.par_iter())
                .for_each(work);
        } else {
            buffer
                .chunks_mut(N_BINS * stride)
                .zip(self.binned.columns.iter())
                .for_each(work);
        }
    }

    /// Every feature's histogram of `node` from the packed rows (nothing gathered). The node's
    /// rows are cut into blocks by their number alone, each block summed on its own and the
    /// blocks added in order; a node of one block has its slots divided among the threads, each
    /// slot summed by one. Either way the sums do not depend on the number of threads.
    fn build_rows(&mut self, packed: &RowMatrix, node: u32, buffer: &mut [f64]) {
        let (start, end) = self.out.range[node as usize];
        let n = end - start;
        let dense = node == 0 && self.identity_root;
        let rows = &self.rows[start..end];
        let stride = self.stride;
        // Joint slots are summed apart and expanded into the features' histograms at the end.
        let mut slots = std::mem::take(&mut self.scratch.slot_hist);
        let target: &mut [f64] = if packed.joint() {
            slots.resize(packed.slot_len(), 0.0);
            &mut slots
        } else {
            &mut *buffer
        };
        let len = target.len();
        let max_blocks = (BLOCK_BYTES / size_of_val(target)).max(1);
        let n_blocks = n.div_ceil(ROW_BLOCK).clamp(1, max_blocks);
        let per = n.div_ceil(n_blocks);
        // The node's rows `range` (positions within the node).
        let rows_in = |range: std::ops::Range<usize>| {
            if dense {
                histogram::Rows::Range(range.start, range.end)
            } else {
                histogram::Rows::Listed(&rows[range])
            }
        };
        let block = |i: usize, h: &mut [f64]| {
            h.fill(0.0);
            packed.accumulate(h, rows_in(i * per..((i + 1) * per).min(n)));
        };
        let n_slots = packed.n_slots();
        if n_blocks == 1 && n_slots > 1 && n * n_slots >= PARALLEL_WORK {
            // One block, its slots divided among the threads: every thread reads every row and
            // sums its slots' (the same sums as one thread's).
            let per_slot = len / n_slots;
            let groups = rayon::current_num_threads().clamp(1, n_slots);
            let slots_per = n_slots.div_ceil(groups);
            target
                .par_chunks_mut(slots_per * per_slot)
                .enumerate()
                .for_each(|(g, h)| {
                    h.fill(0.0);
                    packed.accumulate_slots(h, g * slots_per, rows_in(0..n));
                });
        } else if n_blocks == 1 {
            block(0, target);
        } else {
            // Only ever grown, so that the buffers stay from node to node and tree to tree.
            let mut blocks = std::mem::take(&mut self.scratch.blocks);
            if blocks.len() < n_blocks - 1 {
                blocks.resize_with(n_blocks - 1, Vec::new);
            }
            let extra = &mut blocks[..n_blocks - 1];
            for b in extra.iter_mut() {
                b.resize(len, 0.0);
            }
            let mut targets: Vec<&mut [f64]> = std::iter::once(&mut *target)
                .chain(extra.iter_mut().map(Vec::as_mut_slice))
                .collect();
            targets
                .par_iter_mut()
                .enumerate()
                .for_each(|(i, h)| block(i, h));
            drop(targets);
            let chunk = N_BINS * stride;
            target
                .par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(f, out)| {
                    for b in extra.iter() {
                        for (o, v) in out.iter_mut().zip(&b[f * chunk..(f + 1) * chunk]) {
                            *o += v;
                        }
                    }
                });
            self.scratch.blocks = blocks;
        }
        if packed.joint() {
            packed.expand(&slots, buffer);
        }
        self.scratch.slot_hist = slots;
    }

    fn is_pure(&self, node: u32) -> bool {
        match self.purity {
            Purity::ByGain => false,
            Purity::Target(y) => {
                let (start, end) = self.out.range[node as usize];
                let rows = &self.rows[start..end];
                let first = y[rows[0] as usize].to_bits();
                rows.iter().all(|&r| y[r as usize].to_bits() == first)
            }
        }
    }

    /// The best split of `node`, or `None` to make it a leaf (and drop its histogram).
    fn search(&mut self, node: u32) -> Option<Choice> {
        if !self.splittable(node) {
            self.release(node);
            return None;
        }
        let mut results: Vec<(usize, FeatureBest)> = Vec::new();
        if self.params.max_features >= self.n_features {
            let all: Vec<usize> = (0..self.n_features).collect();
            results = self.evaluate(node, &all);
        } else {
            // Draw features until `max_features` non-constant ones were tried (or none is left),
            // as scikit-learn does.
            let f = self.n_features;
            let mut drawn = 0;
            let mut wanted = self.params.max_features;
            loop {
                let mut batch = Vec::with_capacity(wanted);
                for i in drawn..drawn + wanted {
                    let j = i + self.rng.below(f - i);
                    self.perm.swap(i, j);
                    batch.push(self.perm[i]);
                }
                drawn += wanted;
                batch.sort_unstable();
                let found = self.evaluate(node, &batch);
                let constants = found.iter().filter(|(_, b)| b.constant).count();
                results.extend(found);
                if constants == 0 || drawn == f {
                    break;
                }
                wanted = constants.min(f - drawn);
            }
        }
        self.pick(node, results)
    }

    /// Whether `node` may be split at all (depth, size, purity).
    fn splittable(&self, node: u32) -> bool {
        let (start, end) = self.out.range[node as usize];
        let rules = self.params.rules;
        let count = self.sums(node)[rules.layout.count()];
        self.params
            .max_depth
            .is_none_or(|d| self.depth[node as usize] < d)
            && end - start >= self.params.min_samples_split
            && count >= 2.0 * rules.min_samples_leaf
            && !self.is_pure(node)
    }

    /// The best of the features' best splits (the larger gain, then the lower feature), with its
    /// left sums; `None` makes `node` a leaf and drops its histogram.
    fn pick(&mut self, node: u32, results: Vec<(usize, FeatureBest)>) -> Option<Choice> {
        let mut best: Option<(usize, FeatureBest)> = None;
        for (feature, b) in results {
            if !b.found() {
                continue;
            }
            let better = match best {
                None => true,
                Some((bf, bb)) => match b.gain.total_cmp(&bb.gain) {
                    Ordering::Greater => true,
                    Ordering::Equal => feature < bf,
                    Ordering::Less => false,
                },
            };
            if better {
                best = Some((feature, b));
            }
        }
        let Some((feature, b)) = best else {
            self.release(node);
            return None;
        };
        let left = self.left_sums(node, feature, b);
        Some(Choice {
            gain: b.gain,
            feature,
            bin: b.bin,
            missing_left: b.missing_left,
            left,
        })
    }

    /// The best split of each of `features` (sorted) in `node`.
    fn evaluate(&mut self, node: u32, features: &[usize]) -> Vec<(usize, FeatureBest)> {
        let (start, end) = self.out.range[node as usize];
        let n = end - start;
        let stride = self.stride;
        let rules = self.params.rules;
        let total = self.sums(node).to_vec();
        let parent_score = rules.parent_score(&total);
        let parallel = n * features.len() >= PARALLEL_WORK;
        if let Some(hist) = &self.hist[node as usize] {
            let binned = self.binned;
            let scan = |&f: &usize| {
                let h = &hist[f * N_BINS * stride..(f + 1) * N_BINS * stride];
                (
                    f,
                    rules.scan_hist(h, binned.n_bins[f], &total, parent_score),
                )
            };
            return if parallel {
                features.par_iter().map(scan).collect()
            } else {
                features.iter().map(scan).collect()
            };
        }
        self.gather(node);
        if n >= SORT_BELOW {
            let rows = &self.rows[start..end];
            let stats = self.node_stats(node);
            let binned = self.binned;
            let scan = |&f: &usize| {
                let mut h = vec![0.0; N_BINS * stride];
                histogram::accumulate(&mut h, &binned.columns[f], rows, stats, stride);
                (
                    f,
                    rules.scan_hist(&h, binned.n_bins[f], &total, parent_score),
                )
            };
            return if parallel {
                features.par_iter().map(scan).collect()
            } else {
                features.iter().map(scan).collect()
            };
        }
        let mut out = Vec::with_capacity(features.len());
        for &f in features {
            self.sort_groups(node, f);
            let best = rules.scan_sparse(
                &self.scratch.group_bins,
                &self.scratch.group_sums,
                &self.missing,
                &total,
                parent_score,
            );
            out.push((f, best));
        }
        out
    }

    /// Groups the rows of `node` (its statistics gathered) by their bin of feature `f`:
    /// `group_bins` and `group_sums` for the values, `missing` for the missing ones. Sums add rows
    /// in node order, as histograms do.
    fn sort_groups(&mut self, node: u32, f: usize) {
        let (start, end) = self.out.range[node as usize];
        let stride = self.stride;
        let column = &self.binned.columns[f];
        histogram::sorted_keys(&mut self.scratch.keys, column, &self.rows[start..end]);
        let stats = if self.stats_in_place(node) {
            self.stats
        } else {
            &self.scratch.gathered[..]
        };
        histogram::group_sorted(
            &self.scratch.keys,
            stats,
            stride,
            &mut self.scratch.group_bins,
            &mut self.scratch.group_sums,
            &mut self.missing,
        );
    }

    /// The left sums of the chosen split, from the same source and in the same order as the scan.
    fn left_sums(&mut self, node: u32, f: usize, best: FeatureBest) -> Vec<f64> {
        let (start, end) = self.out.range[node as usize];
        let stride = self.stride;
        let rules = self.params.rules;
        let mut out = vec![0.0; stride];
        let owned;
        if self.hist[node as usize].is_none() {
            self.gather(node);
        }
        let h: &[f64] = if let Some(hist) = &self.hist[node as usize] {
            &hist[f * N_BINS * stride..(f + 1) * N_BINS * stride]
        } else if end - start >= SORT_BELOW {
            let mut h = vec![0.0; N_BINS * stride];
            histogram::accumulate(
                &mut h,
                &self.binned.columns[f],
                &self.rows[start..end],
                self.node_stats(node),
                stride,
            );
            owned = h;
            &owned
        } else {
            self.sort_groups(node, f);
            let groups = self
                .scratch
                .group_bins
                .iter()
                .zip(self.scratch.group_sums.chunks_exact(stride))
                .map(|(b, s)| (*b, s));
            rules.left_sums(groups, &self.missing, best, &mut out);
            return out;
        };
        let c = rules.layout.count();
        let groups = (0..self.binned.n_bins[f])
            .map(|b| {
                (
                    b,
                    &h[usize::from(b) * stride..(usize::from(b) + 1) * stride],
                )
            })
            .filter(|(_, s)| s[c] > 0.0);
        rules.left_sums(
            groups,
            &h[usize::from(MISSING_BIN) * stride..],
            best,
            &mut out,
        );
        out
    }

    /// Splits `node` by its chosen split; returns the children, their splits already searched.
    fn split(&mut self, node: u32) -> (u32, u32) {
        let choice = self.choice[node as usize]
            .take()
            .expect("only nodes with a split are split");
        let (start, end) = self.out.range[node as usize];
        let mid = self.partition(start, end, &choice);
        let depth = self.depth[node as usize] + 1;
        let right_sums: Vec<f64> = self
            .sums(node)
            .iter()
            .zip(&choice.left)
            .map(|(t, l)| t - l)
            .collect();
        let l = self.new_node(start, mid, depth, &choice.left);
        let r = self.new_node(mid, end, depth, &right_sums);
        let i = node as usize;
        self.out.feature[i] = crate::par::row_u32(choice.feature);
        self.out.threshold[i] = choice.bin;
        self.out.missing_left[i] = choice.missing_left;
        self.out.left[i] = l;
        self.out.right[i] = r;

        if let Some(mut parent) = self.hist[i].take() {
            let (n_left, n_right) = (mid - start, end - mid);
            let (small, large, n_small, n_large) = if n_left <= n_right {
                (l, r, n_left, n_right)
            } else {
                (r, l, n_right, n_left)
            };
            if n_large < SORT_BELOW {
                self.scratch.pool.push(parent);
            } else if n_small >= SORT_BELOW || n_small + N_BINS < n_large {
                let mut small_hist = self.buffer();
                if self.params.max_features >= self.n_features {
                    self.build_subtract_search(small, large, small_hist, parent);
                    return (l, r);
                }
                self.build_all(small, &mut small_hist);
                histogram::subtract(&mut parent, &small_hist);
                self.hist[small as usize] = Some(small_hist);
                self.hist[large as usize] = Some(parent);
            } else {
                self.build_all(large, &mut parent);
                self.hist[large as usize] = Some(parent);
            }
        }
        self.choice[l as usize] = self.search(l);
        self.choice[r as usize] = self.search(r);
        (l, r)
    }

    /// The children's histograms and splits in one pass over the features (one parallel region
    /// rather than four): per feature, build the small child's histogram from its rows (already
    /// gathered), subtract it from the parent's to get the large child's, and scan both. Gives
    /// the same splits as building, subtracting and searching in turn.
    fn build_subtract_search(
        &mut self,
        small: u32,
        large: u32,
        mut small_hist: Vec<f64>,
        mut parent: Vec<f64>,
    ) {
        let rules = self.params.rules;
        let stride = self.stride;
        // Built row by row here, or per feature below from the gathered statistics.
        let built = self.packed.is_some();
        if let Some(packed) = self.packed {
            self.build_rows(packed, small, &mut small_hist);
        } else {
            self.gather(small);
        }
        let (start, end) = self.out.range[small as usize];
        let rows = &self.rows[start..end];
        let stats: &[f64] = if built { &[] } else { self.node_stats(small) };
        let scan_small = self.splittable(small);
        let scan_large = self.splittable(large);
        let total_small = self.sums(small).to_vec();
        let total_large = self.sums(large).to_vec();
        let (score_small, score_large) = (
            rules.parent_score(&total_small),
            rules.parent_score(&total_large),
        );
        let binned = self.binned;
        let work = |(f, (hs, hl)): (usize, (&mut [f64], &mut [f64]))| {
            if !built {
                hs.fill(0.0);
                histogram::accumulate(hs, &binned.columns[f], rows, stats, stride);
            }
            histogram::subtract(hl, hs);
            let n_bins = binned.n_bins[f];
            (
                scan_small.then(|| rules.scan_hist(hs, n_bins, &total_small, score_small)),
                scan_large.then(|| rules.scan_hist(hl, n_bins, &total_large, score_large)),
            )
        };
        let chunk = N_BINS * stride;
        let found: Vec<(Option<FeatureBest>, Option<FeatureBest>)> =
            // Clearing, subtracting and scanning cost about four passes over the bins.
            if (if built { 0 } else { rows.len() } + 4 * N_BINS) * self.n_features >= PARALLEL_WORK {
                small_hist
                    .par_chunks_mut(chunk)
                    .zip(parent.par_chunks_mut(chunk))
                    .enumerate()
                    .map(work)
                    .collect()
            } else {
                small_hist
                    .chunks_mut(chunk)
                    .zip(parent.chunks_mut(chunk))
                    .enumerate()
                    .map(work)
                    .collect()
            };
        self.hist[small as usize] = Some(small_hist);
        self.hist[large as usize] = Some(parent);
        for (node, side) in [(small, 0), (large, 1)] {
            let results: Option<Vec<(usize, FeatureBest)>> = found
                .iter()
                .enumerate()
                .map(|(f, pair)| if side == 0 { pair.0 } else { pair.1 }.map(|b| (f, b)))
                .collect();
            self.choice[node as usize] = match results {
                Some(results) => self.pick(node, results),
                None => {
                    self.release(node);
                    None
                }
            };
        }
    }

    /// Stable partition of the rows `start..end` by `choice` (without branches on the data);
    /// returns where the right part begins. Large ranges are split in fixed chunks, partitioned
    /// in parallel and concatenated in order.
    fn partition(&mut self, start: usize, end: usize, choice: &Choice) -> usize {
        let binned = self.binned;
        let column: &[u8] = &binned.columns[choice.feature];
        let (bin, missing_left) = (choice.bin, choice.missing_left);
        // The threshold is below the missing bin, so `b <= bin` holds only for values.
        #[expect(
            clippy::needless_bitwise_bool,
            reason = "no branch: the side a row goes to is data-dependent and unpredictable"
        )]
        let goes_left = move |r: u32| {
            let b = column[r as usize];
            (b <= bin) | ((b == MISSING_BIN) & missing_left)
        };
        self.gathered_for = None;
        if end <= start {
            return start;
        }
        let rows = &mut self.rows[start..end];
        // Every slot is written before it is read: no need to clear it.
        if self.scratch.partitioned.len() < rows.len() {
            self.scratch.partitioned.resize(rows.len(), 0);
        }
        let scratch = &mut self.scratch.partitioned[..rows.len()];
        // Each chunk writes its left rows forward from its start and its right rows backward
        // from its end, in one pass without branches (a row is written at both cursors; the
        // wrong one is overwritten later or is the last slot).
        let split_chunk = move |(chunk, out): (&[u32], &mut [u32])| -> usize {
            let last = out.len() - 1;
            let (mut l, mut r) = (0, 0);
            for &row in chunk {
                let go = goes_left(row);
                out[l] = row;
                out[last - r] = row;
                l += usize::from(go);
                r += usize::from(!go);
            }
            l
        };
        let lefts: Vec<usize> = if rows.len() >= PARALLEL_PARTITION {
            rows.par_chunks(PARTITION_CHUNK)
                .zip(scratch.par_chunks_mut(PARTITION_CHUNK))
                .map(split_chunk)
                .collect()
        } else {
            vec![split_chunk((rows, scratch))]
        };
        let chunk = if lefts.len() > 1 {
            PARTITION_CHUNK
        } else {
            rows.len()
        };
        // Left rows in chunk order, then right rows in chunk order (each chunk's reversed back).
        let mut w = 0;
        for (c, &l) in lefts.iter().enumerate() {
            rows[w..w + l].copy_from_slice(&scratch[c * chunk..c * chunk + l]);
            w += l;
        }
        let split = w;
        for (c, &l) in lefts.iter().enumerate() {
            let part = &scratch[c * chunk + l..((c + 1) * chunk).min(scratch.len())];
            for (dst, &src) in rows[w..w + part.len()].iter_mut().zip(part.iter().rev()) {
                *dst = src;
            }
            w += part.len();
        }
        start + split
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hist::{Layout, fill_stats};

    fn kept(packed: Option<&RowMatrix>) -> Histograms<'_> {
        Histograms {
            packed,
            root: None,
            keep: true,
            ..Histograms::default()
        }
    }

    /// The root's histograms shifted by a tree's leaves equal those built afresh from the rows'
    /// shifted statistics (the trees grown from them with an earlier tree's buffers, their root's
    /// histograms given or built, equal to one grown with new ones), with the histograms built
    /// row by row (features sharing slots) or feature by feature, leaves large and small (under [`SORT_BELOW`] rows, without
    /// histograms of their own). Statistics and shifts are small multiples of a quarter, so
    /// both sums are exact.
    #[test]
    fn a_shifted_root_equals_the_root_built_again() {
        let n = 3000;
        let mut rng = Rng::new(11);
        let n_bins: Vec<u8> = vec![2, 7, 255, 40, 3];
        let columns = histogram::random_columns(&mut rng, n, &n_bins, |_| true);
        let binned = Binned { columns, n_bins };
        let layout = Layout {
            channels: 1,
            count: false,
        };
        let stride = layout.stride();
        let params = GrowParams {
            max_depth: None,
            max_leaf_nodes: Some(12),
            min_samples_split: 2,
            max_features: binned.columns.len(),
            rules: SplitRules {
                layout,
                impurity: false,
                l2: 0.0,
                min_samples_leaf: 20.0,
                min_hessian: 1e-3,
            },
        };
        let gradient = |row: usize, f: &Binned| {
            // Depends on the bins, so that the tree has splits to find.
            let b = |j: usize| f64::from(f.columns[j][row]);
            (b(1) - b(4) * 2.0 + (row % 5) as f64) * 0.25
        };
        for row_wise in [true, false] {
            let mut packed = if row_wise {
                Some(RowMatrix::new(&binned, stride).expect("small histograms"))
            } else {
                None
            };
            let mut stats = vec![0.0; n * stride];
            fill_stats(&mut stats, stride, packed.as_mut(), |row, s| {
                s[0] = gradient(row, &binned);
                s[1] = 1.0;
            });
            let rows: Vec<u32> = (0..u32::try_from(n).unwrap()).collect();
            let grown = grow(
                &binned,
                &params,
                Purity::ByGain,
                &mut Rng::new(1),
                rows.clone(),
                &stats,
                kept(packed.as_ref()),
            );
            let leaves: Vec<(usize, usize)> = grown.leaves().map(|(l, r)| (l, r.len())).collect();
            assert!(leaves.len() >= 8, "{leaves:?}");
            assert!(
                leaves
                    .iter()
                    .any(|&(l, len)| len < SORT_BELOW && grown.hists[l].is_none()),
                "a small leaf without histograms: {leaves:?}"
            );
            assert!(
                leaves.iter().any(|&(l, _)| grown.hists[l].is_some()),
                "a leaf with kept histograms: {leaves:?}"
            );
            let shift = |leaf: usize| 0.25 * (leaf % 7) as f64 - 0.5;
            let mut shifted = grown.root_hist.clone().expect("kept");
            grown.shift_root(&binned, &mut shifted, layout.count(), shift);

            let mut leaf_of = vec![0; n];
            for (leaf, leaf_rows) in grown.leaves() {
                for &r in leaf_rows {
                    leaf_of[r as usize] = leaf;
                }
            }
            // The first tree's buffers, its kept histograms among them, go to the third: what
            // they hold must not reach it.
            let reused = grown.into_scratch();
            assert!(!reused.pool.is_empty() && !reused.partitioned.is_empty());
            let mut again = vec![0.0; n * stride];
            fill_stats(&mut again, stride, packed.as_mut(), |row, s| {
                s[0] = gradient(row, &binned) + shift(leaf_of[row]);
                s[1] = 1.0;
            });
            let built = grow(
                &binned,
                &params,
                Purity::ByGain,
                &mut Rng::new(1),
                rows,
                &again,
                kept(packed.as_ref()),
            );
            // The tree of the shifted statistics again, given its root's histograms or not, with
            // an earlier tree's buffers.
            let again_with = |root: Option<Vec<f64>>, scratch: Scratch| {
                grow(
                    &binned,
                    &params,
                    Purity::ByGain,
                    &mut Rng::new(1),
                    (0..u32::try_from(n).unwrap()).collect(),
                    &again,
                    Histograms {
                        packed: packed.as_ref(),
                        root,
                        keep: true,
                        scratch,
                    },
                )
            };
            // Given the shifted root's histograms, the tree grows as from the rows (and with an
            // earlier tree's buffers as with new ones).
            let given = again_with(Some(shifted.clone()), reused);
            assert!(given.feature == built.feature && given.threshold == built.threshold);
            assert!(given.sums == built.sums, "row_wise {row_wise}");
            assert!(given.hists == built.hists, "row_wise {row_wise}");
            // With no root given, the root built into an earlier tree's buffers, full of its sums.
            let rebuilt = again_with(None, given.into_scratch());
            assert!(rebuilt.feature == built.feature && rebuilt.threshold == built.threshold);
            assert!(rebuilt.sums == built.sums && rebuilt.hists == built.hists);
            assert!(rebuilt.root_hist == built.root_hist, "row_wise {row_wise}");
            assert!(
                built.root_hist.expect("kept") == shifted,
                "row_wise {row_wise}"
            );
        }
    }
}
