//! Helpers that read typed values out of [`Node`]s and report precise errors.

use crate::diag::{SpecError, Warning};
use crate::source::{Source, Spanned};
use crate::yaml::{Node, Value};

/// What every decoder needs: the file being read, a place to put warnings, and where
/// registered assets are looked up.
pub(crate) struct Ctx<'a> {
    pub(crate) source: &'a Source,
    pub(crate) warnings: &'a mut Vec<Warning>,
    pub(crate) assets: Option<&'a dyn AssetLookup>,
}

/// Registered assets a file may refer to (`component: azureml:train@latest`), looked up while
/// it is read. The workspace implements it; without one, such references are an error.
pub trait AssetLookup {
    /// The stored YAML file of a registered component version.
    fn component(
        &self,
        name: &str,
        version: &crate::asset::VersionSel,
    ) -> Result<std::path::PathBuf, String>;
}

impl Ctx<'_> {
    pub(crate) fn error(&self, node: &Node, message: impl Into<String>) -> SpecError {
        SpecError::new(self.source, node.span, message)
    }

    pub(crate) fn error_at(
        &self,
        span: crate::source::Span,
        message: impl Into<String>,
    ) -> SpecError {
        SpecError::new(self.source, span, message)
    }

    pub(crate) fn warn(&mut self, node: &Node, message: impl Into<String>) {
        self.warnings
            .push(Warning::new(self.source, node.span, message));
    }

    pub(crate) fn expected(&self, node: &Node, what: &str, field: &str) -> SpecError {
        self.error(
            node,
            format!("`{field}` must be {what}, found {}", node.value.kind()),
        )
        .with_label(format!("expected {what}"))
    }

    /// A string-like scalar (numbers are accepted and kept as written).
    pub(crate) fn string(&self, node: &Node, field: &str) -> Result<Spanned<String>, SpecError> {
        match &node.value {
            Value::Str { text, .. } => Ok(Spanned::new(text.clone(), node.span)),
            Value::Int(_) | Value::Float(_) => Ok(Spanned::new(
                node.scalar_text().unwrap_or_default(),
                node.span,
            )),
            _ => Err(self.expected(node, "a string", field)),
        }
    }

    pub(crate) fn opt_string(
        &self,
        node: Option<&Node>,
        field: &str,
    ) -> Result<Option<Spanned<String>>, SpecError> {
        match node {
            None => Ok(None),
            Some(n) if n.is_null() => Ok(None),
            Some(n) => self.string(n, field).map(Some),
        }
    }

    pub(crate) fn bool(&self, node: &Node, field: &str) -> Result<bool, SpecError> {
        match &node.value {
            Value::Bool(b) => Ok(*b),
            Value::Str { text, .. } if text.eq_ignore_ascii_case("true") => Ok(true),
            Value::Str { text, .. } if text.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(self.expected(node, "`true` or `false`", field)),
        }
    }

    pub(crate) fn opt_bool(
        &self,
        node: Option<&Node>,
        field: &str,
    ) -> Result<Option<bool>, SpecError> {
        match node {
            None => Ok(None),
            Some(n) if n.is_null() => Ok(None),
            Some(n) => self.bool(n, field).map(Some),
        }
    }

    pub(crate) fn number(&self, node: &Node, field: &str) -> Result<f64, SpecError> {
        match &node.value {
            #[expect(clippy::cast_precision_loss, reason = "YAML integers used as numbers")]
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::Str { text, .. } => text
                .trim()
                .parse()
                .map_err(|_| self.expected(node, "a number", field)),
            _ => Err(self.expected(node, "a number", field)),
        }
    }

    /// A mapping of string keys to string values (`tags`, `environment_variables`).
    pub(crate) fn string_map(
        &self,
        node: Option<&Node>,
        field: &str,
    ) -> Result<indexmap::IndexMap<String, String>, SpecError> {
        let mut out = indexmap::IndexMap::new();
        let Some(node) = node else { return Ok(out) };
        match &node.value {
            Value::Null => {}
            Value::Map(entries) => {
                for (k, v) in entries {
                    let key = self.string(k, field)?.value;
                    let value = match &v.value {
                        Value::Null => String::new(),
                        Value::Seq(_) | Value::Map(_) => {
                            return Err(self.expected(v, "a string", &format!("{field}.{key}")));
                        }
                        _ => v.scalar_text().unwrap_or_default(),
                    };
                    out.insert(key, value);
                }
            }
            _ => return Err(self.expected(node, "a mapping", field)),
        }
        Ok(out)
    }

    /// The entries of a mapping node (null is an empty mapping).
    pub(crate) fn entries<'n>(
        &self,
        node: Option<&'n Node>,
        field: &str,
    ) -> Result<&'n [(Node, Node)], SpecError> {
        match node.map(|n| &n.value) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Map(entries)) => Ok(entries),
            Some(_) => Err(self.expected(node.expect("checked"), "a mapping", field)),
        }
    }
}

