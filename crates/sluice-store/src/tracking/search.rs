//! MLflow's search grammar for runs, compiled to SQL:
//! `metrics.rmse < 0.5 and params.model = 'rf' and tags.`team` != 'x' and attributes.status = 'FINISHED'`
//! and `order_by` clauses such as `metrics.rmse ASC`.

use crate::db::Value;

use crate::StoreError;
use crate::filter_lexer::{Tok, tokenize};

/// What a clause compares.
#[derive(Debug, Clone, PartialEq)]
enum Entity {
    Metric(String),
    Param(String),
    Tag(String),
    /// A column of `runs` (after mapping MLflow's attribute names).
    Attribute(&'static str),
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

fn entity(ident: &str) -> Result<Entity, StoreError> {
    // An unqualified name is an attribute, as in MLflow (`run_id IN (...)`, `status = 'X'`).
    let (prefix, key) = ident.split_once('.').unwrap_or(("attributes", ident));
    if key.is_empty() {
        return Err(invalid(format!("`{ident}` names no key")));
    }
    Ok(match prefix {
        "metric" | "metrics" => Entity::Metric(key.to_owned()),
        "param" | "params" | "parameter" | "parameters" => Entity::Param(key.to_owned()),
        "tag" | "tags" => Entity::Tag(key.to_owned()),
        "attribute" | "attributes" | "attr" | "run" => Entity::Attribute(match key {
            "run_id" | "run_uuid" | "id" => "run_uuid",
            "run_name" => "run_name",
            "status" => "status",
            "start_time" => "start_time",
            "end_time" => "end_time",
            "artifact_uri" => "artifact_uri",
            "user_id" => "user_id",
            "lifecycle_stage" => "lifecycle_stage",
            other => {
                return Err(invalid(format!(
                    "Invalid attribute key '{other}' specified. Valid keys are 'run_id', 'run_name', 'status', 'start_time', 'end_time', 'artifact_uri', 'user_id', 'lifecycle_stage'; metrics, params and tags are named `metrics.KEY`, `params.KEY`, `tags.KEY`"
                )));
            }
        }),
        other => {
            return Err(invalid(format!(
                "invalid entity type `{other}` in `{ident}`"
            )));
        }
    })
}

/// A compiled filter: an SQL condition over `runs r` and its parameters.
pub(crate) struct Filter {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

pub(crate) fn compile_filter(filter: &str) -> Result<Filter, StoreError> {
    let toks = tokenize(filter)?;
    let mut sql = Vec::new();
    let mut params = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let Tok::Word(ident) = &toks[i] else {
            return Err(invalid(format!(
                "expected a key such as `metrics.rmse` in `{filter}`"
            )));
        };
        let ent = entity(ident)?;
        i += 1;
        let op = match toks.get(i) {
            Some(Tok::Op(op)) => op.sql().to_owned(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("like") => "LIKE".into(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("ilike") => "ILIKE".into(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => "IN".into(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                i += 1;
                match toks.get(i) {
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => "NOT IN".into(),
                    _ => return Err(invalid(format!("expected `IN` after `NOT` in `{filter}`"))),
                }
            }
            _ => {
                return Err(invalid(format!(
                    "expected a comparator after `{ident}` in `{filter}`"
                )));
            }
        };
        i += 1;
        let numeric = matches!(ent, Entity::Metric(_))
            || matches!(ent, Entity::Attribute("start_time" | "end_time"));
        let value: Vec<Value> = if op == "IN" || op == "NOT IN" {
            if toks.get(i) != Some(&Tok::LParen) {
                return Err(invalid(format!(
                    "`{op}` needs a list such as ('a', 'b') in `{filter}`"
                )));
            }
            i += 1;
            let mut list = Vec::new();
            loop {
                match toks.get(i) {
                    Some(Tok::Str(s)) => list.push(Value::Text(s.clone())),
                    _ => {
                        return Err(invalid(format!(
                            "`{op}` takes a list of quoted strings in `{filter}`"
                        )));
                    }
                }
                i += 1;
                match toks.get(i) {
                    Some(Tok::Comma) => i += 1,
                    Some(Tok::RParen) => {
                        i += 1;
                        break;
                    }
                    _ => return Err(invalid(format!("unclosed list in `{filter}`"))),
                }
            }
            list
        } else {
            let v = match toks.get(i) {
                Some(Tok::Num(n)) if numeric => Value::Real(*n),
                Some(Tok::Str(s)) if !numeric => Value::Text(s.clone()),
                Some(Tok::Num(_)) => {
                    return Err(invalid(format!(
                        "`{ident}` compares with a quoted string, e.g. {ident} = 'value'"
                    )));
                }
                Some(Tok::Str(_)) => {
                    return Err(invalid(format!(
                        "`{ident}` compares with a number, e.g. {ident} < 0.5"
                    )));
                }
                _ => {
                    return Err(invalid(format!(
                        "expected a value after `{ident} {op}` in `{filter}`"
                    )));
                }
            };
            i += 1;
            vec![v]
        };
        let allowed: &[&str] = if numeric {
            &["=", "!=", "<", "<=", ">", ">="]
        } else if matches!(ent, Entity::Attribute("run_uuid")) {
            &["=", "!=", "IN", "NOT IN", "LIKE", "ILIKE"]
        } else {
            &["=", "!=", "LIKE", "ILIKE"]
        };
        if !allowed.contains(&op.as_str()) {
            return Err(invalid(format!(
                "comparator `{op}` is not allowed for `{ident}`; use one of {}",
                allowed.join(", ")
            )));
        }
        let placeholders = |n: usize| vec!["?"; n].join(", ");
        let n_values = value.len();
        let cmp = |col: &str| -> String {
            match op.as_str() {
                "ILIKE" => format!("LOWER({col}) LIKE LOWER(?)"),
                "LIKE" => format!("{col} LIKE ?"),
                "IN" => format!("{col} IN ({})", placeholders(n_values)),
                "NOT IN" => format!("{col} NOT IN ({})", placeholders(n_values)),
                "=" => format!("{col} = ?"),
                other => format!("{col} {other} ?"),
            }
        };
        let values = value;
        let clause = match &ent {
            Entity::Metric(k) => {
                params.push(Value::Text(k.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ? AND m.is_nan = 0 AND {})",
                    cmp("m.value")
                )
            }
            Entity::Param(k) => {
                params.push(Value::Text(k.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM params p WHERE p.run_uuid = r.run_uuid AND p.key = ? AND {})",
                    cmp("p.value")
                )
            }
            Entity::Tag(k) => {
                params.push(Value::Text(k.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ? AND {})",
                    cmp("t.value")
                )
            }
            Entity::Attribute(col) => cmp(&format!("r.{col}")),
        };
        params.extend(values);
        sql.push(clause);
        match toks.get(i) {
            None => {}
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("and") => {
                i += 1;
                if i >= toks.len() {
                    return Err(invalid(format!("`{filter}` ends with `AND`")));
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("or") => {
                return Err(invalid(
                    "`OR` is not supported in run filters (MLflow supports only `AND`)",
                ));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "unexpected {other:?} in `{filter}`; join clauses with `AND`"
                )));
            }
        }
    }
    Ok(Filter {
        sql: if sql.is_empty() {
            "TRUE".into()
        } else {
            sql.join(" AND ")
        },
        params,
    })
}

/// One `order_by` clause: an SQL expression (with its parameter) and the direction.
pub(crate) struct Order {
    pub(crate) expr: String,
    pub(crate) param: Option<Value>,
    pub(crate) desc: bool,
}

pub(crate) fn compile_order(clause: &str) -> Result<Order, StoreError> {
    let toks = tokenize(clause)?;
    let (ident, rest) = match toks.split_first() {
        Some((Tok::Word(i), rest)) => (i.clone(), rest),
        _ => return Err(invalid(format!("invalid order_by clause `{clause}`"))),
    };
    let desc = match rest {
        [] => false,
        [Tok::Word(d)] if d.eq_ignore_ascii_case("asc") => false,
        [Tok::Word(d)] if d.eq_ignore_ascii_case("desc") => true,
        _ => {
            return Err(invalid(format!(
                "invalid order_by clause `{clause}`; expected `KEY [ASC|DESC]`"
            )));
        }
    };
    let ident = if ident.contains('.') {
        ident
    } else {
        format!("attributes.{ident}")
    };
    let (expr, param) = match entity(&ident)? {
        Entity::Metric(k) => (
            "(SELECT CASE WHEN m.is_nan = 1 THEN NULL ELSE m.value END FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ?)".to_owned(),
            Some(Value::Text(k)),
        ),
        Entity::Param(k) => ("(SELECT p.value FROM params p WHERE p.run_uuid = r.run_uuid AND p.key = ?)".to_owned(), Some(Value::Text(k))),
        Entity::Tag(k) => ("(SELECT t.value FROM tags t WHERE t.run_uuid = r.run_uuid AND t.key = ?)".to_owned(), Some(Value::Text(k))),
        Entity::Attribute(col) => (format!("r.{col}"), None),
    };
    Ok(Order { expr, param, desc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_mlflow_filters() {
        let f = compile_filter(
            "metrics.rmse < 0.5 and params.model = 'rf' AND tags.`my tag` LIKE 'a%'",
        )
        .unwrap();
        assert_eq!(f.params.len(), 6);
        assert!(f.sql.contains("latest_metrics"));
        let f =
            compile_filter("attributes.run_id IN ('a', 'b') and attributes.status = \"FINISHED\"")
                .unwrap();
        assert_eq!(f.params.len(), 3);
        assert_eq!(compile_filter("").unwrap().sql, "TRUE");
        // Unqualified names are attributes, as the MLflow UI's compare page sends them.
        let f = compile_filter("run_id IN ('a','b')").unwrap();
        assert_eq!(f.params.len(), 2);
    }

    #[test]
    fn rejects_bad_filters_with_reasons() {
        for (bad, why) in [
            ("metrics.rmse < 'a'", "compares with a number"),
            ("params.x < 3", "compares with a quoted string"),
            ("rmse < 1", "Invalid attribute key 'rmse'"),
            (
                "metrics.rmse < 1 or metrics.mae < 1",
                "`OR` is not supported",
            ),
            ("foo.x = 'a'", "invalid entity type"),
            ("params.x = 'a", "unterminated"),
            ("metrics.a LIKE 1", "not allowed"),
        ] {
            let err = compile_filter(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} compiled"))
                .to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn order_clauses() {
        assert!(compile_order("metrics.rmse ASC").unwrap().param.is_some());
        assert!(compile_order("start_time DESC").unwrap().desc);
        assert!(compile_order("metrics.rmse sideways").is_err());
    }
}
