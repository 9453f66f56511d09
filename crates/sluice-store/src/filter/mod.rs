//! MLflow's search grammar, once for every entity: one lexer, one parser to a typed syntax tree,
//! one compiler to SQL. Runs, experiments, registered models, model versions, logged models and
//! traces differ only in what their identifiers name ([`Field`]s, given by each entity's
//! resolver) and in their `order_by` keys.
//!
//! ```text
//! filter     := comparison (AND comparison)*
//! comparison := identifier comparator value
//!             | identifier (IN | NOT IN) '(' value (',' value)* ')'
//!             | identifier IS [NOT] NULL
//! identifier := [prefix '.'] key          key may be quoted with `backticks` or "double quotes"
//! comparator := = | != | <> | < | <= | > | >= | LIKE | ILIKE | RLIKE
//! value      := 'string' | "string" | number
//! order_by   := identifier [ASC | DESC]
//! ```
//!
//! Semantics are MLflow's: `LIKE` is case-sensitive and `ILIKE` is not, on both SQLite and
//! PostgreSQL; `_` and `%` are the only wildcards; a key-value entity (a tag, a param, a metric)
//! that a row lacks matches no comparison except `IS NULL`.

mod lexer;
mod sql;

pub(crate) use lexer::{Tok, tokenize};
pub(crate) use sql::{
    Field, JoinedOrder, Kind, Target, Where, compile, compile_joined, compile_order,
    compile_order_joined,
};

use crate::{Result, StoreError};

pub(crate) fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

/// A comparator of MLflow's grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    /// A regular expression found anywhere in the value (MLflow's trace filters).
    RLike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Cmp {
    /// As MLflow spells it in messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Like => "LIKE",
            Cmp::ILike => "ILIKE",
            Cmp::RLike => "RLIKE",
            Cmp::In => "IN",
            Cmp::NotIn => "NOT IN",
            Cmp::IsNull => "IS NULL",
            Cmp::IsNotNull => "IS NOT NULL",
        }
    }

    pub(crate) const STRING: &'static [Cmp] = &[Cmp::Eq, Cmp::Ne, Cmp::Like, Cmp::ILike];
    pub(crate) const STRING_LIST: &'static [Cmp] =
        &[Cmp::Eq, Cmp::Ne, Cmp::Like, Cmp::ILike, Cmp::In, Cmp::NotIn];
    pub(crate) const STRING_NULL: &'static [Cmp] = &[
        Cmp::Eq,
        Cmp::Ne,
        Cmp::Like,
        Cmp::ILike,
        Cmp::IsNull,
        Cmp::IsNotNull,
    ];
    /// Strings in MLflow's trace filters, which also take `RLIKE`.
    pub(crate) const TRACE_STRING: &'static [Cmp] = &[
        Cmp::Eq,
        Cmp::Ne,
        Cmp::Like,
        Cmp::ILike,
        Cmp::RLike,
        Cmp::In,
        Cmp::NotIn,
    ];
    pub(crate) const TRACE_STRING_NULL: &'static [Cmp] = &[
        Cmp::Eq,
        Cmp::Ne,
        Cmp::Like,
        Cmp::ILike,
        Cmp::RLike,
        Cmp::IsNull,
        Cmp::IsNotNull,
    ];
    pub(crate) const NUMERIC: &'static [Cmp] =
        &[Cmp::Eq, Cmp::Ne, Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge];
}

/// The left-hand side of a comparison: `metrics.rmse`, ``tags.`my key` ``, `status`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ident {
    /// The entity type before the first `.` (`metrics`, `tags`, `attributes`...), as written
    /// but lower-cased; `None` for a bare name such as `name` or `run_id`.
    pub(crate) prefix: Option<String>,
    /// The key after the prefix, unquoted.
    pub(crate) key: String,
}

impl Ident {
    pub(crate) fn parse(word: &str) -> Ident {
        match word.split_once('.') {
            Some((prefix, key)) if !prefix.is_empty() => Ident {
                prefix: Some(prefix.to_ascii_lowercase()),
                key: key.to_owned(),
            },
            _ => Ident {
                prefix: None,
                key: word.to_owned(),
            },
        }
    }

    /// As written back in messages: `metrics.rmse`.
    pub(crate) fn label(&self) -> String {
        match &self.prefix {
            Some(p) => format!("{p}.{}", self.key),
            None => self.key.clone(),
        }
    }
}

/// A constant on the right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// A quoted string.
    Str(String),
    /// An unquoted number, with its text as written.
    Num(f64, String),
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rhs {
    One(Literal),
    List(Vec<Literal>),
    /// `IS NULL` / `IS NOT NULL` take none.
    Nothing,
}

/// One `identifier comparator value` of a filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Comparison {
    pub(crate) ident: Ident,
    pub(crate) cmp: Cmp,
    pub(crate) rhs: Rhs,
}

/// One `order_by` clause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderKey {
    pub(crate) ident: Ident,
    pub(crate) ascending: bool,
}

