//! Checking single values: `${VAR}` substitution, paths, modes, ids, numbers, sizes, flags.
//!
//! Each function takes a spanned raw value and the [`Ctx`] that collects diagnostics; it
//! returns the typed value, or `None` after pushing a diagnostic that points at the value.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

use crate::diag::Diag;
use crate::model::{HostPath, Mode, MsFlags, RootPath, Size};
use crate::parse::did_you_mean;
use crate::raw::Spanned;
use crate::source::{Loc, SourceId};

/// What validation of one file needs: its id, the variables, and where diagnostics go.
pub struct Ctx<'a> {
    /// The file being validated.
    pub src: SourceId,
    /// Its text (to map `${NAME}` inside a string to bytes in the file).
    pub text: &'a str,
    /// Variables after merging and `--set`.
    pub vars: &'a BTreeMap<String, String>,
    /// Variables whose value was refused (it holds `${`): a use of one is not checked further,
    /// the refusal is its one diagnostic.
    pub refused: &'a std::collections::BTreeSet<String>,
    /// Variables used, to warn about `--set` of unused names.
    pub used: &'a mut std::collections::BTreeSet<String>,
    /// Diagnostics found.
    pub diags: &'a mut Vec<Diag>,
    /// Bytes that `${NAME}` substitution has put in strings so far, all files counted (at most
    /// [`MAX_EXPANDED`]).
    pub expanded: &'a mut usize,
}

/// The most bytes `${NAME}` substitution may produce in one plan (16 MiB): a long variable
/// used many times would otherwise turn a small file into gigabytes.
pub const MAX_EXPANDED: usize = 16 << 20;

