//! Constant HCL expressions, as `Literal` specs and defaults carry them:
//! `"bash"`, `5`, `0.1`, `true`, `null`, `["a", 1]`, `{ a = 1, "b" = [] }`.

use std::collections::BTreeMap;

use super::lex::{lex, Cursor, Tok};
use crate::config::cty::{Number, Type, Value};
use crate::config::Error;

/// Evaluates a constant HCL expression to the value HCL would give it:
/// brackets make tuples and braces objects, as in HCL.
///
/// Function calls, variables and templates are not supported here (Nomad
/// would allow a few functions in a `Literal`; plugins rarely need them).
///
/// ```
/// use nomad_plugin_sdk::config::{cty::{Type, Value}, schema::parse_literal};
/// assert_eq!(parse_literal("\"bash\"").unwrap(), Value::string("bash"));
/// assert_eq!(
///     parse_literal("{ a = [1, true] }").unwrap(),
///     Value::object([("a", Value::tuple([Value::from(1), Value::from(true)]))]),
/// );
/// assert_eq!(parse_literal("null").unwrap(), Value::null(Type::Dynamic));
/// ```
pub fn parse_literal(src: &str) -> Result<Value, Error> {
    let toks = lex(src)?;
    let mut c = Cursor::new(&toks, src);
    let v = value(&mut c, 0)?;
    if !c.at_end() {
        return Err(c.error("unexpected text after the value"));
    }
    Ok(v)
}

fn value(c: &mut Cursor<'_>, depth: usize) -> Result<Value, Error> {
    if depth > 64 {
        return Err(c.error("literal nested too deeply"));
    }
    match c.next() {
        Some(Tok::Str(s)) => Ok(Value::string(s)),
        Some(Tok::Num(n)) => n
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|e| Error::Schema(e.to_string())),
        Some(Tok::Ident(i)) if i == "true" => Ok(Value::Bool(true)),
        Some(Tok::Ident(i)) if i == "false" => Ok(Value::Bool(false)),
        Some(Tok::Ident(i)) if i == "null" => Ok(Value::Null(Type::Dynamic)),
        Some(Tok::Punct('[')) => {
            let mut elems = Vec::new();
            while !c.eat(']') {
                elems.push(value(c, depth + 1)?);
                if !c.eat(',') {
                    c.expect(']')?;
                    break;
                }
            }
            Ok(Value::Tuple(elems))
        }
        Some(Tok::Punct('{')) => {
            let mut attrs = BTreeMap::new();
            while !c.eat('}') {
                let key = match c.next() {
                    Some(Tok::Ident(k)) | Some(Tok::Str(k)) => k.clone(),
                    _ => return Err(c.error("expected an attribute name")),
                };
                if !c.eat('=') {
                    c.expect(':')?;
                }
                let v = value(c, depth + 1)?;
                attrs.insert(key, v);
                c.eat(',');
            }
            Ok(Value::Object(attrs))
        }
        _ => {
            c.pos_back();
            Err(c.error("expected a constant value"))
        }
    }
}
