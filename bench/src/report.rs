//! The result table: every figure beside its raw limit from the same run, the
//! ratio, and the target it is held to. Printed as Markdown, written as JSON.

use serde::Serialize;

use crate::machine::Machine;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The row of issue 5 ("1", "2", ...) and what it measures.
    pub row: &'static str,
    pub figure: String,
    pub unit: &'static str,
    pub ours: f64,
    /// The raw limit measured in the same run, and what it is.
    pub raw: Option<f64>,
    pub raw_what: Option<String>,
    /// ours / raw.
    pub ratio: Option<f64>,
    pub target: Option<String>,
    pub met: Option<bool>,
}

impl Row {
    pub fn new(row: &'static str, figure: impl Into<String>, unit: &'static str, ours: f64) -> Row {
        Row {
            row,
            figure: figure.into(),
            unit,
            ours,
            raw: None,
            raw_what: None,
            ratio: None,
            target: None,
            met: None,
        }
    }

    pub fn raw(mut self, raw: f64, what: impl Into<String>) -> Row {
        self.raw = Some(raw);
        self.raw_what = Some(what.into());
        self.ratio = (raw > 0.0).then(|| self.ours / raw);
        self
    }

    /// Target: ours >= `min` x raw.
    pub fn ratio_at_least(mut self, min: f64) -> Row {
        self.target = Some(format!(">= {min:.2} x raw"));
        self.met = self.ratio.map(|r| r >= min);
        self
    }

    /// Target: ours <= `max` x raw.
    pub fn ratio_at_most(mut self, max: f64) -> Row {
        self.target = Some(format!("<= {max:.2} x raw"));
        self.met = self.ratio.map(|r| r <= max);
        self
    }

    /// Target: ours <= `max` (in the row's unit).
    pub fn at_most(mut self, max: f64) -> Row {
        self.target = Some(format!("<= {max} {}", self.unit));
        self.met = Some(self.ours <= max);
        self
    }

    /// Target: ours >= `min` (in the row's unit).
    pub fn at_least(mut self, min: f64) -> Row {
        self.target = Some(format!(">= {min} {}", self.unit));
        self.met = Some(self.ours >= min);
        self
    }

    /// Target: ours <= `max` and <= `ratio` x raw.
    pub fn at_most_and_ratio(mut self, max: f64, ratio: f64) -> Row {
        self.target = Some(format!("<= {max} {} and <= {ratio} x raw", self.unit));
        self.met = Some(self.ours <= max && self.ratio.is_none_or(|r| r <= ratio));
        self
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub machine: Machine,
    pub started_at: String,
    pub took_secs: f64,
    pub rows: Vec<Row>,
    /// What bounded each measurement: CPU used per process while it ran, etc.
    pub notes: Vec<String>,
}

/// A number with a sensible number of digits for the table.
fn num(v: f64) -> String {
    if v >= 1000.0 {
        let whole = v.round() as u64;
        let digits = whole.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| # | figure | ours | raw limit (same run) | ratio | target | met |\n");
        out.push_str("|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let raw = match (&r.raw, &r.raw_what) {
                (Some(v), Some(what)) => format!("{} {} ({what})", num(*v), r.unit),
                _ => "n/a".to_owned(),
            };
            out.push_str(&format!(
                "| {} | {} | {} {} | {} | {} | {} | {} |\n",
                r.row,
                r.figure,
                num(r.ours),
                r.unit,
                raw,
                r.ratio
                    .map(|x| format!("{x:.2}"))
                    .unwrap_or_else(|| "".into()),
                r.target.clone().unwrap_or_default(),
                match r.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "",
                }
            ));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_compare_against_the_raw_limit() {
        let row = Row::new("1", "x", "cmd/s", 700.0)
            .raw(1000.0, "raw")
            .ratio_at_least(0.7);
        assert_eq!((row.ratio, row.met), (Some(0.7), Some(true)));
        let row = Row::new("1", "x", "cmd/s", 690.0)
            .raw(1000.0, "raw")
            .ratio_at_least(0.7);
        assert_eq!(row.met, Some(false));
        let row = Row::new("2", "p50", "ms", 25.0)
            .raw(18.0, "raw")
            .at_most_and_ratio(30.0, 1.3);
        assert_eq!(row.met, Some(false), "25/18 = 1.39 > 1.3");
        let row = Row::new("6", "snapshot", "ms", 99.0).at_most(100.0);
        assert_eq!((row.ratio, row.met), (None, Some(true)));
    }

    #[test]
    fn numbers_are_grouped_and_rounded() {
        assert_eq!(num(123456.7), "123,457");
        assert_eq!(num(1000.0), "1,000");
        assert_eq!(num(512.4), "512");
        assert_eq!(num(18.25), "18.2");
        assert_eq!(num(1.234), "1.23");
    }
}
