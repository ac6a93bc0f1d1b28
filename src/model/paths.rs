//! Paths: [`RootPath`] (inside the new root) and [`HostPath`] (on the host), both absolute,
//! normalised, without `..` and within the kernel's limits.

use std::fmt;

/// The longest path accepted (bytes, without the NUL), as PATH_MAX - 1.
pub const MAX_PATH: usize = 4095;
/// The longest path component accepted (bytes), as NAME_MAX.
pub const MAX_COMPONENT: usize = 255;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The string is empty.
    Empty,
    /// It does not start with `/`.
    Relative,
    /// It contains a NUL byte.
    Nul,
    /// It contains a `..` component.
    DotDot,
    /// It is longer than [`MAX_PATH`] bytes.
    TooLong,
    /// A component is longer than [`MAX_COMPONENT`] bytes.
    ComponentTooLong,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Empty => "the path is empty",
            PathError::Relative => "the path is relative",
            PathError::Nul => "the path contains a NUL byte",
            PathError::DotDot => "the path contains a `..` component",
            PathError::TooLong => "the path is longer than 4095 bytes",
            PathError::ComponentTooLong => "a path component is longer than 255 bytes",
        })
    }
}

/// Checks and normalises an absolute path: collapses `//` and `.`, drops a trailing `/`.
fn normalise(s: &str) -> Result<String, PathError> {
    if s.is_empty() {
        return Err(PathError::Empty);
    }
    if s.as_bytes().contains(&0) {
        return Err(PathError::Nul);
    }
    if !s.starts_with('/') {
        return Err(PathError::Relative);
    }
    if s.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    let mut out = String::with_capacity(s.len());
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(PathError::DotDot),
            c if c.len() > MAX_COMPONENT => return Err(PathError::ComponentTooLong),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// An absolute, normalised path inside the new root (`/` is the root itself).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RootPath(String);

impl RootPath {
    /// Checks `s` (absolute, no `..`, no NUL, not too long) and normalises it.
    pub fn new(s: &str) -> Result<Self, PathError> {
        normalise(s).map(RootPath)
    }
    /// The root itself.
    pub fn root() -> Self {
        RootPath("/".into())
    }
    /// The path as a string, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The path without the leading `/` (empty for the root): what is passed to `openat2`
    /// relative to the root descriptor.
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }
    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }
    /// The parent directory (`/` for `/`).
    pub fn parent(&self) -> RootPath {
        match self.0.rfind('/') {
            Some(0) | None => RootPath::root(),
            Some(i) => RootPath(self.0[..i].to_string()),
        }
    }
    /// A path already as [`RootPath::new`] leaves it (the text of a `RootPath`, or the part of
    /// one before a `/`), taken as it is.
    pub(crate) fn normalised(s: &str) -> RootPath {
        debug_assert_eq!(RootPath::new(s).as_ref().map(RootPath::as_str), Ok(s));
        RootPath(s.to_string())
    }
    /// The last component (empty for `/`).
    pub fn file_name(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[i + 1..],
            None => "",
        }
    }
    /// True when `self` is `other` or below it.
    pub fn starts_with(&self, other: &RootPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
    /// `self` joined with a relative `rest` (which must be normalised: no `.`/`..`).
    pub fn join(&self, rest: &str) -> RootPath {
        let rest = rest.trim_matches('/');
        if rest.is_empty() {
            self.clone()
        } else if self.is_root() {
            RootPath(format!("/{rest}"))
        } else {
            RootPath(format!("{}/{rest}", self.0))
        }
    }
    /// Every ancestor from `/` down to the parent, then `self`.
    pub fn ancestors_and_self(&self) -> Vec<RootPath> {
        let mut v = vec![RootPath::root()];
        let mut cur = String::new();
        for c in self.relative().split('/').filter(|c| !c.is_empty()) {
            cur.push('/');
            cur.push_str(c);
            v.push(RootPath(cur.clone()));
        }
        v
    }
}

impl fmt::Display for RootPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute, normalised path on the host (bind sources, overlay layers, the root dir).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPath(String);

impl HostPath {
    /// Checks `s` (absolute, no `..`, no NUL, not too long) and normalises it.
    pub fn new(s: &str) -> Result<Self, PathError> {
        normalise(s).map(HostPath)
    }
    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_path_normalises_and_refuses() {
        assert_eq!(RootPath::new("/a//b/./c/").unwrap().as_str(), "/a/b/c");
        assert_eq!(RootPath::new("/").unwrap().as_str(), "/");
        assert_eq!(RootPath::new("a"), Err(PathError::Relative));
        assert_eq!(RootPath::new("/a/../b"), Err(PathError::DotDot));
        assert_eq!(RootPath::new("/a\0"), Err(PathError::Nul));
        assert_eq!(RootPath::new(""), Err(PathError::Empty));
        assert_eq!(
            RootPath::new(&format!("/{}", "x".repeat(256))),
            Err(PathError::ComponentTooLong)
        );
        assert_eq!(RootPath::new(&"/xx".repeat(1400)), Err(PathError::TooLong));
    }

    #[test]
    fn root_path_relations() {
        let p = RootPath::new("/dev/pts").unwrap();
        assert_eq!(p.parent().as_str(), "/dev");
        assert_eq!(p.file_name(), "pts");
        assert_eq!(p.relative(), "dev/pts");
        assert!(p.starts_with(&RootPath::new("/dev").unwrap()));
        assert!(
            !RootPath::new("/devx")
                .unwrap()
                .starts_with(&RootPath::new("/dev").unwrap())
        );
        assert!(p.starts_with(&RootPath::root()));
        let a: Vec<_> = p
            .ancestors_and_self()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(a, ["/", "/dev", "/dev/pts"]);
    }
}
