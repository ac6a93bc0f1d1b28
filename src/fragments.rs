//! Fragments: short plans shipped inside mountplan, included by name
//! (`include = ["mountplan:dev"]`).
//!
//! Takes a name; returns the fragment's text, embedded from `src/fragments/NAME.toml`. Each
//! fragment is a valid plan by itself (`mountplan plan mountplan:dev` shows what it makes).
//! Included, it adds its steps and its `[namespaces]` (which the including plan overrides);
//! its `name`, `description` and `[root]` are only for viewing it alone. [`crate::load`]
//! resolves the names; docs/plan-format.md lists them (generated from [`ALL`]).

/// What every fragment name starts with, in `include` and on the command line.
pub const PREFIX: &str = "mountplan:";

/// One fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// The name after [`PREFIX`] (`dev` for `mountplan:dev`).
    pub name: &'static str,
    /// The plan's text.
    pub text: &'static str,
}

impl Fragment {
    /// The name as included: `mountplan:dev`.
    pub fn full_name(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }
}

macro_rules! fragment {
    ($name:literal) => {
        Fragment {
            name: $name,
            text: include_str!(concat!("fragments/", $name, ".toml")),
        }
    };
}

/// Every fragment, in the order docs/plan-format.md lists them.
pub const ALL: &[Fragment] = &[
    fragment!("usr"),
    fragment!("proc"),
    fragment!("dev"),
    fragment!("tmp"),
    fragment!("oci-mounts"),
    fragment!("oci-devices"),
    fragment!("oci-paths"),
];

/// True when `name` is written as a fragment's (`mountplan:...`), known or not.
pub fn is_fragment_name(name: &str) -> bool {
    name.starts_with(PREFIX)
}

/// The fragment `name` names (`mountplan:dev`), when there is one.
pub fn get(name: &str) -> Option<&'static Fragment> {
    let short = name.strip_prefix(PREFIX)?;
    ALL.iter().find(|f| f.name == short)
}

/// The full names of every fragment, for a list in a diagnostic.
pub fn names() -> Vec<String> {
    ALL.iter().map(Fragment::full_name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_with_the_prefix_only() {
        assert_eq!(get("mountplan:dev").map(|f| f.name), Some("dev"));
        assert_eq!(get("dev"), None);
        assert_eq!(get("mountplan:"), None);
        assert_eq!(get("mountplan:nope"), None);
        assert!(is_fragment_name("mountplan:nope"));
        assert!(!is_fragment_name("plans/dev.toml"));
    }

    fn check(text: &str) -> crate::Checked {
        let text = text.to_string();
        crate::check(std::path::Path::new("p.toml"), &[], &mut |p| {
            assert_eq!(p, std::path::Path::new("p.toml"), "only the plan is read");
            Ok(text.clone())
        })
    }

    #[test]
    fn included_a_fragment_adds_its_steps_and_namespaces_not_its_header() {
        let c = check("version = 1\ninclude = [\"mountplan:proc\"]\n[root]\npath = \"/srv/r\"\n");
        assert!(!c.has_errors(), "{:?}", c.diags);
        let plan = &c.dag.as_ref().expect("valid").plan;
        assert_eq!(plan.name, "p");
        assert_eq!(plan.description, None);
        assert!(
            matches!(&plan.root, crate::model::Root::Path(p) if p.to_string() == "/srv/r"),
            "{:?}",
            plan.root
        );
        assert!(
            plan.namespaces.pid,
            "mountplan:proc turns on a pid namespace"
        );
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].id.as_str(), "proc");
        assert_eq!(plan.includes, ["mountplan:proc"]);
        // The plan's own namespaces override the fragment's.
        let c = check(
            "version = 1\ninclude = [\"mountplan:proc\"]\n[root]\ntmpfs = {}\n\
             [namespaces]\npid = false\n",
        );
        assert!(!c.dag.expect("valid").plan.namespaces.pid);
    }

    #[test]
    fn a_fragments_root_does_not_stand_for_the_plans() {
        let c = check("version = 1\ninclude = [\"mountplan:tmp\"]\n");
        let codes: Vec<_> = c.diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["mountplan::root::missing"]);
    }

    #[test]
    fn every_fragment_is_a_valid_plan_without_a_warning() {
        for f in ALL {
            let c = crate::check(std::path::Path::new(&f.full_name()), &[], &mut |p| {
                panic!("{}: read {}", f.name, p.display())
            });
            assert!(c.diags.is_empty(), "{}: {:?}", f.name, c.diags);
            assert!(c.dag.is_some());
            let first = f.text.lines().next().unwrap_or("");
            assert_eq!(
                first, "#:schema ../../schema/plan.schema.json",
                "{}",
                f.name
            );
            assert!(
                f.text.contains(&format!("name = \"{}\"", f.full_name())),
                "{}",
                f.name
            );
        }
    }

    #[test]
    fn every_fragment_file_is_listed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/fragments");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("src/fragments exists")
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".toml")
                    .map(str::to_string)
            })
            .collect();
        files.sort();
        let mut listed: Vec<String> = ALL.iter().map(|f| f.name.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed);
    }
}
