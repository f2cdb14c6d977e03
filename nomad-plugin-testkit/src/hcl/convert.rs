//! The part of go-cty's `convert.Convert` that config decoding needs: safe
//! and unsafe primitive conversions, tuples to lists/sets, objects to maps
//! and objects, and unification of element types for `list(any)`-style
//! targets. Errors use go-cty's wording ("a number is required").

use std::collections::BTreeMap;

use nomad_plugin_sdk::config::cty::{Number, Type, Value};

pub(crate) fn convert(v: &Value, ty: &Type) -> Result<Value, String> {
    if *ty == Type::Dynamic {
        return Ok(v.clone());
    }
    match v {
        Value::Null(_) => return Ok(Value::Null(ty.clone())),
        Value::Unknown(_) => return Ok(Value::Unknown(ty.clone())),
        _ => {}
    }
    if v.ty() == *ty {
        return Ok(v.clone());
    }
    match ty {
        Type::String => match v {
            Value::Number(n) => Ok(Value::string(n.to_string())),
            Value::Bool(b) => Ok(Value::string(b.to_string())),
            _ => Err("string required".into()),
        },
        Type::Number => match v {
            Value::String(s) => s
                .parse::<Number>()
                .map(Value::Number)
                .map_err(|_| "a number is required".into()),
            _ => Err("number required".into()),
        },
        Type::Bool => match v {
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            Value::String(_) => Err("a bool is required".into()),
            _ => Err("bool required".into()),
        },
        Type::List(ety) | Type::Set(ety) => {
            let elements = match v {
                Value::Tuple(es)
                | Value::List { elements: es, .. }
                | Value::Set { elements: es, .. } => es,
                _ => return Err(format!("{} required", kind_name(ty))),
            };
            let (ety, converted) = convert_elements(elements.iter(), ety)?;
            Ok(if matches!(ty, Type::List(_)) {
                Value::list(ety, converted)
            } else {
                Value::set(ety, converted)
            })
        }
        Type::Map(ety) => {
            let entries: Vec<(&String, &Value)> = match v {
                Value::Object(a) | Value::Map { entries: a, .. } => a.iter().collect(),
                _ => return Err("map of ".to_string() + &ety.to_string() + " required"),
            };
            let (ety, converted) = convert_elements(entries.iter().map(|(_, v)| *v), ety).map_err(
                |e| match entries.first() {
                    Some((k, _)) if entries.len() == 1 => format!("element {k:?}: {e}"),
                    _ => e,
                },
            )?;
            Ok(Value::map(
                ety,
                entries.iter().map(|(k, _)| k.as_str()).zip(converted),
            ))
        }
        Type::Tuple(etys) => {
            let (Value::Tuple(es) | Value::List { elements: es, .. }) = v else {
                return Err("tuple required".into());
            };
            if es.len() != etys.len() {
                return Err(format!("tuple required with {} elements", etys.len()));
            }
            let out = es
                .iter()
                .zip(etys)
                .enumerate()
                .map(|(i, (e, t))| convert(e, t).map_err(|m| format!("element {i}: {m}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Tuple(out))
        }
        Type::Object(atys) => {
            let (Value::Object(attrs) | Value::Map { entries: attrs, .. }) = v else {
                return Err("object required".into());
            };
            for k in atys.keys() {
                if !attrs.contains_key(k) {
                    return Err(format!("attribute {k:?} is required"));
                }
            }
            for k in attrs.keys() {
                if !atys.contains_key(k) {
                    return Err(format!("unsupported attribute {k:?}"));
                }
            }
            let mut out = BTreeMap::new();
            for (k, t) in atys {
                let a = attrs.get(k).cloned().unwrap_or(Value::Null(t.clone()));
                out.insert(
                    k.clone(),
                    convert(&a, t).map_err(|m| format!("attribute {k:?}: {m}"))?,
                );
            }
            Ok(Value::Object(out))
        }
        Type::Dynamic => Ok(v.clone()),
    }
}

fn kind_name(ty: &Type) -> &'static str {
    match ty {
        Type::List(_) => "list",
        Type::Set(_) => "set",
        _ => "value",
    }
}

/// Converts every element to `ety`; where `ety` has `any` in it, the
/// elements' types are first unified (go-cty `convert.Unify`).
fn convert_elements<'a>(
    elements: impl Iterator<Item = &'a Value> + Clone,
    ety: &Type,
) -> Result<(Type, Vec<Value>), String> {
    let target = if ety.has_dynamic() {
        let types: Vec<Type> = elements.clone().map(Value::ty).collect();
        if types.is_empty() {
            ety.clone()
        } else {
            unify(&types).ok_or_else(|| "all elements must have the same type".to_string())?
        }
    } else {
        ety.clone()
    };
    let converted = elements
        .enumerate()
        .map(|(i, e)| convert(e, &target).map_err(|m| format!("element {i}: {m}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((target, converted))
}

/// A common type for `types`: all equal, or mixed primitives (string wins).
fn unify(types: &[Type]) -> Option<Type> {
    let first = types.first()?;
    if types.iter().all(|t| t == first) {
        return Some(first.clone());
    }
    let known: Vec<&Type> = types.iter().filter(|t| **t != Type::Dynamic).collect();
    if let Some(f) = known.first() {
        if known.iter().all(|t| t == f) {
            return Some((*f).clone());
        }
    }
    let primitive = |t: &&Type| matches!(t, Type::String | Type::Number | Type::Bool);
    if known.iter().all(primitive) {
        return Some(Type::String);
    }
    None
}
