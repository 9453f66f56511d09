//! The one printer: results go to stdout in the chosen format (after `--query`); everything
//! else (progress, logs, warnings, errors) goes to stderr through [`ui`](crate::ui).

use std::io::Write;

use serde_json::Value;

use crate::cli::OutputFormat;
use crate::error::CliError;

pub(crate) struct Printer {
    format: OutputFormat,
    query: Option<String>,
}

impl Printer {
    pub(crate) fn new(format: OutputFormat, query: Option<String>) -> Self {
        Self { format, query }
    }

    /// Prints a result. `columns` are the keys shown by `-o table` when no query reshaped it.
    pub(crate) fn print(&self, value: &Value, columns: &[&str]) -> Result<(), CliError> {
        let (value, columns) = match &self.query {
            Some(q) => (apply_query(q, value)?, &[][..]),
            None => (value.clone(), columns),
        };
        let text = match self.format {
            OutputFormat::None => return Ok(()),
            OutputFormat::Json => serde_json::to_string_pretty(&value).unwrap_or_default() + "\n",
            OutputFormat::Yaml => to_yaml(&value),
            OutputFormat::Tsv => to_tsv(&value),
            OutputFormat::Table => to_table(&value, columns),
        };
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        Ok(())
    }
}

/// Runs a JMESPath query over a value.
pub(crate) fn apply_query(query: &str, value: &Value) -> Result<Value, CliError> {
    let expr = jmespath::compile(query).map_err(|e| {
        CliError::usage(
            format!("invalid `--query` expression `{query}`: {e}"),
            "queries are JMESPath, e.g. `status`, `jobs.train.status`, `[].name`",
        )
    })?;
    let result = expr.search(value).map_err(|e| {
        CliError::usage(
            format!("`--query {query}` failed: {e}"),
            "check the expression against `-o json` output",
        )
    })?;
    Ok(serde_json::to_value(&*result).unwrap_or(Value::Null))
}

fn to_yaml(value: &Value) -> String {
    let mut s = serde_saphyr::to_string(value).unwrap_or_default();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        other => other.to_string(),
    }
}

fn to_tsv(value: &Value) -> String {
    let row = |v: &Value| match v {
        Value::Object(map) => map.values().map(scalar).collect::<Vec<_>>().join("\t"),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join("\t"),
        other => scalar(other),
    };
    let mut out = String::new();
    match value {
        Value::Array(items) => {
            for item in items {
                out.push_str(&row(item));
                out.push('\n');
            }
        }
        other => {
            out.push_str(&row(other));
            out.push('\n');
        }
    }
    out
}

fn to_table(value: &Value, columns: &[&str]) -> String {
    let rows: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![value],
        other => return format!("{}\n", scalar(other)),
    };
    let keys: Vec<String> = if columns.is_empty() {
        let mut keys = Vec::new();
        for r in &rows {
            if let Value::Object(m) = r {
                for k in m.keys() {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
            }
        }
        if keys.is_empty() {
            return rows.iter().map(|r| scalar(r) + "\n").collect();
        }
        keys
    } else {
        columns.iter().map(|c| (*c).to_owned()).collect()
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            keys.iter()
                .map(|k| {
                    let v = lookup(r, k);
                    match v {
                        Value::Object(_) | Value::Array(_) => v.to_string(),
                        other => scalar(&other),
                    }
                })
                .collect()
        })
        .collect();
    let headers: Vec<String> = keys.iter().map(|k| header(k)).collect();
    let widths: Vec<usize> = (0..keys.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain(std::iter::once(headers[i].chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: &[String]| {
        row.iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
            + "\n"
    };
    let mut out = line(&headers);
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

/// `a.b` looks into nested objects.
fn lookup(value: &Value, key: &str) -> Value {
    let mut v = value;
    for part in key.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return Value::Null,
        }
    }
    v.clone()
}

/// `display_name` → `Display Name`, `jobs.train.status` → `Status`.
fn header(key: &str) -> String {
    let last = key.rsplit('.').next().unwrap_or(key);
    last.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tsv_of_a_scalar_is_just_the_value() {
        assert_eq!(to_tsv(&json!("Completed")), "Completed\n");
        assert_eq!(
            to_tsv(&json!([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])),
            "1\tx\n2\ty\n"
        );
    }

    #[test]
    fn table_aligns_columns() {
        let t = to_table(
            &json!([{"name": "a", "status": "Completed"}, {"name": "long_name", "status": "Failed"}]),
            &[],
        );
        assert_eq!(
            t,
            "Name       Status\n---------  ---------\na          Completed\nlong_name  Failed\n"
        );
    }

    #[test]
    fn query_selects_fields() {
        assert_eq!(
            apply_query("status", &json!({"status": "Completed"})).unwrap(),
            json!("Completed")
        );
        assert!(apply_query("[", &json!({})).is_err());
    }
}
