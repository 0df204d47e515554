//! Timers for the limits of a run: when something is due, and which of two
//! limits comes first.

use std::time::Instant;

/// Completes at `at`; never, for `None`. Made to sit in a `select!` beside
/// the events it races.
pub(crate) async fn alarm(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The earlier of two optional limits, each with what it means; the first wins a tie.
pub(crate) fn earliest<T>(a: Option<(Instant, T)>, b: Option<(Instant, T)>) -> Option<(Instant, T)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earlier_limit_wins_and_the_first_wins_a_tie() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        assert_eq!(earliest(Some((later, 'a')), Some((now, 'b'))), Some((now, 'b')));
        assert_eq!(earliest(Some((now, 'a')), Some((now, 'b'))), Some((now, 'a')));
        assert_eq!(earliest(None, Some((now, 'b'))), Some((now, 'b')));
        assert_eq!(earliest::<char>(None, None), None);
    }
}
