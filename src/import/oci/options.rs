//! A mount's `options` as runc sorts them: takes the option words of one entry of `mounts`;
//! returns the plain flags, the recursive ones, bind, propagation, filesystem data, and the
//! words the plan cannot carry with why.

/// The plain mount flags a plan can write, as runc reads them: word, flag word in the plan,
/// set (`true`) or clear.
const PLAIN: &[(&str, &str, bool)] = &[
    ("ro", "ro", true),
    ("rw", "ro", false),
    ("nosuid", "nosuid", true),
    ("suid", "nosuid", false),
    ("nodev", "nodev", true),
    ("dev", "nodev", false),
    ("noexec", "noexec", true),
    ("exec", "noexec", false),
    ("relatime", "relatime", true),
    ("norelatime", "relatime", false),
    ("noatime", "noatime", true),
    ("atime", "noatime", false),
    ("strictatime", "strictatime", true),
    ("nostrictatime", "strictatime", false),
    ("nodiratime", "nodiratime", true),
    ("diratime", "nodiratime", false),
    ("sync", "sync", true),
    ("async", "sync", false),
    ("dirsync", "dirsync", true),
    ("silent", "silent", true),
    ("loud", "silent", false),
];

/// The order the plan writes flag words in.
const WORDS: [&str; 11] = [
    "ro",
    "nosuid",
    "nodev",
    "noexec",
    "relatime",
    "noatime",
    "strictatime",
    "nodiratime",
    "sync",
    "dirsync",
    "silent",
];

/// runc's recursive options the plan has no word for (it takes `rro`, `rrw`, `rnosuid`, ...:
/// [`crate::model::REC_WORDS`] with an `r` in front).
const REC_OTHER: &[&str] = &[
    "rdiratime",
    "ratime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// The flag a plan option word sets or clears.
fn flag_of(word: &str) -> Option<crate::model::MsFlags> {
    crate::model::FLAG_WORDS
        .iter()
        .find(|(n, _, _)| *n == word)
        .map(|(_, f, _)| *f)
}

/// A mount's options as runc sorts them.
#[derive(Default)]
pub(super) struct Options {
    /// Plain flags, by plan word: set or cleared (last word wins, as in runc).
    pub(super) plain: Vec<(&'static str, bool)>,
    /// Recursive flags, as OCI and the plan spell them (`rro`, `rrw`, ...; the last of a
    /// flag wins, as in runc).
    pub(super) rec: Vec<String>,
    pub(super) bind: bool,
    pub(super) rbind: bool,
    /// The propagation option: (kind, recursive).
    pub(super) propagation: Option<(&'static str, bool)>,
    /// Filesystem data, `key` or `key=value`.
    pub(super) data: Vec<String>,
    /// Options the plan cannot carry, with why.
    pub(super) dropped: Vec<(String, &'static str)>,
}

impl Options {
    pub(super) fn parse(opts: &[String]) -> Options {
        let mut o = Options::default();
        for w in opts {
            let w = w.as_str();
            if let Some((_, word, set)) = PLAIN.iter().find(|(n, _, _)| *n == w) {
                o.plain.retain(|(x, _)| x != word);
                o.plain.push((word, *set));
            } else if let Some(base) = crate::model::rec_base(w) {
                let atime = crate::model::MsFlags::MS_NOATIME
                    | crate::model::MsFlags::MS_RELATIME
                    | crate::model::MsFlags::MS_STRICTATIME;
                let f = flag_of(base);
                o.rec.retain(|x| {
                    let g = flag_of(&x[1..]);
                    !(g == f
                        || (f.is_some_and(|f| atime.contains(f))
                            && g.is_some_and(|g| atime.contains(g))))
                });
                o.rec.push(w.to_string());
            } else if REC_OTHER.contains(&w) {
                o.dropped.push((
                    w.to_string(),
                    "a plan has no recursive spelling of this flag (it takes `rro`, `rrw`, \
                     `rnosuid`, `rsuid`, `rnodev`, `rdev`, `rnoexec`, `rexec`, `rrelatime`, \
                     `rnorelatime`, `rnoatime`, `rstrictatime`, `rnodiratime`)",
                ));
            } else {
                match w {
                    "bind" => o.bind = true,
                    "rbind" => o.rbind = true,
                    "defaults" => {}
                    "private" | "slave" | "shared" | "unbindable" => {
                        o.propagation = Some((prop_name(w), false))
                    }
                    "rprivate" | "rslave" | "rshared" | "runbindable" => {
                        o.propagation = Some((prop_name(&w[1..]), true))
                    }
                    "idmap" | "ridmap" => o.dropped.push((
                        w.to_string(),
                        "it idmaps with the container's own user namespace maps, which a plan \
                         does not have: give the mount uidMappings and gidMappings",
                    )),
                    "tmpcopyup" => o.dropped.push((
                        w.to_string(),
                        "runc's copy of the mountpoint's content into the tmpfs has no step",
                    )),
                    "remount" => o.dropped.push((
                        w.to_string(),
                        "a remount of an existing mount is a `remount` step of its own",
                    )),
                    "acl" | "noacl" | "mand" | "nomand" | "iversion" | "noiversion"
                    | "lazytime" | "nolazytime" | "nosymfollow" | "symfollow" => o
                        .dropped
                        .push((w.to_string(), "mountplan has no such mount flag")),
                    _ => o.data.push(w.to_string()),
                }
            }
        }
        o
    }
    /// The plain flags that are set, in the plan's order.
    pub(super) fn words(&self) -> Vec<String> {
        WORDS
            .iter()
            .filter(|w| self.plain.iter().any(|(x, set)| x == *w && *set))
            .map(|w| w.to_string())
            .collect()
    }
}

pub(super) fn prop_name(w: &str) -> &'static str {
    match w {
        "private" => "private",
        "slave" => "slave",
        "shared" => "shared",
        _ => "unbindable",
    }
}
