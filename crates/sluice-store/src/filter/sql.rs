//! Parsed filters and `order_by` keys compiled to SQL for one entity and one dialect.
//!
//! An entity says what each identifier names with a resolver returning a [`Field`]: a column or
//! scalar expression, or a value in a key-value table (tags, params, metrics), with its type and
//! allowed comparators. The compiler checks comparators and value types, binds every value as a
//! parameter (never spliced into SQL) and writes the condition.

use std::fmt::Write as _;

use super::{Cmp, Comparison, Ident, Literal, OrderKey, Rhs, invalid};
use crate::Result;
use crate::db::{Dialect, Value};

/// The type of a field, which decides what constants it compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Compares with quoted strings only.
    Str,
    /// Compares with numbers only.
    Num,
    /// Compares with numbers, quoted or not (trace attributes such as `timestamp_ms`, a model
    /// version's `version_number`).
    NumOrQuoted,
    /// Compares with quoted integers (an experiment's `experiment_id = '3'`).
    QuotedInt,
}

/// Where a field's value lives.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A column or scalar expression; `args` bind its own `?` placeholders.
    Expr { sql: String, args: Vec<Value> },
    /// A value in related rows, such as a key-value table: `rows` is `FROM <table> <alias>
    /// WHERE <alias>.<owner> = <outer>.<owner> AND <alias>.key = ?` (its placeholders bound to
    /// `args`), `value` the value expression. An entity matches when one of its rows' values
    /// does; one without rows matches nothing but `IS NULL` (so not `!=` either, as in MLflow).
    Rows {
        rows: String,
        args: Vec<Value>,
        value: String,
    },
}

/// What an identifier names, for one entity.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) target: Target,
    pub(crate) kind: Kind,
    /// The comparators MLflow allows on it.
    pub(crate) cmps: &'static [Cmp],
    /// Rewrites a string constant before comparing (`READY` → `LOGGED_MODEL_READY`).
    pub(crate) map: Option<fn(&str) -> String>,
    /// For metrics: the condition that a row's value is NaN. A NaN matches `!=` and nothing
    /// else, and sorts after every number but before entities without the metric (MLflow).
    pub(crate) nan: Option<String>,
}

impl Field {
    pub(crate) fn column(sql: impl Into<String>, kind: Kind, cmps: &'static [Cmp]) -> Field {
        Field {
            target: Target::Expr {
                sql: sql.into(),
                args: Vec::new(),
            },
            kind,
            cmps,
            map: None,
            nan: None,
        }
    }

    /// A value in a key-value table: `rows` ends `AND <alias>.key = ?`, bound to `key`.
    pub(crate) fn keyed(
        rows: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
        kind: Kind,
        cmps: &'static [Cmp],
    ) -> Field {
        Field::rows(rows, vec![Value::Text(key.into())], value, kind, cmps)
    }

    /// Values in related rows (see [`Target::Rows`]).
    pub(crate) fn rows(
        rows: impl Into<String>,
        args: Vec<Value>,
        value: impl Into<String>,
        kind: Kind,
        cmps: &'static [Cmp],
    ) -> Field {
        Field {
            target: Target::Rows {
                rows: rows.into(),
                args,
                value: value.into(),
            },
            kind,
            cmps,
            map: None,
            nan: None,
        }
    }

    /// A metric: `nan` is the condition that a row holds NaN.
    pub(crate) fn with_nan(mut self, nan: impl Into<String>) -> Field {
        self.nan = Some(nan.into());
        self
    }

    pub(crate) fn mapped(mut self, map: fn(&str) -> String) -> Field {
        self.map = Some(map);
        self
    }

    /// The field as a scalar expression for sorting (a related value becomes the subquery of
    /// its value, NULL where absent or NaN), and for metrics a rank that puts numbers first,
    /// then NaN, then entities without the metric.
    fn order_expr(&self, ascending: bool) -> OrderExpr {
        match &self.target {
            Target::Expr { sql, args } => OrderExpr {
                sql: sql.clone(),
                args: args.clone(),
                rank: None,
                ascending,
            },
            Target::Rows { rows, args, value } => match &self.nan {
                None => OrderExpr {
                    sql: format!("(SELECT {value} {rows})"),
                    args: args.clone(),
                    rank: None,
                    ascending,
                },
                Some(nan) => OrderExpr {
                    sql: format!("(SELECT CASE WHEN {nan} THEN NULL ELSE {value} END {rows})"),
                    args: args.clone(),
                    rank: Some(format!(
                        "COALESCE((SELECT CASE WHEN {nan} THEN 1 ELSE 0 END {rows}), 2)"
                    )),
                    ascending,
                },
            },
        }
    }
}

