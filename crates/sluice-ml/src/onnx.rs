//! ONNX export, so any ONNX runtime predicts with a Sluice model.
//!
//! The graph takes `X`, a `double` tensor `[N, features]` in the model's feature order.
//!
//! - Regression trees (`decision_tree`, `random_forest`, `gradient_boosting` fitted for
//!   regression): one `TreeEnsembleRegressor` node of the `ai.onnx.ml` domain (opset 3), giving
//!   `variable`, a `float` tensor `[N, 1]` (the operator's output type). Thresholds, leaf values
//!   and the base value are written as `double` tensors (`*_as_tensor`), so the routing of every
//!   row is exactly the native model's: a node's bin threshold `t` becomes the upper bin edge
//!   `edges[t]` (`x <= edges[t]` ⟺ bin of `x` `<= t`, as [`crate::BinMapper`] bins), a missing
//!   value goes the way the tree sends missing values. A forest averages its trees; boosting sums
//!   them onto its baseline.
//! - Decision tree and random forest classifiers: one `TreeEnsembleClassifier` (the leaves'
//!   class probabilities, divided by the number of trees) giving `probabilities` (`float
//!   [N, classes]`), then `ArgMax` and `Gather` giving `label` (`string [N]`, the class name).
//! - Gradient boosting classifiers: the trees as a `TreeEnsembleRegressor` with one target per
//!   class (the raw scores, onto the baseline), then `Sigmoid` or `Softmax` in `double` as for
//!   logistic regression.
//! - `linear_regression`: `MatMul` and `Add` in `double`, then `variable` as above (`float`
//!   `[N, 1]`).
//! - `logistic_regression`: `MatMul`, `Add`, then `Sigmoid` (binary: `[1 - p, p]`) or `Softmax`
//!   (multinomial), all in `double`: `probabilities`, `double` `[N, classes]`, and `label`, the
//!   most probable class's name (`string` `[N]`, the first on ties, as natively).
//!
//! The model is written as protobuf by hand (the few message types it needs), so the export adds
//! no dependency.

use crate::hist::{BinMapper, HistTree};
use crate::{MlError, Model, Task};

/// The nodes of `model`'s tree ensemble (what its ONNX form is made of: about 45 bytes each; 1
/// for a linear model), or `None` when it has no ONNX form (every model has one today).
#[must_use]
pub fn onnx_nodes(model: &Model) -> Option<usize> {
    match model {
        // A linear model is a handful of numbers.
        Model::Linear(_) | Model::Logistic(_) => Some(1),
        Model::Tree(m) => Some(m.tree.n_nodes()),
        Model::Forest(m) => Some(m.trees.iter().map(HistTree::n_nodes).sum()),
        Model::Boosting(m) => Some(m.trees.iter().flatten().map(HistTree::n_nodes).sum()),
    }
}

/// The ONNX file of `model`.
///
/// # Errors
/// [`MlError::Param`] for a boosting classifier whose rounds do not each hold one tree per
/// class (never fitted so).
pub fn to_onnx(model: &Model) -> Result<Vec<u8>, MlError> {
    match model {
        Model::Linear(m) => return Ok(linear(m)),
        Model::Logistic(m) => return Ok(logistic(m)),
        _ => {}
    }
    if model.task() != Task::Regression {
        return match model {
            Model::Tree(m) => Ok(tree_classifier(&m.bins, &[&m.tree], &m.schema.classes)),
            Model::Forest(m) => Ok(tree_classifier(
                &m.bins,
                &m.trees.iter().collect::<Vec<_>>(),
                &m.schema.classes,
            )),
            Model::Boosting(m) => boosting_classifier(m).ok_or_else(|| MlError::Param {
                name: "format",
                reason:
                    "this gradient boosting classifier's rounds do not each hold one tree per class"
                        .to_owned(),
            }),
            Model::Linear(_) | Model::Logistic(_) => unreachable!("exported above"),
        };
    }
    let (bins, trees, aggregate, base): (&BinMapper, Vec<&HistTree>, &str, f64) = match model {
        Model::Tree(m) => (&m.bins, vec![&m.tree], "AVERAGE", 0.0),
        Model::Forest(m) => (&m.bins, m.trees.iter().collect(), "AVERAGE", 0.0),
        Model::Boosting(m) => (
            &m.bins,
            m.trees.iter().flatten().collect(),
            "SUM",
            m.baseline.first().copied().unwrap_or(0.0),
        ),
        Model::Linear(_) | Model::Logistic(_) => unreachable!("exported above"),
    };
    let mut n = Ensemble::default();
    for (t, tree) in trees.iter().enumerate() {
        n.add(bins, tree, t);
    }
    let targets = vec![0; n.leaf_nodes.len()];
    let node = tree_op(
        "TreeEnsembleRegressor",
        &["variable"],
        n.regressor_attrs(aggregate, &[base], &targets),
    );
    let mut graph = Pb::default();
    graph.message(1, &node);
    graph.string(2, "sluice");
    graph.message(11, &value_info("X", DOUBLE, width(bins.n_features())));
    graph.message(12, &value_info("variable", FLOAT, 1));
    Ok(model_proto(&graph))
}

