//! A model for prediction, its trees read in place from a memory-mapped `model.bin`.
//!
//! [`Model::load`] decodes every array of a model file into the model's own vectors: for a forest
//! of deep trees, hundreds of megabytes built before the first prediction, in every process that
//! loads it. [`MappedModel::open`] maps the file instead, verifies its checksum, decodes only
//! the small parts (the header, the bin edges, a boosting model's baseline) and walks the trees'
//! arrays where they lie in the file; its one structure of its own finds a leaf's values when
//! only leaves have values (a bit per node and a count per 64 nodes). Pages of a mapped file are
//! the operating system's page cache, shared by every process that maps the same model.
//!
//! The file is never written in place: [`Model::save`] writes a new file and renames it over the
//! old one, so a mapping keeps the file it opened. Folders holding only `model.json`, and linear
//! and logistic models (all header), are loaded as [`Model::load`] does.

use std::path::Path;

use memmap2::Mmap;

use crate::boosting::{boosted_raw, finish_raw, proba_of_raw};
use crate::hist::{BinMapper, Binned, TreeNodes};
use crate::model::{DECISION_TREE, GRADIENT_BOOSTING, RANDOM_FOREST};
use crate::model_bin::{Arrays, BINARY_FILE, bad_file, parse};
use crate::tree::{finish, mean_leaves, rows_of};
use crate::{Dataset, MlError, Model, Predict, Schema, Task};

/// A model opened for prediction: mapped where its file allows, else loaded.
pub struct MappedModel {
    inner: Inner,
}

enum Inner {
    Loaded(Box<Model>),
    Mapped(Box<Mapped>),
}

struct Mapped {
    map: Mmap,
    /// Where the payload starts in the file.
    payload: usize,
    algorithm: &'static str,
    schema: Schema,
    bins: BinMapper,
    /// Boosting: one raw value per output; trees, rounds of `baseline.len()` one after another.
    baseline: Option<Vec<f64>>,
    trees: Layout,
}

/// Where the trees' arrays lie in the payload.
struct Layout {
    n_outputs: usize,
    /// The first node of each tree, and the number of nodes after the last.
    tree_start: Vec<usize>,
    feature: Uint,
    threshold: usize,
    missing_left: usize,
    left: Uint,
    /// Absent when every right child is the node after its left sibling.
    right: Option<Uint>,
    values: usize,
    /// Where each node's values are in `values`.
    value_at: ValueAt,
}

/// Where a node's values are: every node has its own (`value`), or only leaves have them, one
/// after another (`leaf_value`), so a leaf's are at its rank among the leaves. The rank is a bit
/// per node (set for leaves) and the leaves before each 64 nodes: a quarter of a byte a node,
/// where a position per node would take 4.
enum ValueAt {
    PerNode,
    Leaves { leaf: Vec<u64>, before: Vec<usize> },
}

impl ValueAt {
    /// The index of node `node`'s first value.
    fn of(&self, node: usize) -> usize {
        match self {
            ValueAt::PerNode => node,
            ValueAt::Leaves { leaf, before } => {
                let (word, bit) = (node / 64, node % 64);
                before[word] + (leaf[word] & ((1u64 << bit) - 1)).count_ones() as usize
            }
        }
    }
}

/// An array of unsigned integers of `width` bytes at `offset`.
#[derive(Clone, Copy)]
struct Uint {
    offset: usize,
    width: usize,
}

impl Uint {
    fn get(self, payload: &[u8], i: usize) -> usize {
        let at = self.offset + i * self.width;
        let b = &payload[at..at + self.width];
        match self.width {
            1 => usize::from(b[0]),
            2 => usize::from(u16::from_le_bytes([b[0], b[1]])),
            _ => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize,
        }
    }
}

