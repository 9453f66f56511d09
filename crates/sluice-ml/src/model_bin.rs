//! The binary model file, `model.bin`: what `Model::save` writes (`model.json`, the earlier
//! text form, still loads, and `Model::save_json` still writes it).
//!
//! ```text
//! 0   magic "SLUICEMB"
//! 8   u32 binary layout version (1)
//! 12  u32 header length H
//! 16  u64 payload length P
//! 24  32 bytes: BLAKE3 of header and payload
//! 56  8 bytes reserved (zero)
//! 64  header: H bytes of JSON
//!     zero padding to a multiple of 8
//!     payload: P bytes, the arrays
//! ```
//!
//! The header is `model.json`'s envelope (`format`, `format_version`, `algorithm`, `task`,
//! `feature_names`, `classes`), the small parts of the model (a linear model is all small; a
//! boosting model's baseline), and `arrays`: each array's name, element type (`u8`, `u16`,
//! `u32`, `f64`, little-endian; `bits`, least significant first), offset in the payload (a
//! multiple of 8, so a reader that maps the file can view every array in place) and length. A
//! tree model's trees are struct-of-arrays over all its nodes: `tree_nodes` (nodes per tree),
//! `feature` (the narrowest type that holds it), `threshold` (the bin), `missing_left` (bits),
//! `left` (`0` for a leaf), `right` (only when a right child is not the node after its left
//! sibling), `leaf_value` (`n_outputs` per leaf, in node order; or `value`, per node, when a
//! split node carries values), and its bin edges (`edge_counts` per feature, then `edges`). The checksum is verified before anything is
//! read, so a damaged or truncated file is refused, never half-loaded.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::hist::{BinMapper, HistTree};
use crate::{
    BoostingModel, FORMAT, FORMAT_VERSION, ForestModel, MlError, Model, Schema, TreeModel,
};

/// The file `Model::save` writes in its folder.
pub(crate) const BINARY_FILE: &str = "model.bin";
const MAGIC: &[u8; 8] = b"SLUICEMB";
/// The newest binary layout this build writes and reads.
pub const BINARY_VERSION: u32 = 1;
const PREFIX: usize = 64;

/// Writes `model`'s binary file to `out` (the payload is built once and written as it is, not
/// copied into a second buffer).
pub(crate) fn encode(model: &Model, out: &mut impl std::io::Write) -> Result<(), String> {
    let mut w = Writer::default();
    let mut header = Map::new();
    header.insert("format".into(), json!(FORMAT));
    header.insert("format_version".into(), json!(FORMAT_VERSION));
    header.insert("algorithm".into(), json!(model.algorithm()));
    header.insert("task".into(), json!(model.task()));
    header.insert("feature_names".into(), json!(model.feature_names()));
    header.insert("classes".into(), json!(model.classes()));
    match model {
        Model::Linear(m) => {
            header.insert(
                "model".into(),
                serde_json::to_value(m).map_err(|e| e.to_string())?,
            );
        }
        Model::Logistic(m) => {
            header.insert(
                "model".into(),
                serde_json::to_value(m).map_err(|e| e.to_string())?,
            );
        }
        Model::Tree(m) => {
            w.bins(&m.bins);
            header.insert(
                "n_outputs".into(),
                json!(w.trees(std::slice::from_ref(&m.tree))?),
            );
        }
        Model::Forest(m) => {
            w.bins(&m.bins);
            header.insert("n_outputs".into(), json!(w.trees(&m.trees)?));
        }
        Model::Boosting(m) => {
            w.bins(&m.bins);
            let flat: Vec<HistTree> = m.trees.iter().flatten().cloned().collect();
            header.insert("n_outputs".into(), json!(w.trees(&flat)?));
            let sizes: Vec<u32> = m
                .trees
                .iter()
                .map(|it| u32::try_from(it.len()).unwrap_or(u32::MAX))
                .collect();
            w.u32s("iteration_trees", &sizes);
            header.insert("baseline".into(), json!(m.baseline));
        }
    }
    header.insert("arrays".into(), Value::Array(w.arrays));
    let header = serde_json::to_vec(&Value::Object(header)).map_err(|e| e.to_string())?;
    let header_len =
        u32::try_from(header.len()).map_err(|_| "the header is too large".to_owned())?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&header);
    hasher.update(&w.payload);
    let mut prefix = Vec::with_capacity(PREFIX);
    prefix.extend_from_slice(MAGIC);
    prefix.extend_from_slice(&BINARY_VERSION.to_le_bytes());
    prefix.extend_from_slice(&header_len.to_le_bytes());
    prefix.extend_from_slice(&(w.payload.len() as u64).to_le_bytes());
    prefix.extend_from_slice(hasher.finalize().as_bytes());
    prefix.extend_from_slice(&[0; 8]);
    let padding = (PREFIX + header.len()).next_multiple_of(8) - (PREFIX + header.len());
    [&prefix[..], &header, &[0; 8][..padding], &w.payload]
        .into_iter()
        .try_for_each(|part| out.write_all(part))
        .map_err(|e| e.to_string())
}