/// Reads the keys of one mapping, remembering which were used, so that unknown keys can be
/// reported with a suggestion.
pub(crate) struct MapReader<'n> {
    node: &'n Node,
    entries: &'n [(Node, Node)],
    used: Vec<bool>,
    known: Vec<&'static str>,
    what: String,
}

impl<'n> MapReader<'n> {
    pub(crate) fn new(ctx: &Ctx<'_>, node: &'n Node, what: &str) -> Result<Self, SpecError> {
        let Value::Map(entries) = &node.value else {
            return Err(ctx
                .error(
                    node,
                    format!("{what} must be a mapping, found {}", node.value.kind()),
                )
                .with_label("expected a mapping of keys to values"));
        };
        Ok(Self {
            node,
            entries,
            used: vec![false; entries.len()],
            known: Vec::new(),
            what: what.to_owned(),
        })
    }

    pub(crate) fn node(&self) -> &'n Node {
        self.node
    }

    /// The value of `key`, if present (null values are returned as null nodes).
    pub(crate) fn get(&mut self, key: &'static str) -> Option<&'n Node> {
        self.known.push(key);
        let i = self
            .entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))?;
        self.used[i] = true;
        Some(&self.entries[i].1)
    }

    /// The key node of `key`, for pointing at it.
    pub(crate) fn key_node(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// Keys that Azure ML accepts but that change nothing when running locally: a warning each.
    pub(crate) fn ignore(&mut self, ctx: &mut Ctx<'_>, keys: &[&'static str]) {
        for key in keys {
            if let Some(node) = self.get(key) {
                let key_node = self.key_node(key).unwrap_or(node);
                ctx.warn(
                    key_node,
                    format!("`{key}` has no effect when running locally; it is ignored"),
                );
            }
        }
    }

    /// Warns about each key that no `get` asked for, as Azure ML does where it ignores unknown
    /// fields (pipeline jobs, their steps and `settings`): the job runs without them.
    pub(crate) fn finish_lenient(self, ctx: &mut Ctx<'_>) {
        for (i, (key, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let name = key.scalar_text().unwrap_or_default();
            let message = match suggest(&name, &self.known) {
                Some(s) => format!(
                    "`{name}` is not a key of {}; it is ignored, as Azure ML ignores it (did you mean `{s}`?)",
                    self.what
                ),
                None => format!(
                    "`{name}` is not a key of {}; it is ignored, as Azure ML ignores it",
                    self.what
                ),
            };
            ctx.warn(key, message);
        }
    }

    /// Errors on the first key that no `get` asked for.
    pub(crate) fn finish(self, ctx: &Ctx<'_>) -> Result<(), SpecError> {
        for (i, (key, _)) in self.entries.iter().enumerate() {
            if self.used[i] {
                continue;
            }
            let name = key.scalar_text().unwrap_or_default();
            let mut err = ctx
                .error(key, format!("unknown key `{name}` in {}", self.what))
                .with_label("not a known key here");
            err = match suggest(&name, &self.known) {
                Some(s) => err.with_help(format!("did you mean `{s}`?")),
                None => err.with_help(format!(
                    "known keys are: {}",
                    self.known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            return Err(err);
        }
        Ok(())
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
#[must_use]
pub fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