/// A compiled condition and the values its placeholders bind, in order.
#[derive(Debug, Clone)]
pub(crate) struct Where {
    pub(crate) sql: String,
    pub(crate) args: Vec<Value>,
    /// The related rows (as [`Target::Rows`]' `rows` and `args`) every match has, with a value
    /// that is a number where the field can hold NaN: `metrics.rmse < 0.5` guarantees the run
    /// has an `rmse` that is not NaN. An `order_by` on such a value needs no rank for missing
    /// or NaN values ([`compile_order_joined`]).
    pub(crate) present: Vec<(String, Vec<Value>)>,
}

/// Compiles `AND`-joined comparisons for one entity. `resolve` says what an identifier names;
/// `Ok(None)` drops the comparison (a filter the entity answers elsewhere).
pub(crate) fn compile(
    comparisons: &[Comparison],
    dialect: Dialect,
    resolve: impl FnMut(&Ident) -> Result<Option<Field>>,
) -> Result<Where> {
    compile_joined(comparisons, dialect, &[], resolve)
}

/// [`compile`] for a query that already joins some related rows (the inner joins of
/// [`JoinedOrder::inner`]): a comparison on such a value tests the joined row instead of looking
/// its row up again (`o0.value < ?` rather than `EXISTS (SELECT 1 FROM latest_metrics m ...)`).
pub(crate) fn compile_joined(
    comparisons: &[Comparison],
    dialect: Dialect,
    joined: &[InnerJoin],
    mut resolve: impl FnMut(&Ident) -> Result<Option<Field>>,
) -> Result<Where> {
    let mut conds = Vec::new();
    let mut args = Vec::new();
    let mut present = Vec::new();
    for c in comparisons {
        let Some(field) = resolve(&c.ident)? else {
            continue;
        };
        conds.push(comparison(c, &field, dialect, joined, &mut args)?);
        if let Target::Rows { rows, args, .. } = &field.target {
            // What `comparison` writes: every comparator but `IS NULL` needs a row; on a field
            // that can hold NaN, `!=` and `IS NOT NULL` also match a NaN.
            let needs_row = c.cmp != Cmp::IsNull;
            let needs_number =
                field.nan.is_none() || !matches!(c.cmp, Cmp::Ne | Cmp::IsNotNull | Cmp::IsNull);
            if needs_row && needs_number {
                present.push((rows.clone(), args.clone()));
            }
        }
    }
    Ok(Where {
        sql: if conds.is_empty() {
            "TRUE".into()
        } else {
            conds.join(" AND ")
        },
        args,
        present,
    })
}

