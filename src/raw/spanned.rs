//! The spanned value of the raw plan.
//!
//! Takes a TOML value as serde gives it; returns an [`Spanned`], the value with the byte span it
//! came from, whose JSON Schema is the value's own. A text parsed apart from its file (one
//! `[[step]]` of it, see [`crate::parse`]) is read under [`with_base`], the offset of that text
//! in the file, so that spans are the file's all the same.

use std::cell::Cell;
use std::ops::Range;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

/// A value with the byte span it came from in its file.
///
/// Serde-transparent over `toml::Spanned<T>`; its JSON Schema is `T`'s, so the schema shows
/// the value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Byte range of the value in its file.
    pub span: Range<usize>,
}

impl<T> Spanned<T> {
    /// A value with a span (used by tests and by code that synthesises values).
    pub fn new(value: T, span: Range<usize>) -> Self {
        Spanned { value, span }
    }
}

/// Ordered by value, then span (as `Eq` compares both), so spanned names can key a map.
impl<T: Ord> Ord for Spanned<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value
            .cmp(&other.value)
            .then(self.span.start.cmp(&other.span.start))
            .then(self.span.end.cmp(&other.span.end))
    }
}

impl<T: Ord> PartialOrd for Spanned<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

thread_local! {
    /// What [`Spanned`]'s deserialisation adds to the spans toml gives (see [`with_base`]).
    static BASE: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with every [`Spanned`] it deserialises shifted by `base` bytes: the offset in its
/// file of the text toml parsed. Nested calls restore the outer base.
pub fn with_base<R>(base: usize, f: impl FnOnce() -> R) -> R {
    let outer = BASE.with(|b| b.replace(base));
    let r = f();
    BASE.with(|b| b.set(outer));
    r
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = toml::Spanned::<T>::deserialize(d)?;
        let span = s.span();
        let base = BASE.with(Cell::get);
        Ok(Spanned {
            value: s.into_inner(),
            span: span.start + base..span.end + base,
        })
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(g)
    }
}
