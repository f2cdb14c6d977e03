//! Conversion between [`Spec`] and the `hclspec.Spec` protobuf Nomad speaks.

use std::collections::BTreeMap;

use nomad_plugin_proto::nomad::hclspec as pb;

use super::{Attr, Block, BlockAttrs, BlockList, BlockMap, BlockSet, Spec};
use crate::config::Error;

impl Spec {
    /// The protobuf form, as returned from `ConfigSchema`/`TaskConfigSchema`.
    pub(crate) fn to_proto(&self) -> pb::Spec {
        use pb::spec::Block as B;
        let nested = |s: &Spec| Some(Box::new(s.to_proto()));
        let block = match self {
            Spec::Object(attrs) => B::Object(pb::Object {
                attributes: attrs
                    .iter()
                    .map(|(k, s)| (k.clone(), s.to_proto()))
                    .collect(),
            }),
            Spec::Array(items) => B::Array(pb::Array {
                values: items.iter().map(Spec::to_proto).collect(),
            }),
            Spec::Attr(a) => B::Attr(pb::Attr {
                name: a.name.clone(),
                r#type: a.ty.clone(),
                required: a.required,
            }),
            Spec::Block(b) => B::BlockValue(Box::new(pb::Block {
                name: b.name.clone(),
                required: b.required,
                nested: nested(&b.nested),
            })),
            Spec::BlockAttrs(b) => B::BlockAttrs(pb::BlockAttrs {
                name: b.name.clone(),
                r#type: b.ty.clone(),
                required: b.required,
            }),
            Spec::BlockList(b) => B::BlockList(Box::new(pb::BlockList {
                name: b.name.clone(),
                min_items: b.min_items,
                max_items: b.max_items,
                nested: nested(&b.nested),
            })),
            Spec::BlockSet(b) => B::BlockSet(Box::new(pb::BlockSet {
                name: b.name.clone(),
                min_items: b.min_items,
                max_items: b.max_items,
                nested: nested(&b.nested),
            })),
            Spec::BlockMap(b) => B::BlockMap(Box::new(pb::BlockMap {
                name: b.name.clone(),
                labels: b.labels.clone(),
                nested: nested(&b.nested),
            })),
            Spec::Default { primary, default } => B::Default(Box::new(pb::Default {
                primary: nested(primary),
                default: nested(default),
            })),
            Spec::Literal(v) => B::Literal(pb::Literal { value: v.clone() }),
        };
        pb::Spec { block: Some(block) }
    }

    /// Reads the protobuf form (for instance a plugin's `ConfigSchema`
    /// answer), with the same "missing spec" errors Nomad reports.
    #[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
    pub(crate) fn from_proto(spec: &pb::Spec) -> Result<Spec, Error> {
        from_proto(spec, 0)
    }
}

#[cfg_attr(not(feature = "host"), allow(dead_code))] // the host's direction
fn from_proto(spec: &pb::Spec, depth: usize) -> Result<Spec, Error> {
    use pb::spec::Block as B;
    if depth > 64 {
        return Err(Error::Schema("spec nested too deeply".into()));
    }
    let nested = |s: &Option<Box<pb::Spec>>| -> Result<Box<Spec>, Error> {
        match s {
            Some(s) => Ok(Box::new(from_proto(s, depth + 1)?)),
            None => Err(Error::Schema("Missing spec block".into())),
        }
    };
    let Some(block) = &spec.block else {
        return Err(Error::Schema("empty spec (no kind set)".into()));
    };
    Ok(match block {
        B::Object(o) => Spec::Object(
            o.attributes
                .iter()
                .map(|(k, s)| Ok((k.clone(), from_proto(s, depth + 1)?)))
                .collect::<Result<BTreeMap<_, _>, Error>>()?,
        ),
        B::Array(a) => Spec::Array(
            a.values
                .iter()
                .map(|s| from_proto(s, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        B::Attr(a) => Spec::Attr(Attr {
            name: a.name.clone(),
            ty: a.r#type.clone(),
            required: a.required,
        }),
        B::BlockValue(b) => Spec::Block(Block {
            name: b.name.clone(),
            required: b.required,
            nested: nested(&b.nested)?,
        }),
        B::BlockAttrs(b) => Spec::BlockAttrs(BlockAttrs {
            name: b.name.clone(),
            ty: b.r#type.clone(),
            required: b.required,
        }),
        B::BlockList(b) => Spec::BlockList(BlockList {
            name: b.name.clone(),
            min_items: b.min_items,
            max_items: b.max_items,
            nested: nested(&b.nested)?,
        }),
        B::BlockSet(b) => Spec::BlockSet(BlockSet {
            name: b.name.clone(),
            min_items: b.min_items,
            max_items: b.max_items,
            nested: nested(&b.nested)?,
        }),
        B::BlockMap(b) => Spec::BlockMap(BlockMap {
            name: b.name.clone(),
            labels: b.labels.clone(),
            nested: nested(&b.nested)?,
        }),
        B::Default(d) => Spec::Default {
            primary: nested(&d.primary)?,
            default: nested(&d.default)?,
        },
        B::Literal(l) => Spec::Literal(l.value.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn proto_round_trip() {
        let s = object([
            ("a", attr("string").required().into()),
            ("b", attr("number").with_default("5")),
            (
                "c",
                block_list(object([("x", attr("bool").into())]))
                    .min(1)
                    .max(2)
                    .into(),
            ),
            (
                "d",
                block_map(["l"], object([("y", attr("string").into())])).into(),
            ),
            ("e", block_set(Spec::empty()).into()),
            ("f", block_attrs("string").into()),
            ("g", block(array([literal("1")])).required().into()),
        ]);
        assert_eq!(Spec::from_proto(&s.to_proto()).unwrap(), s);
    }
}
