//! The CSV and JSON rows of a verdict, shared by `dga predict`, the HTTP API, the Python package and the page's
//! download so that all write the same columns and defuse spreadsheet formulas the same way.

use std::borrow::Cow;

use serde_json::{Value, json};

use crate::detector::{DECISION_P, Verdict};

/// Columns of every verdict CSV, in order. New columns go at the end, so that readers of the
/// older columns by position keep working.
pub const CSV_HEADER: [&str; COLUMNS] = [
    "input",
    "domain",
    "registrable_domain",
    "p_dga",
    "logit",
    "risk",
    "error",
    "suffix_known",
    "anomaly",
    "allowed",
    "family",
    "family_p",
    "rule",
    "set_aside",
];

/// How many columns a verdict row has.
pub const COLUMNS: usize = 14;

/// What each column holds when it holds anything (see [`Cell`]), in [`CSV_HEADER`]'s order.
pub const COLUMN_KINDS: [Kind; COLUMNS] = {
    use Kind::{Flag, Number, Text};
    [
        Text, Text, Text, Number, Number, Text, Text, Flag, Number, Text, Text, Number, Text, Text,
    ]
};

/// The kind of a column's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Flag,
}

/// One cell of a verdict row, typed: what the CSV prints, the Python package's table holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Nothing to say (no score, no family, not allowed ...).
    Empty,
    Text(Cow<'a, str>),
    /// A number and the decimals the CSV prints it with.
    Number(f32, usize),
    Flag(bool),
}

impl Cell<'_> {
    /// The CSV text of the cell; text is neutralised (see [`neutralise`]), numbers are not.
    pub fn to_csv(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(text) => neutralise(text).into_owned(),
            Cell::Number(value, decimals) => format!("{value:.decimals$}"),
            Cell::Flag(flag) => flag.to_string(),
        }
    }
}

fn text(s: &str) -> Cell<'_> {
    Cell::Text(Cow::Borrowed(s))
}

/// The cells of one verdict, in [`CSV_HEADER`]'s order.
pub fn cells(verdict: &Verdict) -> [Cell<'_>; COLUMNS] {
    let input = Cell::Text(verdict.input.as_str().into());
    match &verdict.result {
        Ok(s) => [
            input,
            text(&s.domain.name),
            text(&s.domain.registrable_domain),
            Cell::Number(s.p_dga, 6),
            Cell::Number(s.logit, 3),
            Cell::Text(s.risk.as_str().into()),
            Cell::Empty,
            Cell::Flag(s.domain.suffix_known),
            s.anomaly.map_or(Cell::Empty, |a| Cell::Number(a.bits, 2)),
            s.allowed.as_deref().map_or(Cell::Empty, text),
            s.family.as_ref().map_or(Cell::Empty, |f| text(&f.name)),
            s.family
                .as_ref()
                .map_or(Cell::Empty, |f| Cell::Number(f.p, 3)),
            Cell::Text(s.domain.rule.as_str().into()),
            Cell::Empty,
        ],
        Err(e) => {
            let mut row: [Cell; COLUMNS] = std::array::from_fn(|_| Cell::Empty);
            row[0] = input;
            row[6] = Cell::Text(e.to_string().into());
            if let Some(why) = e.set_aside() {
                row[COLUMNS - 1] = Cell::Text(why.as_str().into());
            }
            row
        }
    }
}

/// The CSV cells of one verdict, text cells already neutralised (see [`neutralise`]).
pub fn csv_row(verdict: &Verdict) -> [String; COLUMNS] {
    cells(verdict).map(|cell| cell.to_csv())
}

/// The CSV cells of an input that has no score, with the reason in `error`.
pub fn unscored_row(input: &str, error: &str) -> [String; COLUMNS] {
    let mut row: [String; COLUMNS] = Default::default();
    row[0] = neutralise(input).into_owned();
    row[6] = neutralise(error).into_owned();
    row
}

/// `dga` or `legit` for a scored verdict (an allowed name is `legit`); `None` for an input that
/// could not be scored.
pub fn classification(verdict: &Verdict) -> Option<&'static str> {
    let s = verdict.result.as_ref().ok()?;
    Some(if s.p_dga >= DECISION_P && s.allowed.is_none() {
        "dga"
    } else {
        "legit"
    })
}

