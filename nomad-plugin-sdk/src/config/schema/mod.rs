//! Config schemas: what a plugin tells Nomad its config looks like.
//!
//! Nomad asks every plugin for an *hclspec* (`ConfigSchema` RPC, and
//! `TaskConfigSchema` for drivers) and decodes the operator's HCL with it.
//! Most plugins derive it from their config struct with
//! [`#[derive(ConfigSchema)]`](derive@crate::ConfigSchema); this module is
//! the model underneath and a builder for what the derive cannot express.
//!
//! ```
//! use nomad_plugin_sdk::config::schema::{self, attr, block, block_list, block_map, Spec};
//!
//! let spec: Spec = schema::object([
//!     ("image", attr("string").required().into()),
//!     ("shell", attr("string").with_default("\"bash\"")),
//!     ("args", attr("list(string)").into()),
//!     ("mount", block_list(schema::object([
//!         ("source", attr("string").required().into()),
//!         ("readonly", attr("bool").with_default("false")),
//!     ])).min(0).max(8).into()),
//!     ("logging", block(schema::object([("driver", attr("string").into())])).into()),
//!     ("volume", block_map(["name"], schema::object([("path", attr("string").into())])).into()),
//! ]);
//! spec.validate().unwrap();
//! let ty = spec.implied_type().unwrap();
//! assert_eq!(ty.to_json(), concat!(
//!     r#"["object",{"args":["list","string"],"image":"string","logging":["object",{"driver":"string"}],"#,
//!     r#""mount":["list",["object",{"readonly":"bool","source":"string"}]],"shell":"string","#,
//!     r#""volume":["map",["object",{"path":"string"}]]}]"#,
//! ));
//! ```

mod lex;
mod literal;
pub(crate) mod proto;
mod type_expr;

use std::collections::BTreeMap;

pub use literal::parse_literal;
pub use type_expr::{parse_type, type_expr};

use super::cty::Type;
use super::Error;

/// Implemented by config types that describe their own hclspec; usually
/// derived with [`#[derive(ConfigSchema)]`](derive@crate::ConfigSchema).
pub trait ConfigSchema {
    /// The schema Nomad decodes this config with.
    fn schema() -> Spec;
}

/// An hclspec node, the Rust mirror of Nomad's `hclspec.Spec` protobuf
/// (a host converts with `host::schema::{to_proto, from_proto}`, feature
/// `host`; the SDK answers `ConfigSchema` with it itself).
#[derive(Clone, Debug, PartialEq)]
pub enum Spec {
    /// An object whose attributes are decoded from the same body; each key
    /// is the output name and the implied name of a direct child
    /// attribute or block.
    Object(BTreeMap<String, Spec>),
    /// A tuple of values decoded from the same body.
    Array(Vec<Spec>),
    /// An attribute (`name = value`).
    Attr(Attr),
    /// A single nested block (`name { ... }`).
    Block(Block),
    /// A block whose attributes form a map (`name { any_key = value }`).
    BlockAttrs(BlockAttrs),
    /// Repeated blocks, decoded as a list.
    BlockList(BlockList),
    /// Repeated blocks, decoded as a set.
    BlockSet(BlockSet),
    /// Labelled blocks (`name "label" { ... }`), decoded as a map.
    BlockMap(BlockMap),
    /// `primary`, or `default` where `primary` is null.
    Default {
        /// The spec tried first.
        primary: Box<Spec>,
        /// The spec used where `primary` decodes to null.
        default: Box<Spec>,
    },
    /// A constant: an HCL expression such as `"bash"`, `5` or `[]`.
    Literal(String),
}

/// An attribute spec; build with [`attr`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attr {
    /// The attribute name (empty: the enclosing object's key).
    pub name: String,
    /// An HCL type expression: `string`, `list(number)`, `any`, ...
    pub ty: String,
    /// Whether Nomad rejects a config without it.
    pub required: bool,
}

/// A single-block spec; build with [`block`].
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// The block type name (empty: the enclosing object's key).
    pub name: String,
    /// Whether Nomad rejects a config without it.
    pub required: bool,
    /// The block body's spec.
    pub nested: Box<Spec>,
}

/// A block-of-attributes spec; build with [`block_attrs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAttrs {
    /// The block type name (empty: the enclosing object's key).
    pub name: String,
    /// The HCL type expression of every attribute in the block.
    pub ty: String,
    /// Whether Nomad rejects a config without it.
    pub required: bool,
}

/// A repeated-block spec decoded as a list; build with [`block_list`].
#[derive(Clone, Debug, PartialEq)]
pub struct BlockList {
    /// The block type name (empty: the enclosing object's key).
    pub name: String,
    /// Fewest blocks allowed.
    pub min_items: u64,
    /// Most blocks allowed; 0 means no limit.
    pub max_items: u64,
    /// Each block body's spec.
    pub nested: Box<Spec>,
}

/// A repeated-block spec decoded as a set; build with [`block_set`].
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSet {
    /// The block type name (empty: the enclosing object's key).
    pub name: String,
    /// Fewest blocks allowed.
    pub min_items: u64,
    /// Most blocks allowed; 0 means no limit.
    pub max_items: u64,
    /// Each block body's spec.
    pub nested: Box<Spec>,
}

