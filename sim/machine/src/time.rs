//! Virtual time. The only clock in the twin: a `u64` count of picoseconds since power-on (good for
//! 213 days). Cores convert their cycle counts with an exact integer period (the board checks that
//! every core clock divides 1 THz).

use crate::error::{Error, Result};

/// Virtual time in picoseconds.
pub type Ps = u64;

pub const PS_PER_NS: Ps = 1_000;
pub const PS_PER_US: Ps = 1_000_000;
pub const PS_PER_MS: Ps = 1_000_000_000;
pub const PS_PER_S: Ps = 1_000_000_000_000;

/// Parse a duration such as `250ms`, `5s`, `10us`, `1500ns`, `2m` (minutes) into picoseconds.
pub fn parse_duration(text: &str) -> Result<Ps> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .ok_or_else(|| {
            Error::Usage(format!(
                "duration {text:?} has no unit (use ns, us, ms, s or m)"
            ))
        })?;
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ps" => 1,
        "ns" => PS_PER_NS,
        "us" | "µs" => PS_PER_US,
        "ms" => PS_PER_MS,
        "s" => PS_PER_S,
        "m" | "min" => 60 * PS_PER_S,
        other => {
            return Err(Error::Usage(format!(
                "duration {text:?}: unknown unit {other:?} (use ns, us, ms, s or m)"
            )))
        }
    };
    let num = num.replace('_', "");
    // Exact decimal arithmetic: integer part and up to 12 fractional digits.
    let (int, frac) = num.split_once('.').unwrap_or((&num, ""));
    let bad = || Error::Usage(format!("duration {text:?} is not a number"));
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut value = int.checked_mul(scale).ok_or_else(bad)?;
    if !frac.is_empty() {
        let digits = frac.len().min(12) as u32;
        let f: u64 = frac[..digits as usize].parse().map_err(|_| bad())?;
        value += f * scale / 10u64.pow(digits);
    }
    Ok(value)
}

/// Render picoseconds for people: `1.250 ms`, `5.000 s`.
pub fn format_ps(ps: Ps) -> String {
    if ps >= PS_PER_S {
        format!("{:.6} s", ps as f64 / PS_PER_S as f64)
    } else if ps >= PS_PER_MS {
        format!("{:.3} ms", ps as f64 / PS_PER_MS as f64)
    } else if ps >= PS_PER_US {
        format!("{:.3} us", ps as f64 / PS_PER_US as f64)
    } else {
        format!("{} ns", ps / PS_PER_NS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("250ms").unwrap(), 250 * PS_PER_MS);
        assert_eq!(parse_duration("5s").unwrap(), 5 * PS_PER_S);
        assert_eq!(parse_duration("1.5us").unwrap(), 1_500_000);
        assert_eq!(parse_duration("2m").unwrap(), 120 * PS_PER_S);
        assert_eq!(parse_duration("0.001s").unwrap(), PS_PER_MS);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("3 parsecs").is_err());
    }
}
