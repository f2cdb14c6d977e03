//! Exact decimal numbers, the way go-cty keeps them.
//!
//! go-cty stores every number as a `big.Float` with 512 bits of mantissa, so
//! `0.1` written in HCL stays "0.1" and `18446744073709551616` stays exact.
//! We keep numbers as exact decimals (digits and a power of ten), which
//! represents every literal and every `f64` exactly; the msgpack encoder then
//! picks int, float64 or decimal text with the same rules as go-cty.

use std::cmp::Ordering;
use std::fmt;

/// A go-cty number: an exact decimal, or positive/negative infinity.
///
/// ```
/// use nomad_plugin_sdk::config::cty::Number;
/// let n: Number = "0.1".parse().unwrap();
/// assert_eq!(n.to_string(), "0.1");
/// assert_eq!(n.as_f64_exact(), None); // 0.1 is not exactly a float64
/// assert_eq!(Number::from(42u8).as_i64(), Some(42));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// `digits × 10^exp`, digits without leading or trailing zeros (empty for 0).
    Finite {
        negative: bool,
        digits: Vec<u8>,
        exp: i64,
    },
    PosInf,
    NegInf,
}

/// Why a string is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid number")]
pub struct ParseNumberError(String);

impl Number {
    /// Zero.
    pub const ZERO: Number = Number(Repr::Finite {
        negative: false,
        digits: Vec::new(),
        exp: 0,
    });

    /// Positive infinity (go-cty `cty.PositiveInfinity`).
    pub fn infinity() -> Number {
        Number(Repr::PosInf)
    }

    /// Negative infinity (go-cty `cty.NegativeInfinity`).
    pub fn neg_infinity() -> Number {
        Number(Repr::NegInf)
    }

    fn finite(negative: bool, mut digits: Vec<u8>, mut exp: i64) -> Number {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return Number::ZERO;
        }
        Number(Repr::Finite {
            negative,
            digits,
            exp,
        })
    }

    /// The exact value of a float, or `None` for NaN (go-cty has no NaN).
    pub fn from_f64(f: f64) -> Option<Number> {
        if f.is_nan() {
            return None;
        }
        if f.is_infinite() {
            return Some(if f > 0.0 {
                Number::infinity()
            } else {
                Number::neg_infinity()
            });
        }
        let bits = f.to_bits();
        let negative = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        let (mant, exp2) = if biased == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), biased - 1075)
        };
        let mut big = BigUint::from_u64(mant);
        let exp10 = if exp2 >= 0 {
            for _ in 0..exp2 {
                big.mul_small(2);
            }
            0
        } else {
            // m × 2^-k = m × 5^k × 10^-k
            for _ in 0..(-exp2) {
                big.mul_small(5);
            }
            exp2
        };
        Some(Number::finite(negative, big.to_digits(), exp10))
    }

    /// True for finite numbers without a fractional part.
    pub fn is_integer(&self) -> bool {
        match &self.0 {
            Repr::Finite { exp, .. } => *exp >= 0,
            _ => false,
        }
    }

    /// True for ±infinity.
    pub fn is_infinite(&self) -> bool {
        !matches!(self.0, Repr::Finite { .. })
    }

    /// True if the number is below zero.
    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::Finite { negative, .. } => *negative,
            Repr::NegInf => true,
            Repr::PosInf => false,
        }
    }

    /// The value as an `i128` if it is an integer in range.
    pub fn as_i128(&self) -> Option<i128> {
        let Repr::Finite {
            negative,
            digits,
            exp,
        } = &self.0
        else {
            return None;
        };
        if *exp < 0 || digits.len() as i64 + exp > 39 {
            return None;
        }
        let mut acc: i128 = 0;
        for d in digits.iter().copied().chain((0..*exp).map(|_| 0u8)) {
            acc = acc.checked_mul(10)?;
            acc = if *negative {
                acc.checked_sub(i128::from(d))?
            } else {
                acc.checked_add(i128::from(d))?
            };
        }
        Some(acc)
    }

    /// The value as an `i64` if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// The value as a `u64` if it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i128().and_then(|v| u64::try_from(v).ok())
    }

    /// The value as an `f64` if that is exact (infinities included).
    pub fn as_f64_exact(&self) -> Option<f64> {
        let f = self.to_f64_lossy();
        (Number::from_f64(f).as_ref() == Some(self)).then_some(f)
    }

    /// The nearest `f64` (overflowing to ±infinity).
    pub fn to_f64_lossy(&self) -> f64 {
        match &self.0 {
            Repr::PosInf => f64::INFINITY,
            Repr::NegInf => f64::NEG_INFINITY,
            Repr::Finite { .. } => self.scientific().parse().unwrap_or(f64::NAN),
        }
    }

    /// `d.ddde±N` text that Rust's float parser rounds correctly.
    fn scientific(&self) -> String {
        match &self.0 {
            Repr::Finite {
                negative,
                digits,
                exp,
            } => {
                if digits.is_empty() {
                    return "0".into();
                }
                let mut s = String::with_capacity(digits.len() + 8);
                if *negative {
                    s.push('-');
                }
                s.extend(digits.iter().map(|d| char::from(b'0' + d)));
                s.push('e');
                s.push_str(&exp.to_string());
                s
            }
            Repr::PosInf => "inf".into(),
            Repr::NegInf => "-inf".into(),
        }
    }

    pub(crate) fn digits_and_exp(&self) -> Option<(bool, &[u8], i64)> {
        match &self.0 {
            Repr::Finite {
                negative,
                digits,
                exp,
            } => Some((*negative, digits, *exp)),
            _ => None,
        }
    }
}

