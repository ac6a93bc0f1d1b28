//! Which step a diagnostic is about: a [`Diag`]'s primary location -> a step index.
//!
//! Takes the plan's sources and steps; a step owns the bytes from its `[[step]]` header up to
//! the next table header in the same file (or the end of the file). A diagnostic whose primary
//! location falls there belongs to that step; one with no location, or outside every step
//! (`[root]`, `[vars]`, an unreadable include), belongs to the plan as a whole.

use std::collections::BTreeMap;

use crate::diag::Diag;
use crate::model::Plan;
use crate::source::{SourceId, Sources};

/// The byte ranges of every step, by file.
pub(crate) struct Regions {
    /// Per file: (start, end, step index), sorted by start.
    by_file: BTreeMap<SourceId, Vec<(usize, usize, usize)>>,
}

/// True for a line that opens a table: `[name]` or `[[name]]`, optionally with a comment.
fn is_header(line: &str) -> bool {
    let t = line.trim();
    let t = match t.find('#') {
        Some(i) if t.starts_with('[') => t[..i].trim_end(),
        _ => t,
    };
    t.starts_with('[')
        && t.ends_with(']')
        && t.trim_matches(|c| c == '[' || c == ']')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-. \"'".contains(c))
}

/// The start of the line that contains `offset`.
fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0)
}

/// Steps written as inline tables (`step = [{ kind = ... }, ...]`) have no header of their
/// own: the walk above gives them all the same region. Such a region is split at each step's
/// line (inline tables are one line each), or at its `kind` where two share a line.
fn split_shared(text: &str, plan: &Plan, v: &mut [(usize, usize, usize)]) {
    let mut k = 0;
    while k < v.len() {
        let (s, e, _) = v[k];
        let n = v[k..].iter().take_while(|r| (r.0, r.1) == (s, e)).count();
        if n > 1 {
            let kind_at = |r: &(usize, usize, usize)| plan.steps[r.2].loc.span.start.min(e);
            let group = &mut v[k..k + n];
            group.sort_unstable_by_key(kind_at);
            let mut starts: Vec<usize> = Vec::with_capacity(n);
            let mut prev_line = None;
            for r in group.iter() {
                let at = kind_at(r);
                let line = line_start(text, at).max(s);
                starts.push(if prev_line == Some(line) { at } else { line });
                prev_line = Some(line);
            }
            for j in 0..n {
                let end = starts.get(j + 1).copied().unwrap_or(e);
                group[j].0 = starts[j];
                group[j].1 = end;
            }
        }
        k += n;
    }
}

impl Regions {
    /// The regions of the plan's steps.
    pub(crate) fn new(sources: &Sources, plan: &Plan) -> Regions {
        let mut by_file: BTreeMap<SourceId, Vec<(usize, usize, usize)>> = BTreeMap::new();
        for (i, step) in plan.steps.iter().enumerate() {
            let src = step.loc.src;
            if src.0 as usize >= sources.len() {
                continue;
            }
            let text = &sources.get(src).text;
            let mut at = step.loc.span.start.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            // Walk back to the `[[step]]` header that opens this step.
            let mut start = line_start(text, at);
            loop {
                let end = text[start..].find('\n').map_or(text.len(), |e| start + e);
                if is_header(&text[start..end]) || start == 0 {
                    break;
                }
                start = line_start(text, start - 1);
            }
            // Forward to the next table header.
            let mut end = text.len();
            let mut pos = text[start..]
                .find('\n')
                .map_or(text.len(), |e| start + e + 1);
            while pos < text.len() {
                let eol = text[pos..].find('\n').map_or(text.len(), |e| pos + e);
                if is_header(&text[pos..eol]) {
                    end = pos;
                    break;
                }
                pos = eol + 1;
            }
            by_file.entry(src).or_default().push((start, end, i));
        }
        for (src, v) in by_file.iter_mut() {
            v.sort_unstable();
            split_shared(&sources.get(*src).text, plan, v);
        }
        Regions { by_file }
    }

    /// The step a diagnostic is about, when its primary location is inside one.
    pub(crate) fn step_of(&self, d: &Diag) -> Option<usize> {
        let loc = d.loc?;
        let v = self.by_file.get(&loc.src)?;
        let k = v.partition_point(|&(s, _, _)| s <= loc.span.start);
        let &(s, e, i) = v.get(k.checked_sub(1)?)?;
        (s <= loc.span.start && loc.span.start < e.max(s + 1)).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_tables_not_arrays() {
        assert!(is_header("[[step]]"));
        assert!(is_header("  [root]  # the root"));
        assert!(is_header("[namespaces]"));
        assert!(!is_header("options = [\"ro\"]"));
        assert!(!is_header("[\"ro\", \"nosuid\"],"));
        assert!(!is_header("kind = \"mount\""));
    }
}
