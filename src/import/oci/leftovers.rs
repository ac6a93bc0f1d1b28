//! The keys the plan does not carry: takes the config as JSON; returns one note for each key
//! the plan leaves out, with why.

use serde_json::Value as Json;

/// Why a key of the config is not in the plan, or `None` when the plan carries it.
fn why_not(path: &str) -> Option<&'static str> {
    Some(match path {
        "ociVersion"
        | "root"
        | "root.path"
        | "root.readonly"
        | "mounts"
        | "hostname"
        | "process"
        | "process.terminal"
        | "process.user"
        | "process.user.uid"
        | "process.user.gid"
        | "process.user.umask"
        | "process.user.additionalGids"
        | "process.args"
        | "process.env"
        | "process.cwd"
        | "process.capabilities"
        | "process.capabilities.bounding"
        | "process.capabilities.effective"
        | "process.capabilities.inheritable"
        | "process.capabilities.permitted"
        | "process.capabilities.ambient"
        | "process.noNewPrivileges"
        | "linux"
        | "linux.uidMappings"
        | "linux.gidMappings"
        | "linux.namespaces"
        | "linux.devices"
        | "linux.rootfsPropagation"
        | "linux.maskedPaths"
        | "linux.readonlyPaths" => {
            return None;
        }
        "process.rlimits" => "resource limits are not part of a mount plan",
        "process.apparmorProfile" => "an AppArmor profile is not part of a mount plan",
        "process.selinuxLabel" | "linux.mountLabel" => {
            "SELinux labels are not part of a mount plan"
        }
        "process.oomScoreAdj" => "the OOM score is not part of a mount plan",
        "process.consoleSize" => "the console size is not part of a mount plan",
        "process.commandLine" => "Windows only",
        "process.user.username" => "Windows only",
        "process.ioPriority" | "process.scheduler" | "process.execCPUAffinity" => {
            "scheduling is not part of a mount plan"
        }
        "linux.seccomp" => {
            "a seccomp filter is not part of a mount plan (the command gets mountplan's own \
             TIOCSTI filter)"
        }
        "linux.resources" | "linux.cgroupsPath" => "cgroups are not part of a mount plan",
        "linux.sysctl" => "sysctls are not part of a mount plan",
        "linux.intelRdt" | "linux.memoryPolicy" | "linux.personality" | "linux.timeOffsets"
        | "linux.netDevices" => "not part of a mount plan",
        "hooks" => "hooks (programs runc runs around the container) are not part of a mount plan",
        "annotations" => "annotations are not part of a mount plan",
        "domainname" => "the NIS domain name is not part of a mount plan",
        "solaris" | "windows" | "vm" | "zos" => "not for Linux",
        _ => "an unknown key",
    })
}

/// Every key of the config the plan does not carry, one note each.
pub(super) fn leftovers(json: &Json, notes: &mut Vec<String>) {
    fn walk(prefix: &str, v: &Json, notes: &mut Vec<String>) {
        let Json::Object(m) = v else { return };
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match why_not(&path) {
                Some(why) => notes.push(format!("{path}: not imported: {why}")),
                None => {
                    if matches!(
                        path.as_str(),
                        "root" | "process" | "process.user" | "process.capabilities" | "linux"
                    ) {
                        walk(&path, v, notes);
                    }
                }
            }
        }
    }
    walk("", json, notes);
}