/// A binary model file's parts, its checksum verified: the header, the schema it gives, and the
/// arrays of its payload.
pub(crate) struct Parsed<'a> {
    pub(crate) header: Map<String, Value>,
    pub(crate) schema: Schema,
    pub(crate) arrays: Arrays<'a>,
    /// Where the payload starts in the file.
    pub(crate) payload_start: usize,
}

impl Parsed<'_> {
    pub(crate) fn algorithm(&self) -> &str {
        self.header
            .get("algorithm")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The header's `key`, or an error naming it.
    pub(crate) fn field(&self, key: &str) -> Result<Value, String> {
        self.header
            .get(key)
            .cloned()
            .ok_or_else(|| format!("its header has no `{key}`"))
    }

    pub(crate) fn n_outputs(&self) -> Result<usize, String> {
        self.header
            .get("n_outputs")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| "its header has no `n_outputs`".into())
    }

    pub(crate) fn baseline(&self) -> Result<Vec<f64>, String> {
        serde_json::from_value(self.field("baseline")?).map_err(|e| format!("`baseline`: {e}"))
    }
}

/// The error for a damaged or inconsistent model file at `path`.
pub(crate) fn bad_file(path: &Path) -> impl Fn(String) -> MlError + '_ {
    move |reason| MlError::Format {
        path: path.to_path_buf(),
        reason,
    }
}

/// The model in `bytes` (a binary model file read from `path`), checked.
pub(crate) fn decode(path: &Path, bytes: &[u8]) -> Result<Model, MlError> {
    build(path, parse(path, bytes)?)
}

/// The model of a parsed file, its arrays decoded into its own vectors.
pub(crate) fn build(path: &Path, file: Parsed<'_>) -> Result<Model, MlError> {
    let bad = bad_file(path);
    let arrays = &file.arrays;
    let algorithm = file.algorithm();
    let model = match algorithm {
        crate::model::LINEAR_REGRESSION => Model::Linear(
            serde_json::from_value(file.field("model").map_err(&bad)?)
                .map_err(|e| bad(e.to_string()))?,
        ),
        crate::model::LOGISTIC_REGRESSION => Model::Logistic(
            serde_json::from_value(file.field("model").map_err(&bad)?)
                .map_err(|e| bad(e.to_string()))?,
        ),
        crate::model::DECISION_TREE => {
            let bins = arrays.bins().map_err(&bad)?;
            let mut trees = arrays
                .trees(file.n_outputs().map_err(&bad)?)
                .map_err(&bad)?;
            if trees.len() != 1 {
                return Err(bad(format!(
                    "a decision tree file holds {} trees",
                    trees.len()
                )));
            }
            Model::Tree(TreeModel {
                bins,
                tree: trees.remove(0),
                schema: Schema::default(),
            })
        }
        crate::model::RANDOM_FOREST => Model::Forest(ForestModel {
            bins: arrays.bins().map_err(&bad)?,
            trees: arrays
                .trees(file.n_outputs().map_err(&bad)?)
                .map_err(&bad)?,
            schema: Schema::default(),
        }),
        crate::model::GRADIENT_BOOSTING => {
            let flat = arrays
                .trees(file.n_outputs().map_err(&bad)?)
                .map_err(&bad)?;
            let sizes = arrays.u32s("iteration_trees").map_err(&bad)?;
            if sizes.iter().map(|&s| s as usize).sum::<usize>() != flat.len() {
                return Err(bad("`iteration_trees` does not add up to the trees".into()));
            }
            let mut rest = flat.into_iter();
            let trees = sizes
                .iter()
                .map(|&s| rest.by_ref().take(s as usize).collect())
                .collect();
            Model::Boosting(BoostingModel {
                bins: arrays.bins().map_err(&bad)?,
                baseline: file.baseline().map_err(&bad)?,
                trees,
                schema: Schema::default(),
            })
        }
        other => return Err(bad(format!("unknown algorithm `{other}`"))),
    };
    Ok(model.with_schema(file.schema))
}