/// A labelled-block spec decoded as a map; build with [`block_map`].
#[derive(Clone, Debug, PartialEq)]
pub struct BlockMap {
    /// The block type name (empty: the enclosing object's key).
    pub name: String,
    /// The label names; one map level per label.
    pub labels: Vec<String>,
    /// Each block body's spec.
    pub nested: Box<Spec>,
}

/// An object spec from `(key, spec)` pairs; the key names direct child
/// attributes and blocks (also those under a [`Spec::Default`]).
pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Spec)>) -> Spec {
    Spec::Object(
        attrs
            .into_iter()
            .map(|(k, mut s)| {
                let k = k.into();
                s.fill_name(&k);
                (k, s)
            })
            .collect(),
    )
}

/// A tuple spec.
pub fn array(values: impl IntoIterator<Item = Spec>) -> Spec {
    Spec::Array(values.into_iter().collect())
}

/// An optional attribute of the given HCL type expression.
pub fn attr(ty: impl Into<String>) -> Attr {
    Attr {
        name: String::new(),
        ty: ty.into(),
        required: false,
    }
}

/// An optional single nested block.
pub fn block(nested: Spec) -> Block {
    Block {
        name: String::new(),
        required: false,
        nested: Box::new(nested),
    }
}

/// An optional block whose attributes (all of type `ty`) form a map.
pub fn block_attrs(ty: impl Into<String>) -> BlockAttrs {
    BlockAttrs {
        name: String::new(),
        ty: ty.into(),
        required: false,
    }
}

/// Any number of blocks, as a list.
pub fn block_list(nested: Spec) -> BlockList {
    BlockList {
        name: String::new(),
        min_items: 0,
        max_items: 0,
        nested: Box::new(nested),
    }
}

/// Any number of blocks, as a set.
pub fn block_set(nested: Spec) -> BlockSet {
    BlockSet {
        name: String::new(),
        min_items: 0,
        max_items: 0,
        nested: Box::new(nested),
    }
}

/// Labelled blocks, as a map keyed by the labels.
pub fn block_map<L: Into<String>>(labels: impl IntoIterator<Item = L>, nested: Spec) -> BlockMap {
    BlockMap {
        name: String::new(),
        labels: labels.into_iter().map(Into::into).collect(),
        nested: Box::new(nested),
    }
}

/// A constant HCL expression (`"\"bash\""`, `"5"`, `"[]"`).
pub fn literal(expr: impl Into<String>) -> Spec {
    Spec::Literal(expr.into())
}

/// `primary`, or `default` where `primary` is null.
pub fn default(primary: impl Into<Spec>, default: impl Into<Spec>) -> Spec {
    Spec::Default {
        primary: Box::new(primary.into()),
        default: Box::new(default.into()),
    }
}

impl Attr {
    /// Makes the attribute required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the attribute name explicitly.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The attribute with a default: an HCL expression used where the
    /// operator wrote nothing (strings need quotes: `"\"bash\""`).
    pub fn with_default(self, expr: impl Into<String>) -> Spec {
        default(self, literal(expr))
    }
}

impl Block {
    /// Makes the block required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the block type name explicitly.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl BlockAttrs {
    /// Makes the block required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the block type name explicitly.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

macro_rules! min_max {
    ($t:ty) => {
        impl $t {
            /// Requires at least `n` blocks.
            pub fn min(mut self, n: u64) -> Self {
                self.min_items = n;
                self
            }

            /// Allows at most `n` blocks (0: no limit).
            pub fn max(mut self, n: u64) -> Self {
                self.max_items = n;
                self
            }

            /// Sets the block type name explicitly.
            pub fn named(mut self, name: impl Into<String>) -> Self {
                self.name = name.into();
                self
            }
        }
    };
}
min_max!(BlockList);
min_max!(BlockSet);

impl BlockMap {
    /// Sets the block type name explicitly.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

macro_rules! into_spec {
    ($($t:ident),*) => {$(
        impl From<$t> for Spec {
            fn from(s: $t) -> Spec {
                Spec::$t(s)
            }
        }
    )*};
}
into_spec!(Attr, Block, BlockAttrs, BlockList, BlockSet, BlockMap);

impl Spec {
    /// An empty object: the schema of a plugin without config.
    pub fn empty() -> Spec {
        Spec::Object(BTreeMap::new())
    }

    /// Gives an unnamed attribute or block its implied name.
    fn fill_name(&mut self, key: &str) {
        let name = match self {
            Spec::Attr(a) => &mut a.name,
            Spec::Block(b) => &mut b.name,
            Spec::BlockAttrs(b) => &mut b.name,
            Spec::BlockList(b) => &mut b.name,
            Spec::BlockSet(b) => &mut b.name,
            Spec::BlockMap(b) => &mut b.name,
            // Nomad gives children of a Default no implied name, so the
            // name is written into the primary explicitly.
            Spec::Default { primary, .. } => return primary.fill_name(key),
            _ => return,
        };
        if name.is_empty() {
            *name = key.to_string();
        }
    }

