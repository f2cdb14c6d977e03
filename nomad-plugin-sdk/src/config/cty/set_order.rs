//! go-cty's set order.
//!
//! go-cty iterates a set by sorting its elements: strings by bytes, numbers
//! by value, `false` before `true`, and every other element type by the bytes
//! of its internal "set hash" text; nulls and unknowns go last. The msgpack
//! encoding writes set elements in this order, so we must reproduce it.

use std::cmp::Ordering;

use super::{Number, Value};

/// Removes duplicates (keeping the first) and sorts stably in go-cty order.
pub(crate) fn canonical_set(values: Vec<Value>) -> Vec<Value> {
    let mut unique: Vec<Value> = Vec::with_capacity(values.len());
    for v in values {
        if !unique.contains(&v) {
            unique.push(v);
        }
    }
    // Hash texts are computed once per element, not once per comparison.
    let mut keyed: Vec<(Vec<u8>, Value)> = unique
        .into_iter()
        .map(|v| {
            let mut h = Vec::new();
            hash_bytes(&v, &mut h);
            (h, v)
        })
        .collect();
    keyed.sort_by(|(ha, a), (hb, b)| compare(a, ha, b, hb));
    keyed.into_iter().map(|(_, v)| v).collect()
}

fn compare(a: &Value, ha: &[u8], b: &Value, hb: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match (a.is_null(), b.is_null()) {
        (false, true) => return Ordering::Less,
        (true, _) => return Ordering::Greater,
        _ => {}
    }
    match (a.is_known(), b.is_known()) {
        (true, false) => return Ordering::Less,
        (false, _) => return Ordering::Greater,
        _ => {}
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.cmp(y),
        _ => ha.cmp(hb),
    }
}

/// The text go-cty hashes set elements by (`appendSetHashBytes`).
fn hash_bytes(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Unknown(_) => out.push(b'?'),
        Value::Null(_) => out.push(b'~'),
        Value::Number(n) => out.extend_from_slice(go_float_g10(n).as_bytes()),
        Value::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        Value::String(s) => out.extend_from_slice(go_quote(s).as_bytes()),
        Value::Map { entries, .. } => {
            out.push(b'{');
            for (k, e) in entries {
                out.extend_from_slice(go_quote(k).as_bytes());
                out.push(b':');
                hash_bytes(e, out);
                out.push(b';');
            }
            out.push(b'}');
        }
        Value::List { elements, .. } | Value::Set { elements, .. } => {
            out.push(b'[');
            for e in elements {
                hash_bytes(e, out);
                out.push(b';');
            }
            out.push(b']');
        }
        Value::Object(attrs) => {
            out.push(b'<');
            for e in attrs.values() {
                hash_bytes(e, out);
                out.push(b';');
            }
            out.push(b'>');
        }
        Value::Tuple(elements) => {
            out.push(b'<');
            for e in elements {
                hash_bytes(e, out);
                out.push(b';');
            }
            out.push(b'>');
        }
    }
}

/// Go's `big.Float.String()`, i.e. `Text('g', 10)`.
pub(crate) fn go_float_g10(n: &Number) -> String {
    let Some((negative, digits, exp)) = n.digits_and_exp() else {
        return if n.is_negative() { "-Inf" } else { "+Inf" }.into();
    };
    let mut sign = String::new();
    if negative {
        sign.push('-');
    }
    // Decimal point position: value = 0.mant × 10^dexp.
    let mut mant: Vec<u8> = digits.to_vec();
    let mut dexp = digits.len() as i64 + exp;
    const PREC: usize = 10;
    if mant.len() > PREC {
        let up = match mant[PREC].cmp(&5) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => mant.len() > PREC + 1 || mant[PREC - 1] % 2 == 1,
        };
        mant.truncate(PREC);
        if up {
            let mut i = PREC;
            loop {
                if i == 0 {
                    mant.insert(0, 1);
                    mant.truncate(PREC);
                    dexp += 1;
                    break;
                }
                i -= 1;
                if mant[i] == 9 {
                    mant[i] = 0;
                } else {
                    mant[i] += 1;
                    break;
                }
            }
        }
        while mant.last() == Some(&0) {
            mant.pop();
        }
    }
    let digit = |i: i64| -> char {
        if i >= 0 && (i as usize) < mant.len() {
            char::from(b'0' + mant[i as usize])
        } else {
            '0'
        }
    };
    let len = mant.len() as i64;
    let mut prec = PREC as i64;
    let mut eprec = prec;
    if eprec > len && len >= dexp {
        eprec = len;
    }
    let x = dexp - 1;
    let mut s = sign;
    if x < -4 || x >= eprec {
        if prec > len {
            prec = len;
        }
        let p = prec - 1;
        s.push(digit(0));
        if p > 0 {
            s.push('.');
            for i in 1..=p {
                s.push(digit(i));
            }
        }
        let e = if mant.is_empty() { 0 } else { dexp - 1 };
        s.push('e');
        s.push(if e < 0 { '-' } else { '+' });
        s.push_str(&format!("{:02}", e.abs()));
        return s;
    }
    if prec > dexp {
        prec = len;
    }
    let frac = (prec - dexp).max(0);
    if dexp > 0 {
        for i in 0..dexp {
            s.push(digit(i));
        }
    } else {
        s.push('0');
    }
    if frac > 0 {
        s.push('.');
        for i in 1..=frac {
            s.push(digit(dexp + i - 1));
        }
    }
    s
}

/// Go's `strconv.Quote`, close enough to order strings as go-cty does.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cty::Type;

    fn g(s: &str) -> String {
        go_float_g10(&s.parse().unwrap())
    }

    #[test]
    fn float_string_matches_go() {
        // Expected strings are what Go's big.Float.String() prints.
        assert_eq!(g("0"), "0");
        assert_eq!(g("1"), "1");
        assert_eq!(g("-12.5"), "-12.5");
        assert_eq!(g("1234567890"), "1234567890");
        assert_eq!(g("12345678901"), "1.23456789e+10");
        assert_eq!(g("12345678951"), "1.234567895e+10");
        assert_eq!(g("0.0001"), "0.0001");
        assert_eq!(g("0.00001"), "1e-05");
        assert_eq!(g("9999999999.5"), "1e+10");
        assert_eq!(g("100"), "100");
    }

    #[test]
    fn sets_sort_like_go() {
        let s = Value::set(
            Type::String,
            ["b", "a", "B", "a"].into_iter().map(Value::string),
        );
        let Value::Set { elements, .. } = s else {
            unreachable!()
        };
        assert_eq!(
            elements,
            vec![Value::string("B"), Value::string("a"), Value::string("b")]
        );
    }
}
