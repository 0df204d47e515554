//! The delay schedule, as pure code: an iterator of the waits between attempts.

use std::time::Duration;

use serde::Deserialize;

use crate::parse::{Choice, ToText};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Constant,
    Linear,
    Exponential,
    Fibonacci,
}

/// Jitter, with the formulas of the AWS Architecture Blog's
/// "Exponential Backoff And Jitter".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

impl Choice for Backoff {
    const ALL: &'static [(&'static str, Self)] = &[
        ("constant", Backoff::Constant),
        ("linear", Backoff::Linear),
        ("exponential", Backoff::Exponential),
        ("fibonacci", Backoff::Fibonacci),
    ];
}

impl Choice for Jitter {
    const ALL: &'static [(&'static str, Self)] = &[
        ("none", Jitter::None),
        ("full", Jitter::Full),
        ("equal", Jitter::Equal),
        ("decorrelated", Jitter::Decorrelated),
    ];
}

impl ToText for Backoff {
    fn to_text(&self) -> Option<String> {
        Some(self.name().to_string())
    }
}

impl ToText for Jitter {
    fn to_text(&self) -> Option<String> {
        Some(self.name().to_string())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub backoff: Backoff,
    /// The first delay.
    pub delay: Duration,
    /// The multiplier of exponential backoff.
    pub factor: f64,
    /// The cap on any single delay.
    pub max_delay: Duration,
    /// An explicit list whose last value repeats; overrides `delay` and `backoff`.
    pub delays: Option<Vec<Duration>>,
    pub jitter: Jitter,
    pub seed: Option<u64>,
}

impl Schedule {
    /// The waits after attempt 1, 2, 3, … (endless; the caller counts attempts).
    pub fn delays(&self) -> Delays<'_> {
        let rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let first = self.first();
        Delays {
            schedule: self,
            retry: 0,
            fibonacci: (0.0, 1.0),
            previous: first,
            rng,
        }
    }

    fn first(&self) -> f64 {
        match &self.delays {
            Some(list) => list.first().copied().unwrap_or_default().as_secs_f64(),
            None => self.delay.as_secs_f64(),
        }
    }
}

pub struct Delays<'a> {
    schedule: &'a Schedule,
    retry: u32,
    fibonacci: (f64, f64),
    previous: f64,
    rng: fastrand::Rng,
}

impl Delays<'_> {
    /// The un-jittered delay of this retry, in seconds, before the cap.
    fn base(&mut self) -> f64 {
        let s = self.schedule;
        let d = s.delay.as_secs_f64();
        let k = self.retry;
        let (a, b) = self.fibonacci;
        self.fibonacci = (b, a + b);
        match (&s.delays, s.backoff) {
            (Some(list), _) => list[(k as usize).min(list.len() - 1)].as_secs_f64(),
            (None, Backoff::Constant) => d,
            (None, Backoff::Linear) => d * f64::from(k + 1),
            (None, Backoff::Exponential) => d * s.factor.powi(k.min(i32::MAX as u32) as i32),
            (None, Backoff::Fibonacci) => d * b,
        }
    }

    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + self.rng.f64() * (high - low).max(0.0)
    }
}

