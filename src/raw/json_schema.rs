//! The JSON Schema of a plan file, made from the raw types.
//!
//! Takes the raw types (their doc comments are the descriptions); returns the schema
//! ([`schema`]) and its checked-in bytes, `schema/plan.schema.json` ([`schema_json`]).

use super::{Plan, StepKind, words};

/// The JSON Schema of a plan file, as checked in at `schema/plan.schema.json`.
///
/// The raw [`Step`](super::Step) is one flat struct (spans survive only there); its schema
/// is rewritten here into one branch per kind (a `oneOf` on `kind`), each listing exactly the
/// keys of [`StepKind::keys`] with [`StepKind::required`] and `additionalProperties: false`,
/// and the words of [`words`] and the mount options as enums, so that an editor completes
/// them and flags a wrong value, a key of another kind and a missing key. A string may also
/// hold a `${NAME}` (checked once substituted).
pub fn schema() -> serde_json::Value {
    let mut v = serde_json::to_value(schemars::schema_for!(Plan)).unwrap_or_default();
    drop_null(&mut v);
    // `api`'s words as an enum (or a `${NAME}`), as a step's words are.
    if let Some(serde_json::Value::Object(m)) = v["properties"].get_mut("api") {
        m.remove("type");
        m.insert(
            "anyOf".into(),
            serde_json::json!([
                { "enum": crate::model::Api::WORDS },
                { "$ref": "#/$defs/Variable" },
            ]),
        );
    }
    let defs = &mut v["$defs"];
    let kinds = defs["StepKind"].clone();
    let flat = defs["Step"].clone();
    defs["Step"] = step_schema(&flat, &kinds);
    defs["Variable"] = serde_json::json!({
        "description": "A string with `${NAME}` in it, checked once the variables are substituted.",
        "type": "string",
        "pattern": "\\$\\{",
    });
    v
}

/// The schema of a `[[step]]`: `kind` required, then one branch per kind.
fn step_schema(flat: &serde_json::Value, kinds: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let props = flat["properties"].as_object().cloned().unwrap_or_default();
    let kind_doc = |k: StepKind| {
        kinds["oneOf"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["const"] == k.as_str()))
            .and_then(|x| x["description"].as_str())
            .unwrap_or("")
            .to_string()
    };
    // A key's schema, with its words as an enum (or a `${NAME}`).
    let typed = |key: &str| -> Value {
        let mut s = props.get(key).cloned().unwrap_or_else(|| json!({}));
        let one_of = |words: Vec<&str>| {
            json!({ "anyOf": [
                { "enum": words },
                { "$ref": "#/$defs/Variable" },
            ]})
        };
        if let Some(w) = words(key) {
            if let Value::Object(m) = &mut s {
                m.remove("type");
                if let Value::Object(e) = one_of(w.to_vec()) {
                    m.extend(e);
                }
            }
        } else if key == "options" {
            // The plain words, then OCI's recursive spellings (`rro`, ...).
            let rec: Vec<String> = crate::model::REC_WORDS
                .iter()
                .map(|w| format!("r{w}"))
                .collect();
            let w: Vec<&str> = crate::model::FLAG_WORDS
                .iter()
                .map(|(n, _, _)| *n)
                .chain(rec.iter().map(String::as_str))
                .collect();
            s["items"] = one_of(w);
        }
        s
    };
    let branches: Vec<Value> = StepKind::ALL
        .iter()
        .map(|&k| {
            let mut p = Map::new();
            p.insert(
                "kind".into(),
                json!({ "const": k.as_str(), "description": kind_doc(k) }),
            );
            for key in ["id", "after", "note"].iter().chain(k.keys()) {
                p.insert((*key).into(), typed(key));
            }
            let mut required = vec!["kind"];
            required.extend(k.required());
            let mut b = json!({
                "title": format!("{} step", k.as_str()),
                "type": "object",
                "properties": p,
                "required": required,
                "additionalProperties": false,
            });
            if k == StepKind::Mknod {
                b["anyOf"] = json!([{ "required": ["node"] }, { "required": ["from_host"] }]);
            }
            b
        })
        .collect();
    json!({
        "description": flat["description"],
        "type": "object",
        "properties": { "kind": { "$ref": "#/$defs/StepKind" } },
        "required": ["kind"],
        "oneOf": branches,
    })
}

/// TOML has no null: an optional key is simply absent. schemars writes `Option<T>` as
/// "T or null"; this removes the null alternative everywhere.
fn drop_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(types)) = m.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    m.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(alts)) = m.get_mut("anyOf") {
                alts.retain(|a| a.get("type").is_none_or(|t| t != "null"));
                if alts.len() == 1 {
                    if let Some(Value::Object(only)) = alts.pop() {
                        m.remove("anyOf");
                        for (k, val) in only {
                            m.entry(k).or_insert(val);
                        }
                    }
                }
            }
            for (_, x) in m.iter_mut() {
                drop_null(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null),
        _ => {}
    }
}

/// The schema as pretty JSON with a trailing newline (the checked-in bytes).
pub fn schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    s.push('\n');
    s
}