/// The parts of `bytes` (a binary model file read or mapped from `path`), its checksum verified
/// before anything is read.
pub(crate) fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<Parsed<'a>, MlError> {
    let bad = bad_file(path);
    if bytes.len() < PREFIX || !bytes.starts_with(MAGIC) {
        return Err(bad(
            "not a Sluice binary model file (too short, or no `SLUICEMB` at its start)".into(),
        ));
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    let version = word(8);
    if version > BINARY_VERSION {
        return Err(MlError::NewerFormat {
            path: path.to_path_buf(),
            found: u64::from(version),
            supported: u64::from(BINARY_VERSION),
        });
    }
    let header_len = word(12) as usize;
    let payload_len = u64::from_le_bytes(bytes[16..24].try_into().unwrap_or_default());
    let header_end = PREFIX + header_len;
    let payload_start = header_end.next_multiple_of(8);
    let payload_end = usize::try_from(payload_len)
        .ok()
        .and_then(|p| payload_start.checked_add(p));
    let Some(payload_end) = payload_end.filter(|&end| end == bytes.len()) else {
        return Err(bad(format!(
            "the file is {} bytes, its header says {} (truncated or damaged)",
            bytes.len(),
            payload_start as u64 + payload_len
        )));
    };
    let (header, payload) = (
        &bytes[PREFIX..header_end],
        &bytes[payload_start..payload_end],
    );
    let mut hasher = blake3::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    if hasher.finalize().as_bytes() != &bytes[24..56] {
        return Err(bad(
            "its checksum does not match its contents: the file is damaged".into(),
        ));
    }
    let header: Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| bad(format!("its header: {e}")))?;
    let get = |key: &str| header.get(key).cloned().unwrap_or(Value::Null);
    let field = |key: &str| -> Result<Value, MlError> {
        header
            .get(key)
            .cloned()
            .ok_or_else(|| bad(format!("its header has no `{key}`")))
    };
    if get("format") != json!(FORMAT) {
        return Err(bad(format!(
            "`format` is {}, expected `{FORMAT}`",
            get("format")
        )));
    }
    match get("format_version").as_u64() {
        Some(found) if found > FORMAT_VERSION => {
            return Err(MlError::NewerFormat {
                path: path.to_path_buf(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        Some(1..) => {}
        _ => {
            return Err(bad(
                "`format_version` is absent or not a positive integer".into()
            ));
        }
    }
    let schema = Schema {
        task: serde_json::from_value(field("task")?).map_err(|e| bad(format!("`task`: {e}")))?,
        feature_names: serde_json::from_value(field("feature_names")?)
            .map_err(|e| bad(format!("`feature_names`: {e}")))?,
        classes: serde_json::from_value(field("classes")?)
            .map_err(|e| bad(format!("`classes`: {e}")))?,
    };
    let arrays = Arrays {
        list: header
            .get("arrays")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        payload,
    };
    Ok(Parsed {
        header,
        schema,
        arrays,
        payload_start,
    })
}

/// The payload being written and the list of its arrays.
#[derive(Default)]
struct Writer {
    payload: Vec<u8>,
    arrays: Vec<Value>,
}

impl Writer {
    fn push(&mut self, name: &str, dtype: &str, len: usize, bytes: impl IntoIterator<Item = u8>) {
        self.payload
            .resize(self.payload.len().next_multiple_of(8), 0);
        let offset = self.payload.len();
        self.payload.extend(bytes);
        self.arrays
            .push(json!({"name": name, "dtype": dtype, "offset": offset, "len": len}));
    }

    fn u32s(&mut self, name: &str, values: &[u32]) {
        self.push(
            name,
            "u32",
            values.len(),
            values.iter().flat_map(|v| v.to_le_bytes()),
        );
    }

    fn f64s(&mut self, name: &str, values: &[f64]) {
        self.push(
            name,
            "f64",
            values.len(),
            values.iter().flat_map(|v| v.to_le_bytes()),
        );
    }

    fn bins(&mut self, bins: &BinMapper) {
        let n = bins.n_features();
        let counts: Vec<u32> = (0..n)
            .map(|f| u32::try_from(bins.edges(f).len()).unwrap_or(u32::MAX))
            .collect();
        self.u32s("edge_counts", &counts);
        let all: Vec<f64> = (0..n).flat_map(|f| bins.edges(f).iter().copied()).collect();
        self.f64s("edges", &all);
    }

    /// The trees' arrays; returns their `n_outputs` (the same for all). Compact where the trees
    /// allow it, exact in any case: `feature` in the narrowest unsigned type that holds it;
    /// `missing_left` as bits; `right` left out when every right child is the node after its
    /// left sibling (as the grower numbers them); the leaves' values only (`leaf_value`) when no
    /// split node carries one, else every node's (`value`).
    fn trees(&mut self, trees: &[HistTree]) -> Result<usize, String> {
        let n_outputs = trees.first().map_or(1, HistTree::n_outputs);
        if trees.iter().any(|t| t.n_outputs() != n_outputs) {
            return Err("the trees have different numbers of outputs".into());
        }
        let sizes: Vec<u32> = trees
            .iter()
            .map(|t| u32::try_from(t.n_nodes()).unwrap_or(u32::MAX))
            .collect();
        self.u32s("tree_nodes", &sizes);
        let splits: Vec<_> = trees.iter().map(HistTree::splits).collect();
        let nodes: usize = trees.iter().map(HistTree::n_nodes).sum();
        let feature: Vec<u32> = splits
            .iter()
            .flat_map(|s| s.feature.iter().copied())
            .collect();
        match feature.iter().max().copied().unwrap_or(0) {
            m if u8::try_from(m).is_ok() => {
                let bytes: Vec<u8> = feature
                    .iter()
                    .map(|&f| u8::try_from(f).unwrap_or(u8::MAX))
                    .collect();
                self.push("feature", "u8", nodes, bytes);
            }
            m if u16::try_from(m).is_ok() => {
                let bytes: Vec<u8> = feature
                    .iter()
                    .flat_map(|&f| u16::try_from(f).unwrap_or(u16::MAX).to_le_bytes())
                    .collect();
                self.push("feature", "u16", nodes, bytes);
            }
            _ => self.u32s("feature", &feature),
        }
        let threshold: Vec<u8> = splits
            .iter()
            .flat_map(|s| s.threshold.iter().copied())
            .collect();
        self.push("threshold", "u8", nodes, threshold);
        let mut bits = vec![0u8; nodes.div_ceil(8)];
        for (i, m) in splits
            .iter()
            .flat_map(|s| s.missing_left.iter())
            .enumerate()
        {
            if *m {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        self.push("missing_left", "bits", nodes, bits);
        let left: Vec<u32> = splits.iter().flat_map(|s| s.left.iter().copied()).collect();
        self.u32s("left", &left);
        let siblings = splits.iter().all(|s| {
            s.left
                .iter()
                .zip(s.right)
                .all(|(&l, &r)| l == 0 || r == l + 1)
        });
        if !siblings {
            let right: Vec<u32> = splits
                .iter()
                .flat_map(|s| s.right.iter().copied())
                .collect();
            self.u32s("right", &right);
        }
        let leaves_only = trees.iter().zip(&splits).all(|(t, s)| {
            s.left
                .iter()
                .enumerate()
                .all(|(i, &l)| l == 0 || t.value(i).iter().all(|v| v.to_bits() == 0))
        });
        if leaves_only {
            let values: Vec<f64> = trees
                .iter()
                .zip(&splits)
                .flat_map(|(t, s)| {
                    s.left
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| **l == 0)
                        .flat_map(move |(i, _)| t.value(i).iter().copied())
                })
                .collect();
            self.f64s("leaf_value", &values);
        } else {
            let values: Vec<f64> = trees
                .iter()
                .flat_map(|t| t.values().iter().copied())
                .collect();
            self.f64s("value", &values);
        }
        Ok(n_outputs)
    }
}

/// The arrays of a payload, by name.
pub(crate) struct Arrays<'a> {
    list: Vec<Value>,
    payload: &'a [u8],
}

impl Arrays<'_> {
    pub(crate) fn has(&self, name: &str) -> bool {
        self.list.iter().any(|a| a["name"] == name)
    }

    /// The payload.
    pub(crate) fn payload(&self) -> &[u8] {
        self.payload
    }

    /// The bytes of array `name`, its element type and length, bounds-checked.
    fn raw(&self, name: &str) -> Result<(&[u8], String, usize), String> {
        let (range, dtype, len) = self.locate(name)?;
        Ok((&self.payload[range], dtype, len))
    }

    /// Where array `name` lies in the payload, its element type and length, bounds-checked.
    pub(crate) fn locate(
        &self,
        name: &str,
    ) -> Result<(std::ops::Range<usize>, String, usize), String> {
        let a = self
            .list
            .iter()
            .find(|a| a["name"] == name)
            .ok_or_else(|| format!("it has no `{name}` array"))?;
        let dtype = a["dtype"].as_str().unwrap_or("").to_owned();
        let size = match dtype.as_str() {
            "u8" | "bits" => 1,
            "u16" => 2,
            "u32" => 4,
            "f64" => 8,
            other => return Err(format!("array `{name}` has an unknown type `{other}`")),
        };
        let offset = a["offset"].as_u64().and_then(|v| usize::try_from(v).ok());
        let len = a["len"].as_u64().and_then(|v| usize::try_from(v).ok());
        let (Some(offset), Some(len)) = (offset, len) else {
            return Err(format!("array `{name}` has no offset or length"));
        };
        let bytes = if dtype == "bits" {
            Some(len.div_ceil(8))
        } else {
            len.checked_mul(size)
        };
        match bytes.and_then(|b| b.checked_add(offset)) {
            Some(end) if end <= self.payload.len() => Ok((offset..end, dtype, len)),
            _ => Err(format!("array `{name}` lies outside the file")),
        }
    }

    fn u8s(&self, name: &str) -> Result<Vec<u8>, String> {
        match self.raw(name)? {
            (bytes, t, _) if t == "u8" => Ok(bytes.to_vec()),
            (_, t, _) => Err(format!("array `{name}` is {t}, not u8")),
        }
    }

    /// `bits` (least significant first), as booleans.
    fn bits(&self, name: &str) -> Result<Vec<bool>, String> {
        match self.raw(name)? {
            (bytes, t, len) if t == "bits" => Ok((0..len)
                .map(|i| bytes[i / 8] & (1 << (i % 8)) != 0)
                .collect()),
            (_, t, _) => Err(format!("array `{name}` is {t}, not bits")),
        }
    }

    /// `u8`, `u16` or `u32` values, as `u32`.
    pub(crate) fn u32s(&self, name: &str) -> Result<Vec<u32>, String> {
        let (bytes, t, _) = self.raw(name)?;
        match t.as_str() {
            "u8" => Ok(bytes.iter().map(|&b| u32::from(b)).collect()),
            "u16" => Ok(bytes
                .chunks_exact(2)
                .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
                .collect()),
            "u32" => Ok(bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()),
            _ => Err(format!("array `{name}` is {t}, not an unsigned integer")),
        }
    }

    fn f64s(&self, name: &str) -> Result<Vec<f64>, String> {
        match self.raw(name)? {
            (bytes, t, _) if t == "f64" => Ok(bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect()),
            (_, t, _) => Err(format!("array `{name}` is {t}, not f64")),
        }
    }

    pub(crate) fn bins(&self) -> Result<BinMapper, String> {
        let counts = self.u32s("edge_counts")?;
        let edges = self.f64s("edges")?;
        if counts.iter().map(|&c| c as usize).sum::<usize>() != edges.len() {
            return Err("`edge_counts` does not add up to the edges".into());
        }
        let mut rest = edges.into_iter();
        Ok(BinMapper::from_edges(
            counts
                .iter()
                .map(|&c| rest.by_ref().take(c as usize).collect())
                .collect(),
        ))
    }

    fn trees(&self, n_outputs: usize) -> Result<Vec<HistTree>, String> {
        let sizes = self.u32s("tree_nodes")?;
        let feature = self.u32s("feature")?;
        let threshold = self.u8s("threshold")?;
        let missing = self.bits("missing_left")?;
        let left = self.u32s("left")?;
        // Right children: stored, or each the node after its left sibling.
        let right = if self.has("right") {
            self.u32s("right")?
        } else {
            left.iter()
                .map(|&l| if l == 0 { 0 } else { l.saturating_add(1) })
                .collect()
        };
        let nodes: usize = sizes.iter().map(|&s| s as usize).sum();
        if [
            feature.len(),
            threshold.len(),
            missing.len(),
            left.len(),
            right.len(),
        ]
        .iter()
        .any(|&l| l != nodes)
        {
            return Err("the tree arrays' lengths disagree with `tree_nodes`".into());
        }
        // Every node's values: stored, or the leaves' in node order (split nodes 0).
        let value = if self.has("leaf_value") {
            let leaves = self.f64s("leaf_value")?;
            let n_leaves = left.iter().filter(|&&l| l == 0).count();
            if n_outputs == 0 || Some(leaves.len()) != n_leaves.checked_mul(n_outputs) {
                return Err("`leaf_value` does not hold one value per leaf and output".into());
            }
            let mut next = leaves.chunks_exact(n_outputs);
            let mut all = Vec::with_capacity(nodes * n_outputs);
            for &l in &left {
                if l != 0 {
                    all.extend(std::iter::repeat_n(0.0, n_outputs));
                    continue;
                }
                let leaf = next.next().ok_or("`leaf_value` ends early")?;
                all.extend_from_slice(leaf);
            }
            all
        } else {
            self.f64s("value")?
        };
        if Some(value.len()) != nodes.checked_mul(n_outputs) {
            return Err("the tree values' length disagrees with `tree_nodes`".into());
        }
        let mut at = 0;
        Ok(sizes
            .iter()
            .map(|&s| {
                let r = at..at + s as usize;
                at += s as usize;
                HistTree::from_arrays(
                    feature[r.clone()].to_vec(),
                    threshold[r.clone()].to_vec(),
                    missing[r.clone()].to_vec(),
                    left[r.clone()].to_vec(),
                    right[r.clone()].to_vec(),
                    value[r.start * n_outputs..r.end * n_outputs].to_vec(),
                    n_outputs,
                )
            })
            .collect())
    }
}

/// `bytes` (a binary model file) with its header changed by `change`, its lengths and checksum
/// made to match: a damaged model whose damage the checksum cannot see.
#[cfg(test)]
pub(crate) fn with_header(bytes: &[u8], change: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let header_end = PREFIX + word(12);
    let payload = &bytes[header_end.next_multiple_of(8)..];
    let mut header: Map<String, Value> =
        serde_json::from_slice(&bytes[PREFIX..header_end]).unwrap();
    change(&mut header);
    let header = serde_json::to_vec(&header).unwrap();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&header);
    hasher.update(payload);
    let mut out = bytes[..12].to_vec();
    out.extend_from_slice(&u32::try_from(header.len()).unwrap().to_le_bytes());
    out.extend_from_slice(&bytes[16..24]);
    out.extend_from_slice(hasher.finalize().as_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&header);
    out.resize(out.len().next_multiple_of(8), 0);
    out.extend_from_slice(payload);
    out
}