impl Default for Number {
    fn default() -> Self {
        Number::ZERO
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(v: $t) -> Number {
                let negative = v < 0 as $t;
                let mag = (v as i128).unsigned_abs();
                let digits = mag.to_string().bytes().map(|b| b - b'0').collect();
                Number::finite(negative, digits, 0)
            }
        }
    )*};
}
#[allow(unused_comparisons)]
mod ints {
    use super::*;
    from_int!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, usize);
}

impl std::str::FromStr for Number {
    type Err = ParseNumberError;

    /// Parses a decimal literal as go-cty's `ParseNumberVal` does: optional
    /// sign, digits with an optional fraction and exponent, or `Inf`.
    fn from_str(s: &str) -> Result<Number, ParseNumberError> {
        let err = || ParseNumberError(s.to_string());
        let (negative, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
            return Ok(if negative {
                Number::neg_infinity()
            } else {
                Number::infinity()
            });
        }
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err());
        }
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || !all_digits(frac_part) {
            return Err(err());
        }
        let mut exp: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !all_digits(digits) {
                    return Err(err());
                }
                e.parse().map_err(|_| err())?
            }
        };
        exp = exp.checked_sub(frac_part.len() as i64).ok_or_else(err)?;
        let digits = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        Ok(Number::finite(negative, digits, exp))
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation without an exponent, like Go's
    /// `big.Float.Text('f', -1)`; infinities print as `+Inf`/`-Inf`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, digits, exp) = match &self.0 {
            Repr::PosInf => return f.write_str("+Inf"),
            Repr::NegInf => return f.write_str("-Inf"),
            Repr::Finite {
                negative,
                digits,
                exp,
            } => (*negative, digits, *exp),
        };
        if digits.is_empty() {
            return f.write_str("0");
        }
        let mut s = String::new();
        if negative {
            s.push('-');
        }
        let ds: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        if exp >= 0 {
            s.push_str(&ds);
            s.extend((0..exp).map(|_| '0'));
        } else {
            let point = ds.len() as i64 + exp;
            if point > 0 {
                let (a, b) = ds.split_at(point as usize);
                s.push_str(a);
                s.push('.');
                s.push_str(b);
            } else {
                s.push_str("0.");
                s.extend((0..-point).map(|_| '0'));
                s.push_str(&ds);
            }
        }
        f.write_str(&s)
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        fn rank(n: &Number) -> i8 {
            match n.0 {
                Repr::NegInf => -2,
                Repr::PosInf => 2,
                Repr::Finite {
                    negative,
                    ref digits,
                    ..
                } => {
                    if digits.is_empty() {
                        0
                    } else if negative {
                        -1
                    } else {
                        1
                    }
                }
            }
        }
        let (ra, rb) = (rank(self), rank(other));
        if ra != rb || ra.abs() != 1 {
            return ra.cmp(&rb);
        }
        let (
            Repr::Finite {
                digits: da,
                exp: ea,
                ..
            },
            Repr::Finite {
                digits: db,
                exp: eb,
                ..
            },
        ) = (&self.0, &other.0)
        else {
            return Ordering::Equal;
        };
        // Compare magnitudes: first by the position of the leading digit.
        let lead_a = da.len() as i64 + ea;
        let lead_b = db.len() as i64 + eb;
        let mag = lead_a.cmp(&lead_b).then_with(|| {
            let n = da.len().max(db.len());
            (0..n)
                .map(|i| {
                    let a = da.get(i).copied().unwrap_or(0);
                    let b = db.get(i).copied().unwrap_or(0);
                    a.cmp(&b)
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
        if ra < 0 {
            mag.reverse()
        } else {
            mag
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Just enough unsigned big-integer arithmetic to expand an `f64` exactly.
struct BigUint(Vec<u32>); // little-endian base 10^9 limbs

impl BigUint {
    const BASE: u64 = 1_000_000_000;

    fn from_u64(mut v: u64) -> BigUint {
        let mut limbs = Vec::new();
        while v > 0 {
            limbs.push((v % Self::BASE) as u32);
            v /= Self::BASE;
        }
        BigUint(limbs)
    }

    fn mul_small(&mut self, m: u32) {
        let mut carry = 0u64;
        for limb in &mut self.0 {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = (v % Self::BASE) as u32;
            carry = v / Self::BASE;
        }
        while carry > 0 {
            self.0.push((carry % Self::BASE) as u32);
            carry /= Self::BASE;
        }
    }

    fn to_digits(&self) -> Vec<u8> {
        let mut s = String::new();
        for (i, limb) in self.0.iter().rev().enumerate() {
            if i == 0 {
                s.push_str(&limb.to_string());
            } else {
                s.push_str(&format!("{limb:09}"));
            }
        }
        s.bytes().map(|b| b - b'0').collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(n("0.1").to_string(), "0.1");
        assert_eq!(n("-1.50").to_string(), "-1.5");
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("1.5e-7").to_string(), "0.00000015");
        assert_eq!(n("-0").to_string(), "0");
        assert_eq!(n("007").to_string(), "7");
        assert!("1.2.3".parse::<Number>().is_err());
        assert!("".parse::<Number>().is_err());
        assert!("e5".parse::<Number>().is_err());
    }

    #[test]
    fn floats_are_exact() {
        assert_eq!(Number::from_f64(0.5).unwrap().to_string(), "0.5");
        assert_eq!(
            Number::from_f64(0.1).unwrap().to_string(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert_eq!(n("0.5").as_f64_exact(), Some(0.5));
        assert_eq!(n("0.1").as_f64_exact(), None);
        assert_eq!(
            Number::from_f64(1e20).unwrap().to_string(),
            "100000000000000000000"
        );
        assert_eq!(
            Number::from_f64(f64::MIN_POSITIVE * 0.5)
                .unwrap()
                .as_f64_exact(),
            Some(f64::MIN_POSITIVE * 0.5)
        );
    }

    #[test]
    fn integers() {
        assert_eq!(n("9223372036854775807").as_i64(), Some(i64::MAX));
        assert_eq!(n("9223372036854775808").as_i64(), None);
        assert_eq!(n("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(n("-1").as_u64(), None);
        assert_eq!(Number::from(i64::MIN).as_i64(), Some(i64::MIN));
        assert_eq!(n("1e400").as_i128(), None);
    }

    #[test]
    fn ordering() {
        let mut v: Vec<Number> = ["3", "-1", "0.5", "-inf", "0", "10", "-2.5", "inf", "0.25"]
            .iter()
            .map(|s| n(s))
            .collect();
        v.sort();
        let s: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        assert_eq!(
            s,
            ["-Inf", "-2.5", "-1", "0", "0.25", "0.5", "3", "10", "+Inf"]
        );
    }
}
