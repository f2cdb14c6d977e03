//! The query language.
//!
//! ```text
//! query     = metric | aggregate "(" metric ")"
//! metric    = "load_1" | "load_5" | "load_15"
//!           | "cpu_percent"
//!           | "memory_percent" | "memory_used_bytes" | "memory_available_bytes"
//! aggregate = "avg" | "min" | "max" | "last"
//! ```
//!
//! Spaces around names and parentheses are ignored; names are lower case.
//! A bare metric answers every sample in the time range; an aggregate
//! answers one point, stamped with the newest sample's time.

use std::fmt;

/// What a sample can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// One-minute load average.
    Load1,
    /// Five-minute load average.
    Load5,
    /// Fifteen-minute load average.
    Load15,
    /// Share of CPU time busy since the previous sample, 0 to 100, all CPUs
    /// together.
    CpuPercent,
    /// Share of memory in use (`MemTotal - MemAvailable`), 0 to 100.
    MemoryPercent,
    /// Bytes of memory in use.
    MemoryUsedBytes,
    /// Bytes of memory available (`MemAvailable`).
    MemoryAvailableBytes,
}

impl Metric {
    /// Every metric, in documentation order.
    pub const ALL: [Metric; 7] = [
        Metric::Load1,
        Metric::Load5,
        Metric::Load15,
        Metric::CpuPercent,
        Metric::MemoryPercent,
        Metric::MemoryUsedBytes,
        Metric::MemoryAvailableBytes,
    ];

    /// The name used in queries.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Load1 => "load_1",
            Metric::Load5 => "load_5",
            Metric::Load15 => "load_15",
            Metric::CpuPercent => "cpu_percent",
            Metric::MemoryPercent => "memory_percent",
            Metric::MemoryUsedBytes => "memory_used_bytes",
            Metric::MemoryAvailableBytes => "memory_available_bytes",
        }
    }
}

/// How several samples become one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// Arithmetic mean.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Newest value.
    Last,
}

impl Aggregate {
    const ALL: [(Aggregate, &'static str); 4] = [
        (Aggregate::Avg, "avg"),
        (Aggregate::Min, "min"),
        (Aggregate::Max, "max"),
        (Aggregate::Last, "last"),
    ];

    /// Folds `values` (oldest first, not empty).
    pub fn apply(self, values: &[f64]) -> Option<f64> {
        let last = *values.last()?;
        Some(match self {
            Aggregate::Avg => values.iter().sum::<f64>() / values.len() as f64,
            Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Aggregate::Last => last,
        })
    }
}

/// A parsed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The metric.
    pub metric: Metric,
    /// The aggregate, if any.
    pub aggregate: Option<Aggregate>,
}

/// Why a query was refused; the message lists what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(String);

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn metric(name: &str) -> Result<Metric, QueryError> {
    Metric::ALL
        .into_iter()
        .find(|m| m.name() == name)
        .ok_or_else(|| {
            let known: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
            QueryError(format!(
                "unknown metric {name:?}; known metrics: {}",
                known.join(", ")
            ))
        })
}

/// Parses a query.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(QueryError(
            "empty query; write a metric such as \"load_1\" or \"avg(cpu_percent)\"".into(),
        ));
    }
    let Some(open) = text.find('(') else {
        return Ok(Query {
            metric: metric(text)?,
            aggregate: None,
        });
    };
    let Some(inner) = text[open + 1..].strip_suffix(')') else {
        return Err(QueryError(format!(
            "missing closing parenthesis in {text:?}"
        )));
    };
    let func = text[..open].trim();
    let aggregate = Aggregate::ALL
        .into_iter()
        .find(|(_, n)| *n == func)
        .map(|(a, _)| a)
        .ok_or_else(|| {
            QueryError(format!(
                "unknown aggregate {func:?}; known aggregates: avg, min, max, last"
            ))
        })?;
    Ok(Query {
        metric: metric(inner.trim())?,
        aggregate: Some(aggregate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metrics_and_aggregates() {
        for m in Metric::ALL {
            assert_eq!(
                parse(m.name()),
                Ok(Query {
                    metric: m,
                    aggregate: None
                })
            );
        }
        assert_eq!(
            parse("  avg( cpu_percent ) "),
            Ok(Query {
                metric: Metric::CpuPercent,
                aggregate: Some(Aggregate::Avg)
            })
        );
        assert_eq!(
            parse("last(load_15)"),
            Ok(Query {
                metric: Metric::Load15,
                aggregate: Some(Aggregate::Last)
            })
        );
    }

    #[test]
    fn refuses_with_a_useful_message() {
        let e = parse("cpu").unwrap_err().to_string();
        assert!(
            e.contains("unknown metric \"cpu\"") && e.contains("cpu_percent"),
            "{e}"
        );
        let e = parse("sum(load_1)").unwrap_err().to_string();
        assert!(e.contains("unknown aggregate \"sum\""), "{e}");
        assert!(parse("avg(load_1").is_err());
        assert!(parse("avg(load_1))").is_err());
        assert!(parse("").is_err());
        assert!(parse("LOAD_1").is_err());
    }

    #[test]
    fn aggregates_fold() {
        let v = [3.0, 1.0, 2.0];
        assert_eq!(Aggregate::Avg.apply(&v), Some(2.0));
        assert_eq!(Aggregate::Min.apply(&v), Some(1.0));
        assert_eq!(Aggregate::Max.apply(&v), Some(3.0));
        assert_eq!(Aggregate::Last.apply(&v), Some(2.0));
        assert_eq!(Aggregate::Avg.apply(&[]), None);
    }
}
