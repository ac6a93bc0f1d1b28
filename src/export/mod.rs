//! Exporters: takes a validated plan ([`crate::model::Plan`]); returns another tool's
//! configuration that builds the same thing, and a note for each thing that tool cannot do
//! (a rollback of host changes, a step it has no option for, a pivot strategy it lacks).

pub mod bwrap;
