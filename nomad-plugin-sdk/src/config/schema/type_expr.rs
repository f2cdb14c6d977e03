//! HCL type expressions as Nomad's hclspec uses them for `Attr.type` and
//! `BlockAttrs.type`: `string`, `number`, `bool`, `any`, `list(T)`, `set(T)`,
//! `map(T)`, `tuple([T, ...])`, `object({name = T, ...})`.

use std::collections::BTreeMap;

use super::lex::{lex, Cursor, Tok};
use crate::config::cty::Type;
use crate::config::Error;

/// Parses an HCL type expression into a cty type.
///
/// ```
/// use nomad_plugin_sdk::config::{cty::Type, schema::parse_type};
/// assert_eq!(parse_type("list(map(string))").unwrap(), Type::list(Type::map(Type::String)));
/// assert_eq!(
///     parse_type("object({ port = number, tags = set(string) })").unwrap(),
///     Type::object([("port", Type::Number), ("tags", Type::set(Type::String))]),
/// );
/// assert!(parse_type("list(strin)").is_err());
/// ```
pub fn parse_type(src: &str) -> Result<Type, Error> {
    let toks = lex(src)?;
    let mut c = Cursor::new(&toks, src);
    if c.at_end() {
        return Err(Error::Schema(
            "empty type expression (use \"any\" for any type)".into(),
        ));
    }
    let t = ty(&mut c, 0)?;
    if !c.at_end() {
        return Err(c.error("unexpected text after the type"));
    }
    Ok(t)
}

const MAX_DEPTH: usize = 64;

fn ty(c: &mut Cursor<'_>, depth: usize) -> Result<Type, Error> {
    if depth > MAX_DEPTH {
        return Err(c.error("type expression nested too deeply"));
    }
    let Some(Tok::Ident(name)) = c.peek() else {
        return Err(c.error("expected a type"));
    };
    let name = name.as_str();
    let simple = match name {
        "string" => Some(Type::String),
        "number" => Some(Type::Number),
        "bool" => Some(Type::Bool),
        "any" => Some(Type::Dynamic),
        _ => None,
    };
    if let Some(t) = simple {
        c.next();
        return Ok(t);
    }
    if !matches!(name, "list" | "set" | "map" | "tuple" | "object") {
        return Err(c.error(
            "expected string, number, bool, any, list(...), set(...), map(...), tuple([...]) or object({...})",
        ));
    }
    c.next();
    c.expect('(')?;
    let t = match name {
        "list" => Type::list(ty(c, depth + 1)?),
        "set" => Type::set(ty(c, depth + 1)?),
        "map" => Type::map(ty(c, depth + 1)?),
        "tuple" => {
            c.expect('[')?;
            let mut elems = Vec::new();
            while !c.eat(']') {
                elems.push(ty(c, depth + 1)?);
                if !c.eat(',') {
                    c.expect(']')?;
                    break;
                }
            }
            Type::Tuple(elems)
        }
        _ => {
            c.expect('{')?;
            let mut attrs = BTreeMap::new();
            while !c.eat('}') {
                let key = match c.next() {
                    Some(Tok::Ident(k)) | Some(Tok::Str(k)) => k.clone(),
                    _ => return Err(c.error("expected an attribute name")),
                };
                if !c.eat('=') {
                    c.expect(':')?;
                }
                let t = ty(c, depth + 1)?;
                if attrs.insert(key.clone(), t).is_some() {
                    return Err(c.error(&format!("duplicate attribute {key:?}")));
                }
                c.eat(',');
            }
            Type::Object(attrs)
        }
    };
    c.expect(')')?;
    Ok(t)
}

/// Writes a cty type as an HCL type expression (the inverse of
/// [`parse_type`]).
///
/// ```
/// use nomad_plugin_sdk::config::{cty::Type, schema::type_expr};
/// assert_eq!(type_expr(&Type::map(Type::list(Type::Dynamic))), "map(list(any))");
/// ```
pub fn type_expr(t: &Type) -> String {
    match t {
        Type::String => "string".into(),
        Type::Number => "number".into(),
        Type::Bool => "bool".into(),
        Type::Dynamic => "any".into(),
        Type::List(e) => format!("list({})", type_expr(e)),
        Type::Set(e) => format!("set({})", type_expr(e)),
        Type::Map(e) => format!("map({})", type_expr(e)),
        Type::Tuple(es) => format!(
            "tuple([{}])",
            es.iter().map(type_expr).collect::<Vec<_>>().join(", ")
        ),
        Type::Object(attrs) => format!(
            "object({{{}}})",
            attrs
                .iter()
                .map(|(k, t)| format!("{k} = {}", type_expr(t)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
