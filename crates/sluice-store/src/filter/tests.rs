//! The parser on its own: what MLflow's grammar accepts, how it reads it, and what it refuses.
//! What each entity's identifiers match is tested against real stores in `tests/filters.rs`.

use super::*;

fn one(filter: &str) -> Comparison {
    let mut all = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    assert_eq!(all.len(), 1, "{filter}");
    all.remove(0)
}

fn ident(prefix: Option<&str>, key: &str) -> Ident {
    Ident {
        prefix: prefix.map(str::to_owned),
        key: key.to_owned(),
    }
}

#[test]
fn identifiers_prefixes_and_quoting() {
    for (filter, prefix, key) in [
        ("metrics.rmse < 1", Some("metrics"), "rmse"),
        ("metric.rmse < 1", Some("metric"), "rmse"),
        ("params.\"model-type\" = 'a'", Some("params"), "model-type"),
        ("tags.`my tag` = 'a'", Some("tags"), "my tag"),
        ("metrics.\"error rate\" < 1", Some("metrics"), "error rate"),
        ("metrics.`1st` < 1", Some("metrics"), "1st"),
        ("params.a.b.c = 'x'", Some("params"), "a.b.c"),
        (
            "tags.`mlflow.prompt.is_prompt` = 'true'",
            Some("tags"),
            "mlflow.prompt.is_prompt",
        ),
        (
            "attributes.`Run name` = 'x'",
            Some("attributes"),
            "Run name",
        ),
        ("Attributes.status = 'x'", Some("attributes"), "status"),
        ("status = 'FINISHED'", None, "status"),
        ("`run name` = 'x'", None, "run name"),
        ("`params`.model >= 'LR'", Some("params"), "model"),
    ] {
        assert_eq!(one(filter).ident, ident(prefix, key), "{filter}");
    }
}

#[test]
fn comparators_and_values() {
    let c = one("metrics.m <= -1.5e2");
    assert_eq!(c.cmp, Cmp::Le);
    assert_eq!(c.rhs, Rhs::One(Literal::Num(-150.0, "-1.5e2".into())));
    for (filter, cmp) in [
        ("a = 'x'", Cmp::Eq),
        ("a == 'x'", Cmp::Eq),
        ("a != 'x'", Cmp::Ne),
        ("a <> 'x'", Cmp::Ne),
        ("a < 1", Cmp::Lt),
        ("a >= 1", Cmp::Ge),
        ("a LIKE 'x%'", Cmp::Like),
        ("a like 'x%'", Cmp::Like),
        ("a ILIKE 'x%'", Cmp::ILike),
        ("a iLike 'x%'", Cmp::ILike),
        ("a RLIKE '^x'", Cmp::RLike),
        ("a IN ('x')", Cmp::In),
        ("a not in ('x')", Cmp::NotIn),
        ("tags.a IS NULL", Cmp::IsNull),
        ("tags.a is not null", Cmp::IsNotNull),
    ] {
        assert_eq!(one(filter).cmp, cmp, "{filter}");
    }
    // Quotes: either kind, doubled to escape, comparators and keywords inside are text.
    assert_eq!(
        one("name = 'a != b and c'").rhs,
        Rhs::One(Literal::Str("a != b and c".into()))
    );
    assert_eq!(
        one("name = 'it''s'").rhs,
        Rhs::One(Literal::Str("it's".into()))
    );
    assert_eq!(one("name = \"x\"").rhs, Rhs::One(Literal::Str("x".into())));
    assert_eq!(
        one("run_id IN ('a', \"b\",'c')").rhs,
        Rhs::List(vec![
            Literal::Str("a".into()),
            Literal::Str("b".into()),
            Literal::Str("c".into())
        ])
    );
    assert_eq!(one("tags.a IS NULL").rhs, Rhs::Nothing);
    let all = parse("metrics.a > 1 AND params.b = 'x' and tags.c != 'y'").unwrap();
    assert_eq!(all.len(), 3);
    assert!(parse("").unwrap().is_empty());
    assert!(parse("   ").unwrap().is_empty());
}

#[test]
fn malformed_filters_say_why() {
    for (bad, why) in [
        ("name", "expected a comparator"),
        ("name = 'x' and", "ends with `AND`"),
        ("name = 'x", "unterminated"),
        ("= 'x'", "expected an identifier"),
        ("name IN 'x'", "parenthesised list"),
        ("name IN ('x'", "not closed"),
        ("name ~ 'x'", "unexpected '~'"),
        ("a = 1 or b = 2", "`OR` is not supported"),
        ("a = 1 b = 2", "expected `AND`"),
        ("tags.a IS 'x'", "IS NULL"),
        ("tags. = 'x'", "names no key"),
        ("name =", "expected a value"),
        ("and = 'x'", "expected an identifier"),
    ] {
        let err = parse(bad)
            .err()
            .unwrap_or_else(|| panic!("`{bad}` parsed"))
            .to_string();
        assert!(err.contains(why), "`{bad}`: {err}");
        assert!(
            err.contains(bad),
            "`{bad}`: the message quotes the filter: {err}"
        );
    }
}

#[test]
fn order_by_clauses() {
    let k = parse_order("metrics.rmse").unwrap();
    assert_eq!(
        (k.ident, k.ascending),
        (ident(Some("metrics"), "rmse"), true)
    );
    assert!(!parse_order("start_time DESC").unwrap().ascending);
    assert!(parse_order("name asc").unwrap().ascending);
    assert_eq!(
        parse_order("tags.`a b` DESC").unwrap().ident,
        ident(Some("tags"), "a b")
    );
    let err = parse_order("metrics.rmse sideways")
        .unwrap_err()
        .to_string();
    assert!(err.contains("'sideways' is not a direction"), "{err}");
    assert!(parse_order("").is_err());
    let dup = parse_orders(&["name ASC".into(), "name DESC".into()]).unwrap_err();
    assert!(dup.to_string().contains("duplicate"), "{dup}");
    assert!(
        parse_orders(&[String::new(), " ".into()])
            .unwrap()
            .is_empty()
    );
}