/// One verdict as JSON: the CSV columns, plus `p_legit` and `classification` for clients of
/// the free-text API and `family_top3` for DGA names. An unscorable input has `error` instead.
pub fn json_row(verdict: &Verdict) -> Value {
    match &verdict.result {
        Ok(s) => json!({
            "input": verdict.input,
            "domain": s.domain.name,
            "registrable_domain": s.domain.registrable_domain,
            "suffix_known": s.domain.suffix_known,
            "p_dga": s.p_dga,
            "p_legit": 1.0 - s.p_dga,
            "logit": s.logit,
            "classification": classification(verdict).unwrap_or("legit"),
            "risk": s.risk.as_str(),
            "anomaly": s.anomaly.map(|a| a.bits),
            "allowed": s.allowed,
            "family": s.family.as_ref().map(|f| &f.name),
            "family_p": s.family.as_ref().map(|f| f.p),
            "family_top3": s.family.as_ref().map(|f| {
                f.top
                    .iter()
                    .map(|(name, p)| json!({ "family": name, "p": p }))
                    .collect::<Vec<_>>()
            }),
            "rule": s.domain.rule.as_str(),
        }),
        Err(e) => match e.set_aside() {
            Some(why) => {
                json!({ "input": verdict.input, "error": e.to_string(), "set_aside": why.as_str() })
            }
            None => json!({ "input": verdict.input, "error": e.to_string() }),
        },
    }
}

/// Spreadsheets run cells that start with these as formulas; a quote makes them plain text.
/// Only text cells pass through here: the numeric ones (`p_dga`, `logit`) must stay numbers,
/// and a negative log-odds starts with `-`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detector::{Risk, Scored};
    use crate::normalise::{DomainError, normalise};

    #[test]
    fn formula_cells_are_quoted_and_numbers_are_not() {
        let verdict = Verdict {
            input: "=HYPERLINK(\"x\")".into(),
            result: Ok(Scored {
                domain: normalise("example.com").unwrap(),
                p_dga: 0.25,
                logit: -1.0986,
                risk: Risk::Low,
                anomaly: Some(crate::explain::Anomaly {
                    bits: 9.5,
                    unusual: false,
                }),
                allowed: None,
                family: None,
            }),
        };
        let row = csv_row(&verdict);
        assert_eq!(row[0], "'=HYPERLINK(\"x\")");
        assert_eq!(row[3], "0.250000");
        assert_eq!(row[4], "-1.099");
        assert_eq!(row[5], "low");
        assert_eq!(row[7], "true");
        assert_eq!(row[8], "9.50");
        assert_eq!(row[10], "");
    }

    #[test]
    fn every_cell_is_of_its_columns_kind() {
        let scored = Verdict {
            input: "example.com".into(),
            result: Ok(Scored {
                domain: normalise("example.com").unwrap(),
                p_dga: 0.9,
                logit: 2.2,
                risk: Risk::High,
                anomaly: Some(crate::explain::Anomaly {
                    bits: 9.5,
                    unusual: false,
                }),
                allowed: Some("example.com".into()),
                family: Some(crate::detector::Family {
                    name: "x".into(),
                    p: 0.5,
                    top: Vec::new(),
                    classes: Vec::new(),
                }),
            }),
        };
        let unscored = Verdict {
            input: "local".into(),
            result: normalise("local").map(|_| unreachable!()),
        };
        for verdict in [scored, unscored] {
            for (cell, kind) in cells(&verdict).iter().zip(COLUMN_KINDS) {
                let of_kind = match cell {
                    Cell::Empty => true,
                    Cell::Text(_) => kind == Kind::Text,
                    Cell::Number(..) => kind == Kind::Number,
                    Cell::Flag(_) => kind == Kind::Flag,
                };
                assert!(of_kind, "{cell:?} in a {kind:?} column");
            }
        }
    }

    #[test]
    fn unscored_inputs_keep_their_reason() {
        let verdict = Verdict {
            input: "@evil".into(),
            result: Err(DomainError::Empty),
        };
        let row = csv_row(&verdict);
        assert_eq!(row[0], "'@evil");
        assert_eq!(row[6], "empty input");
        assert!(row[1..6].iter().all(String::is_empty));
        assert!(row[7..].iter().all(String::is_empty));
    }
}
