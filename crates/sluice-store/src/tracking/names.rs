//! MLflow's rules for metric, param and tag names, with its messages word for word: clients and
//! users match on them (`mlflow/utils/validation.py`).

use crate::{Result, StoreError};

/// Where a name sits in the request, as MLflow's messages say it: `key` for one param or tag,
/// `name` for one metric, `params[2].key` inside a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    /// One entity, from `log-metric`, `log-parameter` or `set-tag`.
    Single,
    /// Entity `i` of a `log-batch` list.
    Batch(usize),
}

impl Place {
    fn path(self, list: &str, field: &str) -> String {
        match self {
            Place::Single => field.to_owned(),
            Place::Batch(i) => format!("{list}[{i}].{field}"),
        }
    }
}

/// What kind of entity a name belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entity {
    Metric,
    Param,
    Tag,
}

impl Entity {
    fn path(self, place: Place) -> String {
        match self {
            Entity::Metric => place.path("metrics", "name"),
            Entity::Param => place.path("params", "key"),
            Entity::Tag => place.path("tags", "key"),
        }
    }

    fn length_label(self, place: Place) -> String {
        match self {
            Entity::Metric => "Metric name".to_owned(),
            Entity::Param => "Param key".to_owned(),
            Entity::Tag => place.path("tags", "key"),
        }
    }
}

/// MLflow's `invalid_value` message: the value as compact JSON, the parameter path, the reason.
pub(crate) fn invalid_value(path: &str, value: &str, reason: &str) -> StoreError {
    let shown = serde_json::to_string(value).unwrap_or_default();
    StoreError::Invalid(format!(
        "Invalid value {shown} for parameter '{path}' supplied: {reason}"
    ))
}

/// Checks a metric, param or tag name as MLflow does: the characters allowed, no name that a
/// file system would read as another (`a/../b`, `./a`, `/a`, `a//b`), at most `max` characters.
pub(crate) fn check_name(entity: Entity, place: Place, name: &str, max: usize) -> Result<()> {
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '/' | '.' | '-' | ' ' | ':');
    if !name.chars().all(allowed) {
        return Err(invalid_value(
            &entity.path(place),
            name,
            "Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/).",
        ));
    }
    if !is_plain_path(name) {
        let norm = normpath(name);
        return Err(invalid_value(
            &entity.path(place),
            name,
            &format!(
                "Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to {}",
                py_repr(&norm)
            ),
        ));
    }
    if name.chars().count() > max {
        return Err(StoreError::Invalid(format!(
            "'{}' exceeds the maximum length of {max} characters",
            entity.length_label(place)
        )));
    }
    Ok(())
}

/// Whether MLflow's `path_not_unique` passes `name` (`normpath(name) == name`, not `.`, not
/// starting with `..` or `/`), decided without building the normal form: a relative path whose
/// every component is a real name. Every metric, param and tag of a batch goes through here.
fn is_plain_path(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with("..")
        && name.split('/').all(|part| !matches!(part, "" | "." | ".."))
}

/// Python's `posixpath.normpath`.
pub(crate) fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let leading = if path.starts_with("//") && !path.starts_with("///") {
        "//"
    } else if path.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if leading.is_empty() && parts.last().is_none_or(|p| *p == "..") => {
                parts.push("..");
            }
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let joined = format!("{leading}{}", parts.join("/"));
    if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// A string as Python's `repr` shows it (single quotes unless the text has one and no double).
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A list of strings as Python's `repr` shows it: `['a', 'b']`.
pub(crate) fn py_list(items: &[&str]) -> String {
    let shown: Vec<String> = items.iter().map(|s| py_repr(s)).collect();
    format!("[{}]", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_python() {
        // Expected values are what CPython's posixpath.normpath returns.
        for (input, want) in [
            ("", "."),
            ("a", "a"),
            ("a/b", "a/b"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/", "a"),
            ("/a/../..", "/"),
            ("//a", "//a"),
            ("///a", "/a"),
            ("./", "."),
        ] {
            assert_eq!(normpath(input), want, "{input}");
        }
    }

    #[test]
    fn names_follow_mlflow_rules() {
        assert!(check_name(Entity::Metric, Place::Single, "loss/train:1 x-y.z", 250).is_ok());
        assert!(check_name(Entity::Metric, Place::Single, "größe", 250).is_ok());
        let msg = |r: Result<()>| r.unwrap_err().to_string();
        assert_eq!(
            msg(check_name(Entity::Param, Place::Batch(2), "a$b", 250)),
            "Invalid value \"a$b\" for parameter 'params[2].key' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        );
        assert_eq!(
            msg(check_name(Entity::Metric, Place::Single, "a/../b", 250)),
            "Invalid value \"a/../b\" for parameter 'name' supplied: Names may be treated as files in certain cases, and must not resolve to other names when treated as such. This name would resolve to 'b'"
        );
        for bad in ["", "/a", "..", "a/", "./a", "..a"] {
            assert!(
                check_name(Entity::Tag, Place::Single, bad, 250).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            msg(check_name(
                Entity::Param,
                Place::Single,
                &"k".repeat(251),
                250
            )),
            "'Param key' exceeds the maximum length of 250 characters"
        );
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_repr("a"), "'a'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_list(&["a", "b"]), "['a', 'b']");
    }
}
