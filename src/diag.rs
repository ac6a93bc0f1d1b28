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
    /// Lines of detail printed as they are after the rest (an apply's failed call, its errno,
    /// what was rolled back), never wrapped.
    pub notes: Vec<String>,
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
            notes: Vec::new(),
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
    /// Adds a line of detail (see [`Diag::notes`]).
    pub fn note(mut self, n: impl Into<String>) -> Self {
        self.notes.push(n.into());
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

/// The longest line (in bytes) a snippet shows; a diagnostic whose lines are longer is shown
/// without its snippet, with its place as `file:line:col` instead (miette pads to the column
/// with a format width, which panics past 65535, and would print the whole line).
pub const MAX_SNIPPET_LINE: usize = 1000;
/// The most lines a snippet shows; a longer span is shown as `file:line:col`.
pub const MAX_SNIPPET_LINES: usize = 200;

/// Where every line of a text starts, as miette counts lines (`\n`, `\r\n` or a lone `\r`).
#[derive(Debug, Clone)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text` once, so that each diagnostic finds its lines in logarithmic time.
    pub(crate) fn new(text: &str) -> LineIndex {
        let b = text.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\r' if b.get(i + 1) == Some(&b'\n') => {
                    starts.push(i + 2);
                    i += 2;
                    continue;
                }
                b'\r' | b'\n' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        LineIndex { starts }
    }
    /// The 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1)
    }
    /// The byte range of lines `first..=last` (clamped), line breaks included.
    fn range(&self, first: usize, last: usize, len: usize) -> std::ops::Range<usize> {
        let start = self.starts.get(first).copied().unwrap_or(len).min(len);
        let end = self.starts.get(last + 1).copied().unwrap_or(len).min(len);
        start..end.max(start)
    }
}

/// A file's text for miette, read through a [`LineIndex`]: miette's own `str` source scans
/// from the first byte for every label, which is quadratic over many diagnostics.
#[derive(Debug)]
struct Snippet {
    name: String,
    text: std::sync::Arc<str>,
    index: std::sync::Arc<LineIndex>,
}

impl miette::SourceCode for Snippet {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let len = self.text.len();
        if span.offset() + span.len() > len {
            return Err(miette::MietteError::OutOfBounds);
        }
        // miette's algorithm, run on the lines around the span only: from `before` lines
        // above the byte before it (so the span does not start the window, an edge miette
        // treats apart) to two lines past `after` below it (it stops at the end of the last).
        let first = self
            .index
            .line_of(span.offset().saturating_sub(1))
            .saturating_sub(before);
        let last_byte = (span.offset() + span.len()).saturating_sub(1);
        let last = self.index.line_of(last_byte) + after + 2;
        let w = self.index.range(first, last, len);
        let local = miette::SourceSpan::new((span.offset() - w.start).into(), span.len());
        let bytes = &self.text.as_bytes()[w.clone()];
        let c = bytes.read_span(&local, before, after)?;
        let data = c.data();
        let at = data.as_ptr() as usize - bytes.as_ptr() as usize + w.start;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            data,
            (at, data.len()).into(),
            c.line() + first,
            c.column(),
            c.line_count() + first,
        )))
    }
}

/// One diagnostic ready for miette: the file it points into and its labels there.
#[derive(Debug)]
pub struct Report {
    diag: Diag,
    source: Option<Snippet>,
    labels: Vec<miette::LabeledSpan>,
    related: Vec<Report>,
    /// `file:line:col` when the snippet is too big to show.
    unshown: Option<String>,
}

impl Report {
    /// Wraps `d` with the text of the file it points into, given every source's [`LineIndex`]
    /// (in source order, computed once). Secondary labels in the same file become labels;
    /// those in other files become related reports.
    fn indexed(
        sources: &crate::source::Sources,
        index: &[std::sync::Arc<LineIndex>],
        d: &Diag,
    ) -> Report {
        let mut labels = Vec::new();
        let mut related = Vec::new();
        let mut unshown = None;
        let source = d.loc.and_then(|l| {
            let f = sources.get(l.src);
            let idx = index.get(l.src.0 as usize)?.clone();
            let mut spans = vec![l.span];
            spans.extend(
                d.secondary
                    .iter()
                    .filter(|(at, _)| at.src == l.src)
                    .map(|(at, _)| at.span),
            );
            if !showable(&f.text, &idx, &spans) {
                let (line, col) = sources.line_col(l.src, l.span.start);
                unshown = Some(format!("{}:{line}:{col}", f.name));
                return None;
            }
            let label = (!d.label.is_empty()).then(|| d.label.clone());
            labels.push(miette::LabeledSpan::new_primary_with_span(label, l.span));
            for (at, text) in &d.secondary {
                if at.src == l.src {
                    labels.push(miette::LabeledSpan::new_with_span(
                        Some(text.clone()),
                        at.span,
                    ));
                } else {
                    let r = Diag::warning(d.code, text.clone(), *at);
                    related.push(Report::indexed(sources, index, &r));
                }
            }
            Some(Snippet {
                name: f.name.clone(),
                text: f.text.clone(),
                index: idx,
            })
        });
        Report {
            diag: d.clone(),
            source,
            labels,
            related,
            unshown,
        }
    }
}

