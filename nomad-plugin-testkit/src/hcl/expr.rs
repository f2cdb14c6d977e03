//! Constant evaluation of HCL expressions into cty values, as hclsyntax
//! evaluates them without variables or functions.

use hcl::edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl::edit::template::{Element, Template};
use hcl::edit::Span;
use nomad_plugin_sdk::config::cty::{Number, Type, Value};

use super::diag::{Diagnostic, Source};

/// The context a task config is evaluated in; `None` for agent plugin
/// config, which Nomad decodes without variables or functions.
pub(crate) type Env<'a> = Option<&'a super::env::Scope>;

pub(crate) fn eval(expr: &Expression, src: &Source<'_>, env: Env<'_>) -> Result<Value, Diagnostic> {
    let unsupported = |what: &str| {
        Diagnostic::new(
            "Unsupported expression",
            format!(
                "The testkit evaluates constant expressions only; {what} cannot be evaluated here."
            ),
            src.pos(expr.span()),
        )
    };
    if let Some(ctx) = env {
        if needs_context(expr) {
            return super::interp::evaluate(expr, src, ctx);
        }
    }
    Ok(match expr {
        Expression::Null(_) => Value::Null(Type::Dynamic),
        Expression::Bool(b) => Value::Bool(*b.value()),
        Expression::Number(n) => {
            // The source text keeps full precision (`0.1`, `1e400`, 2^70).
            let text: Option<String> = n
                .as_repr()
                .map(|r| r.chars().filter(|c| !c.is_whitespace()).collect());
            let parsed = text.as_deref().and_then(|t| t.parse::<Number>().ok());
            match parsed {
                Some(num) => Value::Number(num),
                None => {
                    let v = n.value();
                    let num = if let Some(i) = v.as_i64() {
                        Number::from(i)
                    } else if let Some(u) = v.as_u64() {
                        Number::from(u)
                    } else {
                        v.as_f64()
                            .and_then(Number::from_f64)
                            .ok_or_else(|| unsupported("this number"))?
                    };
                    Value::Number(num)
                }
            }
        }
        Expression::String(s) => Value::string(s.value()),
        Expression::StringTemplate(t) => Value::string(
            template(t, src)
                .map_err(|_| unsupported("a template with interpolations or directives"))?,
        ),
        Expression::HeredocTemplate(h) => {
            let text = template(&h.template, src)
                .map_err(|_| unsupported("a heredoc with interpolations or directives"))?;
            Value::string(text)
        }
        Expression::Array(a) => Value::tuple(
            a.iter()
                .map(|e| eval(e, src, env))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Expression::Object(o) => {
            let mut attrs = std::collections::BTreeMap::new();
            for (k, v) in o.iter() {
                let key = match k {
                    ObjectKey::Ident(i) => i.as_str().to_string(),
                    ObjectKey::Expression(e) => match eval(e, src, env)? {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            return Err(Diagnostic::new(
                                "Incorrect key type",
                                "Can't use this value as a key: string required.",
                                src.pos(e.span()),
                            ))
                        }
                    },
                };
                if attrs.contains_key(&key) {
                    return Err(Diagnostic::new(
                        "Duplicate object attribute",
                        format!(
                            "An attribute named {key:?} was already defined at another position."
                        ),
                        src.pos(k.span()),
                    ));
                }
                attrs.insert(key, eval(v.expr(), src, env)?);
            }
            Value::Object(attrs)
        }
        Expression::Parenthesis(p) => eval(p.inner(), src, env)?,
        Expression::UnaryOp(op) if matches!(op.operator.value(), UnaryOperator::Neg) => {
            match eval(&op.expr, src, env)? {
                Value::Number(n) => {
                    let negated: Number = if n.is_negative() {
                        n.to_string()
                            .trim_start_matches('-')
                            .parse()
                            .map_err(|_| unsupported("this number"))?
                    } else if n.is_infinite() {
                        Number::neg_infinity()
                    } else {
                        format!("-{n}")
                            .parse()
                            .map_err(|_| unsupported("this number"))?
                    };
                    Value::Number(negated)
                }
                _ => {
                    return Err(Diagnostic::new(
                        "Invalid operand",
                        "Unsuitable value for unary operand: a number is required.",
                        src.pos(expr.span()),
                    ))
                }
            }
        }
        Expression::Variable(_) | Expression::Traversal(_) => {
            return Err(unsupported("a variable reference"))
        }
        Expression::FuncCall(_) => return Err(unsupported("a function call")),
        _ => return Err(unsupported("this operator")),
    })
}

fn template(t: &Template, _src: &Source<'_>) -> Result<String, ()> {
    let mut out = String::new();
    for el in t.iter() {
        match el {
            Element::Literal(s) => out.push_str(s.value()),
            _ => return Err(()),
        }
    }
    Ok(out)
}

/// Whether `expr` itself (not its elements) needs variables or functions.
fn needs_context(expr: &Expression) -> bool {
    match expr {
        Expression::StringTemplate(t) => !is_literal(t),
        Expression::HeredocTemplate(h) => !is_literal(&h.template),
        Expression::Null(_)
        | Expression::Bool(_)
        | Expression::Number(_)
        | Expression::String(_)
        | Expression::Array(_)
        | Expression::Object(_)
        | Expression::Parenthesis(_) => false,
        Expression::UnaryOp(op) => !matches!(op.operator.value(), UnaryOperator::Neg),
        _ => true,
    }
}

fn is_literal(t: &Template) -> bool {
    t.iter().all(|el| matches!(el, Element::Literal(_)))
}
