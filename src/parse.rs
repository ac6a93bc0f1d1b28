//! Parsing: one file's text -> a [`raw::Plan`] and its syntax and type errors.
//!
//! Takes the sources and a file id; returns the raw plan (with every step that could be read)
//! and a diagnostic for every problem toml and serde found. The document is parsed once with
//! error recovery (or, for a large file whose shape allows, its top and then its `[[step]]`s
//! a chunk at a time, each chunk read and dropped before the next: `parse/steps.rs`, the same
//! plan and diagnostics without the whole document's tables held at once); then the top-level
//! keys and each `[[step]]` are deserialized separately, so one bad step does not hide the
//! problems of the others, and each leniently: a problem
//! serde finds (an unknown key, a value of the wrong type) is reported, its key taken out and
//! the rest read again, so that every problem of a table is reported once and none is made
//! up (an unknown key no longer loses the whole file, nor a misspelled key come back as a
//! missing one: see [`raw::Plan::reported`]).

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diag::Diag;
use crate::raw;
use crate::source::{Loc, SourceId, Sources, Span};

mod steps;

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

/// What a toml/serde error says, beyond its diagnostic.
enum Found {
    /// An unknown key, and the known key it is likely a typo of.
    UnknownKey(Option<String>),
    /// A required key is missing.
    Missing(String),
    /// Anything else (a value of the wrong type, an unknown value, a syntax error).
    Other,
}

/// Turns a toml/serde error into a diagnostic, adding "did you mean" for unknown keys and
/// values; `no_match` is the help of an unknown key that is like none of the known ones (by
/// default, the list of them).
fn from_toml(
    src: SourceId,
    e: &toml::de::Error,
    fallback: Range<usize>,
    no_match: Option<&str>,
) -> (Diag, Found) {
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
            let like = did_you_mean(word, expected.iter().copied());
            d = match (like, no_match) {
                (Some(s), _) => d.help(format!("did you mean `{s}`?")),
                (None, Some(h)) if what == "key" => d.help(h),
                (None, _) if !expected.is_empty() => d.help(format!(
                    "expected one of {}",
                    expected
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                (None, _) => d,
            };
            let found = if what == "key" {
                Found::UnknownKey(like.map(str::to_string))
            } else {
                Found::Other
            };
            return (d, found);
        }
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let f = rest.split('`').next().unwrap_or("");
        let d = Diag::error("mountplan::missing_key", format!("missing key `{f}`"), loc)
            .label("in this table")
            .help(format!("add `{f} = ...`"));
        return (d, Found::Missing(f.to_string()));
    }
    let lower = {
        let mut c = msg.chars();
        match c.next() {
            Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
            None => String::new(),
        }
    };
    let first = lower.lines().next().unwrap_or("").to_string();
    (
        Diag::error("mountplan::syntax", first, loc).label("here"),
        Found::Other,
    )
}

/// The most problems one table (the top of a file, or one step) is read past: each costs
/// another pass over the table, and past a few the rest are seldom news. The table is then
/// dropped, with one more diagnostic saying so.
pub const MAX_TABLE_PROBLEMS: usize = 20;

/// True when `inner` (not empty) lies within `outer`.
fn holds(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    !inner.is_empty() && outer.start <= inner.start && inner.end <= outer.end
}

/// Takes out of `table` the innermost entry whose key or value holds `at` (an item of an
/// array, when that is the innermost), and returns its dotted path below `table` (an array
/// item counts as its array's key); `None` when no entry holds it. Tables are searched
/// whatever their span: a `[table]`'s value spans only its header.
fn take_at(table: &mut DeTable<'_>, at: &Range<usize>) -> Option<String> {
    let mut hit = None;
    for (k, v) in table.iter_mut() {
        let name = k.get_ref();
        if holds(&k.span(), at) {
            hit = Some(name.to_string());
            break;
        }
        let vspan = v.span();
        match v.get_mut() {
            DeValue::Table(t) => {
                if let Some(below) = take_at(t, at) {
                    return Some(format!("{name}.{below}"));
                }
            }
            DeValue::Array(items) => {
                let mut item = None;
                for (i, x) in items.as_mut().iter_mut().enumerate() {
                    let xspan = x.span();
                    if let DeValue::Table(t) = x.get_mut() {
                        if let Some(below) = take_at(t, at) {
                            return Some(format!("{name}.{below}"));
                        }
                    }
                    if holds(&xspan, at) {
                        item = Some(i);
                        break;
                    }
                }
                if let Some(i) = item {
                    // No `remove` on a toml array: it is built again without the item.
                    let all = std::mem::replace(items, toml::de::DeArray::new());
                    *items = all
                        .into_iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, v)| v)
                        .collect();
                    return Some(name.to_string());
                }
            }
            _ => {}
        }
        if holds(&vspan, at) {
            hit = Some(name.to_string());
            break;
        }
    }
    let hit = hit?;
    table.remove(hit.as_str());
    Some(hit)
}