impl MappedModel {
    /// Opens the model in `dir`: `model.bin` mapped, its checksum and every tree checked (a
    /// damaged or inconsistent file is refused, as [`Model::load`] refuses it); else `model.json`
    /// loaded.
    pub fn open(dir: &Path) -> Result<Self, MlError> {
        let path = dir.join(BINARY_FILE);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(MappedModel {
                    inner: Inner::Loaded(Box::new(Model::load(dir)?)),
                });
            }
            Err(source) => return Err(MlError::Io { path, source }),
        };
        // SAFETY: a mapped file must not change while it is mapped (a file truncated under the
        // mapping kills the process with SIGBUS; one rewritten in place changes what is read).
        // Sluice never writes a model file in place: `Model::save` writes a file of its own and
        // renames it over the old one, and the mapping keeps the old one. A model file changed in
        // place by another program is outside what is supported, as for any mapped format.
        #[expect(
            unsafe_code,
            reason = "mapping a file is unsafe by its nature; see above"
        )]
        let map = unsafe { Mmap::map(&file) }.map_err(|source| MlError::Io {
            path: path.clone(),
            source,
        })?;
        let bad = bad_file(&path);
        let parsed = parse(&path, &map)?;
        let algorithm = match parsed.algorithm() {
            DECISION_TREE => DECISION_TREE,
            RANDOM_FOREST => RANDOM_FOREST,
            GRADIENT_BOOSTING => GRADIENT_BOOSTING,
            // Linear and logistic models are all header: nothing to map.
            _ => {
                let model = crate::model_bin::build(&path, parsed)?;
                model.validate().map_err(&bad)?;
                return Ok(MappedModel {
                    inner: Inner::Loaded(Box::new(model)),
                });
            }
        };
        let schema = parsed.schema.clone();
        schema.validate().map_err(&bad)?;
        let n_features = schema.feature_names.len();
        let bins = parsed.arrays.bins().map_err(&bad)?;
        bins.validate(n_features).map_err(&bad)?;
        let n_outputs = parsed.n_outputs().map_err(&bad)?;
        let trees = Layout::read(&parsed.arrays, n_outputs, n_features).map_err(&bad)?;
        let n_trees = trees.tree_start.len() - 1;
        let baseline = if algorithm == GRADIENT_BOOSTING {
            let baseline = parsed.baseline().map_err(&bad)?;
            let k = crate::boosting::outputs(&schema).map_err(&bad)?;
            let rounds = parsed.arrays.u32s("iteration_trees").map_err(&bad)?;
            if baseline.len() != k || n_outputs != 1 || rounds.iter().any(|&r| r as usize != k) {
                return Err(bad(format!(
                    "a boosting model of {k} outputs needs {k} baseline values and rounds of \
                     {k} one-output trees"
                )));
            }
            if rounds.len() * k != n_trees {
                return Err(bad("`iteration_trees` does not add up to the trees".into()));
            }
            Some(baseline)
        } else {
            let wanted = crate::tree::n_outputs(schema.task, schema.n_classes());
            if n_outputs != wanted || n_trees == 0 || (algorithm == DECISION_TREE && n_trees != 1) {
                return Err(bad(format!(
                    "{n_trees} trees of {n_outputs} outputs, not a {algorithm} of this task"
                )));
            }
            None
        };
        let payload = parsed.payload_start;
        Ok(MappedModel {
            inner: Inner::Mapped(Box::new(Mapped {
                map,
                payload,
                algorithm,
                schema,
                bins,
                baseline,
                trees,
            })),
        })
    }

    /// Whether the trees are read in place from a mapped file (rather than loaded).
    #[must_use]
    pub fn is_mapped(&self) -> bool {
        matches!(self.inner, Inner::Mapped(_))
    }

    #[must_use]
    pub fn algorithm(&self) -> &'static str {
        match &self.inner {
            Inner::Loaded(m) => m.algorithm(),
            Inner::Mapped(m) => m.algorithm,
        }
    }

    fn schema(&self) -> &Schema {
        match &self.inner {
            Inner::Loaded(m) => m.schema(),
            Inner::Mapped(m) => &m.schema,
        }
    }
}

/// As the same model loaded ([`Model`]), bit for bit.
impl Predict for MappedModel {
    fn task(&self) -> Task {
        self.schema().task
    }

    fn feature_names(&self) -> &[String] {
        &self.schema().feature_names
    }

    fn classes(&self) -> &[String] {
        &self.schema().classes
    }

    fn predict(&self, data: &Dataset) -> Result<Vec<f64>, MlError> {
        let m = match &self.inner {
            Inner::Loaded(m) => return m.predict(data),
            Inner::Mapped(m) => m,
        };
        m.schema.check(data)?;
        let binned = m.bins.transform(data.features());
        let n_outputs = m.trees.n_outputs;
        let trees = m.view();
        Ok(match &m.baseline {
            Some(baseline) => finish_raw(
                m.schema.task,
                boosted_raw(&trees, baseline, &binned),
                baseline.len(),
            ),
            None => finish(
                m.schema.task,
                mean_leaves(&trees, &binned, n_outputs),
                n_outputs,
            ),
        })
    }

