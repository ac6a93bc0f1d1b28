//! The schema and validation agree: the step keys, the required keys and the words of the schema
//! are those validation takes and reports.

use super::*;

#[test]
fn the_step_keys_are_the_kinds_fields_and_the_schema_s() {
    use std::collections::BTreeSet;
    let listed: BTreeSet<&str> = crate::raw::STEP_KEYS.iter().copied().collect();
    let mut allowed: BTreeSet<&str> = ["kind", "id", "after", "note"].into();
    for k in crate::raw::StepKind::ALL {
        allowed.extend(super::super::step::allowed(k).iter().copied());
    }
    assert_eq!(
        listed, allowed,
        "raw::STEP_KEYS against the fields validation allows"
    );
    let schema = crate::raw::schema();
    let branches = schema["$defs"]["Step"]["oneOf"]
        .as_array()
        .expect("the schema describes each kind of step");
    let mut in_schema: BTreeSet<String> = BTreeSet::new();
    for (b, k) in branches.iter().zip(crate::raw::StepKind::ALL) {
        assert_eq!(b["properties"]["kind"]["const"], k.as_str());
        let keys: BTreeSet<&str> = b["properties"]
            .as_object()
            .expect("a branch lists its keys")
            .keys()
            .map(String::as_str)
            .collect();
        let mut want: BTreeSet<&str> = ["kind", "id", "after", "note"].into();
        want.extend(super::super::step::allowed(k).iter().copied());
        assert_eq!(keys, want, "the schema's keys of a `{}` step", k.as_str());
        in_schema.extend(keys.iter().map(|s| s.to_string()));
    }
    let in_schema: BTreeSet<&str> = in_schema.iter().map(String::as_str).collect();
    assert_eq!(listed, in_schema, "raw::STEP_KEYS against the schema");
}

/// A valid value for each key the kinds require, for the tests below.
fn sample(key: &str) -> &'static str {
    match key {
        "type" => "\"tmpfs\"",
        "target" => "\"/mnt\"",
        "options" => "[\"ro\"]",
        "propagation" => "\"private\"",
        "path" => "\"/x\"",
        "to" => "\"/y\"",
        "mode" => "\"0755\"",
        other => panic!("no sample value for `{other}`"),
    }
}

/// raw::StepKind::required (what the schema requires) is what validation reports missing:
/// each required key left out, the others given, is reported; all given, none is.
#[test]
fn the_required_keys_are_those_validation_reports_missing() {
    use crate::raw::StepKind;
    let missing = |k: StepKind, given: &[&str]| -> Vec<String> {
        let mut body = format!("[[step]]\nkind = \"{}\"\n", k.as_str());
        for g in given {
            body.push_str(&format!("{g} = {}\n", sample(g)));
        }
        if k == StepKind::Mknod {
            body.push_str("node = \"fifo\"\n");
        }
        let (_, d, _) = check(&format!("{HEAD}{body}"));
        d.iter()
            .filter(|d| d.code == "mountplan::step::missing")
            .map(|d| d.message.clone())
            .collect()
    };
    for k in StepKind::ALL {
        let req = k.required();
        assert_eq!(missing(k, req), Vec::<String>::new(), "`{}`", k.as_str());
        for r in req {
            let others: Vec<&str> = req.iter().copied().filter(|x| x != r).collect();
            assert_eq!(
                missing(k, &others),
                [format!("a `{}` step needs `{r}`", k.as_str())],
                "`{}` without `{r}`",
                k.as_str()
            );
        }
    }
}

/// Validation takes exactly the words the schema lists as enums (raw::words), and refuses
/// another.
#[test]
fn the_schema_s_words_are_those_validation_takes() {
    let step = |key: &str, w: &str| -> String {
        match key {
            "strategy" => format!("kind = \"pivot\"\nstrategy = \"{w}\""),
            "fallback" => {
                let first = if w == "chroot" {
                    "pivot-root"
                } else {
                    "chroot"
                };
                format!("kind = \"pivot\"\nstrategy = \"{first}\"\nfallback = \"{w}\"")
            }
            "node" => format!(
                "kind = \"mknod\"\npath = \"/x\"\nnode = \"{w}\"{}",
                if w == "fifo" {
                    ""
                } else {
                    "\nmajor = 1\nminor = 3"
                }
            ),
            "propagation" => {
                format!("kind = \"propagation\"\ntarget = \"/\"\npropagation = \"{w}\"")
            }
            "create" => {
                format!("kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/m\"\ncreate = \"{w}\"")
            }
            other => panic!("{other}"),
        }
    };
    for key in ["strategy", "fallback", "node", "propagation", "create"] {
        let words = crate::raw::words(key).expect("the key has words");
        for w in words.iter().chain(&["no-such-word"]) {
            let (p, d, _) = check(&format!("{HEAD}[[step]]\n{}\n", step(key, w)));
            let errors: Vec<_> = d.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
            if *w == "no-such-word" {
                assert!(p.is_none() && errors.len() == 1, "{key} = {w}: {errors:?}");
            } else {
                assert!(p.is_some(), "{key} = {w}: {errors:?}");
            }
        }
    }
}
