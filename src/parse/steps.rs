//! Parsing a file one `[[step]]` at a time: the same plan and diagnostics as the whole
//! document at once, without holding the whole document's tokens, events and tables.
//!
//! Takes a file's text; returns what [`super::parse`] returns, or `None` when the file is not
//! of the shape this reads, and is to be parsed whole. The text is cut before each line that
//! starts with `[[step]]` outside any string, comment, array or inline table
//! ([`step_lines`]); the part before the first is the top of the plan, each other part a few
//! steps (a chunk of them, from one cut to another). Each part is parsed by toml alone, read
//! into the plan at once and dropped, with its spans shifted to the file's.
//!
//! The file is parsed whole instead when any part has a syntax error (toml's messages and
//! their order are then the whole document's), when the top has a `step` key, or when a part
//! holds anything but `step` (a `[root]` after the steps, a `[step]` table): then the parts
//! are not independent. A cut the scanner makes where toml would not (inside a multi-line
//! string, an array or an inline table) leaves the part before it unterminated, which toml
//! refuses, so the file is parsed whole: a wrong cut cannot change the plan.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Budget, Parsed, read_step, read_top};
use crate::source::SourceId;

/// Byte offsets of the lines that start with `[[step]]` (at the first byte of the line),
/// outside any string, comment, array or inline table.
pub(super) fn step_lines(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        if line_start && depth == 0 && b[i..].starts_with(b"[[step]]") {
            out.push(i);
        }
        line_start = false;
        match b[i] {
            b'\n' => {
                line_start = true;
                i += 1;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            q @ (b'"' | b'\'') => {
                let multi = b[i..].starts_with(&[q, q, q]);
                i += if multi { 3 } else { 1 };
                loop {
                    match b.get(i) {
                        None => break,
                        Some(b'\\') if q == b'"' => i += 2,
                        Some(b'\n') if !multi => break,
                        Some(&c) if c == q && (!multi || b[i..].starts_with(&[q, q, q])) => {
                            i += if multi { 3 } else { 1 };
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            // The bytes above are all that matter: the rest are skipped in a tight loop.
            _ => {
                i += 1;
                while i < b.len() && !SPECIAL[b[i] as usize] {
                    i += 1;
                }
            }
        }
    }
    out
}

/// The bytes [`step_lines`] looks at.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let s = b"\n#[]{}\"'";
    let mut k = 0;
    while k < s.len() {
        t[s[k] as usize] = true;
        k += 1;
    }
    t
};

/// The items of the `step` array of one part (the text from one cut to the next), when the
/// part parses without error and holds nothing else.
fn items(part: &str) -> Option<Vec<Spanned<DeValue<'_>>>> {
    let (t, errors) = DeTable::parse_recoverable(part);
    if !errors.is_empty() {
        return None;
    }
    let mut t = t.into_inner().into_iter();
    let (k, v) = t.next()?;
    if k.get_ref() != "step" || t.next().is_some() {
        return None;
    }
    match v.into_inner() {
        DeValue::Array(a) => Some(a.into_iter().collect()),
        _ => None,
    }
}

/// How many steps are parsed together (see [`by_steps`]).
const CHUNK: usize = 32;

/// [`super::parse`] one `[[step]]` at a time (by [`CHUNK`]s), or `None` (see the module's doc).
pub(super) fn by_steps(text: &str, id: SourceId, max_steps: usize) -> Option<Parsed> {
    let cuts = step_lines(text);
    let first = *cuts.first()?;
    let (top, errors) = DeTable::parse_recoverable(&text[..first]);
    if !errors.is_empty() {
        return None;
    }
    let top = top.into_inner();
    if top.keys().any(|k| k.get_ref() == "step") {
        return None;
    }
    crate::timing::mark("toml");
    let mut diags = Vec::new();
    let mut budget = Budget::new();
    // The whole document's span, as toml gives it.
    let mut plan = read_top(id, 0..0, top, &mut diags, &mut budget);
    plan.step.reserve(cuts.len().min(max_steps));
    let mut over = None;
    let mut n = 0usize;
    // Parts of up to `CHUNK` steps: toml's set-up for each document, a few allocations, is
    // then paid once a chunk, and a chunk's tokens and tables are still small.
    for (i, &start) in cuts.iter().enumerate().step_by(CHUNK) {
        let part = &text[start..cuts.get(i + CHUNK).copied().unwrap_or(text.len())];
        // Every part is parsed, past `max_steps` too: a syntax error there is reported.
        for (j, item) in items(part)?.into_iter().enumerate() {
            n += 1;
            if n > max_steps {
                if n == max_steps + 1 {
                    over = Some(item.span().start + start..item.span().end + start);
                }
                continue;
            }
            let mut again = || items(part)?.into_iter().nth(j);
            let again: &mut dyn FnMut() -> _ = &mut again;
            if let Some(s) = read_step(id, start, item, Some(again), &mut diags, &mut budget) {
                plan.step.push(s);
            }
        }
    }
    budget.finish(id, &mut diags);
    Some(Parsed { plan, diags, over })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Sources;

    #[test]
    fn cuts_only_at_step_lines_outside_values() {
        let t = "a = \"\"\"\n[[step]]\n\"\"\"\n[[step]]\nb = [\n[[step]]]\n# [[step]]\n\
                 c = '[[step]]'\n[[step]]\n [[step]]\nd = { e = \"x\\\"]\" }\n[[step]]";
        let at: Vec<&str> = step_lines(t).iter().map(|&i| &t[i..]).collect();
        assert_eq!(at.len(), 3, "{at:?}");
        assert!(at[0].starts_with("[[step]]\nb = ["));
        assert!(at[1].starts_with("[[step]]\n [[step]]"));
        assert_eq!(at[2], "[[step]]");
    }

    /// Parsed one step at a time or whole, every plan of the repository gives the same plan
    /// and diagnostics, and so does every cut of it short (syntax errors, strings and arrays
    /// left open) and every one with a line inserted that mixes the shapes.
    #[test]
    fn step_by_step_is_the_whole_parse() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let mut texts = Vec::new();
        for sub in [
            "plans",
            "plans/base",
            "src/fragments",
            "tests/fixtures/invalid",
            "tests/fixtures/review",
            "tests/fixtures/valid",
            "tests/fuzz-corpus",
        ] {
            for e in std::fs::read_dir(format!("{dir}/{sub}")).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "toml") {
                    texts.push(std::fs::read_to_string(p).unwrap());
                }
            }
        }
        assert!(texts.len() > 40, "{}", texts.len());
        // Plans of several chunks, with problems in some steps of each.
        let mut long = String::from("version = 1\n[root]\ntmpfs = {}\n");
        for i in 0..3 * CHUNK + 5 {
            long.push_str(match i % 7 {
                0 => "[[step]]\nkind = \"mkdir\"\npath = \"/a\"\n",
                1 => "[[step]]\nkind = \"mount\"\ntyp = \"tmpfs\"\ntarget = \"/a\"\n",
                2 => "[[step]]\nkind = \"${K}\"\npath = 3\n",
                3 => "[[step]] # a comment\nkind = \"symlink\"\npath = \"/a/l\"\nto = \"x\"\n\n",
                4 => "[[step]]\nkind = \"mount\"\ntype = \"bind\"\nsource = \"/s\"\ntarget = \"/b\"\nidmap = { uid = [[0, 1, 1]], x = 1 }\n",
                5 => "[[step]]\nkind = \"chmod\"\npath = \"/a\"\nmode = 755\nbogus = true\n",
                _ => "[[step]]\nkind = \"pivot\"\n",
            });
        }
        texts.push(long);
        let mut cases = Vec::new();
        for t in &texts {
            cases.push(t.clone());
            for at in (0..t.len())
                .step_by(t.len() / 12 + 1)
                .filter(|&i| t.is_char_boundary(i))
            {
                cases.push(t[..at].to_string());
            }
            for extra in [
                "[root]\npath = \"/x\"\n",
                "[step]\n",
                "step = 1\n",
                "s = \"\"\"\n",
            ] {
                if let Some(i) = t.rfind("\n[[step]]") {
                    cases.push(format!("{}\n{extra}{}", &t[..i], &t[i..]));
                }
            }
        }
        let mut stepwise = 0;
        for t in &cases {
            let mut s = Sources::new();
            let id = s.add("t.toml", t.as_str());
            for max in [usize::MAX, 2] {
                let whole = super::super::whole(t, id, max);
                let Some(p) = by_steps(t, id, max) else {
                    continue;
                };
                stepwise += 1;
                assert_eq!(format!("{:?}", p.plan), format!("{:?}", whole.plan), "{t}");
                assert_eq!(
                    format!("{:?}", p.diags),
                    format!("{:?}", whole.diags),
                    "{t}"
                );
                assert_eq!(p.over, whole.over, "{t}");
            }
        }
        assert!(stepwise > texts.len(), "{stepwise} of {}", cases.len());
    }
}
