//! The plan format reference as Markdown, generated from the JSON Schema (and so from the doc
//! comments in [`crate::raw`]) and from the fragments ([`crate::fragments`]: their comments
//! and, through the pipeline, their steps), checked in at `docs/plan-format.md`.
//!
//! Takes nothing; returns the Markdown text. A test fails when the checked-in file is stale.

use serde_json::Value;

fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn type_of(v: &Value, defs: &Value) -> String {
    // A few words, or a `${NAME}` (an inline anyOf of an enum and the Variable string).
    if let Some(words) = v
        .get("anyOf")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find_map(|x| x.get("enum")))
        .and_then(Value::as_array)
    {
        let w: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
        return format!("{} (or a `${{NAME}}`)", w.join(" or "));
    }
    if let Some(c) = v.get("const") {
        return format!("`{c}`");
    }
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        let d = &defs[name];
        if d.get("oneOf").is_some() || d.get("anyOf").is_some() {
            let alts = d.get("oneOf").or_else(|| d.get("anyOf"));
            let parts: Vec<String> = alts
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| match x.get("const") {
                            Some(c) => format!("`{c}`"),
                            None => type_of(x, defs),
                        })
                        .collect()
                })
                .unwrap_or_default();
            return parts.join(" or ");
        }
        return format!("table ({name})");
    }
    match v.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!("array of {}", type_of(&v["items"], defs))
        }
        Some(Value::String(t)) if t == "object" => "table".into(),
        Some(Value::String(t)) => t.clone(),
        _ => "value".into(),
    }
}

fn table(out: &mut String, title: &str, def: &Value, defs: &Value) {
    table_at(out, "##", title, def, defs, &[]);
}

/// A table of `def`'s keys under a heading of `level`, but the keys in `skip`.
fn table_at(out: &mut String, level: &str, title: &str, def: &Value, defs: &Value, skip: &[&str]) {
    out.push_str(&format!("\n{level} {title}\n\n"));
    if let Some(d) = def.get("description").and_then(Value::as_str) {
        out.push_str(d);
        out.push_str("\n\n");
    }
    out.push_str("| key | type | meaning |\n| --- | --- | --- |\n");
    let req: Vec<&str> = def
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = def.get("properties").and_then(Value::as_object) {
        for (k, v) in props.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
            let mut ty = type_of(v, defs);
            if req.contains(&k.as_str()) {
                ty.push_str(", required");
            }
            let desc = v.get("description").and_then(Value::as_str).unwrap_or("");
            out.push_str(&format!("| `{k}` | {ty} | {} |\n", one_line(desc)));
        }
    }
}

/// The Markdown reference (the bytes of `docs/plan-format.md`).
pub fn markdown() -> String {
    let s = crate::raw::schema();
    let defs = &s["$defs"];
    let mut out = String::from(
        "# Plan format reference\n\n\
         Generated from the plan types' documentation by `mountplan schema --markdown`; \
         the JSON Schema is schema/plan.schema.json. Do not edit by hand: a test fails when \
         this file is stale (`MOUNTPLAN_BLESS=1 cargo test --test schema` rewrites it).\n",
    );
    table(&mut out, "Top level", &s, defs);
    for (name, title) in [
        ("Root", "[root]"),
        ("TmpfsRoot", "[root.tmpfs]"),
        ("Namespaces", "[namespaces]"),
        ("Process", "[process]"),
        ("ProcessEnv", "[process.env]"),
    ] {
        table(&mut out, title, &defs[name], defs);
    }
    out.push_str("\n## Step kinds\n\n| kind | what it does |\n| --- | --- |\n");
    if let Some(kinds) = defs["StepKind"]["oneOf"].as_array() {
        for k in kinds {
            out.push_str(&format!(
                "| `{}` | {} |\n",
                k["const"].as_str().unwrap_or(""),
                one_line(k["description"].as_str().unwrap_or(""))
            ));
        }
    }
    steps(&mut out, defs);
    fragments(&mut out);
    out
}

/// The `[[step]]` section: the keys every step takes, then each kind's own (its branch of the
/// schema's `oneOf`), with the required ones marked.
fn steps(out: &mut String, defs: &Value) {
    const COMMON: [&str; 4] = ["kind", "id", "after", "note"];
    let step = &defs["Step"];
    let branches = step["oneOf"].as_array().cloned().unwrap_or_default();
    let mut common = serde_json::json!({
        "description": step["description"],
        "required": ["kind"],
        "properties": {},
    });
    if let Some(first) = branches.first() {
        for k in COMMON {
            common["properties"][k] = first["properties"][k].clone();
        }
        common["properties"]["kind"] = serde_json::json!({
            "$ref": "#/$defs/StepKind",
            "description": "What the step does: one of the kinds below.",
        });
    }
    table(out, "[[step]]", &common, defs);
    out.push_str(
        "\nEach kind takes these and its own keys, below; any other key is an error. A string \
         value may hold a `${NAME}`, checked once substituted.\n",
    );
    for b in &branches {
        let kind = b["properties"]["kind"]["const"].as_str().unwrap_or("");
        let mut b = b.clone();
        b["description"] = b["properties"]["kind"]["description"].clone();
        table_at(out, "###", &format!("kind = \"{kind}\""), &b, defs, &COMMON);
    }
}

/// The section listing every fragment: its comment, the namespaces it turns on and each step
/// in a line of plain words, as the dry run words it.
fn fragments(out: &mut String) {
    out.push_str(
        "\n## Fragments\n\n\
         Short plans shipped inside mountplan, included by name: `include = [\"mountplan:usr\", \
         \"mountplan:dev\"]`. Their steps come before the plan's own, in `include` order, and \
         the dry run shows where each comes from (`from: mountplan:dev, line 25`). A fragment \
         turns on the namespaces its steps need (the plan's own `[namespaces]` overrides \
         them); its `name`, `description` and `[root]` are only for viewing it alone: \
         `mountplan plan mountplan:dev`. The sources are in src/fragments/.\n",
    );
    for f in crate::fragments::ALL {
        let name = f.full_name();
        out.push_str(&format!("\n### `{name}`\n\n"));
        // The comment at the top of the file, but its first line (`#:schema`) and its name.
        let comment: Vec<&str> = f
            .text
            .lines()
            .skip(1)
            .map_while(|l| l.strip_prefix('#'))
            .map(str::trim)
            .collect();
        let text = comment.join(" ");
        let text = text.strip_prefix(&format!("{name} - ")).unwrap_or(&text);
        let mut chars = text.chars();
        let text: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        out.push_str(&text);
        out.push('\n');
        let checked = crate::check(std::path::Path::new(&name), &[], &mut |p| {
            Err(std::io::Error::other(format!(
                "{} is not read",
                p.display()
            )))
        });
        let Some(dag) = checked.dag else {
            out.push_str("\n(not a valid plan: `mountplan check` says why)\n");
            continue;
        };
        let ns = &dag.plan.namespaces;
        let on: Vec<&str> = [
            (ns.pid, "pid"),
            (ns.ipc, "ipc"),
            (ns.uts, "uts"),
            (ns.net, "net"),
            (ns.cgroup, "cgroup"),
        ]
        .into_iter()
        .filter_map(|(b, n)| b.then_some(n))
        .collect();
        if !on.is_empty() {
            out.push_str(&format!("\nNamespaces it turns on: {}.\n", on.join(", ")));
        }
        out.push_str("\n| step | kind | what it does |\n| --- | --- | --- |\n");
        for s in &dag.plan.steps {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                s.id,
                s.kind().as_str(),
                one_line(&crate::render::summary::summary(s))
            ));
        }
    }
}