/// How many more problems of one file are shown ([`MAX_SYNTAX_ERRORS`] in all, like syntax
/// errors: a file of 10 000 steps with 20 unknown keys each would print 200 000), and where
/// the first table past that is.
struct Budget {
    left: usize,
    /// Tables with problems past the budget, and the span of the first.
    over: usize,
    first_over: Option<Range<usize>>,
}

/// Deserializes the table `value` as a `T`, leniently. serde stops at the first problem; each
/// is reported, the innermost entry it is in taken out, and the rest read again, so that
/// every unknown key and every value of the wrong type in the table is reported, and the
/// other keys are still read (without this, one unknown key dropped the whole file, and
/// "the plan has no version" followed). The keys reported are pushed on `reported`: for an
/// unknown key, the known key it is a likely typo of (`typ`: `type`). A required key missing
/// is not reported when it is one of them: the fix is the one the first diagnostic gives.
/// Past the file's [`Budget`], a table with a problem is dropped at its first, unreported.
///
/// `value` was parsed from the text at byte `base` of the file: its spans, and those of the
/// errors, are shifted by it. With `again` (which parses the same table once more), the first
/// attempt takes `value` itself, not a copy, and `again` gives it back when a problem is to be
/// read past (not for one past the budget: a chunk is parsed again at most that many times).
#[allow(clippy::too_many_arguments)]
fn lenient<'i, T: Deserialize<'i>>(
    src: SourceId,
    base: usize,
    mut value: Spanned<DeValue<'i>>,
    mut again: Option<&mut dyn FnMut() -> Option<Spanned<DeValue<'i>>>>,
    no_match: Option<&str>,
    reported: &mut Vec<String>,
    diags: &mut Vec<Diag>,
    budget: &mut Budget,
) -> Option<T> {
    let first = diags.len();
    let span = value.span();
    let file_span = span.start + base..span.end + base;
    let mut problems = 0;
    let mut capped = false;
    // True while `value` was given away to the first attempt: `again` gives it back, only
    // when a problem is to be read past (at most the file's budget of them).
    let mut moved = false;
    let out = loop {
        let attempt = if again.is_some() && problems == 0 && !moved {
            moved = true;
            let v = std::mem::replace(&mut value, Spanned::new(0..0, DeValue::Boolean(false)));
            raw::with_base(base, || T::deserialize(ValueDeserializer::from(v)))
        } else {
            raw::with_base(base, || {
                T::deserialize(ValueDeserializer::from(value.clone()))
            })
        };
        let e = match attempt {
            Ok(v) => break Some(v),
            Err(e) => e,
        };
        let (mut d, found) = from_toml(src, &e, span.clone(), no_match);
        if let Some(l) = &mut d.loc {
            l.span = Span::new(l.span.start + base..l.span.end + base);
        }
        if let Found::Missing(k) = &found {
            // serde names the missing key, not its table: a key of that name reported
            // anywhere in this table will do (tables rarely share a required key's name).
            let tail = format!(".{k}");
            if reported.iter().any(|r| r == k || r.ends_with(&tail)) {
                break None;
            }
        }
        if budget.left == 0 {
            budget.over += 1;
            budget.first_over.get_or_insert(file_span.clone());
            break None;
        }
        if problems == MAX_TABLE_PROBLEMS {
            capped = true;
            break None;
        }
        problems += 1;
        budget.left -= 1;
        diags.push(d);
        if std::mem::take(&mut moved) {
            match again.as_mut().and_then(|again| again()) {
                Some(v) => value = v,
                None => break None,
            }
        }
        let Some(key) = e.span().and_then(|at| match value.get_mut() {
            DeValue::Table(t) => take_at(t, &at),
            _ => None,
        }) else {
            break None;
        };
        match found {
            Found::UnknownKey(Some(like)) => match key.rsplit_once('.') {
                Some((table, _)) => reported.push(format!("{table}.{like}")),
                None => reported.push(like),
            },
            Found::UnknownKey(None) => {}
            _ => reported.push(key),
        }
    };
    // serde meets the keys in the order of their names: report them in the file's order.
    diags[first..].sort_by_key(|d| d.loc.map(|l| l.span.start));
    if capped {
        diags.push(
            Diag::error(
                "mountplan::syntax",
                format!("more than {MAX_TABLE_PROBLEMS} problems in this table"),
                Loc::new(src, file_span),
            )
            .label("the table was not read further")
            .help("fix the problems above first"),
        );
    }
    out
}