    fn predict_proba(&self, data: &Dataset) -> Result<Vec<Vec<f64>>, MlError> {
        let m = match &self.inner {
            Inner::Loaded(m) => return m.predict_proba(data),
            Inner::Mapped(m) => m,
        };
        m.schema.check(data)?;
        if m.schema.task != Task::Classification {
            return Err(MlError::NotClassifier {
                algorithm: m.algorithm,
            });
        }
        let binned = m.bins.transform(data.features());
        let trees = m.view();
        Ok(match &m.baseline {
            Some(baseline) => proba_of_raw(&boosted_raw(&trees, baseline, &binned), baseline.len()),
            None => rows_of(
                &mean_leaves(&trees, &binned, m.trees.n_outputs),
                m.schema.n_classes(),
            ),
        })
    }
}

impl Mapped {
    fn view(&self) -> View<'_> {
        let (l, p) = (&self.trees, &self.map[self.payload..]);
        let nodes = l.tree_start.last().copied().unwrap_or(0);
        let array = |u: Uint| &p[u.offset..u.offset + u.width * nodes];
        let children = |u: Uint| (u.width == 4).then(|| array(u).as_chunks::<4>().0);
        let feature = match l.feature.width {
            1 => Some(Feature::U8(array(l.feature))),
            2 => Some(Feature::U16(array(l.feature).as_chunks::<2>().0)),
            4 => Some(Feature::U32(array(l.feature).as_chunks::<4>().0)),
            _ => None,
        };
        // The file's own widths (children of four bytes), read as typed arrays; any other, by
        // width at every read.
        let fast = match (feature, children(l.left), l.right.map(children)) {
            (Some(feature), Some(left), None | Some(Some(_))) => Some(Fast {
                feature,
                left,
                right: l.right.and_then(children),
                threshold: &p[l.threshold..l.threshold + nodes],
                missing_left: &p[l.missing_left..l.missing_left + nodes.div_ceil(8)],
            }),
            _ => None,
        };
        View {
            payload: p,
            layout: l,
            fast,
        }
    }
}

/// A mapped tree's arrays in the widths this build writes, as typed slices of the file.
struct Fast<'a> {
    feature: Feature<'a>,
    left: &'a [[u8; 4]],
    right: Option<&'a [[u8; 4]]>,
    threshold: &'a [u8],
    missing_left: &'a [u8],
}

enum Feature<'a> {
    U8(&'a [u8]),
    U16(&'a [[u8; 2]]),
    U32(&'a [[u8; 4]]),
}

/// The trees of a mapped file, walked where they lie.
struct View<'a> {
    payload: &'a [u8],
    layout: &'a Layout,
    fast: Option<Fast<'a>>,
}

impl TreeNodes for View<'_> {
    fn n_trees(&self) -> usize {
        self.layout.tree_start.len() - 1
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
        let base = self.layout.tree_start[tree];
        // The walk is chosen once for all the rows: the file's own widths, or any.
        match &self.fast {
            Some(fast) => match fast.feature {
                Feature::U8(f) => self.add(out, width, at, |row| {
                    fast.walk(f, |b| usize::from(*b), base, binned, first + row)
                }),
                Feature::U16(f) => self.add(out, width, at, |row| {
                    fast.walk(
                        f,
                        |b| usize::from(u16::from_le_bytes(*b)),
                        base,
                        binned,
                        first + row,
                    )
                }),
                Feature::U32(f) => self.add(out, width, at, |row| {
                    fast.walk(
                        f,
                        |b| u32::from_le_bytes(*b) as usize,
                        base,
                        binned,
                        first + row,
                    )
                }),
            },
            None => self.add(out, width, at, |row| {
                self.walk_any(base, binned, first + row)
            }),
        }
    }
}