/// A decision tree or random forest classifier: one `TreeEnsembleClassifier` (`ai.onnx.ml`
/// opset 3) whose leaves weigh each class by the tree's leaf probability divided by the number of
/// trees, so the summed weights are the forest's mean probabilities: `probabilities` (`float
/// [N, classes]`), then `label` (`string [N]`), the most probable class's name.
fn tree_classifier(bins: &BinMapper, trees: &[&HistTree], classes: &[String]) -> Vec<u8> {
    let mut n = Ensemble::default();
    #[expect(clippy::cast_precision_loss, reason = "a count of trees")]
    let scale = 1.0 / trees.len().max(1) as f64;
    let (mut tree_ids, mut node_ids, mut class_ids, mut weights) = (vec![], vec![], vec![], vec![]);
    for (t, tree) in trees.iter().enumerate() {
        n.add(bins, tree, t);
        let left = tree.splits().left;
        for (i, _) in left.iter().enumerate().filter(|(_, l)| **l == 0) {
            for (c, v) in tree.value(i).iter().enumerate() {
                tree_ids.push(width(t));
                node_ids.push(width(i));
                class_ids.push(width(c));
                weights.push(v * scale);
            }
        }
    }
    let labels: Vec<&str> = classes.iter().map(String::as_str).collect();
    // The operator's own label is not used: onnxruntime picks a two-class label by its own rule;
    // `label` is the most probable class, as natively (ArgMax, then the class's name).
    let node = tree_op(
        "TreeEnsembleClassifier",
        &["operator_label", "probabilities"],
        n.node_attrs().into_iter().chain([
            attr_strings("classlabels_strings", &labels),
            attr_ints("class_ids", &class_ids),
            attr_ints("class_nodeids", &node_ids),
            attr_ints("class_treeids", &tree_ids),
            attr_doubles("class_weights_as_tensor", &weights),
            attr_string("post_transform", "NONE"),
        ]),
    );
    let mut graph = Pb::default();
    graph.message(1, &node);
    label(&mut graph, classes);
    graph.message(11, &value_info("X", DOUBLE, width(bins.n_features())));
    graph.message(12, &value_info("label", STRING, -1));
    graph.message(
        12,
        &value_info("probabilities", FLOAT, width(classes.len())),
    );
    model_proto(&graph)
}