/// The diagnostic of `${` in a string where nothing is substituted, when `v` is one.
fn not_substituted(
    src: SourceId,
    base: usize,
    v: &Spanned<DeValue<'_>>,
    what: &str,
    why: &str,
    fix: &str,
) -> Option<Diag> {
    match v.get_ref() {
        DeValue::String(t) if t.contains("${") => Some(
            Diag::error(
                "mountplan::var::not_substituted",
                format!("no variable is substituted in {what}: {why}"),
                Loc::new(src, v.span().start + base..v.span().end + base),
            )
            .label("`${` here would stay as it is")
            .help(fix.to_string()),
        ),
        _ => None,
    }
}

/// Refuses `${` in the strings where no variable is substituted, and takes them out (so that
/// they are not read, nor reported again): an `include` (read before the variables are
/// known), `[namespaces] user` (not a string but `"auto"`). `kind` is in [`refuse_in_step`];
/// the values of `[vars]` are refused by `validate`, which also sees `--set`.
fn refuse_vars(
    src: SourceId,
    table: &mut DeTable<'_>,
    reported: &mut Vec<String>,
    diags: &mut Vec<Diag>,
) {
    if let Some(v) = table.get_mut("include") {
        if let DeValue::Array(items) = v.get_mut() {
            let before = items.len();
            let all = std::mem::replace(items, toml::de::DeArray::new());
            *items = all
                .into_iter()
                .filter(|i| {
                    let d = not_substituted(
                        src,
                        0,
                        i,
                        "`include`",
                        "includes are read before the variables are known",
                        "write the path itself, relative to this file",
                    );
                    diags.extend(d.clone());
                    d.is_none()
                })
                .collect();
            if items.len() != before {
                reported.push("include".into());
            }
        }
    }
    if let Some(v) = table.get_mut("namespaces") {
        if let DeValue::Table(t) = v.get_mut() {
            let d = t.get("user").and_then(|u| {
                not_substituted(
                    src,
                    0,
                    u,
                    "`user`",
                    "it takes `true`, `false` or `\"auto\"`",
                    "write `user = true`, `user = false` or `user = \"auto\"`",
                )
            });
            if let Some(d) = d {
                diags.push(d);
                t.remove("user");
                reported.push("namespaces.user".into());
            }
        }
    }
}

