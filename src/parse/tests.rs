//! Tests of parsing a file: spans, suggestions, and the limits on problems shown.

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
    // The mkdir is read without its unknown key (its other keys are still checked); the
    // step of no known kind is dropped.
    assert_eq!(plan.step.len(), 2);
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

/// Past [`MAX_SYNTAX_ERRORS`] problems in a file, the steps with problems are counted in
/// one more diagnostic, at the first of them; past [`MAX_TABLE_PROBLEMS`] in one table,
/// the table is dropped with one more.
#[test]
fn problems_past_the_limits_are_counted_in_one() {
    let keys: String = (0..30).map(|k| format!("k{k} = 1\n")).collect();
    let t = format!("version = 1\n[[step]]\nkind = \"mkdir\"\n{keys}");
    let (plan, d) = p(&t);
    assert_eq!(d.len(), MAX_TABLE_PROBLEMS + 1);
    assert!(
        d[..MAX_TABLE_PROBLEMS]
            .iter()
            .all(|d| d.code == "mountplan::unknown_key")
    );
    assert_eq!(
        d[MAX_TABLE_PROBLEMS].message,
        "more than 20 problems in this table"
    );
    assert!(plan.step.is_empty());

    let step = "[[step]]\nkind = \"mkdir\"\nx = 1\ny = 2\n";
    let t = format!("version = 1\n{}", step.repeat(MAX_SYNTAX_ERRORS / 2 + 3));
    let (plan, d) = p(&t);
    assert_eq!(d.len(), MAX_SYNTAX_ERRORS + 1, "{d:#?}");
    assert_eq!(
        d[MAX_SYNTAX_ERRORS].message,
        "3 more steps have problems, from here on (not shown)"
    );
    assert_eq!(plan.step.len(), MAX_SYNTAX_ERRORS / 2);
}

#[test]
fn syntax_error_has_a_span() {
    let (_, d) = p("version = \n");
    assert_eq!(d[0].code, "mountplan::syntax");
    assert!(d[0].loc.is_some());
}

/// A table whose first reading fails is parsed again (`again`) only to read past a problem it
/// reports: once within the budget, never past it.
#[test]
fn a_table_is_parsed_again_only_for_a_problem_reported() {
    let text = "kind = \"mkdir\"\npath = \"/a\"\nx = 1\n";
    let table = || {
        let (t, _) = DeTable::parse_recoverable(text);
        Spanned::new(t.span(), DeValue::Table(t.into_inner()))
    };
    for (left, parsed, read) in [(0, 0, false), (5, 1, true)] {
        let mut n = 0;
        let mut again = || {
            n += 1;
            Some(table())
        };
        let mut budget = Budget {
            left,
            over: 0,
            first_over: None,
        };
        let (mut reported, mut diags) = (Vec::new(), Vec::new());
        let again: &mut dyn FnMut() -> _ = &mut again;
        let r: Option<raw::Step> = lenient(
            SourceId(0),
            0,
            table(),
            Some(again),
            None,
            &mut reported,
            &mut diags,
            &mut budget,
        );
        assert_eq!((n, r.is_some()), (parsed, read), "budget {left}");
        assert_eq!(diags.len(), parsed);
    }
}
