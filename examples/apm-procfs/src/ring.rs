//! The sample history: a fixed-size ring buffer, oldest first.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::proc::Readings;
use crate::query::Metric;

/// One sample of every metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it was taken.
    pub time: SystemTime,
    /// What was read.
    pub readings: Readings,
    /// CPU busy share since the previous sample; `None` for the first one.
    pub cpu_percent: Option<f64>,
}

impl Sample {
    /// The value of `metric` in this sample, if it has one.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        let r = &self.readings;
        Some(match metric {
            Metric::Load1 => r.load.one,
            Metric::Load5 => r.load.five,
            Metric::Load15 => r.load.fifteen,
            Metric::CpuPercent => return self.cpu_percent,
            Metric::MemoryPercent => r.memory.used_percent(),
            Metric::MemoryUsedBytes => r.memory.used() as f64,
            Metric::MemoryAvailableBytes => r.memory.available as f64,
        })
    }
}

/// At most `capacity` samples in time order.
#[derive(Debug)]
pub struct Ring {
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl Ring {
    /// An empty ring holding up to `capacity` samples (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Ring {
            samples: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
        }
    }

    /// Adds the newest sample, dropping the oldest when full. If the clock
    /// went backwards the history is dropped, so it stays in time order.
    pub fn push(&mut self, sample: Sample) {
        if self
            .samples
            .back()
            .is_some_and(|last| last.time > sample.time)
        {
            self.samples.clear();
        }
        while self.samples.len() >= self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Changes the capacity, dropping the oldest samples if needed.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.samples.len() > self.capacity {
            self.samples.pop_front();
        }
    }

    /// The newest sample.
    #[cfg(test)]
    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// The samples with `from <= time <= to`, oldest first.
    pub fn between(&self, from: SystemTime, to: SystemTime) -> impl Iterator<Item = &Sample> {
        // Sorted by time: skip to the first one in range.
        let start = self.samples.partition_point(|s| s.time < from);
        self.samples
            .range(start..)
            .take_while(move |s| s.time <= to)
    }

    /// How many samples are held.
    pub fn len(&self) -> usize {
        self.samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::{CpuTimes, LoadAvg, Memory};
    use std::time::Duration;

    fn at(secs: u64, load: f64) -> Sample {
        Sample {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            readings: Readings {
                load: LoadAvg {
                    one: load,
                    five: 0.0,
                    fifteen: 0.0,
                },
                cpu: CpuTimes { idle: 0, total: 0 },
                memory: Memory {
                    total: 100,
                    available: 25,
                },
            },
            cpu_percent: None,
        }
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn keeps_the_newest_in_order_and_selects_inclusive_ranges() {
        let mut r = Ring::new(3);
        for s in 1..=5 {
            r.push(at(s, s as f64));
        }
        assert_eq!(r.len(), 3);
        let loads: Vec<f64> = r
            .between(t(0), t(100))
            .map(|s| s.readings.load.one)
            .collect();
        assert_eq!(loads, [3.0, 4.0, 5.0]);
        let loads: Vec<f64> = r.between(t(4), t(4)).map(|s| s.readings.load.one).collect();
        assert_eq!(loads, [4.0]);
        assert_eq!(r.between(t(6), t(9)).count(), 0);
        assert_eq!(r.between(t(5), t(3)).count(), 0);
        r.set_capacity(1);
        assert_eq!(r.last().map(|s| s.readings.load.one), Some(5.0));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn clock_going_back_restarts_the_history() {
        let mut r = Ring::new(10);
        r.push(at(10, 1.0));
        r.push(at(5, 2.0));
        assert_eq!(r.len(), 1);
        assert_eq!(r.last().map(|s| s.time), Some(t(5)));
    }

    #[test]
    fn sample_values() {
        let s = at(1, 0.5);
        assert_eq!(s.value(Metric::Load1), Some(0.5));
        assert_eq!(s.value(Metric::MemoryPercent), Some(75.0));
        assert_eq!(s.value(Metric::MemoryUsedBytes), Some(75.0));
        assert_eq!(s.value(Metric::MemoryAvailableBytes), Some(25.0));
        assert_eq!(s.value(Metric::CpuPercent), None);
    }
}
