//! A plugin's hclspec as a table: one row per attribute or block of its
//! `config { ... }` block, nested ones with dotted paths.

use nomad_plugin_sdk::config::schema::Spec;

/// One attribute or block of a config schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRow {
    /// Where it goes: `image`, `auth.username` (a block's attributes
    /// follow the block's name).
    pub path: String,
    /// `attribute`, `block`, `block list`, `block set`, `block map` or
    /// `block of attributes`.
    pub kind: String,
    /// The HCL type (`string`, `list(number)`), or the block's item
    /// bounds (`1..3 blocks`).
    pub ty: String,
    /// Whether Nomad rejects a config without it.
    pub required: bool,
    /// The default Nomad fills in when it is left out, as HCL.
    pub default: Option<String>,
}

/// The rows of `spec`, in the schema's order (objects are sorted by key,
/// as the plugin's map is).
pub fn schema_rows(spec: &Spec) -> Vec<SchemaRow> {
    let mut rows = Vec::new();
    walk(spec, "", "", None, &mut rows, 0);
    rows
}

/// Nesting deeper than this is not tabulated (the plugin's decoder limits
/// depth too; this only keeps a hostile schema from recursing forever).
const MAX_DEPTH: usize = 32;

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{name}"),
    }
}

/// The spec's own name, or the key it sits under.
fn named<'a>(name: &'a str, key: &'a str) -> &'a str {
    if name.is_empty() {
        key
    } else {
        name
    }
}

fn items(min: u64, max: u64) -> String {
    match (min, max) {
        (0, 0) => "any number of blocks".to_string(),
        (min, 0) => format!("at least {min}"),
        (min, max) if min == max => format!("exactly {min}"),
        (min, max) => format!("{min} to {max}"),
    }
}

fn walk(
    spec: &Spec,
    prefix: &str,
    key: &str,
    default: Option<String>,
    rows: &mut Vec<SchemaRow>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut row = |path: String, kind: &str, ty: String, required: bool| {
        rows.push(SchemaRow {
            path,
            kind: kind.to_string(),
            ty,
            required,
            default: default.clone(),
        })
    };
    match spec {
        Spec::Object(attrs) => {
            let path = join(prefix, key);
            for (k, s) in attrs {
                walk(s, &path, k, None, rows, depth + 1);
            }
        }
        Spec::Array(specs) => {
            for s in specs {
                walk(s, prefix, key, None, rows, depth + 1);
            }
        }
        Spec::Attr(a) => row(
            join(prefix, named(&a.name, key)),
            "attribute",
            a.ty.clone(),
            a.required,
        ),
        Spec::BlockAttrs(b) => row(
            join(prefix, named(&b.name, key)),
            "block of attributes",
            format!("map({})", b.ty),
            b.required,
        ),
        Spec::Block(b) => {
            let path = join(prefix, named(&b.name, key));
            row(path.clone(), "block", "one block".into(), b.required);
            walk(&b.nested, &path, "", None, rows, depth + 1);
        }
        Spec::BlockList(b) => {
            let path = join(prefix, named(&b.name, key));
            row(
                path.clone(),
                "block list",
                items(b.min_items, b.max_items),
                b.min_items > 0,
            );
            walk(&b.nested, &path, "", None, rows, depth + 1);
        }
        Spec::BlockSet(b) => {
            let path = join(prefix, named(&b.name, key));
            row(
                path.clone(),
                "block set",
                items(b.min_items, b.max_items),
                b.min_items > 0,
            );
            walk(&b.nested, &path, "", None, rows, depth + 1);
        }
        Spec::BlockMap(b) => {
            let path = join(prefix, named(&b.name, key));
            let labels = if b.labels.is_empty() {
                "blocks".to_string()
            } else {
                format!("blocks labelled {}", b.labels.join(", "))
            };
            row(path.clone(), "block map", labels, false);
            walk(&b.nested, &path, "", None, rows, depth + 1);
        }
        Spec::Default { primary, default } => {
            let value = match default.as_ref() {
                Spec::Literal(v) => v.clone(),
                _ => "(computed)".to_string(),
            };
            walk(primary, prefix, key, Some(value), rows, depth + 1);
        }
        // A constant in place of an attribute: nothing to configure.
        Spec::Literal(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_sdk::config::schema::{attr, block, block_list, object};

    #[test]
    fn tabulates_attributes_blocks_and_defaults() {
        let spec = object([
            ("image", attr("string").required().into()),
            ("shell", attr("string").with_default("\"bash\"")),
            (
                "auth",
                block(object([("username", attr("string").into())])).into(),
            ),
            (
                "mounts",
                block_list(object([("source", attr("string").required().into())]))
                    .min(1)
                    .into(),
            ),
        ]);
        let rows = schema_rows(&spec);
        let brief: Vec<(&str, &str, &str, bool, Option<&str>)> = rows
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.kind.as_str(),
                    r.ty.as_str(),
                    r.required,
                    r.default.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            brief,
            vec![
                ("auth", "block", "one block", false, None),
                ("auth.username", "attribute", "string", false, None),
                ("image", "attribute", "string", true, None),
                ("mounts", "block list", "at least 1", true, None),
                ("mounts.source", "attribute", "string", true, None),
                ("shell", "attribute", "string", false, Some("\"bash\"")),
            ]
        );
    }

    #[test]
    fn an_empty_object_has_no_rows() {
        assert!(schema_rows(&object(Vec::<(String, Spec)>::new())).is_empty());
    }
}
