//! How the project's texts write a string and a path in the new root: the one quoting function
//! and the one `<root>` display.
//!
//! Takes strings and [`RootPath`]s; returns text. The dry run's calls, the undo lines, the
//! executor's errors and the journal's messages all write a string as a C string literal
//! ([`quote`], as strace prints one) and a path in the new root as `<root>/path` ([`in_root`]),
//! so a value reads the same everywhere and nothing in a plan can end a quoted string early.

use std::fmt::Write as _;

use crate::model::RootPath;

/// A string as a plan's TOML basic string: TOML's escapes, and every `$` doubled (`$$` is a
/// literal `$` in a plan), so the plan reads back exactly `s` and nothing in it is substituted.
/// The importers' and capture's plan writers write every literal string with it.
pub fn plan_string(s: &str) -> String {
    toml::Value::String(s.replace('$', "$$")).to_string()
}

/// A string as a C string literal: `"a\"b"`, `\` doubled, control characters escaped.
pub fn quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A path in the new root as the texts show it: `<root>/path`, or `<root>` for the root itself.
pub fn in_root(p: &RootPath) -> String {
    if p.is_root() {
        "<root>".into()
    } else {
        format!("<root>{p}")
    }
}

/// [`in_root`], quoted: `"<root>/path"`.
pub fn quoted_in_root(p: &RootPath) -> String {
    quote(&in_root(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_c_string_literals() {
        assert_eq!(quote("plain /path"), "\"plain /path\"");
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(quote("l1\nl2\tx\u{1}\u{7f}é"), "\"l1\\nl2\\tx\\x01\\x7fé\"");
    }

    #[test]
    fn paths_in_the_root_start_with_root() {
        let p = |s: &str| RootPath::new(s).unwrap();
        assert_eq!(in_root(&p("/")), "<root>");
        assert_eq!(in_root(&p("/dev/pts")), "<root>/dev/pts");
        assert_eq!(quoted_in_root(&p("/a\"b")), "\"<root>/a\\\"b\"");
    }
}