impl Iterator for Delays<'_> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let cap = self.schedule.max_delay.as_secs_f64();
        let capped = self.base().min(cap);
        let jittered = match self.schedule.jitter {
            Jitter::None => capped,
            Jitter::Full => self.between(0.0, capped),
            Jitter::Equal => capped / 2.0 + self.between(0.0, capped / 2.0),
            Jitter::Decorrelated => {
                let base = self.schedule.first();
                let next = self.between(base, self.previous * 3.0).min(cap);
                self.previous = next;
                next
            }
        };
        self.retry = self.retry.saturating_add(1);
        // NaN (a zero or infinite factor times zero) and overflow land on the cap.
        let seconds = if jittered.is_nan() {
            cap
        } else {
            jittered.clamp(0.0, cap)
        };
        Some(Duration::from_secs_f64(seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn schedule(backoff: Backoff) -> Schedule {
        Schedule {
            backoff,
            delay: ms(100),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            delays: None,
            jitter: Jitter::None,
            seed: Some(7),
        }
    }

    fn first(s: &Schedule, n: usize) -> Vec<Duration> {
        s.delays().take(n).collect()
    }

    #[test]
    fn constant() {
        assert_eq!(first(&schedule(Backoff::Constant), 4), vec![ms(100); 4]);
    }

    #[test]
    fn linear() {
        assert_eq!(
            first(&schedule(Backoff::Linear), 4),
            vec![ms(100), ms(200), ms(300), ms(400)]
        );
    }

    #[test]
    fn exponential_with_factor() {
        assert_eq!(
            first(&schedule(Backoff::Exponential), 4),
            vec![ms(100), ms(200), ms(400), ms(800)]
        );
        let triple = Schedule {
            factor: 3.0,
            ..schedule(Backoff::Exponential)
        };
        assert_eq!(first(&triple, 3), vec![ms(100), ms(300), ms(900)]);
    }

    #[test]
    fn fibonacci() {
        assert_eq!(
            first(&schedule(Backoff::Fibonacci), 6),
            vec![ms(100), ms(100), ms(200), ms(300), ms(500), ms(800)]
        );
    }

    #[test]
    fn defaults_give_the_aws_troubleshooting_schedule() {
        let s = Schedule {
            delay: Duration::from_secs(1),
            ..schedule(Backoff::Exponential)
        };
        let secs: Vec<u64> = s.delays().take(4).map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8]);
    }

    #[test]
    fn explicit_delays_repeat_their_last_value_and_override_backoff() {
        let s = Schedule {
            delays: Some(vec![ms(1000), ms(5000), ms(30000)]),
            ..schedule(Backoff::Linear)
        };
        assert_eq!(first(&s, 5), vec![ms(1000), ms(5000), ms(30000), ms(30000), ms(30000)]);
    }

    #[test]
    fn the_cap_applies_to_every_source() {
        let cap = ms(250);
        let exp = Schedule {
            max_delay: cap,
            ..schedule(Backoff::Exponential)
        };
        assert_eq!(first(&exp, 5), vec![ms(100), ms(200), ms(250), ms(250), ms(250)]);
        let list = Schedule {
            max_delay: cap,
            delays: Some(vec![ms(1000)]),
            ..schedule(Backoff::Constant)
        };
        assert_eq!(first(&list, 2), vec![cap, cap]);
        for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let s = Schedule {
                max_delay: cap,
                jitter,
                ..schedule(Backoff::Exponential)
            };
            assert!(s.delays().take(200).all(|d| d <= cap), "{jitter:?}");
        }
    }

    #[test]
    fn huge_exponents_saturate_at_the_cap() {
        let s = Schedule {
            factor: 10.0,
            ..schedule(Backoff::Exponential)
        };
        assert_eq!(s.delays().nth(5000), Some(Duration::from_secs(60)));
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_delay() {
        let s = Schedule {
            jitter: Jitter::Full,
            ..schedule(Backoff::Exponential)
        };
        let plain: Vec<Duration> = first(&schedule(Backoff::Exponential), 8);
        let jittered = first(&s, 8);
        assert!(jittered.iter().zip(&plain).all(|(j, p)| j <= p));
        assert_ne!(jittered, plain, "full jitter changed nothing");
    }

    #[test]
    fn equal_jitter_stays_within_half_and_the_delay() {
        let s = Schedule {
            jitter: Jitter::Equal,
            ..schedule(Backoff::Constant)
        };
        let values = first(&s, 200);
        assert!(values.iter().all(|d| *d >= ms(50) && *d <= ms(100)));
        assert!(values.iter().any(|d| *d != values[0]), "equal jitter changed nothing");
    }

    #[test]
    fn decorrelated_jitter_stays_within_base_and_three_times_the_previous() {
        let s = Schedule {
            jitter: Jitter::Decorrelated,
            max_delay: Duration::from_secs(3600),
            ..schedule(Backoff::Constant)
        };
        let mut previous = ms(100);
        for d in s.delays().take(50) {
            assert!(d >= ms(100) && d <= previous * 3, "{d:?} after {previous:?}");
            previous = d;
        }
    }

    #[test]
    fn a_seed_makes_jitter_repeatable() {
        let s = Schedule {
            jitter: Jitter::Full,
            seed: Some(42),
            ..schedule(Backoff::Exponential)
        };
        assert_eq!(first(&s, 10), first(&s, 10));
        let other = Schedule {
            seed: Some(43),
            ..s.clone()
        };
        assert_ne!(first(&s, 10), first(&other, 10));
    }
}
