//! hcldec: decoding an HCL body with an hclspec, following hashicorp/hcl v2
//! `hcldec/spec.go` (Nomad pins v2.20.x).

use std::collections::{BTreeMap, BTreeSet};

use hcl::edit::structure::{Attribute, Block, Body};
use hcl::edit::Span;
use nomad_plugin_sdk::config::cty::{Type, Value};
use nomad_plugin_sdk::config::schema::{parse_literal, parse_type, Spec};

use super::convert::convert;
use super::diag::{Diagnostic, Diagnostics, Pos, Source};
use super::expr::{eval, Env};
use super::label_str;

struct Ctx<'a> {
    src: &'a Source<'a>,
    env: Env<'a>,
    diags: Vec<Diagnostic>,
}

/// What one body holds once checked against the spec's schema.
struct Content<'b> {
    attrs: BTreeMap<String, &'b Attribute>,
    blocks: Vec<&'b Block>,
    /// Where hcl reports things that are missing from this body.
    missing: Option<Pos>,
}

pub(crate) fn decode_body(
    body: &Body,
    spec: &Spec,
    src: &Source<'_>,
    env: Env<'_>,
) -> Result<Value, Diagnostics> {
    let mut ctx = Ctx {
        src,
        env,
        diags: Vec::new(),
    };
    let missing = Some(Pos { line: 1, column: 1 });
    let value = decode_with(&mut ctx, body, spec, missing, 0);
    if ctx.diags.is_empty() {
        Ok(value)
    } else {
        Err(Diagnostics(ctx.diags))
    }
}

/// The attribute names and block types (with label counts) a spec reads
/// from one body: hcldec's `ImpliedSchema`.
#[derive(Default)]
struct Schema {
    attrs: BTreeMap<String, bool>,
    blocks: BTreeMap<String, usize>,
}

fn schema_of(spec: &Spec, out: &mut Schema) {
    match spec {
        Spec::Object(children) => children.values().for_each(|c| schema_of(c, out)),
        Spec::Array(children) => children.iter().for_each(|c| schema_of(c, out)),
        Spec::Default { primary, default } => {
            schema_of(primary, out);
            schema_of(default, out);
        }
        Spec::Attr(a) => {
            let req = out.attrs.entry(a.name.clone()).or_insert(false);
            *req |= a.required;
        }
        Spec::Block(b) => {
            out.blocks.insert(b.name.clone(), 0);
        }
        Spec::BlockAttrs(b) => {
            out.blocks.insert(b.name.clone(), 0);
        }
        Spec::BlockList(b) => {
            out.blocks.insert(b.name.clone(), 0);
        }
        Spec::BlockSet(b) => {
            out.blocks.insert(b.name.clone(), 0);
        }
        Spec::BlockMap(b) => {
            out.blocks.insert(b.name.clone(), b.labels.len());
        }
        Spec::Literal(_) => {}
    }
}

fn decode_with(
    ctx: &mut Ctx<'_>,
    body: &Body,
    spec: &Spec,
    missing: Option<Pos>,
    depth: usize,
) -> Value {
    let content = content(ctx, body, spec, missing);
    decode_spec(ctx, &content, spec, depth)
}