impl Ctx<'_> {
    /// The location of a spanned value.
    pub fn loc<T>(&self, s: &Spanned<T>) -> Loc {
        Loc::new(self.src, s.span.clone())
    }

    /// Pushes an error.
    pub fn err(&mut self, d: Diag) {
        self.diags.push(d);
    }

    /// Substitutes `${NAME}` (and `$$`) in a string value.
    pub fn sub(&mut self, s: &Spanned<String>) -> Option<String> {
        self.sub_ref(s).map(Cow::into_owned)
    }

    /// [`Ctx::sub`], borrowing the value when it has nothing to substitute (the values checked
    /// and converted, such as paths and modes, need no copy of their own). Every string of a
    /// plan goes through here before it is checked, so a substituted value is checked as the
    /// same value written literally would be, at the span of its string.
    pub fn sub_ref<'s>(&mut self, s: &'s Spanned<String>) -> Option<Cow<'s, str>> {
        self.sub_str(&s.value, &s.span)
    }

    /// [`Ctx::sub_ref`] of a string `v` written at `span`.
    pub fn sub_str<'s>(&mut self, v: &'s str, span: &Range<usize>) -> Option<Cow<'s, str>> {
        if !v.as_bytes().contains(&b'$') {
            return Some(Cow::Borrowed(v));
        }
        // When the string is written without escapes, byte i of the value is byte
        // span.start + 1 + i of the file (after the opening quote).
        let raw = self.text.get(span.clone()).unwrap_or("");
        let exact = raw.len() == v.len() + 2 && &raw[1..raw.len() - 1] == v;
        let src = self.src;
        let at = |a: usize, b: usize| {
            if exact {
                Loc::new(src, span.start + 1 + a..span.start + 1 + b)
            } else {
                Loc::new(src, span.clone())
            }
        };
        let mut out = String::with_capacity(v.len());
        let mut ok = true;
        let mut i = 0;
        while let Some(off) = v[i..].find('$') {
            out.push_str(&v[i..i + off]);
            let j = i + off;
            let rest = &v[j..];
            if rest.starts_with("$$") {
                out.push('$');
                i = j + 2;
            } else if let Some(body) = rest.strip_prefix("${") {
                match body.find('}') {
                    Some(end) => {
                        let name = &body[..end];
                        self.used.insert(name.to_string());
                        match self.vars.get(name) {
                            Some(_) if self.refused.contains(name) => ok = false,
                            Some(x) if *self.expanded + x.len() > MAX_EXPANDED => {
                                if *self.expanded <= MAX_EXPANDED {
                                    self.err(
                                        Diag::error(
                                            "mountplan::limit::expanded",
                                            format!(
                                                "variables expand to more than {} MiB in this plan",
                                                MAX_EXPANDED >> 20
                                            ),
                                            at(j, j + 3 + end),
                                        )
                                        .label("this use is past the limit")
                                        .help("use long variables fewer times"),
                                    );
                                }
                                *self.expanded = MAX_EXPANDED + 1;
                                ok = false;
                            }
                            Some(x) => {
                                *self.expanded += x.len();
                                out.push_str(x);
                            }
                            None => {
                                let mut d = Diag::error(
                                    "mountplan::var::unknown",
                                    format!("unknown variable `{name}`"),
                                    at(j, j + 3 + end),
                                )
                                .label("not defined in [vars] or with --set");
                                d = match did_you_mean(name, self.vars.keys().map(|k| k.as_str())) {
                                    Some(s) => d.help(format!("did you mean `{s}`?")),
                                    None => d.help(format!(
                                        "define it in [vars] or pass --set {name}=VALUE"
                                    )),
                                };
                                self.err(d);
                                ok = false;
                            }
                        }
                        i = j + 3 + end;
                    }
                    None => {
                        self.err(
                            Diag::error(
                                "mountplan::var::unclosed",
                                "`${` without a closing `}`",
                                at(j, v.len()),
                            )
                            .help("write `${NAME}`, or `$$` for a literal `$`"),
                        );
                        return None;
                    }
                }
            } else {
                out.push('$');
                i = j + 1;
            }
        }
        out.push_str(&v[i..]);
        ok.then_some(Cow::Owned(out))
    }

    fn path_err(
        &mut self,
        s: &Spanned<String>,
        text: &str,
        e: crate::model::PathError,
        host: bool,
    ) {
        let help = match e {
            crate::model::PathError::Relative if host => {
                "host paths are absolute: start it with `/`"
            }
            crate::model::PathError::Relative => {
                "paths name a place inside the new root and are absolute: start it with `/`"
            }
            crate::model::PathError::DotDot => "write the path without `..`",
            _ => "shorten or fix the path",
        };
        let d = Diag::error(
            "mountplan::path::invalid",
            format!("bad path `{}`: {e}", text.escape_debug()),
            self.loc(s),
        )
        .label(e.to_string())
        .help(help);
        self.err(d);
    }

    /// A path inside the new root.
    pub fn root_path(&mut self, s: &Spanned<String>) -> Option<RootPath> {
        let t = self.sub_ref(s)?;
        RootPath::new(&t)
            .map_err(|e| self.path_err(s, &t, e, false))
            .ok()
    }

    /// A host path.
    pub fn host_path(&mut self, s: &Spanned<String>) -> Option<HostPath> {
        let t = self.sub_ref(s)?;
        HostPath::new(&t)
            .map_err(|e| self.path_err(s, &t, e, true))
            .ok()
    }

    /// An octal mode string.
    pub fn mode(&mut self, s: &Spanned<String>) -> Option<Mode> {
        let t = self.sub_ref(s)?;
        let m = Mode::parse(&t);
        if m.is_none() {
            let d = Diag::error(
                "mountplan::mode",
                format!("`{}` is not a mode", t.escape_debug()),
                self.loc(s),
            )
            .label("not an octal number from 0 to 07777")
            .help("write the mode as an octal string such as \"0755\"");
            self.err(d);
        }
        m
    }

    /// A uid or gid: `0..=4294967294` (`-1`, all ones, means "unchanged" to chown(2)).
    pub fn id_num(&mut self, s: &Spanned<i64>, what: &str) -> Option<u32> {
        self.bounded(s, what, u64::from(u32::MAX) - 1)
            .and_then(|v| u32::try_from(v).ok())
    }

    /// An integer in `0..=max`.
    pub fn bounded(&mut self, s: &Spanned<i64>, what: &str, max: u64) -> Option<u64> {
        match u64::try_from(s.value) {
            Ok(v) if v <= max => Some(v),
            _ => {
                let d = Diag::error(
                    "mountplan::number::range",
                    format!("{what} `{}` is out of range", s.value),
                    self.loc(s),
                )
                .label(format!("{what} must be from 0 to {max}"));
                self.err(d);
                None
            }
        }
    }

    /// A size: bytes, `k`/`m`/`g` suffix, or a percentage.
    pub fn size(&mut self, s: &Spanned<crate::raw::SizeValue>) -> Option<Size> {
        use crate::raw::SizeValue;
        let parsed = match &s.value {
            SizeValue::Bytes(b) => u64::try_from(*b).ok().map(Size::Bytes),
            SizeValue::Text(t) => parse_size(self.sub_str(t, &s.span)?.trim()),
        };
        if parsed.is_none() {
            let d = Diag::error("mountplan::size", "bad size", self.loc(s))
                .label("not a size")
                .help("write bytes, a number with k, m or g (\"16M\"), or a percentage from 1% to 100%");
            self.err(d);
        }
        parsed
    }

    /// A step id.
    pub fn step_id(&mut self, s: &Spanned<String>) -> Option<String> {
        let v = self.sub_ref(s)?;
        let ok = !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            let d = Diag::error(
                "mountplan::id::invalid",
                format!("`{}` is not a step id", v.escape_debug()),
                self.loc(s),
            )
            .label("bad id")
            .help("use 1 to 64 letters, digits, `-`, `_` and `.`");
            self.err(d);
        }
        ok.then(|| v.into_owned())
    }

    /// A filesystem option value that goes into a comma-separated data string.
    pub fn data_value(&mut self, s: &Spanned<String>, key_only: bool) -> Option<String> {
        let t = self.sub(s)?;
        let bad = if t.is_empty() {
            Some("it is empty")
        } else if t.contains(',') {
            Some("a comma would start another option")
        } else if t.contains('\0') {
            Some("it contains a NUL byte")
        } else if key_only && t.contains('=') {
            Some("`=` does not belong here")
        } else if t.contains(':') && key_only {
            Some("`:` does not belong here")
        } else {
            None
        };
        if let Some(why) = bad {
            let d = Diag::error(
                "mountplan::option::smuggle",
                format!("refused option value `{}`", t.escape_debug()),
                self.loc(s),
            )
            .label(why)
            .help("give one option per entry, without commas");
            self.err(d);
            return None;
        }
        Some(t)
    }
}

