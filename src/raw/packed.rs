//! The steps of a raw plan as they are held between parse and validation: only the fields
//! that are set.
//!
//! Takes [`Step`]s as serde reads them; holds each as a [`Packed`] step (its kind, the fields
//! set, its `reported`), a few hundred bytes instead of a [`Step`]'s 1.2 KiB of mostly empty
//! fields; gives them back as [`Step`]s, by value, to validation ([`Steps::take`]). Its serde
//! and JSON Schema are `Vec<Step>`'s.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use super::{Idmap, SizeValue, Spanned, Step, StepKind};

/// Declares [`Field`], one variant per optional field of [`Step`] (its value, boxed where it
/// is large), and the moves between a [`Step`] and a [`Packed`] one.
macro_rules! fields {
    ($($name:ident: $ty:ty),* $(,)?) => {
        /// One field of a step that is set.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone)]
        enum Field {
            $($name($ty),)*
        }

        impl Packed {
            fn pack(s: Step) -> Packed {
                let Step { kind, reported, $($name,)* } = s;
                let mut fields = Vec::new();
                let n = 0 $(+ usize::from($name.is_some()))*;
                fields.reserve_exact(n);
                $(if let Some(v) = $name {
                    fields.push(Field::$name(v.into()));
                })*
                Packed { kind, fields, reported }
            }

            fn unpack(self) -> Step {
                $(let mut $name = None;)*
                for f in self.fields {
                    match f {
                        $(Field::$name(v) => $name = Some(Unbox::unbox(v)),)*
                    }
                }
                Step { kind: self.kind, reported: self.reported, $($name,)* }
            }
        }
    };
}

fields! {
    id: Spanned<String>,
    after: Vec<Spanned<String>>,
    note: Spanned<String>,
    fstype: Spanned<String>,
    source: Spanned<String>,
    target: Spanned<String>,
    options: Vec<Spanned<String>>,
    create: Spanned<String>,
    size: Spanned<SizeValue>,
    nr_inodes: Spanned<i64>,
    mode: Spanned<String>,
    uid: Spanned<i64>,
    gid: Spanned<i64>,
    newinstance: Spanned<bool>,
    ptmxmode: Spanned<String>,
    lower: Vec<Spanned<String>>,
    upper: Spanned<String>,
    work: Spanned<String>,
    data: Vec<Spanned<String>>,
    idmap: Box<Spanned<Idmap>>,
    propagation: Spanned<String>,
    recursive: Spanned<bool>,
    path: Spanned<String>,
    parents: Spanned<bool>,
    node: Spanned<String>,
    major: Spanned<i64>,
    minor: Spanned<i64>,
    from_host: Spanned<String>,
    to: Spanned<String>,
    strategy: Spanned<String>,
    fallback: Spanned<String>,
    put_old: Spanned<String>,
}

/// A [`Field`]'s value back as the [`Step`]'s (out of its box, for a boxed one).
trait Unbox<T> {
    fn unbox(self) -> T;
}

impl<T> Unbox<T> for T {
    fn unbox(self) -> T {
        self
    }
}

impl Unbox<Spanned<Idmap>> for Box<Spanned<Idmap>> {
    fn unbox(self) -> Spanned<Idmap> {
        *self
    }
}

/// A [`Step`] with only the fields that are set.
#[derive(Debug, Clone)]
pub struct Packed {
    kind: Spanned<StepKind>,
    fields: Vec<Field>,
    reported: Vec<String>,
}

/// The steps of a raw plan, packed ([`Packed`]); read and written as a `Vec<Step>`.
#[derive(Debug, Clone, Default)]
pub struct Steps(Vec<Packed>);

impl Steps {
    /// How many steps.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Room for `n` more.
    pub fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }
    /// Adds a step at the end.
    pub fn push(&mut self, s: Step) {
        self.0.push(Packed::pack(s));
    }
    /// Takes the steps out, in order, each a [`Step`] again as it is reached: each is freed
    /// once its taker drops it, and the list is left empty.
    pub fn take(&mut self) -> impl Iterator<Item = Step> + use<> {
        std::mem::take(&mut self.0).into_iter().map(Packed::unpack)
    }
    /// A copy of every step, unpacked (for tests and tools that read a raw plan).
    pub fn to_vec(&self) -> Vec<Step> {
        self.0.iter().cloned().map(Packed::unpack).collect()
    }
}

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<Step>::deserialize(d)?;
        Ok(Steps(v.into_iter().map(Packed::pack).collect()))
    }
}

impl JsonSchema for Steps {
    fn inline_schema() -> bool {
        <Vec<Step>>::inline_schema()
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <Vec<Step>>::schema_name()
    }
    fn schema_id() -> std::borrow::Cow<'static, str> {
        <Vec<Step>>::schema_id()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Vec<Step>>::json_schema(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packing keeps every field, and only those set take room.
    #[test]
    fn a_step_comes_back_as_it_went_in() {
        let text = "kind = \"mount\"\ntype = \"tmpfs\"\ntarget = \"/t\"\noptions = [\"ro\"]\n\
                    size = \"1M\"\nidmap = { uid = [[0, 1, 1]] }\nrecursive = true\nuid = 3\n";
        let s: Step = toml::from_str(text).unwrap();
        let p = Packed::pack(s.clone());
        assert_eq!(p.fields.len(), 7);
        assert_eq!(format!("{:?}", p.unpack()), format!("{s:?}"));
        assert!(std::mem::size_of::<Packed>() < 100);
        assert!(std::mem::size_of::<Field>() <= 48);
    }
}