fn is_word(tok: Option<&Tok>, w: &str) -> bool {
    matches!(tok, Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
}

/// Parses a filter into its `AND`-joined comparisons (none for an empty filter).
pub(crate) fn parse(filter: &str) -> Result<Vec<Comparison>> {
    let toks = tokenize(filter)?;
    let bad = |why: String| invalid(format!("Invalid filter '{filter}': {why}"));
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let ident = match &toks[i] {
            Tok::Word(w) if !is_keyword(w) => Ident::parse(w),
            other => {
                return Err(bad(format!(
                    "expected an identifier such as `metrics.rmse`, `tags.key` or `name`, found {}",
                    describe(other)
                )));
            }
        };
        if ident.key.is_empty() {
            return Err(bad(format!("`{}` names no key", ident.label())));
        }
        i += 1;
        let cmp = match toks.get(i) {
            Some(Tok::Op(op)) => *op,
            t if is_word(t, "like") => Cmp::Like,
            t if is_word(t, "ilike") => Cmp::ILike,
            t if is_word(t, "rlike") => Cmp::RLike,
            t if is_word(t, "in") => Cmp::In,
            t if is_word(t, "not") && is_word(toks.get(i + 1), "in") => {
                i += 1;
                Cmp::NotIn
            }
            t if is_word(t, "is") => {
                let not = is_word(toks.get(i + 1), "not");
                let at = i + 1 + usize::from(not);
                if !is_word(toks.get(at), "null") {
                    return Err(bad(format!(
                        "expected `IS NULL` or `IS NOT NULL` after `{}`",
                        ident.label()
                    )));
                }
                i = at;
                if not { Cmp::IsNotNull } else { Cmp::IsNull }
            }
            other => {
                return Err(bad(format!(
                    "expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, RLIKE, IN, NOT IN, IS NULL) after `{}`, found {}",
                    ident.label(),
                    other.map_or("the end".to_owned(), describe)
                )));
            }
        };
        i += 1;
        let rhs = match cmp {
            Cmp::IsNull | Cmp::IsNotNull => Rhs::Nothing,
            Cmp::In | Cmp::NotIn => {
                if toks.get(i) != Some(&Tok::LParen) {
                    return Err(bad(format!(
                        "`{}` takes a parenthesised list such as ('a', 'b')",
                        cmp.as_str()
                    )));
                }
                i += 1;
                let mut list = Vec::new();
                loop {
                    match toks.get(i) {
                        Some(Tok::Str(s)) => list.push(Literal::Str(s.clone())),
                        Some(Tok::Num(n, text)) => list.push(Literal::Num(*n, text.clone())),
                        other => {
                            return Err(bad(format!(
                                "expected a quoted value in the list after `{} {}`, found {}",
                                ident.label(),
                                cmp.as_str(),
                                other.map_or("the end".to_owned(), describe)
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
                        _ => return Err(bad("the list is not closed with `)`".into())),
                    }
                }
                Rhs::List(list)
            }
            _ => {
                let lit = match toks.get(i) {
                    Some(Tok::Str(s)) => Literal::Str(s.clone()),
                    Some(Tok::Num(n, text)) => Literal::Num(*n, text.clone()),
                    other => {
                        return Err(bad(format!(
                            "expected a value after `{} {}`, such as 'text' or 0.5, found {}",
                            ident.label(),
                            cmp.as_str(),
                            other.map_or("the end".to_owned(), describe)
                        )));
                    }
                };
                i += 1;
                Rhs::One(lit)
            }
        };
        out.push(Comparison { ident, cmp, rhs });
        match toks.get(i) {
            None => {}
            t if is_word(t, "and") => {
                i += 1;
                if i >= toks.len() {
                    return Err(bad("it ends with `AND`".into()));
                }
            }
            t if is_word(t, "or") => {
                return Err(bad(
                    "`OR` is not supported; MLflow's search joins comparisons with `AND` only"
                        .into(),
                ));
            }
            Some(other) => {
                return Err(bad(format!(
                    "expected `AND` after a comparison, found {}",
                    describe(other)
                )));
            }
        }
    }
    Ok(out)
}

/// Parses one `order_by` clause: `metrics.rmse`, `name DESC`, `` tags.`a b` ASC ``.
pub(crate) fn parse_order(clause: &str) -> Result<OrderKey> {
    let toks = tokenize(clause)?;
    let bad = |why: &str| invalid(format!("Invalid order_by clause '{clause}': {why}"));
    let (ident, rest) = match toks.split_first() {
        Some((Tok::Word(w), rest)) => (Ident::parse(w), rest),
        _ => return Err(bad("expected `KEY [ASC|DESC]`")),
    };
    let ascending = match rest {
        [] => true,
        [t] if is_word(Some(t), "asc") => true,
        [t] if is_word(Some(t), "desc") => false,
        [Tok::Word(w)] => {
            return Err(bad(&format!("'{w}' is not a direction; use ASC or DESC")));
        }
        _ => return Err(bad("expected `KEY [ASC|DESC]`")),
    };
    if ident.key.is_empty() {
        return Err(bad("it names no key"));
    }
    Ok(OrderKey { ident, ascending })
}

/// Parses each non-blank `order_by` clause; a key given twice is refused, as in MLflow.
pub(crate) fn parse_orders(clauses: &[String]) -> Result<Vec<OrderKey>> {
    let mut out: Vec<OrderKey> = Vec::new();
    for c in clauses.iter().filter(|c| !c.trim().is_empty()) {
        let key = parse_order(c)?;
        if out.iter().any(|k| k.ident == key.ident) {
            return Err(invalid(format!(
                "`order_by` contains duplicate fields: {clauses:?}"
            )));
        }
        out.push(key);
    }
    Ok(out)
}

fn is_keyword(w: &str) -> bool {
    [
        "and", "or", "not", "in", "is", "null", "like", "ilike", "rlike",
    ]
    .iter()
    .any(|k| w.eq_ignore_ascii_case(k))
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(_, text) => text.clone(),
        Tok::Op(op) => format!("`{}`", op.as_str()),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::Comma => "`,`".into(),
    }
}

#[cfg(test)]
mod examples;
#[cfg(test)]
mod tests;
