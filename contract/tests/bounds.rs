//! Hostile and malformed input is refused with an error naming what is
//! wrong, never a panic.

// Helpers outside #[test] fns unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use osb_contract::{Contract, ContractError, MAX_CONTRACTS, check};

fn refuse(json: &str) -> String {
    Contract::from_json_str(json).unwrap_err().to_string()
}

#[test]
fn ten_megabytes_are_refused() {
    let padding = "x".repeat(10 * 1024 * 1024);
    let json = format!(r#"{{"type": "sw.os", "slug": "big", "data": {{"pad": "{padding}"}}}}"#);
    let err = Contract::from_json(json.as_bytes()).unwrap_err();
    assert!(matches!(err, ContractError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("more than the limit"), "{err}");
}

#[test]
fn non_json_is_refused() {
    for input in [
        &b"not json"[..],
        b"",
        b"\xff\xfe",
        b"{\"type\": \"a\", \"slug\": ",
        b"[]",
        b"42",
    ] {
        assert!(Contract::from_json(input).is_err(), "{input:?}");
    }
    assert!(refuse("not json").starts_with("not a JSON contract"));
    assert_eq!(refuse("[]"), "(root): expected an object, found an array");
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!(
        r#"{{"type": "a", "slug": "a", "data": {}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(refuse(&deep).contains("recursion limit"));

    let mut children = String::from(r#"{"type": "a", "slug": "leaf"}"#);
    for _ in 0..40 {
        children = format!(r#"{{"type": "a", "slug": "n", "children": [{children}]}}"#);
    }
    assert!(refuse(&children).contains("children nested deeper than"));

    let mut group = String::from(r#"{"type": "a"}"#);
    for _ in 0..40 {
        group = format!(r#"{{"or": [{group}]}}"#);
    }
    let json = format!(r#"{{"type": "a", "slug": "a", "requires": [{group}]}}"#);
    assert!(refuse(&json).contains("groups nested deeper than"));
}

#[test]
fn too_many_contracts_are_refused() {
    let child = r#"{"type": "a", "slug": "c"}"#;
    let children = vec![child; MAX_CONTRACTS].join(",");
    let json = format!(r#"{{"type": "a", "slug": "a", "children": [{children}]}}"#);
    assert_eq!(
        refuse(&json),
        format!("more contracts than the limit of {MAX_CONTRACTS}")
    );
}

#[test]
fn requirements_of_unknown_shape_name_their_path() {
    let cases = [
        (
            r#"[{"type": "a"}, {"type": "b"}, {"slug": "c"}]"#,
            "requires[2]: a requirement needs `type` (a matcher), `or` or `not`",
        ),
        (
            r#"[{"type": "a", "name": "x"}]"#,
            "requires[0]: unknown field `name` in a requirement (expected type, slug, version, data)",
        ),
        (
            r#"[{"or": [{"type": "a"}], "type": "b"}]"#,
            "requires[0]: `or` must be the only field, found `type` too",
        ),
        (
            r#"[{"or": [{"type": "a"}, 3]}]"#,
            "requires[0].or[1]: expected an object, found a number",
        ),
        (
            r#"[{"type": 3}]"#,
            "requires[0].type: expected a string, found a number",
        ),
        (
            r#"[{"type": "a", "data": []}]"#,
            "requires[0].data: expected an object, found an array",
        ),
        (
            r#"[{"type": "a", "version": 1}]"#,
            "requires[0].version: expected a string, found a number",
        ),
        (
            r#"{"type": "a"}"#,
            "requires: expected an array, found an object",
        ),
        ("[[]]", "requires[0]: expected an object, found an array"),
    ];
    for (requires, want) in cases {
        let json = format!(r#"{{"type": "x", "slug": "x", "requires": {requires}}}"#);
        assert_eq!(refuse(&json), want, "{requires}");
    }
}

#[test]
fn malformed_ranges_name_the_field() {
    let json = r#"{"type": "x", "slug": "x", "requires": [{"type": "sw.os"}, {"not": [{"type": "sw.os", "version": ">=1.2.3.4"}]}]}"#;
    let err = refuse(json);
    assert!(
        err.starts_with("requires[1].not[0].version: malformed version range \">=1.2.3.4\""),
        "{err}"
    );
}

#[test]
fn contracts_need_type_and_slug() {
    assert_eq!(refuse(r#"{"slug": "a"}"#), "(root): missing `type`");
    assert_eq!(refuse(r#"{"type": "a"}"#), "(root): missing `slug`");
    assert_eq!(
        refuse(r#"{"type": "a", "slug": "a", "children": [{"type": "b"}]}"#),
        "children[0]: missing `slug`"
    );
    assert_eq!(
        refuse(r#"{"type": "a", "slug": "a", "children": {"hw": 3}}"#),
        "children.hw: expected a contract, a list or a namespace object, found a number"
    );
    assert_eq!(
        refuse(r#"{"type": "a", "slug": "a", "aliases": ["b", 1]}"#),
        "aliases[1]: expected a string, found a number"
    );
    assert_eq!(
        refuse(r#"{"type": "a", "slug": "a", "provides": [{"type": "b", "foo": 1}]}"#),
        "provides[0]: unknown field `foo` in a provided entry (expected type, slug, version, data)"
    );
}

/// Two large arrays compared element by element: the check gives up with a
/// reason instead of spinning.
#[test]
fn a_hostile_comparison_is_bounded() {
    // Every pattern element is found, but only at the end of the list.
    let pattern: Vec<String> = (0..3000).map(|_| "\"v3999\"".to_owned()).collect();
    let values: Vec<String> = (0..4000).map(|i| format!("\"v{i}\"")).collect();
    let require = format!(
        r#"{{"type": "x", "slug": "x", "requires": [{{"type": "t", "data": {{"list": [{}]}}}}]}}"#,
        pattern.join(",")
    );
    let context = format!(
        r#"{{"type": "c", "slug": "c", "children": [{{"type": "t", "slug": "t", "data": {{"list": [{}]}}}}]}}"#,
        values.join(",")
    );
    let require = Contract::from_json_str(&require).unwrap();
    let context = Contract::from_json_str(&context).unwrap();
    let report = check(&context, &require);
    assert!(!report.holds());
    assert!(report.to_string().contains("gave up after"), "{report}");
}