/// [`refuse_vars`] for one step: `${` in `kind`, which decides the other keys of the step.
fn refuse_in_step(
    src: SourceId,
    base: usize,
    step: &mut DeTable<'_>,
    reported: &mut Vec<String>,
    diags: &mut Vec<Diag>,
) {
    let d = step.get("kind").and_then(|k| {
        not_substituted(
            src,
            base,
            k,
            "`kind`",
            "the kind decides which keys the step may have",
            "write the kind itself, such as `kind = \"mount\"`",
        )
    });
    if let Some(d) = d {
        diags.push(d);
        step.remove("kind");
        reported.push("kind".into());
    }
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

/// Parses file `id` of `sources`, keeping at most `max_steps` steps: a few `[[step]]`s at a
/// time when the file is large and allows it (`parse/steps.rs`), else the whole document at
/// once (the same plan and diagnostics either way).
pub fn parse(sources: &Sources, id: SourceId, max_steps: usize) -> Parsed {
    let text = &sources.get(id).text;
    if text.len() >= STEPWISE_BYTES {
        if let Some(p) = steps::by_steps(text, id, max_steps) {
            return p;
        }
    }
    whole(text, id, max_steps)
}

/// The size from which a file is parsed a few steps at a time: below it, the whole document
/// held at once is small, and one toml document is parsed faster than its top and chunks.
const STEPWISE_BYTES: usize = 64 * 1024;

/// [`parse`] of the whole document at once.
fn whole(text: &str, id: SourceId, max_steps: usize) -> Parsed {
    let mut diags = Vec::new();
    let mut over = None;
    let (table, errors) = DeTable::parse_recoverable(text);
    crate::timing::mark("toml");
    for e in errors.iter().take(MAX_SYNTAX_ERRORS) {
        diags.push(from_toml(id, e, 0..0, None).0);
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
    let mut budget = Budget::new();
    let mut plan = read_top(id, span, table, &mut diags, &mut budget);
    if let Some((key, value)) = steps {
        let vspan = value.span();
        match value.into_inner() {
            DeValue::Array(items) => {
                over = items.get(max_steps).map(|i| i.span());
                // Room for every step at once: a vector grown by doubling copies them all
                // again (and holds both copies meanwhile).
                plan.step.reserve(items.len().min(max_steps));
                for item in items.into_iter().take(max_steps) {
                    if let Some(s) = read_step(id, 0, item, None, &mut diags, &mut budget) {
                        plan.step.push(s);
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
    budget.finish(id, &mut diags);
    Parsed { plan, diags, over }
}

impl Budget {
    fn new() -> Budget {
        Budget {
            left: MAX_SYNTAX_ERRORS,
            over: 0,
            first_over: None,
        }
    }

    /// The one diagnostic of the tables past the budget, when there were any.
    fn finish(self, id: SourceId, diags: &mut Vec<Diag>) {
        if let Some(at) = self.first_over {
            diags.push(
                Diag::error(
                    "mountplan::syntax",
                    format!(
                        "{} more steps have problems, from here on (not shown)",
                        self.over
                    ),
                    Loc::new(id, at),
                )
                .label("the next one")
                .help("fix the problems above first"),
            );
        }
    }
}

/// The top of a file (every key but `step`), spanning `span`, as a plan without steps.
fn read_top(
    id: SourceId,
    span: Range<usize>,
    mut table: DeTable<'_>,
    diags: &mut Vec<Diag>,
    budget: &mut Budget,
) -> raw::Plan {
    let mut reported = Vec::new();
    refuse_vars(id, &mut table, &mut reported, diags);
    let top = Spanned::new(span, DeValue::Table(table));
    let mut plan: raw::Plan =
        lenient(id, 0, top, None, None, &mut reported, diags, budget).unwrap_or_default();
    plan.reported = reported;
    plan
}

/// One item of the `step` array, parsed from the text at byte `base` of the file; `again`
/// parses it once more (see [`lenient`]).
fn read_step<'i>(
    id: SourceId,
    base: usize,
    mut item: Spanned<DeValue<'i>>,
    again: Option<&mut dyn FnMut() -> Option<Spanned<DeValue<'i>>>>,
    diags: &mut Vec<Diag>,
    budget: &mut Budget,
) -> Option<raw::Step> {
    let ispan = item.span();
    let DeValue::Table(t) = item.get_mut() else {
        diags.push(
            Diag::error(
                "mountplan::step::not_a_table",
                "a step must be a table",
                Loc::new(id, ispan.start + base..ispan.end + base),
            )
            .help("write each step as a `[[step]]` table"),
        );
        return None;
    };
    let mut reported = Vec::new();
    refuse_in_step(id, base, t, &mut reported, diags);
    let help = Some("see docs/plan-format.md for the keys of each step kind");
    // The table read again is taken out what `refuse_in_step` took out of the first.
    let mut again = again.map(|again| {
        move || {
            let mut v = again()?;
            if let DeValue::Table(t) = v.get_mut() {
                refuse_in_step(id, base, t, &mut Vec::new(), &mut Vec::new());
            }
            Some(v)
        }
    });
    let again = again
        .as_mut()
        .map(|a| a as &mut dyn FnMut() -> Option<Spanned<DeValue<'i>>>);
    let mut s: raw::Step = lenient(id, base, item, again, help, &mut reported, diags, budget)?;
    s.reported = reported;
    Some(s)
}

#[cfg(test)]
mod tests;
