//! The TOML pieces of the captured plan: a `[[step]]` table being written, the step ids made
//! from mountpoints, and comment lines (cleaned and wrapped).

use std::collections::BTreeSet;

use crate::model::RootPath;
use crate::quote::plan_string;

pub(super) fn arr(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| plan_string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A comment line's text: no line breaks or other control characters.
pub(super) fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A `[[step]]` table being written.
pub(super) struct Step {
    pub(super) comments: Vec<String>,
    pub(super) keys: Vec<(&'static str, String)>,
}

impl Step {
    pub(super) fn new(kind: &str, id: &str) -> Step {
        Step {
            comments: Vec::new(),
            keys: vec![("kind", plan_string(kind)), ("id", plan_string(id))],
        }
    }
    pub(super) fn key(mut self, k: &'static str, v: String) -> Step {
        self.keys.push((k, v));
        self
    }
    pub(super) fn note(mut self, c: impl Into<String>) -> Step {
        self.comments.push(c.into());
        self
    }
}

/// Ids from mountpoints (`/dev/pts` -> `dev-pts`), unique in the plan.
#[derive(Default)]
pub(super) struct Ids(BTreeSet<String>);

impl Ids {
    pub(super) fn get(&mut self, prefix: &str, at: &RootPath) -> String {
        let slug: String = if at.is_root() {
            "root".into()
        } else {
            at.relative()
                .chars()
                .map(|c| match c {
                    '/' => '-',
                    c if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' => c,
                    _ => '_',
                })
                .collect()
        };
        let base = if prefix.is_empty() {
            slug
        } else {
            format!("{prefix}-{slug}")
        };
        let mut id = base.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }
}

/// `text` in lines of at most `width` characters, broken at spaces.
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}