fn comparison(
    c: &Comparison,
    field: &Field,
    dialect: Dialect,
    joined: &[InnerJoin],
    args: &mut Vec<Value>,
) -> Result<String> {
    let label = c.ident.label();
    if matches!(c.cmp, Cmp::IsNull | Cmp::IsNotNull) && !field.cmps.contains(&c.cmp) {
        return Err(invalid(format!(
            "IS NULL / IS NOT NULL is only supported for tags, params and metadata, not for `{label}`"
        )));
    }
    if !field.cmps.contains(&c.cmp) {
        return Err(invalid(format!(
            "Invalid comparator '{}' not one of {} for `{label}`",
            c.cmp.as_str(),
            field
                .cmps
                .iter()
                .map(|c| format!("'{}'", c.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let values: Vec<Value> = match &c.rhs {
        Rhs::Nothing => Vec::new(),
        Rhs::One(lit) => vec![value(lit, field, &label)?],
        Rhs::List(items) => items
            .iter()
            .map(|lit| value(lit, field, &label))
            .collect::<Result<_>>()?,
    };
    if matches!(c.cmp, Cmp::Like | Cmp::ILike)
        && let Some(Value::Text(pattern)) = values.first()
        && pattern.chars().rev().take_while(|&ch| ch == '\\').count() % 2 == 1
    {
        return Err(invalid(format!(
            "The pattern '{pattern}' for `{label}` ends with the escape character `\\`; write `\\\\` for a literal backslash"
        )));
    }
    if c.cmp == Cmp::RLike
        && let Some(Value::Text(pattern)) = values.first()
        && let Err(e) = regex::Regex::new(pattern)
    {
        return Err(invalid(format!(
            "The regular expression '{pattern}' for `{label}` is invalid: {e}"
        )));
    }
    let n = values.len();
    let test = |expr: &str| -> String {
        match c.cmp {
            Cmp::Like => like(expr, false, dialect),
            Cmp::ILike => like(expr, true, dialect),
            // Found anywhere in the value, as Python's `re.search` in MLflow: PostgreSQL's `~`;
            // on SQLite the `regexp` function the store's connections define.
            Cmp::RLike => match dialect {
                Dialect::Postgres => format!("{expr} ~ ?"),
                Dialect::Sqlite => format!("{expr} REGEXP ?"),
            },
            Cmp::In | Cmp::NotIn => {
                format!("{expr} {} ({})", c.cmp.as_str(), vec!["?"; n].join(", "))
            }
            Cmp::IsNull | Cmp::IsNotNull => format!("{expr} {}", c.cmp.as_str()),
            op => format!("{expr} {} ?", op.as_str()),
        }
    };
    Ok(match &field.target {
        Target::Expr { sql, args: own } => {
            args.extend(own.iter().cloned());
            args.extend(values);
            test(sql)
        }
        Target::Rows {
            rows,
            args: own,
            value,
        } => {
            // The row is joined already (the query has it for every match): test it there.
            if c.cmp != Cmp::IsNull
                && let Some(j) = joined.iter().find(|j| &j.rows == rows && &j.args == own)
            {
                let value = rename_alias(value, &j.from, &j.to);
                args.extend(values);
                return Ok(match (c.cmp, &field.nan) {
                    (Cmp::IsNotNull, _) => "TRUE".to_owned(),
                    (Cmp::Ne, Some(nan)) => {
                        format!(
                            "({} OR {})",
                            test(&value),
                            rename_alias(nan, &j.from, &j.to)
                        )
                    }
                    (_, Some(nan)) => format!(
                        "NOT {} AND {}",
                        rename_alias(nan, &j.from, &j.to),
                        test(&value)
                    ),
                    (_, None) => test(&value),
                });
            }
            args.extend(own.iter().cloned());
            match (c.cmp, &field.nan) {
                (Cmp::IsNull, _) => format!("NOT EXISTS (SELECT 1 {rows})"),
                (Cmp::IsNotNull, _) => format!("EXISTS (SELECT 1 {rows})"),
                (Cmp::Ne, Some(nan)) => {
                    args.extend(values);
                    format!("EXISTS (SELECT 1 {rows} AND ({} OR {nan}))", test(value))
                }
                (_, Some(nan)) => {
                    args.extend(values);
                    format!("EXISTS (SELECT 1 {rows} AND NOT {nan} AND {})", test(value))
                }
                (_, None) => {
                    args.extend(values);
                    format!("EXISTS (SELECT 1 {rows} AND {})", test(value))
                }
            }
        }
    })
}

/// `LIKE` with MLflow's meaning on either engine: case-sensitive (SQLite's connections set
/// `case_sensitive_like`), `ILIKE` ignoring case, and a backslash escaping `%` or `_` on both
/// (PostgreSQL's default escape character, given to SQLite explicitly).
fn like(expr: &str, ignore_case: bool, dialect: Dialect) -> String {
    match (dialect, ignore_case) {
        (Dialect::Postgres, false) => format!("{expr} LIKE ?"),
        (Dialect::Postgres, true) => format!("{expr} ILIKE ?"),
        (Dialect::Sqlite, false) => format!("{expr} LIKE ? ESCAPE '\\'"),
        (Dialect::Sqlite, true) => format!("LOWER({expr}) LIKE LOWER(?) ESCAPE '\\'"),
    }
}

fn value(lit: &Literal, field: &Field, label: &str) -> Result<Value> {
    match (lit, field.kind) {
        (Literal::Str(s), Kind::Str) => Ok(Value::Text(match field.map {
            Some(map) => map(s),
            None => s.clone(),
        })),
        (Literal::Num(n, _), Kind::Num | Kind::NumOrQuoted) => Ok(Value::Real(*n)),
        (Literal::Str(s), Kind::NumOrQuoted) => s.trim().parse().map(Value::Real).map_err(|_| {
            invalid(format!(
                "Invalid value for numeric attribute '{label}': '{s}'; compare it with a number, e.g. {label} > 1"
            ))
        }),
        (Literal::Str(s), Kind::QuotedInt) => s.trim().parse().map(Value::Integer).map_err(|_| {
            invalid(format!(
                "Invalid value '{s}' for `{label}`: it compares with a quoted integer, e.g. {label} = '1'"
            ))
        }),
        (Literal::Str(s), Kind::Num) => Err(invalid(format!(
            "Expected numeric value type for `{label}`. Found '{s}'; compare it with an unquoted number, e.g. {label} > 0.5"
        ))),
        (Literal::Num(_, text), Kind::Str | Kind::QuotedInt) => Err(invalid(format!(
            "Expected a quoted string value for `{label}` (e.g. '{text}'). Got value {text}"
        ))),
    }
}

/// One compiled `order_by` key.
#[derive(Debug, Clone)]
pub(crate) struct OrderExpr {
    /// A scalar expression; NULL where the entity lacks the value.
    pub(crate) sql: String,
    pub(crate) args: Vec<Value>,
    /// For metrics: 0 for a number, 1 for NaN, 2 for none (its placeholders bind `args` too).
    rank: Option<String>,
    pub(crate) ascending: bool,
}

impl OrderExpr {
    fn dir(&self) -> &'static str {
        if self.ascending { "ASC" } else { "DESC" }
    }

    /// `expr ASC|DESC`, with entities lacking the value last in either direction (MLflow's
    /// order), appending the arguments its placeholders bind.
    pub(crate) fn nulls_last(&self, args: &mut Vec<Value>) -> String {
        args.extend(self.args.iter().cloned());
        args.extend(self.args.iter().cloned());
        match &self.rank {
            Some(rank) => format!("{rank}, {} {}", self.sql, self.dir()),
            None => format!("({0}) IS NULL, {0} {1}", self.sql, self.dir()),
        }
    }

    /// `expr ASC|DESC`, appending the arguments its placeholders bind.
    pub(crate) fn plain(&self, args: &mut Vec<Value>) -> String {
        args.extend(self.args.iter().cloned());
        format!("{} {}", self.sql, self.dir())
    }
}

/// Compiles `order_by` keys with the entity's resolver; two keys naming the same value
/// (`start_time` and `created`) are refused, as in MLflow.
pub(crate) fn compile_order(
    keys: &[OrderKey],
    mut resolve: impl FnMut(&Ident) -> Result<Field>,
) -> Result<Vec<OrderExpr>> {
    let mut out: Vec<OrderExpr> = Vec::new();
    for k in keys {
        let expr = resolve(&k.ident)?.order_expr(k.ascending);
        if out.iter().any(|o| o.sql == expr.sql && o.args == expr.args) {
            let all: Vec<String> = keys.iter().map(|k| k.ident.label()).collect();
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {all:?}"
            )));
        }
        out.push(expr);
    }
    Ok(out)
}

/// `order_by` keys compiled as `LEFT JOIN`s where a key names related rows (one per entity and
/// key, such as a run's latest metrics, params and tags): one join per key instead of a
/// subquery per entity and sort term, which PostgreSQL's planner cannot turn into a join.
#[derive(Debug, Default)]
pub(crate) struct JoinedOrder {
    /// ` LEFT JOIN ... ON ...` clauses, to follow the entity's table.
    pub(crate) joins: String,
    /// What the joins' placeholders bind (before the `WHERE` clause's).
    pub(crate) join_args: Vec<Value>,
    /// Sort terms, entities without the value last in either direction.
    pub(crate) terms: Vec<String>,
    /// What the sort terms' placeholders bind (after the `WHERE` clause's).
    pub(crate) term_args: Vec<Value>,
    /// The keys joined with an inner join (the filter guarantees their value), for
    /// [`compile_joined`].
    pub(crate) inner: Vec<InnerJoin>,
}

/// Related rows an ordered query joins for every match: `rows` and `args` as in
/// [`Target::Rows`], and the alias the rows' own alias (`from`) became (`to`).
#[derive(Debug, Clone)]
pub(crate) struct InnerJoin {
    rows: String,
    args: Vec<Value>,
    from: String,
    to: String,
}

impl InnerJoin {
    /// `sql` about the rows (`m.is_nan = 1`) about the joined row instead (`o0.is_nan = 1`).
    pub(crate) fn on_joined(&self, sql: &str) -> String {
        rename_alias(sql, &self.from, &self.to)
    }
}

/// Compiles `order_by` keys with the entity's resolver as joins (see [`JoinedOrder`]); two keys
/// naming the same value are refused, as in MLflow.
///
/// `present` is what the filter guarantees ([`Where::present`]): a key on such a value joins
/// its row (an inner join) and sorts by the value alone, since no match lacks it or holds NaN.
/// The same order, written so that an index on the value can produce it: PostgreSQL then reads
/// the best runs first and stops at the page's end instead of sorting every match.
pub(crate) fn compile_order_joined(
    keys: &[OrderKey],
    present: &[(String, Vec<Value>)],
    mut resolve: impl FnMut(&Ident) -> Result<Field>,
) -> Result<JoinedOrder> {
    let mut out = JoinedOrder::default();
    let mut seen: Vec<(String, Vec<Value>)> = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let field = resolve(&k.ident)?;
        let dir = if k.ascending { "ASC" } else { "DESC" };
        let signature = match &field.target {
            Target::Expr { sql, args } => (sql.clone(), args.clone()),
            Target::Rows { rows, args, .. } => (rows.clone(), args.clone()),
        };
        if seen.contains(&signature) {
            let all: Vec<String> = keys.iter().map(|k| k.ident.label()).collect();
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {all:?}"
            )));
        }
        seen.push(signature);
        match &field.target {
            Target::Expr { .. } => {
                let expr = field.order_expr(k.ascending);
                out.terms.push(expr.nulls_last(&mut out.term_args));
            }
            Target::Rows { rows, args, value } => {
                let Some((table, cond)) = rows
                    .strip_prefix("FROM ")
                    .and_then(|r| r.split_once(" WHERE "))
                else {
                    return Err(invalid(format!("cannot order by `{}`", k.ident.label())));
                };
                let (table, alias) = table.rsplit_once(' ').unwrap_or((table, table));
                let to = format!("o{i}");
                let cond = rename_alias(cond, alias, &to);
                let value = rename_alias(value, alias, &to);
                out.join_args.extend(args.iter().cloned());
                if present.iter().any(|(r, a)| r == rows && a == args) {
                    let _ = write!(out.joins, " JOIN {table} {to} ON {cond}");
                    out.terms.push(format!("{value} {dir}"));
                    out.inner.push(InnerJoin {
                        rows: rows.clone(),
                        args: args.clone(),
                        from: alias.to_owned(),
                        to,
                    });
                    continue;
                }
                let _ = write!(out.joins, " LEFT JOIN {table} {to} ON {cond}");
                out.terms.push(match &field.nan {
                    Some(nan) => {
                        let nan = rename_alias(nan, alias, &to);
                        format!(
                            "CASE WHEN {value} IS NULL THEN 2 WHEN {nan} THEN 1 ELSE 0 END, CASE WHEN {nan} THEN NULL ELSE {value} END {dir}"
                        )
                    }
                    None => format!("{value} IS NULL, {value} {dir}"),
                });
            }
        }
    }
    Ok(out)
}

/// `sql` with the table alias `from` (as `from.column`) renamed `to`.
fn rename_alias(sql: &str, from: &str, to: &str) -> String {
    let needle = format!("{from}.");
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(&needle) {
        let boundary = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out.push_str(&rest[..at]);
        out.push_str(if boundary { to } else { from });
        out.push('.');
        rest = &rest[at + needle.len()..];
    }
    out.push_str(rest);
    out
}
