//! Which mount API an apply uses, and why.
//!
//! Takes the plan's [`Api`] (after `--api`) and the calls of the new mount API this kernel
//! lacks (from [`crate::sys::linux::newmount::missing`], asked once before anything is
//! changed); returns the API the apply uses with the reason in words, or why it cannot start.
//! Pure, so that every case is tested without such a kernel.

use crate::model::Api;

/// The API an apply uses and why, or (`Err`) why `api = "new"` cannot run here.
pub fn choose(plan: Api, missing: &[&str]) -> Result<(Api, String), String> {
    let lacks = || format!("this kernel lacks {}", missing.join(", "));
    match plan {
        Api::New if missing.is_empty() => Ok((Api::New, "the plan's api = \"new\"".into())),
        Api::New => Err(format!(
            "the plan's api = \"new\" needs the new mount API, and {} (ENOSYS): nothing was \
             applied; set api = \"classic\" or \"auto\" to use mount(2)",
            lacks()
        )),
        Api::Classic => Ok((Api::Classic, "the plan's api = \"classic\"".into())),
        Api::Auto if missing.is_empty() => Ok((
            Api::New,
            "auto: this kernel has the new mount API (fsopen, open_tree, ...)".into(),
        )),
        Api::Auto => Ok((Api::Classic, format!("auto: {}", lacks()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_api_on_each_kernel() {
        assert_eq!(
            choose(Api::Auto, &[]),
            Ok((
                Api::New,
                "auto: this kernel has the new mount API (fsopen, open_tree, ...)".to_string()
            ))
        );
        assert_eq!(
            choose(Api::Auto, &["fsopen", "open_tree"]),
            Ok((
                Api::Classic,
                "auto: this kernel lacks fsopen, open_tree".to_string()
            ))
        );
        assert_eq!(choose(Api::Classic, &[]).map(|x| x.0), Ok(Api::Classic));
        let e = choose(Api::New, &["fsopen"]).unwrap_err();
        assert!(e.contains("lacks fsopen (ENOSYS)"), "{e}");
        assert!(e.contains("nothing was applied"), "{e}");
    }
}
