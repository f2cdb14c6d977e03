//! Property tests for the config decoders: peer input never panics them,
//! and encode -> decode round-trips.

use nomad_plugin_sdk::config::cty::{Number, Type, Value};
use nomad_plugin_sdk::config::msgpack;
use proptest::prelude::*;

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        ("-?[0-9]{1,40}(\\.[0-9]{1,30})?(e-?[0-9]{1,3})?")
            .prop_filter_map("number", |s| s.parse().ok()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        ".{0,40}".prop_map(Value::string),
        Just(Value::Null(Type::String)),
        Just(Value::Unknown(Type::Number)),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            prop::collection::btree_map("[a-z]{0,6}", inner.clone(), 0..6).prop_map(Value::Object),
            prop::collection::vec(".{0,8}".prop_map(Value::string), 0..6)
                .prop_map(|v| Value::set(Type::String, v)),
            prop::collection::vec(number().prop_map(Value::Number), 0..6)
                .prop_map(|v| Value::list(Type::Number, v)),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = msgpack::decode_untyped(&bytes);
        let _ = msgpack::decode(&bytes, &Type::Dynamic);
        let _ = msgpack::decode(&bytes, &Type::object([("a", Type::list(Type::Number)), ("b", Type::map(Type::String))]));
        let _ = nomad_plugin_sdk::config::from_msgpack::<std::collections::HashMap<String, serde_json::Value>>(&bytes);
    }

    #[test]
    fn encode_then_decode_round_trips(v in value()) {
        let ty = v.ty();
        let bytes = msgpack::encode(&v, &ty).expect("encode");
        prop_assert_eq!(msgpack::decode(&bytes, &ty).expect("decode"), v.clone());
        // Through a dynamic wrapper as well.
        let bytes = msgpack::encode(&v, &Type::Dynamic).expect("encode dynamic");
        prop_assert_eq!(msgpack::decode(&bytes, &Type::Dynamic).expect("decode dynamic"), v);
    }
}