impl View<'_> {
    /// Adds, for each row of `out` (`width` values a row), the values of the leaf `leaf(row)`
    /// to that row's values from `at` on.
    fn add(&self, out: &mut [f64], width: usize, at: usize, leaf: impl Fn(usize) -> usize) {
        let (l, p) = (self.layout, self.payload);
        for (row, o) in out.chunks_exact_mut(width).enumerate() {
            let first = l.values + 8 * l.n_outputs * l.value_at.of(leaf(row));
            for (i, o) in o[at..at + l.n_outputs].iter_mut().enumerate() {
                let v = &p[first + 8 * i..first + 8 * (i + 1)];
                *o += f64::from_le_bytes(v.try_into().unwrap_or_default());
            }
        }
    }

    /// [`Fast::walk`] for arrays of any width.
    fn walk_any(&self, base: usize, binned: &Binned, row: usize) -> usize {
        let (l, p) = (self.layout, self.payload);
        let mut at = base;
        loop {
            let left = l.left.get(p, at);
            if left == 0 {
                return at;
            }
            let b = binned.columns[l.feature.get(p, at)][row];
            let go_left = if b == crate::hist::MISSING_BIN {
                p[l.missing_left + at / 8] & (1 << (at % 8)) != 0
            } else {
                b <= p[l.threshold + at]
            };
            at = base
                + match (go_left, l.right) {
                    (true, _) => left,
                    (false, Some(right)) => right.get(p, at),
                    (false, None) => left + 1,
                };
        }
    }
}

impl Fast<'_> {
    /// The leaf (its index among all nodes) that row `row` falls in, in the tree starting at node
    /// `base`; `feature` reads a node's feature from its element of `features`.
    fn walk<T>(
        &self,
        features: &[T],
        feature: impl Fn(&T) -> usize,
        base: usize,
        binned: &Binned,
        row: usize,
    ) -> usize {
        let mut at = base;
        loop {
            let child = u32::from_le_bytes(self.left[at]) as usize;
            if child == 0 {
                return at;
            }
            let b = binned.columns[feature(&features[at])][row];
            let go_left = if b == crate::hist::MISSING_BIN {
                self.missing_left[at / 8] & (1 << (at % 8)) != 0
            } else {
                b <= self.threshold[at]
            };
            let next = match (go_left, self.right) {
                (true, _) => child,
                (false, Some(right)) => u32::from_le_bytes(right[at]) as usize,
                (false, None) => child + 1,
            };
            at = base + next;
        }
    }
}

