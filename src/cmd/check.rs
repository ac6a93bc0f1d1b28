//! `check`, `schema`, `completions`, `man` (stub, being written).
use crate::cli::{CheckArgs, CompletionsArgs, SchemaArgs};
pub fn run(_: CheckArgs) -> u8 {
    2
}
pub fn schema(a: SchemaArgs) -> u8 {
    if a.markdown {
        print!("{}", mountplan::reference::markdown());
    } else {
        print!("{}", mountplan::raw::schema_json());
    }
    0
}
pub fn completions(_: CompletionsArgs) -> u8 {
    2
}
pub fn man() -> u8 {
    2
}
