//! Unknown keys, typos, wrong types and bad kinds: each is one problem, and the rest is read.

use super::*;

#[test]
fn an_unknown_top_level_key_is_the_only_problem() {
    let t = "version = 1\nnmae = \"x\"\n[namespace]\npid = true\n[root]\ntmpfs = {}\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::unknown_key at \"nmae\"",
            "mountplan::unknown_key at \"namespace\""
        ]
    );
    assert_eq!(d[0].help.as_deref(), Some("did you mean `name`?"));
    assert_eq!(d[1].help.as_deref(), Some("did you mean `namespaces`?"));
}

#[test]
fn every_unknown_key_of_a_step_is_reported_and_its_typo_is_not_missing_too() {
    let t = format!(
        "{HEAD}[[step]]\nkind = \"mount\"\ntyp = \"bind\"\nsource = \"/usr\"\ntarget = \"/usr\"\noptoins = [\"ro\"]\n"
    );
    let (_, d, _) = check(&t);
    assert_eq!(
        listed(&t, &d),
        [
            "mountplan::unknown_key at \"typ\"",
            "mountplan::unknown_key at \"optoins\""
        ]
    );
    assert_eq!(d[0].help.as_deref(), Some("did you mean `type`?"));
    assert_eq!(d[1].help.as_deref(), Some("did you mean `options`?"));
}

/// A key that is not a typo of a missing one leaves that one missing: both are reported.
#[test]
fn an_unknown_key_that_is_no_typo_leaves_the_missing_key_reported() {
    let t = format!("{HEAD}[[step]]\nkind = \"mount\"\nxyzzy = 1\ntarget = \"/a\"\n");
    let (_, d, _) = check(&t);
    assert_eq!(
        listed(&t, &d),
        [
            "mountplan::unknown_key at \"xyzzy\"",
            "mountplan::step::missing at \"\\\"mount\\\"\""
        ]
    );
}

/// A value of the wrong type is one problem: its key is not then reported missing, and the
/// rest of the file is still read (no "no version", no "no [root]").
#[test]
fn a_wrong_type_is_one_problem_and_the_rest_is_read() {
    let t = "version = \"1\"\n[root]\npath = 7\n[[step]]\nkind = \"mkdir\"\npath = \"rel\"\nmode = 755\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::syntax at \"\\\"1\\\"\"",
            "mountplan::syntax at \"7\"",
            "mountplan::syntax at \"755\"",
            "mountplan::path::invalid at \"\\\"rel\\\"\""
        ]
    );
}

/// A typo of a required key at the top (`verison`, `[rot]`) and in `[root]` (`pth`) is the
/// only problem reported: not also "no version", "no [root]" or "needs `path` or `tmpfs`".
#[test]
fn a_typo_of_a_required_key_is_not_also_missing() {
    let t = "verison = 1\n[rot]\npath = \"/r\"\n";
    let (_, d, _) = check(t);
    assert_eq!(
        listed(t, &d),
        [
            "mountplan::unknown_key at \"verison\"",
            "mountplan::unknown_key at \"rot\""
        ]
    );
    let t = "version = 1\n[root]\npth = \"/r\"\n";
    let (_, d, _) = check(t);
    assert_eq!(listed(t, &d), ["mountplan::unknown_key at \"pth\""]);
    assert_eq!(d[0].help.as_deref(), Some("did you mean `path`?"));
}

/// A bad kind is one problem, not also "missing key `kind`".
#[test]
fn a_bad_kind_is_one_problem() {
    let t = format!(
        "{HEAD}[[step]]\nkind = \"mkdr\"\npath = \"/a\"\n[[step]]\nknid = \"mkdir\"\npath = \"/b\"\n"
    );
    let (_, d, _) = check(&t);
    assert_eq!(
        listed(&t, &d),
        [
            "mountplan::unknown_value at \"\\\"mkdr\\\"\"",
            "mountplan::unknown_key at \"knid\""
        ]
    );
}