impl Layout {
    /// Locates the trees' arrays and checks every node, so that walking them can neither read
    /// outside the file nor loop: children come after their parent within its tree, features
    /// are the model's, and every leaf has its values.
    fn read(arrays: &Arrays<'_>, n_outputs: usize, n_features: usize) -> Result<Self, String> {
        let uint = |name: &str, nodes: usize| -> Result<Uint, String> {
            let (range, dtype, len) = arrays.locate(name)?;
            let width = match dtype.as_str() {
                "u8" => 1,
                "u16" => 2,
                "u32" => 4,
                other => return Err(format!("array `{name}` is {other}, not unsigned")),
            };
            if len != nodes {
                return Err(format!(
                    "array `{name}` holds {len} values, not one per node"
                ));
            }
            Ok(Uint {
                offset: range.start,
                width,
            })
        };
        let bytes = |name: &str, dtype: &str, nodes: usize| -> Result<usize, String> {
            let (range, t, len) = arrays.locate(name)?;
            if t != dtype || len != nodes {
                return Err(format!("array `{name}` is not {nodes} values of {dtype}"));
            }
            Ok(range.start)
        };
        if n_outputs == 0 {
            return Err("`n_outputs` is 0".into());
        }
        let sizes = arrays.u32s("tree_nodes")?;
        let mut tree_start = Vec::with_capacity(sizes.len() + 1);
        let mut nodes = 0usize;
        for &s in &sizes {
            if s == 0 {
                return Err("a tree has no nodes".into());
            }
            tree_start.push(nodes);
            nodes += s as usize;
        }
        tree_start.push(nodes);
        // Values and where each node's are come last, from the nodes.
        let mut l = Layout {
            n_outputs,
            feature: uint("feature", nodes)?,
            threshold: bytes("threshold", "u8", nodes)?,
            missing_left: bytes("missing_left", "bits", nodes)?,
            left: uint("left", nodes)?,
            right: if arrays.has("right") {
                Some(uint("right", nodes)?)
            } else {
                None
            },
            tree_start,
            values: 0,
            value_at: ValueAt::PerNode,
        };
        let p = arrays.payload();
        let leaves_only = arrays.has("leaf_value");
        let mut leaf = vec![0u64; nodes.div_ceil(64)];
        for (t, pair) in l.tree_start.windows(2).enumerate() {
            let (base, n) = (pair[0], pair[1] - pair[0]);
            for i in 0..n {
                let at = base + i;
                let left = l.left.get(p, at);
                if left == 0 {
                    leaf[at / 64] |= 1 << (at % 64);
                    continue;
                }
                let right = l.right.map_or(left + 1, |r| r.get(p, at));
                if left <= i || right <= i || left >= n || right >= n {
                    return Err(format!("tree {t}, node {i}: an invalid split"));
                }
                if l.feature.get(p, at) >= n_features {
                    return Err(format!("tree {t}, node {i}: a feature the model lacks"));
                }
            }
        }
        let (name, slots) = if leaves_only {
            let mut before = Vec::with_capacity(leaf.len());
            let mut leaves = 0usize;
            for w in &leaf {
                before.push(leaves);
                leaves += w.count_ones() as usize;
            }
            l.value_at = ValueAt::Leaves { leaf, before };
            ("leaf_value", leaves)
        } else {
            ("value", nodes)
        };
        let wanted = slots
            .checked_mul(n_outputs)
            .ok_or("the model has too many values")?;
        l.values = bytes(name, "f64", wanted)?;
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::hist::HistTree;
    use crate::{ForestParams, Model};

    /// A file whose checksum holds but whose tree points outside itself (or back up) is refused
    /// when opened, before any prediction could walk it.
    #[test]
    fn a_tree_that_would_escape_or_loop_is_refused() {
        let x: Vec<f64> = (0..200).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| (v / 20.0).floor()).collect();
        let data = Dataset::new(vec!["x".into()], vec![x])
            .unwrap()
            .with_regression_target(y)
            .unwrap();
        let forest = ForestParams {
            n_estimators: 2,
            ..ForestParams::default()
        }
        .fit(&data)
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (case, bad_left) in [("escapes", 10_000u32), ("loops", 0)] {
            let mut broken = forest.clone();
            let t = &broken.trees[0];
            let s = t.splits();
            let mut left = s.left.to_vec();
            // Node 1 is a split in this tree (200 rows, 10 levels of target).
            assert_ne!(left[1], 0);
            left[1] = if bad_left == 0 { 1 } else { bad_left };
            broken.trees[0] = HistTree::from_arrays(
                s.feature.to_vec(),
                s.threshold.to_vec(),
                s.missing_left.to_vec(),
                left,
                s.right.to_vec(),
                t.values().to_vec(),
                t.n_outputs(),
            );
            Model::Forest(broken).save(dir.path()).unwrap();
            let err = MappedModel::open(dir.path()).err().expect(case);
            assert!(err.to_string().contains("invalid split"), "{case}: {err}");
            assert!(Model::load(dir.path()).is_err(), "{case}");
        }
        Model::Forest(forest).save(dir.path()).unwrap();
        let opened = MappedModel::open(dir.path()).unwrap();
        let Inner::Mapped(m) = &opened.inner else {
            panic!("a forest file is mapped");
        };
        // The walk for arrays of any width finds the leaves the file's own widths' walk finds.
        let binned = m.bins.transform(data.features());
        let view = m.view();
        let Some(
            fast @ Fast {
                feature: Feature::U8(features),
                ..
            },
        ) = &view.fast
        else {
            panic!("this build writes a forest's features as bytes");
        };
        for tree in 0..view.n_trees() {
            let base = m.trees.tree_start[tree];
            for row in 0..data.n_rows() {
                assert_eq!(
                    fast.walk(features, |b| usize::from(*b), base, &binned, row),
                    view.walk_any(base, &binned, row)
                );
            }
        }
    }

    type Change = fn(&mut Map<String, Value>);

    fn saved(model: &Model, dir: &Path) -> Vec<u8> {
        model.save(dir).unwrap();
        std::fs::read(dir.join(BINARY_FILE)).unwrap()
    }