/// Parses `"16M"`, `"512k"`, `"1g"`, `"4096"`, `"50%"`.
pub fn parse_size(t: &str) -> Option<Size> {
    if let Some(p) = t.strip_suffix('%') {
        let p: u8 = p.parse().ok()?;
        return (1..=100).contains(&p).then_some(Size::Percent(p));
    }
    let (n, mult) = match t.as_bytes().last()? {
        b'k' | b'K' => (&t[..t.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&t[..t.len() - 1], 1 << 20),
        b'g' | b'G' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<u64>().ok()?.checked_mul(mult).map(Size::Bytes)
}

/// Reads `options` into flags; reports unknown words and conflicts. `rec_ok` says whether
/// `rec` is allowed (binds and remounts). OCI's recursive spellings (`rro`, `rnosuid`, `rrw`,
/// ...: an `r` before a per-mount word) go into the second value, for
/// `mount_setattr(AT_RECURSIVE)`.
pub fn flags(
    cx: &mut Ctx,
    opts: &Option<Vec<Spanned<String>>>,
    rec_ok: bool,
) -> (MsFlags, crate::model::RecAttrs) {
    use crate::model::{FLAG_WORDS, REC_WORDS};
    let mut f = MsFlags::empty();
    let mut rec = crate::model::RecAttrs::default();
    // (the word as written, its flag, set or cleared, recursive, where)
    let mut seen: Vec<(String, MsFlags, bool, bool, Loc)> = Vec::new();
    for o in opts.iter().flatten() {
        let Some(word) = cx.sub_ref(o) else {
            continue;
        };
        let word: &str = &word;
        let found = match FLAG_WORDS.iter().find(|(n, _, _)| *n == word) {
            Some(&(name, flag, set)) => Some((name, flag, set, false)),
            None => crate::model::rec_base(word)
                .and_then(|w| FLAG_WORDS.iter().find(|(n, _, _)| *n == w))
                .map(|&(name, flag, set)| (name, flag, set, true)),
        };
        let Some((name, flag, set, recursive)) = found else {
            let mut d = Diag::error(
                "mountplan::option::unknown",
                format!("unknown mount option `{}`", word.escape_debug()),
                cx.loc(o),
            )
            .label("not a mount flag");
            let rec_words: Vec<String> = REC_WORDS.iter().map(|w| format!("r{w}")).collect();
            let words = FLAG_WORDS
                .iter()
                .map(|(n, _, _)| *n)
                .chain(rec_words.iter().map(|s| s.as_str()));
            d = match did_you_mean(word, words) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None if word.contains('=') => d.help(
                    "filesystem options are keys of the step (`mode`, `size`, ...) or `data` entries",
                ),
                None => d.help("see docs/plan-format.md for the mount options"),
            };
            cx.err(d);
            continue;
        };
        if name == "rec" && !rec_ok {
            let d = Diag::error(
                "mountplan::option::rec",
                "`rec` applies only to binds and remounts",
                cx.loc(o),
            )
            .help("remove `rec`, or use the recursive spelling of a flag (`rro`, `rnosuid`, ...)");
            cx.err(d);
            continue;
        }
        let loc = cx.loc(o);
        let atime = MsFlags::MS_NOATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME;
        if let Some((other, _, _, _, oloc)) = seen.iter().find(|(_, fl, st, r, _)| {
            *r == recursive
                && ((*fl == flag && *st != set)
                    || (set && *st && atime.contains(flag) && atime.contains(*fl) && *fl != flag))
        }) {
            let d = Diag::error(
                "mountplan::option::conflict",
                format!("`{word}` conflicts with `{other}`"),
                loc,
            )
            .label("conflicting option")
            .also(*oloc, format!("`{other}` given here"))
            .help("keep one of them");
            cx.err(d);
            continue;
        }
        seen.push((word.to_string(), flag, set, recursive, loc));
        match (recursive, set) {
            (false, true) => f |= flag,
            (false, false) => f -= flag,
            (true, true) => {
                rec.set |= flag;
                rec.clear -= flag;
            }
            (true, false) => {
                rec.clear |= flag;
                rec.set -= flag;
            }
        }
    }
    (f, rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16M"), Some(Size::Bytes(16 << 20)));
        assert_eq!(parse_size("65536k"), Some(Size::Bytes(65536 << 10)));
        assert_eq!(parse_size("50%"), Some(Size::Percent(50)));
        assert_eq!(parse_size("0%"), None);
        assert_eq!(parse_size("1x"), None);
        assert_eq!(parse_size("99999999999999999999g"), None);
        assert_eq!(parse_size("18446744073709551615g"), None);
    }
}
