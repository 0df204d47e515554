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

/// The plan of the waits between attempts: what [`Delays`] draws them from.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
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

impl Plan {
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

    /// The most that the waits of `retries` retries can add up to: exactly
    /// what they add up to when they are drawn the same in every run (no
    /// jitter, or a seed); else what the un-jittered waits add up to, which
    /// full and equal jitter never pass, and the cap for each decorrelated one.
    pub fn most_waiting(&self, retries: u32) -> Duration {
        match (self.jitter, self.seed) {
            (Jitter::None, _) | (_, Some(_)) => self.delays().total(retries),
            (Jitter::Full | Jitter::Equal, None) => Plan {
                jitter: Jitter::None,
                ..self.clone()
            }
            .delays()
            .total(retries),
            (Jitter::Decorrelated, None) => to_the_millisecond(self.max_delay).saturating_mul(retries),
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
    schedule: &'a Plan,
    retry: u32,
    fibonacci: (f64, f64),
    previous: f64,
    rng: fastrand::Rng,
}

/// How many waits [`Delays::total`] adds up one by one.
const SUMMED: u32 = 100_000;

impl Delays<'_> {
    /// The next `count` waits added up: each as it will be slept for the
    /// first [`SUMMED`]; past them (a schedule may have 4 billion), each at
    /// the longest it can be from then on.
    pub fn total(&mut self, count: u32) -> Duration {
        let mut total = Duration::ZERO;
        let mut last = Duration::ZERO;
        for delay in self.by_ref().take(count.min(SUMMED) as usize) {
            total = total.saturating_add(delay);
            last = delay;
        }
        let rest = count.saturating_sub(SUMMED);
        total.saturating_add(self.longest_from_now(last).saturating_mul(rest))
    }

    /// The longest that any later wait can be, the last having been `last`:
    /// `last` itself where the schedule can no longer grow, else the cap.
    fn longest_from_now(&self, last: Duration) -> Duration {
        let s = self.schedule;
        let steady = match &s.delays {
            Some(list) => self.retry as usize >= list.len(),
            None => {
                s.delay.is_zero()
                    || s.backoff == Backoff::Constant
                    || (s.backoff == Backoff::Exponential && s.factor <= 1.0)
            }
        };
        match steady && s.jitter == Jitter::None {
            true => last,
            false => to_the_millisecond(s.max_delay),
        }
    }

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
            (None, Backoff::Linear) => times(d, f64::from(k) + 1.0),
            (None, Backoff::Exponential) => times(d, s.factor.powi(k.min(i32::MAX as u32) as i32)),
            (None, Backoff::Fibonacci) => times(d, b),
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
        Some(to_the_millisecond(Duration::from_secs_f64(jittered.clamp(0.0, cap))))
    }
}

/// `d` times a growth that may have overflowed to infinity: zero stays zero
/// (0·∞ would be NaN), and the cap takes care of infinity.
fn times(d: f64, growth: f64) -> f64 {
    if d == 0.0 { 0.0 } else { d * growth }
}

/// The wait when the output asked for `asked` and the schedule says
/// `scheduled`: the longer of the two, under the cap.
pub(crate) fn hinted(scheduled: Duration, asked: Duration, cap: Duration) -> Duration {
    to_the_millisecond(scheduled.max(asked).min(cap))
}

