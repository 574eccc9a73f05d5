//! The CSV row of a verdict, shared by `trainer predict` and the page's download so that both
//! write the same columns and both defuse spreadsheet formulas the same way.

use std::borrow::Cow;

use crate::detector::Verdict;

/// Columns of every verdict CSV, in order. New columns go at the end, so that readers of the
/// older columns by position keep working.
pub const CSV_HEADER: [&str; 10] = [
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
];

/// The CSV cells of one verdict, text cells already neutralised (see [`neutralise`]).
pub fn csv_row(verdict: &Verdict) -> [String; 10] {
    match &verdict.result {
        Ok(s) => [
            neutralise(&verdict.input).into_owned(),
            neutralise(&s.domain.name).into_owned(),
            neutralise(&s.domain.registrable_domain).into_owned(),
            format!("{:.6}", s.p_dga),
            format!("{:.3}", s.logit),
            s.risk.as_str().to_owned(),
            String::new(),
            s.domain.suffix_known.to_string(),
            s.anomaly
                .map_or(String::new(), |a| format!("{:.2}", a.bits)),
            neutralise(s.allowed.as_deref().unwrap_or("")).into_owned(),
        ],
        Err(e) => unscored_row(&verdict.input, &e.to_string()),
    }
}

/// The CSV cells of an input that has no score, with the reason in `error`.
pub fn unscored_row(input: &str, error: &str) -> [String; 10] {
    let blank = String::new;
    [
        neutralise(input).into_owned(),
        blank(),
        blank(),
        blank(),
        blank(),
        blank(),
        neutralise(error).into_owned(),
        blank(),
        blank(),
        blank(),
    ]
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
            }),
        };
        let row = csv_row(&verdict);
        assert_eq!(row[0], "'=HYPERLINK(\"x\")");
        assert_eq!(row[3], "0.250000");
        assert_eq!(row[4], "-1.099");
        assert_eq!(row[5], "low");
        assert_eq!(row[7], "true");
        assert_eq!(row[8], "9.50");
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
