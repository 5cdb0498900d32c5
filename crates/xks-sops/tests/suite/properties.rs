//! Property: any document seals and opens to itself, in YAML and JSON, under
//! every kind of rule; readable values survive the YAML/JSON writers exactly.

use proptest::prelude::*;
use xks_sops::{Format, Identities, Node, Rule, SealOptions};

fn scalar() -> impl Strategy<Value = Node> {
    prop_oneof![
        any::<String>().prop_map(Node::Str),
        "[a-zA-Z0-9 .:#'\"-]{0,12}".prop_map(Node::Str),
        prop_oneof![Just("123".to_owned()), Just("true".to_owned()), Just("null".to_owned()), Just("1.5".to_owned()), Just("~".to_owned())]
            .prop_map(Node::Str),
        any::<i64>().prop_map(Node::Int),
        (-1e12f64..1e12).prop_map(Node::Float),
        any::<bool>().prop_map(Node::Bool),
        Just(Node::Null),
    ]
}

fn tree() -> impl Strategy<Value = Node> {
    scalar().prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Node::Seq),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..5).prop_map(|m| Node::Map(m.into_iter().collect())),
        ]
    })
}

fn rule() -> impl Strategy<Value = Option<Rule>> {
    prop_oneof![
        Just(None),
        Just(Some(Rule::new("encrypted_regex", "^[a-m]").unwrap())),
        Just(Some(Rule::new("unencrypted_suffix", "_").unwrap())),
        Just(Some(Rule::new("encrypted_suffix", "e").unwrap())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn seal_then_open_is_identity(
        body in prop::collection::btree_map("[a-z_]{1,8}", tree(), 1..5),
        rule in rule(),
        mac_only_encrypted in any::<bool>(),
    ) {
        let (ids, _) = Identities::generate();
        let doc = Node::Map(body.into_iter().filter(|(k, _)| k != "sops").collect());
        let opts = SealOptions { rule, mac_only_encrypted };
        for format in [Format::Yaml, Format::Json] {
            let sealed = xks_sops::seal_tree(&doc, format, &ids.recipients(), &opts).unwrap();
            let opened = xks_sops::unseal_tree(&sealed, format, &ids).unwrap();
            prop_assert_eq!(&opened.plain.0, &doc, "{:?}\n{}", format, sealed);
        }
    }
}
