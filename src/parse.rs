//! The syntax of the values that flags and config files share: durations,
//! exit-code lists, delay lists and signal names. Each parser returns a
//! message that names the bad value, for the caller to place.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use nix::sys::signal::Signal;

/// A duration: humantime (`250ms`, `1m30s`) or a bare number of seconds (`2`, `0.5`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<f64>() {
        return seconds_to_duration(seconds)
            .ok_or_else(|| format!("invalid duration {text:?}: must be a non-negative number of seconds"));
    }
    humantime::parse_duration(trimmed)
        .map_err(|e| format!("invalid duration {text:?}: {e} (examples: 250ms, 2s, 1m30s, or 0.5 for seconds)"))
}

pub fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(1e12)))
}

/// Prints a duration in humantime form, rounded to the millisecond so that
/// jittered values stay readable (`1s 234ms`, not nanoseconds).
pub fn show_duration(d: Duration) -> String {
    let millis = (d.as_nanos() + 500_000) / 1_000_000;
    if millis == 0 && !d.is_zero() {
        return humantime::format_duration(Duration::from_micros(d.as_micros() as u64)).to_string();
    }
    humantime::format_duration(Duration::from_millis(millis as u64)).to_string()
}

/// A comma-separated list of durations (`1s,5s,30s`).
pub fn delay_list(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(|item| duration(item).map_err(|e| format!("in delay list {text:?}: {e}")))
        .collect()
}

/// A set of exit codes such as `1,40-45,255`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitCodes(Vec<RangeInclusive<i32>>);

impl ExitCodes {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid exit-code list {text:?}: {why} (example: 1,40-45,255)");
        let mut ranges = Vec::new();
        for item in text.split(',').map(str::trim) {
            let (low, high) = item.split_once('-').unwrap_or((item, item));
            let code = |s: &str| {
                s.trim()
                    .parse::<u8>()
                    .map(i32::from)
                    .map_err(|_| bad(&format!("{item:?} is not a code from 0 to 255 or a range of them")))
            };
            let (low, high) = (code(low)?, code(high)?);
            if low > high {
                return Err(bad(&format!("range {item:?} runs backwards")));
            }
            ranges.push(low..=high);
        }
        Ok(ExitCodes(ranges))
    }

    pub fn contains(&self, code: i32) -> bool {
        self.0.iter().any(|range| range.contains(&code))
    }
}

impl fmt::Display for ExitCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|r| {
                if r.start() == r.end() {
                    r.start().to_string()
                } else {
                    format!("{}-{}", r.start(), r.end())
                }
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

/// A signal given as `TERM`, `SIGTERM`, `term` or `15`.
pub fn signal(text: &str) -> Result<Signal, String> {
    let trimmed = text.trim();
    let found = match trimmed.parse::<i32>() {
        Ok(number) => Signal::try_from(number).ok(),
        Err(_) => {
            let upper = trimmed.to_ascii_uppercase();
            let name = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            name.parse::<Signal>().ok()
        }
    };
    found.ok_or_else(|| format!("unknown signal {text:?} (examples: TERM, SIGINT, 9)"))
}

/// The name of a signal without its `SIG` prefix, as `kill -l` prints it.
pub fn signal_name(signal: Signal) -> &'static str {
    signal.as_str().trim_start_matches("SIG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_humantime_and_bare_seconds() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(duration("-1").unwrap_err().contains("\"-1\""));
        assert!(duration("5 parsecs").unwrap_err().contains("\"5 parsecs\""));
    }

    #[test]
    fn durations_print_in_humantime_form() {
        assert_eq!(show_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(show_duration(Duration::from_nanos(1_234_567_891)), "1s 235ms");
        assert_eq!(show_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn exit_code_lists() {
        let codes = ExitCodes::parse("1,40-45,255").unwrap();
        for yes in [1, 40, 42, 45, 255] {
            assert!(codes.contains(yes), "{yes}");
        }
        for no in [0, 2, 39, 46, 254] {
            assert!(!codes.contains(no), "{no}");
        }
        assert_eq!(codes.to_string(), "1,40-45,255");
        assert!(ExitCodes::parse("1,x").unwrap_err().contains("\"x\""));
        assert!(ExitCodes::parse("256").is_err());
        assert!(ExitCodes::parse("9-3").unwrap_err().contains("backwards"));
    }

    #[test]
    fn delay_lists() {
        assert_eq!(
            delay_list("1s,5s,30s").unwrap(),
            vec![Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30)]
        );
        assert!(delay_list("1s,,2s").is_err());
    }

    #[test]
    fn signals_by_name_prefix_or_number() {
        assert_eq!(signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(signal("SIGTERM"), Ok(Signal::SIGTERM));
        assert_eq!(signal("kill"), Ok(Signal::SIGKILL));
        assert_eq!(signal("15"), Ok(Signal::SIGTERM));
        assert!(signal("SIGBOGUS").unwrap_err().contains("SIGBOGUS"));
        assert!(signal("99").is_err());
        assert_eq!(signal_name(Signal::SIGINT), "INT");
    }
}
