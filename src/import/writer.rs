//! The one TOML writer of plans built by a program (the importers): takes typed tables and
//! steps in the order they are added; returns the plan's text, every string escaped for TOML
//! and for `${NAME}` substitution.
//!
//! A string value is written so that the plan reads back exactly it: TOML escapes by the
//! `toml` crate, and every `$` doubled (`$$` is a literal `$` in a plan), so a path that
//! happens to hold `${X}` is not substituted. [`Value::Var`] is the one way to write a
//! substitution on purpose.

use std::fmt::Write as _;

use crate::quote::plan_string;

/// A value of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string, written literally (`$` escaped as `$$`).
    Str(String),
    /// A string that refers to plan variables on purpose (`"${ROOTFS}"`), written as is.
    Var(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An array of strings (each escaped as [`Value::Str`]).
    Strs(Vec<String>),
    /// An array of integers.
    Ints(Vec<i64>),
    /// An array of integer triples (`[[0, 1000, 1]]`: an idmap's lines).
    Triples(Vec<[i64; 3]>),
    /// An inline table (`{ uid = [...], gid = [...] }`).
    Inline(Table),
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }
}

/// A key: bare when TOML allows it, quoted otherwise.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Str(s) => plan_string(s),
        Value::Var(s) => toml::Value::String(s.clone()).to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Strs(v) => {
            let items: Vec<String> = v.iter().map(|s| plan_string(s)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Ints(v) => {
            let items: Vec<String> = v.iter().map(i64::to_string).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Triples(v) => {
            let items: Vec<String> = v
                .iter()
                .map(|[a, b, c]| format!("[{a}, {b}, {c}]"))
                .collect();
            format!("[{}]", items.join(", "))
        }
        Value::Inline(t) => {
            let items: Vec<String> =
                t.0.iter()
                    .map(|(k, v)| format!("{} = {}", key(k), value(v)))
                    .collect();
            format!("{{ {} }}", items.join(", "))
        }
    }
}

/// A table's keys in the order they were set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table(Vec<(String, Value)>);

impl Table {
    /// Sets `k` (replacing an earlier value of the same key, in its place).
    pub fn set(&mut self, k: &str, v: Value) -> &mut Self {
        match self.0.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k.to_string(), v)),
        }
        self
    }
    /// The value of `k`.
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }
    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn write(&self, out: &mut String) {
        for (k, v) in &self.0 {
            let _ = writeln!(out, "{} = {}", key(k), value(v));
        }
    }
}

/// One `[[step]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `kind`.
    pub kind: &'static str,
    /// The other keys, in order.
    pub keys: Table,
    /// A comment written above the step (one `#` line per line).
    pub comment: Option<String>,
}

impl Step {
    /// A step of `kind` with no other key yet.
    pub fn new(kind: &'static str) -> Step {
        Step {
            kind,
            keys: Table::default(),
            comment: None,
        }
    }
    /// Sets a key.
    pub fn set(mut self, k: &str, v: Value) -> Step {
        self.keys.set(k, v);
        self
    }
    /// Sets a string key.
    pub fn s(self, k: &str, v: impl Into<String>) -> Step {
        self.set(k, Value::Str(v.into()))
    }
    /// Sets a comment.
    pub fn comment(mut self, c: impl Into<String>) -> Step {
        self.comment = Some(c.into());
        self
    }
}

/// A whole plan, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Where the `#:schema` comment points.
    pub schema: String,
    /// Comment lines at the top (without `#`).
    pub header: Vec<String>,
    /// `name`, `description` (in that order, when set).
    pub top: Table,
    /// `[vars]`.
    pub vars: Table,
    /// `[root]`; `tmpfs` is written as `[root.tmpfs]` when `root_tmpfs` is set.
    pub root: Table,
    /// `[root.tmpfs]` (an empty table for the defaults), when the root is a tmpfs.
    pub root_tmpfs: Option<Table>,
    /// `[namespaces]`.
    pub namespaces: Table,
    /// `[process]`.
    pub process: Table,
    /// `[process.env]` (`clear`, `unset`).
    pub env: Table,
    /// `[process.env.set]`.
    pub env_set: Table,
    /// The steps.
    pub steps: Vec<Step>,
}

impl Plan {
    /// A plan whose `#:schema` comment points at `schema`.
    pub fn new(schema: &str) -> Plan {
        Plan {
            schema: schema.to_string(),
            ..Plan::default()
        }
    }
    /// Adds a step.
    pub fn step(&mut self, s: Step) {
        self.steps.push(s);
    }
    /// The plan's text.
    pub fn text(&self) -> String {
        let mut out = format!("#:schema {}\n", self.schema);
        for h in &self.header {
            let _ = writeln!(out, "# {h}");
        }
        out.push_str("version = 1\n");
        self.top.write(&mut out);
        let section = |out: &mut String, name: &str, t: &Table| {
            if !t.is_empty() {
                let _ = writeln!(out, "\n[{name}]");
                t.write(out);
            }
        };
        section(&mut out, "vars", &self.vars);
        section(&mut out, "root", &self.root);
        if let Some(t) = &self.root_tmpfs {
            let _ = writeln!(out, "\n[root.tmpfs]");
            t.write(&mut out);
        }
        section(&mut out, "namespaces", &self.namespaces);
        let has_env = !self.env.is_empty() || !self.env_set.is_empty();
        if !self.process.is_empty() || has_env {
            let _ = writeln!(out, "\n[process]");
            self.process.write(&mut out);
        }
        section(&mut out, "process.env", &self.env);
        section(&mut out, "process.env.set", &self.env_set);
        for s in &self.steps {
            out.push('\n');
            if let Some(c) = &s.comment {
                for l in c.lines() {
                    let _ = writeln!(out, "# {l}");
                }
            }
            let _ = writeln!(out, "[[step]]\nkind = {}", plan_string(s.kind));
            s.keys.write(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_for_toml_and_for_substitution() {
        let mut p = Plan::new("../schema/plan.schema.json");
        p.top.set("name", Value::str("a \"b\" ${X}"));
        p.root.set("path", Value::Var("${ROOTFS}".into()));
        p.env_set.set("A B", Value::str("$HOME"));
        p.step(Step::new("mkdir").s("path", "/a\nb"));
        let t = p.text();
        let back: toml::Table = toml::from_str(&t).unwrap();
        assert_eq!(back["name"].as_str(), Some("a \"b\" $${X}"), "{t}");
        assert_eq!(back["root"]["path"].as_str(), Some("${ROOTFS}"), "{t}");
        assert_eq!(
            back["process"]["env"]["set"]["A B"].as_str(),
            Some("$$HOME"),
            "{t}"
        );
        assert_eq!(back["step"][0]["path"].as_str(), Some("/a\nb"), "{t}");
        assert!(
            t.starts_with("#:schema ../schema/plan.schema.json\nversion = 1\n"),
            "{t}"
        );
    }
}