fn width(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `linear_regression`: `variable = float(X · coef + intercept)`.
fn linear(m: &crate::LinearModel) -> Vec<u8> {
    let p = m.coefficients.len();
    let mut graph = Pb::default();
    graph.message(1, &op("MatMul", &["X", "coef"], &["xw"], &[]));
    graph.message(1, &op("Add", &["xw", "intercept"], &["y"], &[]));
    graph.message(
        1,
        &op("Cast", &["y"], &["variable"], &[attr_int("to", FLOAT)]),
    );
    graph.string(2, "sluice");
    graph.message(5, &tensor_doubles("coef", &[width(p), 1], &m.coefficients));
    graph.message(5, &tensor_doubles("intercept", &[1], &[m.intercept]));
    graph.message(11, &value_info("X", DOUBLE, width(p)));
    graph.message(12, &value_info("variable", FLOAT, 1));
    model_proto(&graph)
}

/// `logistic_regression`: `probabilities` (`double [N, classes]`) and `label` (`string [N]`).
fn logistic(m: &crate::LogisticModel) -> Vec<u8> {
    let p = m.schema.feature_names.len();
    let margins = m.coefficients.len();
    // `coef` is `[features, margins]`, row-major: feature j's weight for each margin.
    let coef: Vec<f64> = (0..p)
        .flat_map(|j| m.coefficients.iter().map(move |w| w[j]))
        .collect();
    let mut graph = Pb::default();
    graph.message(1, &op("MatMul", &["X", "coef"], &["xw"], &[]));
    graph.message(1, &op("Add", &["xw", "intercepts"], &["z"], &[]));
    graph.message(
        5,
        &tensor_doubles("coef", &[width(p), width(margins)], &coef),
    );
    graph.message(
        5,
        &tensor_doubles("intercepts", &[width(margins)], &m.intercepts),
    );
    classify(&mut graph, margins, &m.schema.classes);
    graph.message(11, &value_info("X", DOUBLE, width(p)));
    graph.message(12, &value_info("label", STRING, -1));
    graph.message(
        12,
        &value_info("probabilities", DOUBLE, width(m.schema.classes.len())),
    );
    model_proto(&graph)
}

/// A gradient boosting classifier: its trees as one `TreeEnsembleRegressor` summing each round's
/// tree of class `c` into target `c` onto the baseline (the raw scores), then, in `double`,
/// `Sigmoid` (binary: `[1 - p, p]`) or `Softmax`: `probabilities` (`double [N, classes]`) and
/// `label` (`string [N]`). `None` when a round does not hold one tree per output.
fn boosting_classifier(m: &crate::BoostingModel) -> Option<Vec<u8>> {
    let k = m.baseline.len();
    if k == 0 || m.trees.iter().any(|round| round.len() != k) {
        return None;
    }
    let mut n = Ensemble::default();
    let mut target_ids = Vec::new();
    for (t, tree) in m.trees.iter().flatten().enumerate() {
        let before = n.leaf_nodes.len();
        n.add(&m.bins, tree, t);
        target_ids.extend(std::iter::repeat_n(
            width(t % k),
            n.leaf_nodes.len() - before,
        ));
    }
    let node = tree_op(
        "TreeEnsembleRegressor",
        &["scores"],
        n.regressor_attrs("SUM", &m.baseline, &target_ids),
    );
    let mut graph = Pb::default();
    graph.message(1, &node);
    graph.message(
        1,
        &op("Cast", &["scores"], &["z"], &[attr_int("to", DOUBLE)]),
    );
    classify(&mut graph, k, &m.schema.classes);
    graph.message(11, &value_info("X", DOUBLE, width(m.bins.n_features())));
    graph.message(12, &value_info("label", STRING, -1));
    graph.message(
        12,
        &value_info("probabilities", DOUBLE, width(m.schema.classes.len())),
    );
    Some(model_proto(&graph))
}

/// From margins `z` (`double [N, margins]`): `probabilities` by `Sigmoid` (one margin: `[1 - p,
/// p]`) or `Softmax`, then `label`, the most probable class's name (the first on ties).
fn classify(graph: &mut Pb, margins: usize, classes: &[String]) {
    if margins == 1 {
        graph.message(1, &op("Sigmoid", &["z"], &["p1"], &[]));
        graph.message(1, &op("Sub", &["one", "p1"], &["p0"], &[]));
        graph.message(
            1,
            &op(
                "Concat",
                &["p0", "p1"],
                &["probabilities"],
                &[attr_int("axis", 1)],
            ),
        );
        graph.message(5, &tensor_doubles("one", &[1], &[1.0]));
    } else {
        graph.message(
            1,
            &op(
                "Softmax",
                &["z"],
                &["probabilities"],
                &[attr_int("axis", 1)],
            ),
        );
    }
    label(graph, classes);
}

/// `label` (`string [N]`) from `probabilities`: the most probable class's name (the first on
/// ties).
fn label(graph: &mut Pb, classes: &[String]) {
    graph.message(
        1,
        &op(
            "ArgMax",
            &["probabilities"],
            &["index"],
            &[attr_int("axis", 1), attr_int("keepdims", 0)],
        ),
    );
    graph.message(
        1,
        &op(
            "Gather",
            &["classes", "index"],
            &["label"],
            &[attr_int("axis", 0)],
        ),
    );
    graph.string(2, "sluice");
    graph.message(5, &tensor_strings("classes", classes));
}

/// A node of the default domain.
fn op(kind: &str, inputs: &[&str], outputs: &[&str], attrs: &[Pb]) -> Pb {
    let mut node = Pb::default();
    for i in inputs {
        node.string(1, i);
    }
    for o in outputs {
        node.string(2, o);
    }
    node.string(
        3,
        &format!("sluice_{}", outputs.first().copied().unwrap_or(kind)),
    );
    node.string(4, kind);
    for a in attrs {
        node.message(5, a);
    }
    node
}

/// An initializer: a `double` tensor of shape `dims` (its bytes as `raw_data`).
fn tensor_doubles(name: &str, dims: &[i64], values: &[f64]) -> Pb {
    let mut tensor = Pb::default();
    for &d in dims {
        tensor.int(1, d);
    }
    tensor.int(2, DOUBLE);
    tensor.string(8, name);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor.bytes(9, &raw);
    tensor
}

/// An initializer: a one-dimensional `string` tensor.
fn tensor_strings(name: &str, values: &[String]) -> Pb {
    let mut tensor = Pb::default();
    tensor.int(1, width(values.len()));
    tensor.int(2, STRING);
    for v in values {
        tensor.string(6, v);
    }
    tensor.string(8, name);
    tensor
}

/// The model around `graph`: IR version 8, the default opset 17 and `ai.onnx.ml` 3.
fn model_proto(graph: &Pb) -> Vec<u8> {
    let mut out = Pb::default();
    out.int(1, 8); // ir_version
    out.string(2, "sluice");
    out.string(3, env!("CARGO_PKG_VERSION"));
    out.message(7, graph);
    for (domain, version) in [("", 17), ("ai.onnx.ml", 3)] {
        let mut opset = Pb::default();
        opset.string(1, domain);
        opset.int(2, version);
        out.message(8, &opset);
    }
    out.0
}

/// The ensemble's node and leaf attributes, tree after tree.
#[derive(Default)]
struct Ensemble {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    features: Vec<i64>,
    modes: Vec<&'static str>,
    values: Vec<f64>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    missing_true: Vec<i64>,
    leaf_trees: Vec<i64>,
    leaf_nodes: Vec<i64>,
    leaf_values: Vec<f64>,
}

/// A tree operator of the `ai.onnx.ml` domain on `X`.
fn tree_op(kind: &str, outputs: &[&str], attrs: impl IntoIterator<Item = Pb>) -> Pb {
    let mut node = Pb::default();
    node.string(1, "X");
    for o in outputs {
        node.string(2, o);
    }
    node.string(3, "sluice_trees");
    node.string(4, kind);
    node.string(7, "ai.onnx.ml");
    for a in attrs {
        node.message(5, &a);
    }
    node
}

impl Ensemble {
    /// A `TreeEnsembleRegressor`'s attributes: the nodes, and each leaf's value added to target
    /// `targets[leaf]` (one target per base value), `aggregate`d over the trees.
    fn regressor_attrs(&self, aggregate: &str, base: &[f64], targets: &[i64]) -> Vec<Pb> {
        let mut attrs = self.node_attrs();
        attrs.extend([
            attr_string("aggregate_function", aggregate),
            attr_doubles("base_values_as_tensor", base),
            attr_int("n_targets", width(base.len())),
            attr_string("post_transform", "NONE"),
            attr_ints("target_ids", targets),
            attr_ints("target_nodeids", &self.leaf_nodes),
            attr_ints("target_treeids", &self.leaf_trees),
            attr_doubles("target_weights_as_tensor", &self.leaf_values),
        ]);
        attrs
    }

    /// The `nodes_*` attributes both tree operators take.
    fn node_attrs(&self) -> Vec<Pb> {
        vec![
            attr_ints("nodes_falsenodeids", &self.false_ids),
            attr_ints("nodes_featureids", &self.features),
            attr_ints("nodes_missing_value_tracks_true", &self.missing_true),
            attr_strings("nodes_modes", &self.modes),
            attr_ints("nodes_nodeids", &self.node_ids),
            attr_ints("nodes_treeids", &self.tree_ids),
            attr_ints("nodes_truenodeids", &self.true_ids),
            attr_doubles("nodes_values_as_tensor", &self.values),
        ]
    }

    fn add(&mut self, bins: &BinMapper, tree: &HistTree, t: usize) {
        let t = i64::try_from(t).unwrap_or(i64::MAX);
        let crate::hist::Splits {
            feature,
            threshold,
            missing_left,
            left,
            right,
        } = tree.splits();
        for i in 0..tree.n_nodes() {
            let id = i64::try_from(i).unwrap_or(i64::MAX);
            self.tree_ids.push(t);
            self.node_ids.push(id);
            if left[i] == 0 {
                self.features.push(0);
                self.modes.push("LEAF");
                self.values.push(0.0);
                self.true_ids.push(0);
                self.false_ids.push(0);
                self.missing_true.push(0);
                self.leaf_trees.push(t);
                self.leaf_nodes.push(id);
                self.leaf_values.push(tree.value(i)[0]);
            } else {
                let f = feature[i] as usize;
                // Bin `b` holds the values above `edges[b - 1]` up to `edges[b]`.
                let edge = bins
                    .edges(f)
                    .get(usize::from(threshold[i]))
                    .copied()
                    .unwrap_or(f64::INFINITY);
                self.features.push(i64::from(feature[i]));
                self.modes.push("BRANCH_LEQ");
                self.values.push(edge);
                self.true_ids.push(i64::from(left[i]));
                self.false_ids.push(i64::from(right[i]));
                self.missing_true.push(i64::from(missing_left[i]));
            }
        }
    }
}

const FLOAT: i64 = 1;
const STRING: i64 = 8;
const DOUBLE: i64 = 11;

/// `name`: a tensor of `elem` of shape `[N, width]`, or `[N]` when `width` is negative.
fn value_info(name: &str, elem: i64, width: i64) -> Pb {
    let mut rows = Pb::default();
    rows.string(2, "N"); // dim_param
    let mut shape = Pb::default();
    shape.message(1, &rows);
    if width >= 0 {
        let mut cols = Pb::default();
        cols.int(1, width); // dim_value
        shape.message(1, &cols);
    }
    let mut tensor = Pb::default();
    tensor.int(1, elem);
    tensor.message(2, &shape);
    let mut ty = Pb::default();
    ty.message(1, &tensor);
    let mut info = Pb::default();
    info.string(1, name);
    info.message(2, &ty);
    info
}

fn attr(name: &str, ty: i64) -> Pb {
    let mut a = Pb::default();
    a.string(1, name);
    a.int(20, ty);
    a
}

fn attr_string(name: &str, value: &str) -> Pb {
    let mut a = attr(name, 3);
    a.string(4, value);
    a
}

fn attr_int(name: &str, value: i64) -> Pb {
    let mut a = attr(name, 2);
    a.int(3, value);
    a
}

fn attr_ints(name: &str, values: &[i64]) -> Pb {
    let mut a = attr(name, 7);
    let mut packed = Pb::default();
    for &v in values {
        packed.varint(v.cast_unsigned());
    }
    a.bytes(8, &packed.0);
    a
}

fn attr_strings(name: &str, values: &[&str]) -> Pb {
    let mut a = attr(name, 8);
    for v in values {
        a.string(9, v);
    }
    a
}

/// A one-dimensional `double` tensor attribute (its bytes as `raw_data`, little-endian).
fn attr_doubles(name: &str, values: &[f64]) -> Pb {
    let mut tensor = Pb::default();
    tensor.int(1, i64::try_from(values.len()).unwrap_or(i64::MAX));
    tensor.int(2, DOUBLE);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor.bytes(9, &raw);
    let mut a = attr(name, 4);
    a.message(5, &tensor);
    a
}

/// A protobuf message being written.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(u8::try_from(v & 0x7f).unwrap_or(0) | 0x80);
            v >>= 7;
        }
        self.0.push(u8::try_from(v).unwrap_or(0));
    }

    fn key(&mut self, field: u32, wire: u64) {
        self.varint((u64::from(field) << 3) | wire);
    }

    fn int(&mut self, field: u32, v: i64) {
        self.key(field, 0);
        self.varint(v.cast_unsigned());
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u32, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn message(&mut self, field: u32, m: &Pb) {
        self.bytes(field, &m.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_are_protobufs() {
        let mut p = Pb::default();
        p.int(1, 300);
        p.string(2, "ab");
        assert_eq!(p.0, [0x08, 0xac, 0x02, 0x12, 0x02, b'a', b'b']);
        let mut n = Pb::default();
        n.int(3, -1);
        assert_eq!(n.0.len(), 11, "a negative int64 is ten bytes of varint");
    }
}
