//! Mutations of plan text (insert, delete, swap tokens...), applied to corpus files and structured
//! plans by the property tests.

use super::*;

/// One mutation of a text.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// XOR the byte at (a fraction of) the length with a value.
    Flip(f64, u8),
    /// Insert a token.
    Insert(f64, String),
    /// Delete a byte range.
    Delete(f64, usize),
    /// Delete a line.
    DeleteLine(f64),
    /// Duplicate a line.
    DuplicateLine(f64),
    /// Swap two lines.
    SwapLines(f64, f64),
    /// Insert lines `from..from+n` of another corpus file.
    Splice(f64, usize, f64, usize),
    /// Insert a `key = value` line after a `[[step]]` header (or anywhere).
    Field(f64, String),
    /// Insert a token repeated many times (long lines, long strings, deep nesting).
    Repeat(f64, String, usize),
}

pub(super) const TOKENS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    "\"\"\"",
    "'''",
    "\n",
    "\r",
    "\t",
    ",",
    ".",
    "#",
    "${",
    "$$",
    "\\",
    "\\u",
    "\0",
    "é",
    "😀",
    "[[step]]\n",
    "[root]\n",
    "[vars]\n",
    "[namespaces]\n",
    "include = [\"base/libcontainer-mounts.toml\"]\n",
    "include = [\"x.toml\"]\n",
    "kind = ",
    "id = \"a\"\n",
    "after = [\"a\"]\n",
    "version = 1\n",
    "version = 2\n",
    "\n[[step]]\nkind = \"pivot\"\n",
];

pub(super) fn op() -> impl Strategy<Value = Op> {
    let at = 0.0..1.0f64;
    prop_oneof![
        3 => (at.clone(), any::<u8>()).prop_map(|(a, b)| Op::Flip(a, b)),
        3 => (at.clone(), prop::sample::select(TOKENS)).prop_map(|(a, t)| Op::Insert(a, t.to_string())),
        2 => (at.clone(), 1usize..40).prop_map(|(a, n)| Op::Delete(a, n)),
        2 => at.clone().prop_map(Op::DeleteLine),
        2 => at.clone().prop_map(Op::DuplicateLine),
        1 => (at.clone(), at.clone()).prop_map(|(a, b)| Op::SwapLines(a, b)),
        2 => (at.clone(), 0usize..1000, at.clone(), 1usize..12).prop_map(|(a, f, b, n)| Op::Splice(a, f, b, n)),
        4 => (at.clone(), field()).prop_map(|(a, f)| Op::Field(a, f)),
        1 => (at, prop::sample::select(TOKENS), 1usize..100_000)
            .prop_map(|(a, t, n)| Op::Repeat(a, t.to_string(), n)),
    ]
}

/// A byte index at fraction `f` of `len`.
pub(super) fn pos(f: f64, len: usize) -> usize {
    ((f * len as f64) as usize).min(len)
}

pub(super) fn apply(text: &str, op: &Op) -> String {
    let mut b = text.as_bytes().to_vec();
    let lines = |t: &[u8]| -> Vec<Vec<u8>> {
        t.split_inclusive(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    match op {
        Op::Flip(f, x) => {
            if !b.is_empty() {
                let i = pos(*f, b.len() - 1);
                b[i] ^= x;
            }
        }
        Op::Insert(f, t) => {
            let i = pos(*f, b.len());
            b.splice(i..i, t.bytes());
        }
        Op::Repeat(f, t, n) => {
            let i = pos(*f, b.len());
            // At most 150 000 bytes: past column 65535, yet cheap enough for CI.
            let n = (*n).min(150_000 / t.len().max(1));
            b.splice(i..i, t.repeat(n).into_bytes());
        }
        Op::Delete(f, n) => {
            let i = pos(*f, b.len());
            b.drain(i..(i + n).min(b.len()));
        }
        Op::DeleteLine(f) | Op::DuplicateLine(f) => {
            let mut l = lines(&b);
            if !l.is_empty() {
                let i = pos(*f, l.len() - 1);
                if matches!(op, Op::DeleteLine(_)) {
                    l.remove(i);
                } else {
                    let x = l[i].clone();
                    l.insert(i, x);
                }
            }
            b = l.concat();
        }
        Op::SwapLines(f, g) => {
            let mut l = lines(&b);
            if !l.is_empty() {
                let (i, j) = (pos(*f, l.len() - 1), pos(*g, l.len() - 1));
                l.swap(i, j);
            }
            b = l.concat();
        }
        Op::Splice(f, from, g, n) => {
            let names = corpus_names();
            let other = &corpus()[&names[from % names.len()]];
            let ol = lines(other.as_bytes());
            let s = pos(*g, ol.len());
            let piece: Vec<u8> = ol[s..(s + n).min(ol.len())].concat();
            let mut l = lines(&b);
            let i = pos(*f, l.len());
            l.insert(i, piece);
            b = l.concat();
        }
        Op::Field(f, line) => {
            let mut l = lines(&b);
            let heads: Vec<usize> = l
                .iter()
                .enumerate()
                .filter(|(_, x)| x.starts_with(b"[[step]]"))
                .map(|(i, _)| i + 1)
                .collect();
            let i = if heads.is_empty() {
                pos(*f, l.len())
            } else {
                heads[pos(*f, heads.len() - 1)]
            };
            l.insert(i, line.clone().into_bytes());
            b = l.concat();
        }
    }
    // The reader refuses invalid UTF-8 before the pipeline; keep fuzzing the pipeline.
    String::from_utf8_lossy(&b).into_owned()
}