/// A delay as it is printed and slept: to the millisecond, or to the
/// microsecond below one.
pub(crate) fn to_the_millisecond(d: Duration) -> Duration {
    let millis = (d.as_nanos() + 500_000) / 1_000_000;
    if millis == 0 {
        return Duration::from_micros(((d.as_nanos() + 500) / 1_000) as u64);
    }
    Duration::from_millis(millis as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn schedule(backoff: Backoff) -> Plan {
        Plan {
            backoff,
            delay: ms(100),
            factor: 2.0,
            max_delay: Duration::from_secs(60),
            delays: None,
            jitter: Jitter::None,
            seed: Some(7),
        }
    }

    fn first(s: &Plan, n: usize) -> Vec<Duration> {
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
        let triple = Plan {
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
        let s = Plan {
            delay: Duration::from_secs(1),
            ..schedule(Backoff::Exponential)
        };
        let secs: Vec<u64> = s.delays().take(4).map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8]);
    }

    #[test]
    fn explicit_delays_repeat_their_last_value_and_override_backoff() {
        let s = Plan {
            delays: Some(vec![ms(1000), ms(5000), ms(30000)]),
            ..schedule(Backoff::Linear)
        };
        assert_eq!(first(&s, 5), vec![ms(1000), ms(5000), ms(30000), ms(30000), ms(30000)]);
    }

    #[test]
    fn the_cap_applies_to_every_source() {
        let cap = ms(250);
        let exp = Plan {
            max_delay: cap,
            ..schedule(Backoff::Exponential)
        };
        assert_eq!(first(&exp, 5), vec![ms(100), ms(200), ms(250), ms(250), ms(250)]);
        let list = Plan {
            max_delay: cap,
            delays: Some(vec![ms(1000)]),
            ..schedule(Backoff::Constant)
        };
        assert_eq!(first(&list, 2), vec![cap, cap]);
        for jitter in [Jitter::Full, Jitter::Equal, Jitter::Decorrelated] {
            let s = Plan {
                max_delay: cap,
                jitter,
                ..schedule(Backoff::Exponential)
            };
            assert!(s.delays().take(200).all(|d| d <= cap), "{jitter:?}");
        }
    }

    #[test]
    fn huge_exponents_saturate_at_the_cap() {
        let s = Plan {
            factor: 10.0,
            ..schedule(Backoff::Exponential)
        };
        assert_eq!(s.delays().nth(5000), Some(Duration::from_secs(60)));
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_delay() {
        let s = Plan {
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
        let s = Plan {
            jitter: Jitter::Equal,
            ..schedule(Backoff::Constant)
        };
        let values = first(&s, 200);
        assert!(values.iter().all(|d| *d >= ms(50) && *d <= ms(100)));
        assert!(values.iter().any(|d| *d != values[0]), "equal jitter changed nothing");
    }

    #[test]
    fn decorrelated_jitter_stays_within_base_and_three_times_the_previous() {
        let s = Plan {
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
        let s = Plan {
            jitter: Jitter::Full,
            seed: Some(42),
            ..schedule(Backoff::Exponential)
        };
        assert_eq!(first(&s, 10), first(&s, 10));
        let other = Plan {
            seed: Some(43),
            ..s.clone()
        };
        assert_ne!(first(&s, 10), first(&other, 10));
    }

    /// `-d 0` waited a minute after 1024 attempts: 0·2¹⁰²⁴ gave NaN, which
    /// was clamped to the cap.
    #[test]
    fn a_zero_delay_stays_zero_for_ever() {
        for backoff in [Backoff::Exponential, Backoff::Fibonacci, Backoff::Linear] {
            let s = Plan {
                delay: Duration::ZERO,
                ..schedule(backoff)
            };
            assert!(s.delays().take(3000).all(|d| d.is_zero()), "{backoff:?}");
        }
    }

    /// `--explain` bounded the waits it did not list by the cap: `-n 12 -b
    /// constant -d 1s` said "1m 10s of waiting at most", for 11 s.
    #[test]
    fn the_most_waiting_adds_up_every_wait_not_the_cap() {
        let constant = Plan {
            delay: Duration::from_secs(1),
            ..schedule(Backoff::Constant)
        };
        assert_eq!(constant.most_waiting(11), Duration::from_secs(11));
        assert_eq!(
            constant.most_waiting(u32::MAX),
            Duration::from_secs(u64::from(u32::MAX))
        );
        let exponential = schedule(Backoff::Exponential);
        let waits: Duration = exponential.delays().take(11).sum();
        assert_eq!(exponential.most_waiting(11), waits);
        let listed = Plan {
            delays: Some(vec![ms(100), ms(300)]),
            ..exponential.clone()
        };
        assert_eq!(listed.most_waiting(200_000), ms(100) + ms(300) * 199_999);
        // Unseeded jitter: the waits without it, which it never passes.
        let jittered = Plan {
            jitter: Jitter::Full,
            seed: None,
            ..exponential.clone()
        };
        assert_eq!(jittered.most_waiting(11), waits);
    }

    #[test]
    fn a_hint_lengthens_the_wait_but_never_past_the_cap() {
        let cap = Duration::from_secs(60);
        assert_eq!(hinted(ms(500), Duration::from_secs(30), cap), Duration::from_secs(30));
        assert_eq!(
            hinted(Duration::from_secs(8), Duration::from_secs(2), cap),
            Duration::from_secs(8)
        );
        assert_eq!(hinted(ms(500), Duration::from_secs(3600), cap), cap);
    }

    #[test]
    fn delays_are_rounded_as_they_are_printed() {
        assert_eq!(to_the_millisecond(Duration::from_nanos(1_234_567_891)), ms(1235));
        assert_eq!(
            to_the_millisecond(Duration::from_nanos(123_456)),
            Duration::from_micros(123)
        );
        let s = Plan {
            jitter: Jitter::Full,
            ..schedule(Backoff::Exponential)
        };
        assert!(
            s.delays()
                .take(50)
                .all(|d| d.subsec_nanos() % 1_000_000 == 0 || d < ms(1))
        );
    }

    fn any_schedule() -> impl Strategy<Value = Plan> {
        let duration = prop_oneof![
            Just(Duration::ZERO),
            (0u64..5_000).prop_map(Duration::from_millis),
            (0u64..3_155_760_000).prop_map(Duration::from_secs),
        ];
        let backoff = prop::sample::select(vec![
            Backoff::Constant,
            Backoff::Linear,
            Backoff::Exponential,
            Backoff::Fibonacci,
        ]);
        let jitter = prop::sample::select(vec![Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated]);
        let factor = prop_oneof![Just(1.0), Just(2.0), 1e-9f64..1e9];
        let delays = prop::option::of(prop::collection::vec(duration.clone(), 1..4));
        (
            backoff,
            duration.clone(),
            factor,
            duration,
            delays,
            jitter,
            any::<u64>(),
        )
            .prop_map(|(backoff, delay, factor, max_delay, delays, jitter, seed)| Plan {
                backoff,
                delay,
                factor,
                max_delay,
                delays,
                jitter,
                seed: Some(seed),
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// No schedule waits past its cap, goes back down after growing
        /// (a wrap-around), or turns a zero delay into anything else.
        #[test]
        fn no_schedule_passes_its_cap_or_wraps_around(s in any_schedule(), skip in 0usize..2000) {
            let cap = to_the_millisecond(s.max_delay);
            let waits: Vec<Duration> = s.delays().skip(skip).take(40).collect();
            prop_assert!(waits.iter().all(|d| *d <= cap), "{waits:?} over {cap:?}");
            let grows = s.delays.is_none() && s.jitter == Jitter::None && s.factor >= 1.0;
            if grows {
                prop_assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
            }
            let zero = s.delays.is_none() && s.delay.is_zero() && s.jitter != Jitter::Decorrelated;
            if zero {
                prop_assert!(waits.iter().all(|d| d.is_zero()), "{waits:?}");
            }
        }
    }
}
