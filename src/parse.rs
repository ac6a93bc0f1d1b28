//! Parsing: one file's text -> a [`raw::Plan`] and its syntax and type errors.
//!
//! Takes the sources and a file id; returns the raw plan (with every step that could be read)
//! and a diagnostic for every problem toml and serde found. The document is parsed once with
//! error recovery; then the top-level keys and each `[[step]]` are deserialized separately, so
//! one bad step does not hide the problems of the others.

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diag::Diag;
use crate::raw;
use crate::source::{Loc, SourceId, Sources};

/// How many syntax errors of one file are shown; the rest are counted in one more.
pub const MAX_SYNTAX_ERRORS: usize = 100;

/// The closest candidate to `word` by edit distance (Damerau–Levenshtein: a swap of two
/// neighbours is one edit), when close enough to be a likely typo: at most two edits, or a
/// third of the candidate's length, and fewer than its length. Ties go to the candidate first
/// in byte order. The one suggester for keys, values, flags, variables and step ids.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min()
        .map(|(_, c)| c)
}

/// Turns a toml/serde error into a diagnostic, adding "did you mean" for unknown keys and values.
fn from_toml(src: SourceId, e: &toml::de::Error, fallback: std::ops::Range<usize>) -> Diag {
    let msg = e.message().trim().to_string();
    let span = e.span().unwrap_or(fallback);
    let loc = Loc::new(src, span);
    // serde: "unknown field `x`, expected one of `a`, `b`" / "unknown variant `x`, expected ..."
    for (prefix, code, what) in [
        ("unknown field `", "mountplan::unknown_key", "key"),
        ("unknown variant `", "mountplan::unknown_value", "value"),
    ] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let word = rest.split('`').next().unwrap_or("");
            let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
            let mut d = Diag::error(code, format!("unknown {what} `{word}`"), loc)
                .label(format!("not a known {what} here"));
            d = match did_you_mean(word, expected.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None if !expected.is_empty() => d.help(format!(
                    "expected one of {}",
                    expected
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                None => d,
            };
            return d;
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let f = rest.split('`').next().unwrap_or("");
        return Diag::error("mountplan::missing_key", format!("missing key `{f}`"), loc)
            .label("in this table")
            .help(format!("add `{f} = ...`"));
    }
    let lower = {
        let mut c = msg.chars();
        match c.next() {
            Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
            None => String::new(),
        }
    };
    let first = lower.lines().next().unwrap_or("").to_string();
    Diag::error("mountplan::syntax", first, loc).label("here")
}

/// What [`parse`] read of one file.
pub struct Parsed {
    /// The plan, with at most the `max_steps` steps it was allowed.
    pub plan: raw::Plan,
    /// Syntax and shape errors.
    pub diags: Vec<Diag>,
    /// The span of the first step past `max_steps`, when there is one (the caller, which knows
    /// the limit and what was counted before, says so once).
    pub over: Option<std::ops::Range<usize>>,
}

/// Parses file `id` of `sources`, keeping at most `max_steps` steps.
pub fn parse(sources: &Sources, id: SourceId, max_steps: usize) -> Parsed {
    let text = &sources.get(id).text;
    let mut diags = Vec::new();
    let mut over = None;
    let (table, errors) = DeTable::parse_recoverable(text);
    crate::timing::mark("toml");
    for e in errors.iter().take(MAX_SYNTAX_ERRORS) {
        diags.push(from_toml(id, e, 0..0));
    }
    if let Some(e) = errors.get(MAX_SYNTAX_ERRORS) {
        // A binary or badly broken file has one error per line: millions, none of them useful.
        let more = errors.len() - MAX_SYNTAX_ERRORS;
        diags.push(
            Diag::error(
                "mountplan::syntax",
                format!("{more} more syntax errors, from here on"),
                Loc::new(id, e.span().unwrap_or(0..0)),
            )
            .label("the next one")
            .help("fix the errors above first; is this a plan file?"),
        );
    }
    if !errors.is_empty() {
        // A document with syntax errors is not read further: recovered values may be wrong.
        return Parsed {
            plan: raw::Plan::default(),
            diags,
            over,
        };
    }
    let span = table.span();
    let mut table = table.into_inner();
    let step_key = table.keys().find(|k| k.get_ref() == "step").cloned();
    let steps = step_key.and_then(|k| table.remove(&k).map(|v| (k, v)));
    let mut plan = match raw::Plan::deserialize(toml::de::Deserializer::from(Spanned::new(
        span.clone(),
        table,
    ))) {
        Ok(p) => p,
        Err(e) => {
            diags.push(from_toml(id, &e, span.clone()));
            raw::Plan::default()
        }
    };
    if let Some((key, value)) = steps {
        let vspan = value.span();
        match value.into_inner() {
            DeValue::Array(items) => {
                over = items.get(max_steps).map(|i| i.span());
                for item in items.into_iter().take(max_steps) {
                    let ispan = item.span();
                    if !matches!(item.get_ref(), DeValue::Table(_)) {
                        diags.push(
                            Diag::error(
                                "mountplan::step::not_a_table",
                                "a step must be a table",
                                Loc::new(id, ispan),
                            )
                            .help("write each step as a `[[step]]` table"),
                        );
                        continue;
                    }
                    match raw::Step::deserialize(ValueDeserializer::from(item)) {
                        Ok(s) => plan.step.push(s),
                        Err(e) => {
                            let mut d = from_toml(id, &e, ispan);
                            if d.code == "mountplan::unknown_key" {
                                let word = d.message.split('`').nth(1).unwrap_or("").to_string();
                                if let Some(s) = did_you_mean(&word, raw::STEP_KEYS.iter().copied())
                                {
                                    d.help = Some(format!("did you mean `{s}`?"));
                                } else {
                                    d.help = Some(
                                        "see docs/plan-format.md for the keys of each step kind"
                                            .into(),
                                    );
                                }
                            }
                            diags.push(d);
                        }
                    }
                }
            }
            _ => diags.push(
                Diag::error(
                    "mountplan::step::not_a_table",
                    "`step` must be an array of tables",
                    Loc::new(id, key.span().start..vspan.end),
                )
                .help("write each step as a `[[step]]` table"),
            ),
        }
    }
    Parsed { plan, diags, over }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> (raw::Plan, Vec<Diag>) {
        let mut s = Sources::new();
        let id = s.add("t.toml", text);
        let r = parse(&s, id, crate::load::MAX_STEPS);
        (r.plan, r.diags)
    }

    #[test]
    fn unknown_step_key_points_at_the_key_and_suggests() {
        let t = "version = 1\n[[step]]\nkind = \"mkdir\"\npaht = \"/a\"\n";
        let (_, d) = p(t);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "mountplan::unknown_key");
        let loc = d[0].loc.unwrap();
        assert_eq!(&t[loc.span.start..loc.span.end], "paht");
        assert_eq!(d[0].help.as_deref(), Some("did you mean `path`?"));
    }

    #[test]
    fn one_bad_step_does_not_hide_another() {
        let t = "version = 1\n[[step]]\nkind = \"mkdir\"\nx = 1\n[[step]]\nkind = \"mkdr\"\n[[step]]\nkind = \"mask\"\npath = \"/a\"\n";
        let (plan, d) = p(t);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[1].code, "mountplan::unknown_value");
        assert_eq!(d[1].help.as_deref(), Some("did you mean `mkdir`?"));
        assert_eq!(plan.step.len(), 1);
    }

    #[test]
    fn syntax_errors_past_the_limit_are_counted_in_one() {
        let t = format!("version = 1\n{}", "@\n".repeat(MAX_SYNTAX_ERRORS + 7));
        let (_, d) = p(&t);
        assert_eq!(d.len(), MAX_SYNTAX_ERRORS + 1);
        // toml reports each bad line (and here one more at the end).
        let m = &d[MAX_SYNTAX_ERRORS].message;
        assert!(m.ends_with(" more syntax errors, from here on"), "{m}");
    }

    #[test]
    fn syntax_error_has_a_span() {
        let (_, d) = p("version = \n");
        assert_eq!(d[0].code, "mountplan::syntax");
        assert!(d[0].loc.is_some());
    }
}
