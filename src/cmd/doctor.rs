//! `mountplan doctor [PLAN]`: what this kernel and host offer, and what of PLAN will fail.
//!
//! Takes the parsed arguments; checks PLAN (when given) as `check` does, probes the kernel
//! and the host ([`mountplan::doctor`]), and prints the report on stdout: text, or one JSON
//! document with `--format json`. Returns 0 when the plan (or any plan) can apply here, 1
//! when something will certainly fail or the plan is invalid, 2 when PLAN cannot be read.

use std::io::IsTerminal;

use mountplan::doctor::{self, RealHost};

use super::input::{Input, Naming};
use crate::cli::{DoctorArgs, DoctorFormat};

/// Runs `mountplan doctor`.
pub fn run(a: DoctorArgs) -> u8 {
    let root = mountplan::sys::linux::host::euid() == 0;
    let Some(path) = &a.plan else {
        let report = doctor::host_report(doctor::probe(!root, true));
        let out = match a.format {
            DoctorFormat::Text => doctor::text(&report, None, ""),
            DoctorFormat::Json => pretty(&doctor::json(&report, None, serde_json::json!({}))),
        };
        super::plan::print_out(&out);
        return u8::from(!report.can_apply());
    };
    let input = Input::new(path, Naming::AsTyped);
    let name = input.name.display().to_string();
    let (checked, unreadable) =
        input.check_api(&a.vars.set, a.vars.api.map(crate::cli::ApiArg::api));
    let dag = match (&checked.dag, checked.has_errors()) {
        (Some(dag), false) => dag,
        _ => {
            super::check::print_diags(&checked.sources, &checked.diags, a.color);
            eprintln!("mountplan: {name} is not valid: doctor judges only valid plans");
            if a.format == DoctorFormat::Json {
                let report = doctor::host_report(doctor::probe(!root, false));
                let mut v = doctor::json(&report, None, serde_json::json!({}));
                v["plan"] = serde_json::json!({
                    "file": name,
                    "valid": false,
                    "diagnostics": mountplan::diag::json(&checked.sources, &checked.diags)
                        ["diagnostics"],
                });
                v["can_apply"] = false.into();
                super::plan::print_out(&pretty(&v));
            }
            return if unreadable { 2 } else { 1 };
        }
    };
    let rootless = mountplan::exec::wants_userns(&dag.plan);
    let report = doctor::plan_report(doctor::probe(rootless, false), dag, &mut RealHost);
    let diags = report
        .plan
        .as_ref()
        .map(|p| p.diags.clone())
        .unwrap_or_default();
    let out = match a.format {
        DoctorFormat::Text => {
            let color = super::color_on(a.color, std::io::stdout().is_terminal());
            let width = if std::io::stdout().is_terminal() {
                100
            } else {
                80
            };
            let rendered = if diags.is_empty() {
                String::new()
            } else {
                mountplan::diag::render_human(&checked.sources, &diags, width, color)
            };
            doctor::text(&report, Some(&name), &rendered)
        }
        DoctorFormat::Json => {
            let mut v = doctor::json(
                &report,
                Some(&name),
                mountplan::diag::json(&checked.sources, &diags),
            );
            v["plan"]["valid"] = true.into();
            pretty(&v)
        }
    };
    super::plan::print_out(&out);
    u8::from(!report.can_apply())
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