    /// The cty type of the value Nomad decodes with this spec (hcldec's
    /// `ImpliedType`).
    pub fn implied_type(&self) -> Result<Type, Error> {
        Ok(match self {
            Spec::Object(attrs) => Type::Object(
                attrs
                    .iter()
                    .map(|(k, s)| Ok((k.clone(), s.implied_type()?)))
                    .collect::<Result<_, Error>>()?,
            ),
            Spec::Array(items) => Type::Tuple(
                items
                    .iter()
                    .map(Spec::implied_type)
                    .collect::<Result<_, _>>()?,
            ),
            Spec::Attr(a) => parse_type(&a.ty)?,
            Spec::Block(b) => b.nested.implied_type()?,
            Spec::BlockAttrs(b) => Type::map(parse_type(&b.ty)?),
            Spec::BlockList(b) => Type::list(b.nested.implied_type()?),
            Spec::BlockSet(b) => Type::set(b.nested.implied_type()?),
            Spec::BlockMap(b) => {
                let mut t = b.nested.implied_type()?;
                for _ in &b.labels {
                    t = Type::map(t);
                }
                t
            }
            Spec::Default { primary, .. } => primary.implied_type()?,
            Spec::Literal(expr) => parse_literal(expr)?.ty(),
        })
    }

    /// Checks the rules Nomad applies when it converts the schema
    /// (`hclspecutils.Convert`) and decodes with it, so that a bad schema
    /// fails in the plugin's tests rather than in the Nomad client.
    pub fn validate(&self) -> Result<(), Error> {
        self.check(None)
    }

    fn check(&self, implied: Option<&str>) -> Result<(), Error> {
        let named = |kind: &str, name: &str| -> Result<(), Error> {
            if name.is_empty() && implied.is_none_or(str::is_empty) {
                Err(Error::Schema(format!("Missing name in {kind} spec")))
            } else {
                Ok(())
            }
        };
        match self {
            Spec::Object(attrs) => {
                for (k, s) in attrs {
                    s.check(Some(k))?;
                }
            }
            Spec::Array(items) => {
                for s in items {
                    s.check(None)?;
                }
            }
            Spec::Attr(a) => {
                named("attribute", &a.name)?;
                parse_type(&a.ty)?;
            }
            Spec::Block(b) => {
                named("block", &b.name)?;
                b.nested.check(None)?;
            }
            Spec::BlockAttrs(b) => {
                named("block_attrs", &b.name)?;
                parse_type(&b.ty)?;
            }
            Spec::BlockList(b) => {
                named("block_list", &b.name)?;
                if b.max_items > 0 && b.min_items > b.max_items {
                    return Err(Error::Schema(format!(
                        "block_list {:?}: min_items {} is greater than max_items {}",
                        b.name, b.min_items, b.max_items
                    )));
                }
                b.nested.check(None)?;
            }
            Spec::BlockSet(b) => {
                named("block_set", &b.name)?;
                if b.max_items > 0 && b.min_items > b.max_items {
                    return Err(Error::Schema(format!(
                        "block_set {:?}: min_items {} is greater than max_items {}",
                        b.name, b.min_items, b.max_items
                    )));
                }
                b.nested.check(None)?;
            }
            Spec::BlockMap(b) => {
                named("block_map", &b.name)?;
                if b.labels.is_empty() {
                    return Err(Error::Schema(format!(
                        "block_map {:?}: at least one label is required",
                        b.name
                    )));
                }
                b.nested.check(None)?;
                // hcldec panics (inside the Nomad client) on this.
                if b.nested.implied_type()?.has_dynamic() {
                    return Err(Error::Schema(format!(
                        "block_map {:?}: attributes of type `any` may not be used inside a block_map",
                        b.name
                    )));
                }
            }
            Spec::Default { primary, default } => {
                primary.check(None)?;
                default.check(None)?;
            }
            Spec::Literal(expr) => {
                parse_literal(expr)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_children_get_explicit_names() {
        let s = object([("shell", attr("string").with_default("\"bash\""))]);
        let Spec::Object(m) = &s else { unreachable!() };
        let Some(Spec::Default { primary, .. }) = m.get("shell") else {
            unreachable!()
        };
        assert_eq!(**primary, Spec::Attr(attr("string").named("shell")));
        s.validate().unwrap();
        // Without the builder, the attribute has no name: Nomad rejects it.
        let bad = Spec::Object(BTreeMap::from([(
            "shell".to_string(),
            default(attr("string"), literal("\"bash\"")),
        )]));
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "invalid config schema: Missing name in attribute spec"
        );
    }

    #[test]
    fn block_map_rejects_any() {
        let s = object([(
            "v",
            block_map(["n"], object([("x", attr("any").into())])).into(),
        )]);
        assert!(s.validate().is_err());
    }

    #[test]
    fn literal_type_is_its_own() {
        let s = attr("string").with_default("5");
        assert_eq!(s.implied_type().unwrap(), Type::String);
    }
}
