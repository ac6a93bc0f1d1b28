//! Plan sources: the text of every file a plan is read from (the plan and its includes),
//! and the spans that point into them.
//!
//! Takes file names and texts; returns [`SourceId`]s and [`Loc`]s that later stages carry so
//! every diagnostic can point at the exact key in the exact file.

use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// One file's text, shared cheaply with diagnostics.
#[derive(Debug, Clone)]
pub struct PlanSource {
    /// The name shown in diagnostics (the path as the user gave it, or as the include named it).
    pub name: String,
    /// The whole text of the file.
    pub text: Arc<str>,
    /// Built on the first [`Sources::line_col`], so that each is logarithmic, not linear.
    index: OnceLock<Arc<TextIndex>>,
}

/// Where the lines of a text start, and how many characters come before every
/// [`TextIndex::STRIDE`]-th byte: [`line_col`] in logarithmic time plus a short count.
#[derive(Debug)]
struct TextIndex {
    /// Byte offsets of every `\n`.
    newlines: Vec<usize>,
    /// `chars[i]`: characters starting before byte `i * STRIDE`.
    chars: Vec<usize>,
}

impl TextIndex {
    const STRIDE: usize = 1024;

    fn new(text: &str) -> TextIndex {
        let b = text.as_bytes();
        let newlines = newline_offsets(b);
        let mut chars = Vec::with_capacity(b.len() / Self::STRIDE + 1);
        let mut n = 0;
        for chunk in b.chunks(Self::STRIDE) {
            chars.push(n);
            n += starts(chunk);
        }
        chars.push(n);
        TextIndex { newlines, chars }
    }

    /// Characters starting before byte `at`.
    fn chars_before(&self, b: &[u8], at: usize) -> usize {
        let k = at / Self::STRIDE;
        self.chars[k] + starts(&b[k * Self::STRIDE..at])
    }
}

/// Offsets of every `\n` in `b`.
fn newline_offsets(b: &[u8]) -> Vec<usize> {
    b.iter()
        .enumerate()
        .filter(|(_, c)| **c == b'\n')
        .map(|(i, _)| i)
        .collect()
}

/// How many characters start in `b` (bytes that are not UTF-8 continuation bytes).
fn starts(b: &[u8]) -> usize {
    b.iter().filter(|&&c| (c as i8) >= -0x40).count()
}

/// Index of a file in [`Sources`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SourceId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from a byte range.
    pub fn new(r: Range<usize>) -> Self {
        Span {
            start: r.start,
            end: r.end.max(r.start),
        }
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// True when the span covers nothing.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

impl From<Range<usize>> for Span {
    fn from(r: Range<usize>) -> Self {
        Span::new(r)
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.len()).into()
    }
}

/// A place in a plan: which file and which bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Loc {
    /// The file.
    pub src: SourceId,
    /// The bytes.
    pub span: Span,
}

impl Loc {
    /// A location in `src` covering `span`.
    pub fn new(src: SourceId, span: impl Into<Span>) -> Self {
        Loc {
            src,
            span: span.into(),
        }
    }
}

/// Every file read for one plan, in the order they were read (the plan itself is first).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<PlanSource>,
}

impl Sources {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceId {
        self.files.push(PlanSource {
            name: name.into(),
            text: text.into(),
            index: OnceLock::new(),
        });
        SourceId((self.files.len() - 1) as u32)
    }
    /// The file with this id.
    pub fn get(&self, id: SourceId) -> &PlanSource {
        &self.files[id.0 as usize]
    }
    /// All files, plan first.
    pub fn iter(&self) -> impl Iterator<Item = (SourceId, &PlanSource)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (SourceId(i as u32), f))
    }
    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }
    /// True when no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
    /// The 1-based line and column (in characters) of a byte offset in a file, as
    /// [`line_col`] counts them, in logarithmic time (diagnostics ask once each).
    pub fn line_col(&self, id: SourceId, offset: usize) -> (usize, usize) {
        let f = self.get(id);
        let text: &str = &f.text;
        let ix = f.index.get_or_init(|| Arc::new(TextIndex::new(text)));
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = ix.newlines.partition_point(|&n| n < offset);
        let line_start = if before == 0 {
            0
        } else {
            ix.newlines[before - 1] + 1
        };
        let b = text.as_bytes();
        let col = ix.chars_before(b, offset) - ix.chars_before(b, line_start);
        (before + 1, col + 1)
    }
    /// The text a location covers.
    pub fn slice(&self, loc: Loc) -> &str {
        let t = &self.get(loc.src).text;
        t.get(loc.span.start..loc.span.end).unwrap_or("")
    }
}

/// The 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_chars() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        // 'é' is two bytes; the '=' after "bé " is the 4th character.
        assert_eq!(line_col(t, 10), (2, 4));
        assert_eq!(line_col(t, 999), (3, 1));
    }

    /// The indexed [`Sources::line_col`] counts exactly as [`line_col`] does, across the
    /// index's strides and inside multi-byte characters.
    #[test]
    fn indexed_line_col_is_line_col() {
        let mut t = String::new();
        for i in 0..3000 {
            t.push_str(["a", "é", "\n", "€", "\r", "😀", "\r\n"][i * 7 % 11 % 7]);
            if i % 500 == 0 {
                t.push_str(&"x".repeat(1500));
            }
        }
        let mut s = Sources::new();
        let id = s.add("t", t.as_str());
        for off in 0..=t.len() + 2 {
            assert_eq!(s.line_col(id, off), line_col(&t, off), "at {off}");
        }
    }
}
