//! Property tests of the SCIM filter parser: it never panics, whatever the input, and a parsed
//! filter printed and parsed again is the same tree.

use castellan_domain::scim::filter::{self, AttrPath, CompValue, CompareOp, Filter};
use proptest::prelude::*;

fn attr() -> impl Strategy<Value = AttrPath> {
    let name = prop_oneof![
        Just("userName"),
        Just("emails"),
        Just("name"),
        Just("active"),
        Just("meta"),
        Just("x1")
    ];
    let sub = proptest::option::of(prop_oneof![Just("value"), Just("givenName"), Just("type")]);
    let urn = proptest::option::of(Just(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ));
    (urn, name, sub).prop_map(|(u, n, s)| AttrPath {
        urn: u.map(str::to_string),
        name: n.to_string(),
        sub: s.map(str::to_string),
    })
}

fn value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        (-1000i32..1000).prop_map(|n| CompValue::Number(f64::from(n) / 4.0)),
        "[ -~]{0,8}".prop_map(CompValue::Str),
        "\\PC{0,6}".prop_map(CompValue::Str),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
    ]
}

fn tree() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (attr(), op(), value()).prop_map(|(a, o, v)| Filter::Compare(a, o, v)),
        attr().prop_map(Filter::Present),
    ];
    leaf.prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.clone().prop_map(|a| Filter::Not(Box::new(a))),
            (attr(), inner).prop_map(|(mut a, f)| {
                a.sub = None;
                Filter::ValuePath(a, Box::new(f))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_errs_without_panic(s in "\\PC{0,80}") {
        let _ = filter::parse(&s);
    }

    #[test]
    fn filter_like_text_parses_or_errs_without_panic(
        s in "[a-zA-Z\\[\\]().\" :]{0,60}"
    ) {
        if let Ok(f) = filter::parse(&s) {
            prop_assert_eq!(filter::parse(&f.to_string()).ok(), Some(f));
        }
    }

    #[test]
    fn parse_print_parse_is_the_same_tree(f in tree()) {
        let printed = f.to_string();
        let again = filter::parse(&printed);
        prop_assert_eq!(again.as_ref().ok(), Some(&f), "printed: {}", printed);
    }
}
