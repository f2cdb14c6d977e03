//! Expressions with variables, function calls and interpolations, evaluated
//! by hcl-rs's evaluator in the task's context; errors worded as hcl words
//! them.

use hcl::edit::expr::{Expression, TraversalOperator};
use hcl::edit::template::{Directive, Element, Template};
use hcl::edit::Span;
use hcl::eval::{ErrorKind, Evaluate};
use nomad_plugin_sdk::config::cty::{Number, Type, Value};

use super::diag::{Diagnostic, Source};
use super::env::Scope;

pub(crate) fn evaluate(
    expr: &Expression,
    src: &Source<'_>,
    scope: &Scope,
) -> Result<Value, Diagnostic> {
    check_names(expr, src, scope)?;
    let plain: hcl::Expression = expr.clone().into();
    match plain.evaluate(&scope.ctx) {
        Ok(v) => to_cty(v).ok_or_else(|| {
            Diagnostic::new(
                "Unsupported value",
                "The testkit cannot represent this number as a cty number.",
                src.pos(expr.span()),
            )
        }),
        Err(e) => Err(match e.kind() {
            ErrorKind::NoSuchKey(key) if gets_attr(expr, key) => Diagnostic::new(
                "Unsupported attribute",
                format!("This object does not have an attribute named {key:?}."),
                src.pos(expr.span()),
            ),
            ErrorKind::NoSuchKey(_) | ErrorKind::Index(_) => Diagnostic::new(
                "Invalid index",
                "The given key does not identify an element in this collection value.",
                src.pos(expr.span()),
            ),
            ErrorKind::FuncCall(name, msg) => Diagnostic::new(
                "Error in function call",
                format!("Call to function {:?} failed: {msg}.", name.to_string()),
                src.pos(expr.span()),
            ),
            other => Diagnostic::new(
                "Invalid expression",
                other.to_string(),
                src.pos(expr.span()),
            ),
        }),
    }
}

/// hcl's own checks before evaluation: every variable's root name and every
/// function must exist in the context.
fn check_names(expr: &Expression, src: &Source<'_>, scope: &Scope) -> Result<(), Diagnostic> {
    let mut err = None;
    walk(expr, &mut |e| {
        if err.is_some() {
            return;
        }
        match e {
            Expression::Variable(v) => {
                let name = v.as_str();
                if !scope.names.contains(name) {
                    // hcl suggests a known name within edit distance 2.
                    let hint = scope
                        .names
                        .iter()
                        .find(|n| levenshtein(name, n) < 3)
                        .map(|n| format!(" Did you mean {n:?}?"))
                        .unwrap_or_default();
                    err = Some(Diagnostic::new(
                        "Unknown variable",
                        format!("There is no variable named {name:?}.{hint}"),
                        src.pos(e.span()),
                    ));
                }
            }
            Expression::FuncCall(f) => {
                let name = f.name.name.as_str();
                if f.name.namespace.is_empty() && !super::env::FUNCTIONS.contains(&name) {
                    err = Some(Diagnostic::new(
                        "Call to unknown function",
                        format!("There is no function named {name:?}."),
                        src.pos(e.span()),
                    ));
                }
            }
            _ => {}
        }
    });
    match err {
        Some(d) => Err(d),
        None => Ok(()),
    }
}

fn walk(expr: &Expression, f: &mut dyn FnMut(&Expression)) {
    f(expr);
    match expr {
        Expression::Array(a) => a.iter().for_each(|e| walk(e, f)),
        Expression::Object(o) => o.iter().for_each(|(_, v)| walk(v.expr(), f)),
        Expression::Parenthesis(p) => walk(p.inner(), f),
        Expression::UnaryOp(op) => walk(&op.expr, f),
        Expression::BinaryOp(op) => {
            walk(&op.lhs_expr, f);
            walk(&op.rhs_expr, f);
        }
        Expression::Conditional(c) => {
            walk(&c.cond_expr, f);
            walk(&c.true_expr, f);
            walk(&c.false_expr, f);
        }
        Expression::FuncCall(c) => c.args.iter().for_each(|e| walk(e, f)),
        Expression::Traversal(t) => {
            walk(&t.expr, f);
            for op in t.operators.iter() {
                if let TraversalOperator::Index(i) = op.value() {
                    walk(i, f);
                }
            }
        }
        Expression::StringTemplate(t) => walk_template(t, f),
        Expression::HeredocTemplate(h) => walk_template(&h.template, f),
        _ => {}
    }
}

fn walk_template(t: &Template, f: &mut dyn FnMut(&Expression)) {
    for el in t.iter() {
        match el {
            Element::Interpolation(i) => walk(&i.expr, f),
            Element::Directive(d) => {
                if let Directive::If(i) = d.as_ref() {
                    walk(&i.if_expr.cond_expr, f);
                    walk_template(&i.if_expr.template, f);
                    if let Some(e) = &i.else_expr {
                        walk_template(&e.template, f);
                    }
                }
            }
            Element::Literal(_) => {}
        }
    }
}

fn gets_attr(expr: &Expression, key: &str) -> bool {
    let mut found = false;
    walk(expr, &mut |e| {
        if let Expression::Traversal(t) = e {
            found |= t
                .operators
                .iter()
                .any(|op| matches!(op.value(), TraversalOperator::GetAttr(a) if a.as_str() == key));
        }
    });
    found
}

fn to_cty(v: hcl::Value) -> Option<Value> {
    Some(match v {
        hcl::Value::Null => Value::Null(Type::Dynamic),
        hcl::Value::Bool(b) => Value::Bool(b),
        hcl::Value::Number(n) => Value::Number(n.to_string().parse::<Number>().ok()?),
        hcl::Value::String(s) => Value::string(s),
        hcl::Value::Array(a) => {
            Value::tuple(a.into_iter().map(to_cty).collect::<Option<Vec<_>>>()?)
        }
        hcl::Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| Some((k, to_cty(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// Edit distance in characters, as hcl's name suggestions measure it.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