/// hcl's `Body.Content`: checks the body against the schema.
fn content<'b>(
    ctx: &mut Ctx<'_>,
    body: &'b Body,
    spec: &Spec,
    missing: Option<Pos>,
) -> Content<'b> {
    let mut schema = Schema::default();
    schema_of(spec, &mut schema);
    let mut attrs: BTreeMap<String, &Attribute> = BTreeMap::new();
    let mut blocks = Vec::new();
    for attr in body.attributes() {
        let name = attr.key.as_str();
        if !schema.attrs.contains_key(name) {
            let hint = if schema.blocks.contains_key(name) {
                format!(" Did you mean to define a block of type \"{name}\"?")
            } else {
                String::new()
            };
            ctx.diags.push(Diagnostic::new(
                "Unsupported argument",
                format!("An argument named \"{name}\" is not expected here.{hint}"),
                ctx.src.pos(attr.key.span()),
            ));
            continue;
        }
        if let Some(prev) = attrs.get(name) {
            let at = ctx
                .src
                .pos(prev.key.span())
                .map(|p| format!(" at {}:{}", p.line, p.column))
                .unwrap_or_default();
            ctx.diags.push(Diagnostic::new(
                "Duplicate argument",
                format!("The argument \"{name}\" was already set{at}. Each argument may be set only once."),
                ctx.src.pos(attr.key.span()),
            ));
            continue;
        }
        attrs.insert(name.to_string(), attr);
    }
    for (name, required) in &schema.attrs {
        if *required && !attrs.contains_key(name) {
            ctx.diags.push(Diagnostic::new(
                "Missing required argument",
                format!("The argument \"{name}\" is required, but no definition was found."),
                missing,
            ));
        }
    }
    for block in body.blocks() {
        let name = block.ident.as_str();
        let Some(&nlabels) = schema.blocks.get(name) else {
            let hint = if schema.attrs.contains_key(name) {
                format!(" Did you mean to define argument \"{name}\"? If so, use the equals sign to assign it a value.")
            } else {
                String::new()
            };
            ctx.diags.push(Diagnostic::new(
                "Unsupported block type",
                format!("Blocks of type \"{name}\" are not expected here.{hint}"),
                ctx.src.pos(block.ident.span()),
            ));
            continue;
        };
        if block.labels.len() > nlabels {
            let extra = &block.labels[nlabels];
            let detail = if nlabels == 0 {
                format!("No labels are expected for {name} blocks.")
            } else {
                format!("Only {nlabels} labels are expected for {name} blocks.")
            };
            ctx.diags.push(Diagnostic::new(
                format!("Extraneous label for {name}"),
                detail,
                ctx.src.pos(extra.span()),
            ));
            continue;
        }
        if block.labels.len() < nlabels {
            ctx.diags.push(Diagnostic::new(
                format!("Missing name for {name}"),
                format!("All {name} blocks must have {nlabels} labels."),
                open_brace(ctx, block),
            ));
            continue;
        }
        blocks.push(block);
    }
    Content {
        attrs,
        blocks,
        missing,
    }
}

/// Decodes a block's body (a task's `config { ... }`), reporting what is
/// missing from it at the block's opening brace, as hcl does.
pub(crate) fn decode_block_body(
    block: &Block,
    spec: &Spec,
    src: &Source<'_>,
    env: Env<'_>,
) -> Result<Value, Diagnostics> {
    let mut ctx = Ctx {
        src,
        env,
        diags: Vec::new(),
    };
    let missing = open_brace(&ctx, block);
    let value = decode_with(&mut ctx, &block.body, spec, missing, 0);
    if ctx.diags.is_empty() {
        Ok(value)
    } else {
        Err(Diagnostics(ctx.diags))
    }
}

/// hcl reports things missing from a block's body at its opening brace.
fn open_brace(ctx: &Ctx<'_>, block: &Block) -> Option<Pos> {
    let span = block.span()?;
    let text = ctx.src.text().get(span.clone())?;
    let mut offset = text.find('{')?;
    // A one-line block (`mount { source = "/a" }`): hcl's body range starts
    // at its first item rather than at the brace.
    let rest = &text[offset + 1..];
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if rest[skipped..]
        .chars()
        .next()
        .is_some_and(|c| c != '\n' && c != '\r' && c != '}')
    {
        offset += 1 + skipped;
    }
    ctx.src
        .pos(Some(span.start + offset..span.start + offset + 1))
}

fn null_of(spec: &Spec) -> Value {
    Value::Null(spec.implied_type().unwrap_or(Type::Dynamic))
}