/// True when every span, with a line of context either side, fits a snippet: inside the text,
/// at most [`MAX_SNIPPET_LINES`] lines, none longer than [`MAX_SNIPPET_LINE`] bytes.
fn showable(text: &str, index: &LineIndex, spans: &[crate::source::Span]) -> bool {
    spans.iter().all(|s| {
        if s.end > text.len() {
            return false;
        }
        let first = index.line_of(s.start).saturating_sub(1);
        let last = index.line_of(s.end.saturating_sub(1).max(s.start)) + 1;
        last - first <= MAX_SNIPPET_LINES
            && (first..=last).all(|l| index.range(l, l, text.len()).len() <= MAX_SNIPPET_LINE + 2)
    })
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
    let index: Vec<_> = sources
        .iter()
        .map(|(_, f)| std::sync::Arc::new(LineIndex::new(&f.text)))
        .collect();
    let mut out = String::new();
    for d in diags {
        let r = Report::indexed(sources, &index, d);
        if h.render_report(&mut out, &r).is_err() {
            out.push_str(&d.message);
        }
        if let Some(at) = &r.unshown {
            out.push_str(&format!("  at {at} (a line there is too long to show)\n"));
        }
        for n in &d.notes {
            out.push_str("  ");
            out.push_str(n);
            out.push('\n');
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
            if !d.notes.is_empty() {
                v["notes"] = d.notes.clone().into();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{Loc, Sources};
    use miette::SourceCode;

    /// The indexed snippet reads exactly what miette's own `str` source reads.
    #[test]
    fn snippet_reads_as_miette_does() {
        let texts = [
            "",
            "a",
            "a\nbb\n\nccc\n",
            "x\r\ny\rz\n\r\nw",
            "version = 1\n[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n",
            "\n\n\n",
        ];
        for text in texts {
            let s = Snippet {
                name: "t".into(),
                text: text.into(),
                index: std::sync::Arc::new(LineIndex::new(text)),
            };
            for start in 0..=text.len() {
                for len in 0..=text.len() - start {
                    for ctx in 0..3 {
                        let span = miette::SourceSpan::new(start.into(), len);
                        let want = text.read_span(&span, ctx, ctx);
                        let got = s.read_span(&span, ctx, ctx);
                        match (want, got) {
                            (Ok(w), Ok(g)) => {
                                let at = (text, start, len, ctx);
                                assert_eq!(w.data(), g.data(), "{at:?}");
                                assert_eq!(w.span(), g.span(), "{at:?}");
                                assert_eq!(w.line(), g.line(), "{at:?}");
                                assert_eq!(w.column(), g.column(), "{at:?}");
                                assert_eq!(w.line_count(), g.line_count(), "{at:?}");
                            }
                            (Err(_), Err(_)) => {}
                            (w, g) => {
                                panic!("{text:?} {start} {len}: {:?} {:?}", w.is_ok(), g.is_ok())
                            }
                        }
                    }
                }
            }
        }
    }

    /// Regression: miette pads to a label's column with a format width, which panicked
    /// ("Formatting argument out of range") for a label past column 65535.
    #[test]
    fn a_label_far_along_a_long_line_renders_without_its_snippet() {
        let text = format!("version = 1\n{}\n", "@".repeat(100_000));
        let mut s = Sources::new();
        let id = s.add("t.toml", text.as_str());
        let d = Diag::error("mountplan::syntax", "bad", Loc::new(id, 90_012..90_013)).label("here");
        let out = render_human(&s, &[d], 80, false);
        assert!(
            out.contains("at t.toml:2:90001 (a line there is too long to show)"),
            "{out}"
        );
        assert!(out.len() < 1000, "{out}");
    }
}
