//! Durations on the command line: a bare number is seconds (as the flags always took), or a
//! value with its unit (`90s`, `2m`, `1m30s`, `500ms`), so no flag's unit has to be guessed.

use std::time::Duration;

fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("{text}: not a duration in seconds"));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text}: {e} (seconds, or a number with a unit: 90s, 2m, 500ms)"))
}

/// A duration of whole seconds: `20`, `20s`, `2m`.
pub fn whole_seconds(text: &str) -> Result<u64, String> {
    let d = parse(text)?;
    if d.subsec_nanos() != 0 {
        return Err(format!("{text}: whole seconds only"));
    }
    Ok(d.as_secs())
}

/// Most cases a second any flag may ask for: far beyond what one machine sustains, and still a
/// schedule interval of a microsecond.
const MAX_RATE: f64 = 1_000_000.0;

/// A rate in cases per second: positive and finite (an infinite rate would send without end).
pub fn rate(text: &str) -> Result<f64, String> {
    let r: f64 = text.trim().parse().map_err(|e| format!("{text}: {e}"))?;
    if r.is_finite() && r > 0.0 && r <= MAX_RATE {
        Ok(r)
    } else {
        Err(format!(
            "{text}: a rate must be above 0 and at most {MAX_RATE} cases/s"
        ))
    }
}

/// A duration above zero: `10`, `10s`, `500ms`.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse(text)? {
        d if d.is_zero() => Err(format!("{text}: must be above zero")),
        d => Ok(d),
    }
}

/// A duration in seconds, fractions allowed: `2.5`, `2500ms`.
pub fn seconds(text: &str) -> Result<f64, String> {
    parse(text).map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_seconds_and_units_are_read() {
        assert_eq!(whole_seconds("20"), Ok(20));
        assert_eq!(whole_seconds("2m"), Ok(120));
        assert_eq!(whole_seconds("1m 30s"), Ok(90));
        assert_eq!(seconds("2500ms"), Ok(2.5));
        assert_eq!(seconds("2.5"), Ok(2.5));
        assert_eq!(positive_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(positive_duration("0s").is_err());
    }

    #[test]
    fn a_rate_is_positive_and_finite() {
        assert_eq!(rate("500"), Ok(500.0));
        for bad in ["0", "-1", "inf", "NaN", "1e9", "fast"] {
            assert!(rate(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn what_is_not_a_duration_is_refused_with_the_reason() {
        assert!(whole_seconds("1500ms").is_err_and(|e| e.contains("whole seconds")));
        assert!(whole_seconds("-3").is_err());
        assert!(seconds("soon").is_err_and(|e| e.contains("90s, 2m")));
    }
}