fn decode_spec(ctx: &mut Ctx<'_>, c: &Content<'_>, spec: &Spec, depth: usize) -> Value {
    if depth > 64 {
        ctx.diags.push(Diagnostic::new(
            "Schema too deep",
            "The spec is nested too deeply.",
            None,
        ));
        return Value::Null(Type::Dynamic);
    }
    match spec {
        Spec::Object(children) => Value::Object(
            children
                .iter()
                .map(|(k, s)| (k.clone(), decode_spec(ctx, c, s, depth + 1)))
                .collect(),
        ),
        Spec::Array(children) => Value::Tuple(
            children
                .iter()
                .map(|s| decode_spec(ctx, c, s, depth + 1))
                .collect(),
        ),
        Spec::Literal(expr) => match parse_literal(expr) {
            Ok(v) => v,
            Err(e) => {
                ctx.diags
                    .push(Diagnostic::new("Invalid literal spec", e.to_string(), None));
                Value::Null(Type::Dynamic)
            }
        },
        Spec::Default { primary, default } => {
            let v = decode_spec(ctx, c, primary, depth + 1);
            if v.is_null() {
                decode_spec(ctx, c, default, depth + 1)
            } else {
                v
            }
        }
        Spec::Attr(a) => {
            let ty = match parse_type(&a.ty) {
                Ok(t) => t,
                Err(e) => {
                    ctx.diags.push(Diagnostic::new(
                        "Invalid type expression",
                        e.to_string(),
                        None,
                    ));
                    return Value::Null(Type::Dynamic);
                }
            };
            let Some(attr) = c.attrs.get(&a.name) else {
                return Value::Null(ty);
            };
            let v = match eval(&attr.value, ctx.src, ctx.env) {
                Ok(v) => v,
                Err(d) => {
                    ctx.diags.push(d);
                    return Value::Unknown(ty);
                }
            };
            match convert(&v, &ty) {
                Ok(v) => v,
                Err(msg) => {
                    ctx.diags.push(Diagnostic::new(
                        "Incorrect attribute value type",
                        format!("Inappropriate value for attribute \"{}\": {msg}.", a.name),
                        ctx.src.pos(attr.value.span()),
                    ));
                    Value::Unknown(ty)
                }
            }
        }
        Spec::Block(b) => {
            let mut found: Option<&Block> = None;
            for blk in c.blocks.iter().filter(|blk| blk.ident.as_str() == b.name) {
                if let Some(prev) = found {
                    let at = ctx
                        .src
                        .pos(prev.ident.span())
                        .map(|p| format!(" at {}:{}", p.line, p.column))
                        .unwrap_or_default();
                    ctx.diags.push(Diagnostic::new(
                        format!("Duplicate {} block", b.name),
                        format!("Only one block of type \"{}\" is allowed. Previous definition was{at}.", b.name),
                        ctx.src.pos(blk.ident.span()),
                    ));
                    break;
                }
                found = Some(blk);
            }
            match found {
                Some(blk) => {
                    let missing = open_brace(ctx, blk);
                    decode_with(ctx, &blk.body, &b.nested, missing, depth + 1)
                }
                None => {
                    if b.required {
                        ctx.diags.push(Diagnostic::new(
                            format!("Missing {} block", b.name),
                            format!("A block of type \"{}\" is required here.", b.name),
                            c.missing,
                        ));
                    }
                    null_of(&b.nested)
                }
            }
        }
        Spec::BlockAttrs(b) => {
            let ety = match parse_type(&b.ty) {
                Ok(t) => t,
                Err(e) => {
                    ctx.diags.push(Diagnostic::new(
                        "Invalid type expression",
                        e.to_string(),
                        None,
                    ));
                    return Value::Null(Type::Dynamic);
                }
            };
            let mut matching = c.blocks.iter().filter(|blk| blk.ident.as_str() == b.name);
            let Some(blk) = matching.next() else {
                if b.required {
                    ctx.diags.push(Diagnostic::new(
                        format!("Missing {} block", b.name),
                        format!("A block of type \"{}\" is required here.", b.name),
                        c.missing,
                    ));
                }
                return Value::Null(Type::map(ety));
            };
            if let Some(other) = matching.next() {
                ctx.diags.push(Diagnostic::new(
                    format!("Duplicate {} block", b.name),
                    format!("Only one block of type \"{}\" is allowed.", b.name),
                    ctx.src.pos(other.ident.span()),
                ));
            }
            if let Some(nested) = blk.body.blocks().next() {
                ctx.diags.push(Diagnostic::new(
                    "Unexpected block",
                    format!(
                        "Blocks are not allowed here; only arguments may be set in a \"{}\" block.",
                        b.name
                    ),
                    ctx.src.pos(nested.ident.span()),
                ));
            }
            let mut entries = BTreeMap::new();
            for attr in blk.body.attributes() {
                let v = match eval(&attr.value, ctx.src, ctx.env) {
                    Ok(v) => v,
                    Err(d) => {
                        ctx.diags.push(d);
                        continue;
                    }
                };
                let v = match convert(&v, &ety) {
                    Ok(v) => v,
                    Err(msg) => {
                        ctx.diags.push(Diagnostic::new(
                            "Invalid attribute value",
                            format!(
                                "Invalid value for attribute of \"{}\" block: {msg}.",
                                b.name
                            ),
                            ctx.src.pos(attr.value.span()),
                        ));
                        Value::Unknown(ety.clone())
                    }
                };
                entries.insert(attr.key.as_str().to_string(), v);
            }
            Value::map(ety, entries)
        }
        Spec::BlockList(b) => repeated(
            ctx,
            c,
            &b.name,
            &b.nested,
            b.min_items,
            b.max_items,
            false,
            depth,
        ),
        Spec::BlockSet(b) => repeated(
            ctx,
            c,
            &b.name,
            &b.nested,
            b.min_items,
            b.max_items,
            true,
            depth,
        ),
        Spec::BlockMap(b) => {
            let ety = b.nested.implied_type().unwrap_or(Type::Dynamic);
            // Nested maps, one level per label.
            let mut root: BTreeMap<String, Node> = BTreeMap::new();
            for blk in c.blocks.iter().filter(|blk| blk.ident.as_str() == b.name) {
                let labels: Vec<&str> = blk.labels.iter().map(label_str).collect();
                let missing = open_brace(ctx, blk);
                let v = decode_with(ctx, &blk.body, &b.nested, missing, depth + 1);
                if labels.is_empty() {
                    continue;
                }
                if !insert_leaf(&mut root, &labels, v) {
                    let quoted: Vec<String> = labels.iter().map(|l| format!(" {l:?}")).collect();
                    ctx.diags.push(Diagnostic::new(
                        format!("Duplicate {} block", b.name),
                        format!(
                            "A block for {}{} was already defined. The {} labels must be unique.",
                            b.name,
                            quoted.concat(),
                            b.name
                        ),
                        ctx.src.pos(blk.ident.span()),
                    ));
                }
            }
            fn build(m: BTreeMap<String, Node>, ety: &Type, depth: usize) -> Value {
                let mut inner = ety.clone();
                for _ in 1..depth {
                    inner = Type::map(inner);
                }
                Value::map(
                    inner,
                    m.into_iter().map(|(k, n)| {
                        let v = match n {
                            Node::Leaf(v) => v,
                            Node::Map(m) => build(m, ety, depth - 1),
                        };
                        (k, v)
                    }),
                )
            }
            build(root, &ety, b.labels.len().max(1))
        }
    }
}