    /// A header that contradicts itself, its checksum made to match, is refused when opened as
    /// when loaded (prediction with it would divide rows into zero outputs).
    #[test]
    fn a_header_that_contradicts_itself_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let labels: Vec<&str> = x
            .iter()
            .map(|v| if *v < 50.0 { "a" } else { "b" })
            .collect();
        let classes = Dataset::new(vec!["x".into()], vec![x.clone()])
            .unwrap()
            .with_class_labels(&labels)
            .unwrap();
        let values = Dataset::new(vec!["x".into()], vec![x.clone()])
            .unwrap()
            .with_regression_target(x)
            .unwrap();
        let forest = ForestParams {
            n_estimators: 2,
            ..ForestParams::default()
        };
        let boosting = crate::BoostingParams {
            max_iter: 3,
            ..crate::BoostingParams::default()
        };
        let models: [Model; 5] = [
            forest.fit(&classes).unwrap().into(),
            forest.fit(&values).unwrap().into(),
            boosting.fit(&classes).unwrap().into(),
            crate::LinearParams::default().fit(&values).unwrap().into(),
            crate::LogisticParams::default()
                .fit(&classes)
                .unwrap()
                .into(),
        ];
        for model in &models {
            let good = saved(model, dir.path());
            let cases: [(&str, Change); 5] = [
                ("no classes", |h| {
                    h.insert("task".into(), json!("classification"));
                    h.insert("classes".into(), json!([]));
                    h.insert("n_outputs".into(), json!(0));
                }),
                // A boosting or logistic classifier's one logit would be read as a second
                // class's (a forest's outputs are its classes').
                ("one class", |h| {
                    h.insert("task".into(), json!("classification"));
                    h.insert("classes".into(), json!(["a"]));
                }),
                ("classes of a regression", |h| {
                    h.insert("task".into(), json!("regression"));
                    h.insert("classes".into(), json!(["a", "b"]));
                }),
                ("no outputs", |h| {
                    // Only tree models have outputs in their header.
                    if h.contains_key("n_outputs") {
                        h.insert("n_outputs".into(), json!(0));
                    }
                }),
                ("a newer format_version", |h| {
                    h.insert("format_version".into(), json!(crate::FORMAT_VERSION + 1));
                }),
            ];
            for (case, change) in cases {
                let bytes = crate::model_bin::with_header(&good, change);
                let one_logit = matches!(model, Model::Boosting(_) | Model::Logistic(_));
                if bytes == good || (case == "one class" && !one_logit) {
                    continue;
                }
                std::fs::write(dir.path().join(BINARY_FILE), &bytes).unwrap();
                let name = model.algorithm();
                let Err(mapped) = MappedModel::open(dir.path()) else {
                    panic!("{name}: {case}: opened");
                };
                let loaded = Model::load(dir.path()).err();
                assert!(loaded.is_some(), "{name}: {case}: loaded");
                if case.starts_with("a newer") {
                    assert!(
                        matches!(mapped, MlError::NewerFormat { .. }),
                        "{name}: {mapped}"
                    );
                }
            }
            // The file as written opens.
            std::fs::write(dir.path().join(BINARY_FILE), &good).unwrap();
            MappedModel::open(dir.path()).unwrap();
        }
    }

    /// A tree whose right children are not their left siblings' next nodes, and whose split nodes
    /// carry values, makes a file with `right` and per-node `value` arrays: read in place, it
    /// predicts as loaded.
    #[test]
    fn right_children_and_node_values_are_read_in_place() {
        let first: Vec<f64> = (0..300).map(|i| f64::from(i % 97)).collect();
        let second: Vec<f64> = (0..300).map(|i| f64::from((i * 7) % 13)).collect();
        let target = first
            .iter()
            .zip(&second)
            .map(|(a, b)| a * 0.5 + b)
            .collect();
        let data = Dataset::new(vec!["x".into(), "z".into()], vec![first, second])
            .unwrap()
            .with_regression_target(target)
            .unwrap();
        let mut forest = ForestParams {
            n_estimators: 3,
            ..ForestParams::default()
        }
        .fit(&data)
        .unwrap();
        let t = &forest.trees[0];
        let s = t.splits();
        let (mut left, mut right) = (s.left.to_vec(), s.right.to_vec());
        // The root's children swapped: still after their parent, the right one no longer the
        // node after the left one.
        (left[0], right[0]) = (right[0], left[0]);
        let mut values = t.values().to_vec();
        values[0] = 1.5;
        forest.trees[0] = HistTree::from_arrays(
            s.feature.to_vec(),
            s.threshold.to_vec(),
            s.missing_left.to_vec(),
            left,
            right,
            values,
            t.n_outputs(),
        );
        let model = Model::Forest(forest);
        let dir = tempfile::tempdir().unwrap();
        model.save(dir.path()).unwrap();
        let mapped = MappedModel::open(dir.path()).unwrap();
        let Inner::Mapped(m) = &mapped.inner else {
            panic!("mapped");
        };
        assert!(m.trees.right.is_some());
        assert!(matches!(m.trees.value_at, ValueAt::PerNode));
        assert_eq!(
            Predict::predict(&mapped, &data).unwrap(),
            Model::load(dir.path()).unwrap().predict(&data).unwrap()
        );
    }
}
