//! Range checks of the values in scenario and sweep files. Each failed check names the field's
//! path (`gates[2].below`, `vehicle.mass`), so the error points at the line and column that
//! wrote it ([`twin_machine::rontext::invalid`]); a value the file leaves to its default is
//! named without a place.

use twin_machine::Error as TwinError;

/// A value out of its range: where (a field path) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub at: String,
    pub message: String,
}

pub type Checked = Result<(), Invalid>;

pub fn invalid(at: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid {
        at: at.into(),
        message: message.into(),
    }
}

impl Invalid {
    /// The same fault, seen from the structure that holds `prefix`.
    pub fn within(self, prefix: &str) -> Invalid {
        let at = if self.at.is_empty() {
            prefix.to_string()
        } else if self.at.starts_with('[') {
            format!("{prefix}{}", self.at)
        } else {
            format!("{prefix}.{}", self.at)
        };
        Invalid { at, ..self }
    }

    /// The error for `file`, whose text is `text`.
    pub fn error(&self, text: &str, file: &str) -> TwinError {
        twin_machine::rontext::invalid(text, file, &self.at, &self.message)
    }
}

/// Finite and > 0.
pub fn positive(v: f64, at: &str) -> Checked {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(invalid(at, format!("must be a positive number, got {v}")))
    }
}

/// Finite and >= 0.
pub fn non_negative(v: f64, at: &str) -> Checked {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(invalid(at, format!("must be a number >= 0, got {v}")))
    }
}

/// Finite.
pub fn finite(v: f64, at: &str) -> Checked {
    if v.is_finite() {
        Ok(())
    } else {
        Err(invalid(at, format!("must be a finite number, got {v}")))
    }
}

/// Each element finite (`at[i]` names the first that is not).
pub fn all_finite(v: &[f64], at: &str) -> Checked {
    v.iter()
        .enumerate()
        .try_for_each(|(i, x)| finite(*x, &format!("{at}[{i}]")))
}

/// Each element >= 0.
pub fn all_non_negative(v: &[f64], at: &str) -> Checked {
    v.iter()
        .enumerate()
        .try_for_each(|(i, x)| non_negative(*x, &format!("{at}[{i}]")))
}

/// A whole number of at least `min`.
pub fn at_least(v: u64, min: u64, at: &str) -> Checked {
    if v >= min {
        Ok(())
    } else {
        Err(invalid(at, format!("must be at least {min}, got {v}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_paths() {
        assert!(positive(1e-9, "a").is_ok());
        for v in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(positive(v, "a").unwrap_err().at, "a");
        }
        assert!(non_negative(0.0, "a").is_ok());
        assert!(non_negative(-0.5, "a").is_err());
        assert_eq!(
            all_finite(&[0.0, f64::NEG_INFINITY], "v").unwrap_err().at,
            "v[1]"
        );
        assert_eq!(
            all_non_negative(&[1.0, 2.0, -3.0], "d").unwrap_err().at,
            "d[2]"
        );
        assert!(at_least(1, 1, "s").is_ok());
        assert!(at_least(0, 1, "s").is_err());
        let e = invalid("mass", "x").within("vehicle").within("runs[3]");
        assert_eq!(e.at, "runs[3].vehicle.mass");
        assert_eq!(invalid("[2]", "x").within("gates").at, "gates[2]");
        let text = "Scenario(\n  vehicle: Params(mass: -1.0),\n)";
        let e = positive(-1.0, "mass")
            .unwrap_err()
            .within("vehicle")
            .error(text, "s.ron");
        assert_eq!(
            e.to_string(),
            "s.ron:2:25: vehicle.mass: must be a positive number, got -1"
        );
    }
}
