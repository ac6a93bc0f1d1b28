//! Diagnostics: every problem found in a plan, with where it is and how to fix it.
//!
//! Stages push [`Diag`]s (they never print); `main` renders them through miette
//! ([`Report`] implements [`miette::Diagnostic`]) or as JSON ([`json`]).

use std::fmt;

use serde::Serialize;

use crate::source::Loc;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The plan cannot be applied.
    Error,
    /// The plan can be applied, but probably does not do what was meant.
    Warning,
}

/// One problem in a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// A stable code such as `mountplan::path::relative`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// Lowercase, with values in backticks.
    pub message: String,
    /// The key or value at fault (`None` for problems with no place, such as an unreadable file).
    pub loc: Option<Loc>,
    /// The label under the primary span.
    pub label: String,
    /// Other places involved (first definition, the step that closes a cycle, ...).
    pub secondary: Vec<(Loc, String)>,
    /// How to fix it, when known.
    pub help: Option<String>,
}

impl Diag {
    /// A new error at `loc`.
    pub fn error(code: &'static str, message: impl Into<String>, loc: Loc) -> Self {
        Diag {
            code,
            severity: Severity::Error,
            message: message.into(),
            loc: Some(loc),
            label: String::new(),
            secondary: Vec::new(),
            help: None,
        }
    }
    /// A new warning at `loc`.
    pub fn warning(code: &'static str, message: impl Into<String>, loc: Loc) -> Self {
        Diag {
            severity: Severity::Warning,
            ..Diag::error(code, message, loc)
        }
    }
    /// An error with no place in a file.
    pub fn error_nowhere(code: &'static str, message: impl Into<String>) -> Self {
        Diag {
            loc: None,
            ..Diag::error(code, message, Loc::default())
        }
    }
    /// Sets the label under the primary span.
    pub fn label(mut self, l: impl Into<String>) -> Self {
        self.label = l.into();
        self
    }
    /// Adds a secondary label.
    pub fn also(mut self, loc: Loc, l: impl Into<String>) -> Self {
        self.secondary.push((loc, l.into()));
        self
    }
    /// Sets the help line.
    pub fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }
    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
