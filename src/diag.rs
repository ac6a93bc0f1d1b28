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

/// One diagnostic ready for miette: the file it points into and its labels there.
#[derive(Debug)]
pub struct Report {
    diag: Diag,
    source: Option<miette::NamedSource<std::sync::Arc<str>>>,
    labels: Vec<miette::LabeledSpan>,
    related: Vec<Report>,
}

impl Report {
    /// Wraps `d` with the text of the file it points into. Secondary labels in the same file
    /// become labels; those in other files become related reports.
    pub fn new(sources: &crate::source::Sources, d: &Diag) -> Report {
        let mut labels = Vec::new();
        let mut related = Vec::new();
        let source = d.loc.map(|l| {
            let f = sources.get(l.src);
            let label = (!d.label.is_empty()).then(|| d.label.clone());
            labels.push(miette::LabeledSpan::new_primary_with_span(label, l.span));
            for (at, text) in &d.secondary {
                if at.src == l.src {
                    labels.push(miette::LabeledSpan::new_with_span(
                        Some(text.clone()),
                        at.span,
                    ));
                } else {
                    let mut r = Diag::error(d.code, text.clone(), *at);
                    r.severity = Severity::Warning;
                    related.push(Report::new(sources, &r));
                }
            }
            miette::NamedSource::new(f.name.clone(), f.text.clone())
        });
        Report {
            diag: d.clone(),
            source,
            labels,
            related,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        (!self.labels.is_empty()).then(|| Box::new(self.labels.iter().cloned()) as _)
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        (!self.related.is_empty())
            .then(|| Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)) as _)
    }
}

/// Renders diagnostics as miette does, at `width` columns, with or without colour.
pub fn render_human(
    sources: &crate::source::Sources,
    diags: &[Diag],
    width: usize,
    color: bool,
) -> String {
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let h = miette::GraphicalReportHandler::new_themed(theme).with_width(width);
    let mut out = String::new();
    for d in diags {
        let r = Report::new(sources, d);
        if h.render_report(&mut out, &r).is_err() {
            out.push_str(&d.message);
        }
        out.push('\n');
    }
    out
}

/// Diagnostics as one JSON document for editors and CI annotations.
pub fn json(sources: &crate::source::Sources, diags: &[Diag]) -> serde_json::Value {
    let place = |l: &Loc| {
        let (line, column) = sources.line_col(l.src, l.span.start);
        serde_json::json!({
            "file": sources.get(l.src).name,
            "line": line,
            "column": column,
            "span": {"start": l.span.start, "end": l.span.end},
        })
    };
    let items: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let mut v = serde_json::json!({
                "code": d.code,
                "severity": d.severity,
                "message": d.message,
                "help": d.help,
                "label": d.label,
                "file": null, "line": null, "column": null, "span": null,
            });
            if let Some(l) = &d.loc {
                if let (Some(o), serde_json::Value::Object(p)) = (v.as_object_mut(), place(l)) {
                    o.extend(p);
                }
            }
            v["labels"] = d
                .secondary
                .iter()
                .map(|(l, text)| {
                    let mut p = place(l);
                    p["label"] = text.clone().into();
                    p
                })
                .collect();
            v
        })
        .collect();
    serde_json::json!({"format_version": 1, "diagnostics": items})
}
