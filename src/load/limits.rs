//! The limits one plan is loaded under: a plan may come from anyone.
//!
//! Takes nothing; returns the [`Limits`] (the constants below by default, none for trusted
//! input), the error of a file too large ([`too_big`]), and, for the walk of the includes, the
//! [`Budget`] of one plan and the count of what parsing a text would build ([`value_marks`]).

use std::io;

/// How deep includes may nest.
pub(super) const MAX_DEPTH: usize = 16;
/// The largest plan file read, in bytes (2 MiB: parsing takes up to ~240 times that in
/// memory). A reader should stop reading past it; a longer text is refused here too.
pub const MAX_FILE_BYTES: usize = 2 << 20;
/// The most bytes one plan may read, all its includes together (16 MiB): includes may
/// repeat a file, so without it a few small files could include each other into billions.
pub const MAX_TOTAL_BYTES: usize = 16 << 20;
/// The most files one plan may read (or try to), the plan itself and every include counted.
pub const MAX_FILES: usize = 256;
/// The most value marks a plan may have, its includes counted: the bytes `=`, `.`, `,`, `[`
/// and `{`, counted before parsing, a bound on the keys, tables and values the TOML parser
/// would build (each costs it up to ~900 bytes: 2 MiB of dotted keys took 920 MB). A plan of
/// 10 000 steps has about 60 000.
pub const MAX_VALUE_MARKS: usize = 300_000;
/// The most steps a plan may have, its includes' steps counted. Real plans have tens; past
/// this the dry run and the final mount tree stop being reviewable.
pub const MAX_STEPS: usize = 10_000;

/// The limits one plan is loaded under. [`Limits::default`] holds the constants above: what
/// the command line applies to every plan, since a plan may come from anyone. A caller that
/// trusts its input (a benchmark of 100 000 steps) may lift them with [`Limits::none`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file, in bytes ([`MAX_FILE_BYTES`]).
    pub file_bytes: usize,
    /// All files together, in bytes ([`MAX_TOTAL_BYTES`]).
    pub total_bytes: usize,
    /// Files read or tried ([`MAX_FILES`]).
    pub files: usize,
    /// Steps, includes counted ([`MAX_STEPS`]).
    pub steps: usize,
    /// Value marks, includes counted ([`MAX_VALUE_MARKS`]).
    pub value_marks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            file_bytes: MAX_FILE_BYTES,
            total_bytes: MAX_TOTAL_BYTES,
            files: MAX_FILES,
            steps: MAX_STEPS,
            value_marks: MAX_VALUE_MARKS,
        }
    }
}

impl Limits {
    /// No limit but memory: for trusted, generated input only.
    pub fn none() -> Self {
        Limits {
            file_bytes: usize::MAX,
            total_bytes: usize::MAX,
            files: usize::MAX,
            steps: usize::MAX,
            value_marks: usize::MAX,
        }
    }
}

/// A text longer than `max` bytes as an error, for readers that do not stop there.
pub(super) fn within_limit(text: String, max: usize) -> io::Result<String> {
    if text.len() > max {
        return Err(too_big());
    }
    Ok(text)
}

/// The error of a file over [`MAX_FILE_BYTES`], as readers should report it.
pub fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!(
            "larger than the limit of {} MiB for a plan file",
            MAX_FILE_BYTES >> 20
        ),
    )
}

/// What one plan has used of the limits so far.
pub(super) struct Budget {
    pub(super) bytes: usize,
    /// Files read or tried.
    pub(super) files: usize,
    pub(super) steps: usize,
    /// The limit on steps was reported (once for the whole plan).
    pub(super) steps_reported: bool,
    /// A limit on files or bytes was reported: no more includes are read (each would be read
    /// in full only to be refused: a file can list hundreds of thousands of includes).
    pub(super) spent: bool,
    /// Value marks seen (see [`MAX_VALUE_MARKS`]).
    pub(super) marks: usize,
    pub(super) limits: Limits,
}

/// The bytes that open a key, a table or a value in TOML (`=`, `.`, `,`, `[`, `{`): an upper
/// bound, strings and comments included, of what parsing `text` builds.
pub(super) fn value_marks(text: &str) -> usize {
    // Counted in byte-sized counters over runs of at most 255 bytes, which the compiler turns
    // into vector compares: ~30 times faster than a filter and count (145 -> 5 us for 92 kB).
    text.as_bytes()
        .chunks(255)
        .map(|run| {
            run.iter()
                .map(|&b| u8::from(matches!(b, b'=' | b'.' | b',' | b'[' | b'{')))
                .sum::<u8>()
        })
        .map(usize::from)
        .sum()
}