/// Inserts `v` under the label path; false if that path is taken.
fn insert_leaf(map: &mut BTreeMap<String, Node>, labels: &[&str], v: Value) -> bool {
    match labels {
        [] => false,
        [last] => {
            if map.contains_key(*last) {
                return false;
            }
            map.insert((*last).to_string(), Node::Leaf(v));
            true
        }
        [first, rest @ ..] => {
            match map
                .entry((*first).to_string())
                .or_insert_with(|| Node::Map(BTreeMap::new()))
            {
                Node::Map(m) => insert_leaf(m, rest, v),
                Node::Leaf(_) => false,
            }
        }
    }
}

enum Node {
    Leaf(Value),
    Map(BTreeMap<String, Node>),
}

#[allow(clippy::too_many_arguments)]
fn repeated(
    ctx: &mut Ctx<'_>,
    c: &Content<'_>,
    name: &str,
    nested: &Spec,
    min: u64,
    max: u64,
    set: bool,
    depth: usize,
) -> Value {
    let mut elems = Vec::new();
    let mut positions = Vec::new();
    let mut block_positions = Vec::new();
    for blk in c.blocks.iter().filter(|blk| blk.ident.as_str() == name) {
        let missing = open_brace(ctx, blk);
        elems.push(decode_with(ctx, &blk.body, nested, missing, depth + 1));
        positions.push(ctx.src.pos(blk.ident.span()));
        block_positions.push(open_brace(ctx, blk));
    }
    let n = elems.len() as u64;
    if n < min {
        ctx.diags.push(Diagnostic::new(
            format!("Insufficient {name} blocks"),
            format!("At least {min} \"{name}\" blocks are required."),
            c.missing,
        ));
    } else if max > 0 && n > max {
        ctx.diags.push(Diagnostic::new(
            format!("Too many {name} blocks"),
            format!("No more than {max} \"{name}\" blocks are allowed"),
            block_positions.get(max as usize).copied().flatten(),
        ));
    }
    let implied = nested.implied_type().unwrap_or(Type::Dynamic);
    let ety = match elems.first() {
        None => implied,
        Some(first) => {
            let t = first.ty();
            let distinct: BTreeSet<Type> = elems.iter().map(Value::ty).collect();
            if distinct.len() > 1 {
                ctx.diags.push(Diagnostic::new(
                    format!("Unconsistent argument types in {name} blocks"),
                    "Corresponding attributes in all blocks of this type must be the same.",
                    positions.first().copied().flatten(),
                ));
                return Value::Unknown(Type::Dynamic);
            }
            t
        }
    };
    if set {
        Value::set(ety, elems)
    } else {
        Value::list(ety, elems)
    }
}
