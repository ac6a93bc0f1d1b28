//! Which kernel mount API a plan's apply uses (`api = "auto" | "new" | "classic"`).
//!
//! Takes nothing; the validated plan holds one [`Api`]. The lowering (crate::lowering) makes the
//! new API's calls for `new` and `auto`, mount(2) and umount2(2) for `classic`; apply with
//! `auto` takes the classic calls when the kernel lacks the new API (the choice is
//! [`crate::exec::api::choose`]).

/// The mount API of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Api {
    /// The new API where the kernel has it, classic otherwise (the default).
    #[default]
    Auto,
    /// fsopen/fsconfig/fsmount, open_tree, move_mount, mount_setattr.
    New,
    /// mount(2) and umount2(2) only.
    Classic,
}

impl Api {
    /// The words of `api`, in the schema's order.
    pub const WORDS: [&'static str; 3] = ["auto", "new", "classic"];

    /// The word of the plan file.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Auto => "auto",
            Api::New => "new",
            Api::Classic => "classic",
        }
    }

    /// The API of a word.
    pub fn from_word(w: &str) -> Option<Api> {
        match w {
            "auto" => Some(Api::Auto),
            "new" => Some(Api::New),
            "classic" => Some(Api::Classic),
            _ => None,
        }
    }

    /// Whether the lowering makes mount(2) calls rather than the new API's.
    pub fn is_classic(self) -> bool {
        self == Api::Classic
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
