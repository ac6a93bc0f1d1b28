//! Unit tests of the renderer on plans from [`crate::graph::fixtures`]; the TOML plans in
//! plans/ and tests/fixtures/ are snapshot-tested in tests/render.rs.

use super::*;
use crate::graph::fixtures::*;
use crate::model::MsFlags;

fn sample() -> Dag {
    B::path_root("/srv/root")
        .s("dev", &[], tmpfs("/dev"))
        .s("null", &[], mknod("/dev/null"))
        .s("usr", &[], bind("/usr", "/usr", true))
        .s("etc", &["usr"], mkdir("/etc"))
        .s("etc-mode", &[], chmod("/etc", 0o700))
        .s("ro", &[], remount("/", MsFlags::MS_RDONLY))
        .s("kcore", &[], mask("/proc/kcore"))
        .s("pivot", &[], pivot())
        .dag()
}

#[test]
fn show_text() {
    let d = sample();
    let s = Sources::new();
    println!("{}", text(&s, &d, &d.warnings, &TextOptions::default()));
    println!("{}", markdown(&s, &d, &d.warnings));
    println!("{}", json(&s, &d, &d.warnings));
    println!("{}", mermaid(&d));
    println!("{}", dot(&d));
}
