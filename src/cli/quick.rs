//! The quick way in: takes the arguments after `mountplan`; returns the [`ApplyArgs`] of a
//! common `apply` command line, read without clap, or `None` for clap to parse.

use std::path::PathBuf;

use super::{ApplyArgs, ApplyFormat, VarArgs, parse_var};

/// `mountplan apply ...` read without clap, for the common command lines: building clap's
/// parser is ~0.1 ms of a ~2 ms apply. Returns `None` for anything it does not take exactly as
/// clap would (help, version, a flag given twice, an unknown flag, a value that starts with
/// `-`, an invalid `--set`, ...): the caller then parses with clap, which also prints every
/// error. Every command line it accepts, clap accepts with the same result (a unit test holds
/// it to that).
pub fn quick_apply(args: &[std::ffi::OsString]) -> Option<ApplyArgs> {
    let (sub, rest) = args.split_first()?;
    if sub != "apply" {
        return None;
    }
    let mut plan: Option<PathBuf> = None;
    let mut set = Vec::new();
    let mut persist = None;
    let mut no_verify = false;
    let mut keep_terminal = false;
    let mut format = None;
    let mut report = false;
    let mut report_fd = None;
    let mut state_dir = None;
    let mut api = None;
    let mut command = Vec::new();
    let mut it = rest.iter();
    // A value that clap takes as a value, never as a flag, and does not refuse as empty.
    fn value(v: &std::ffi::OsStr) -> Option<&std::ffi::OsStr> {
        let b = v.as_encoded_bytes();
        (!b.is_empty() && b[0] != b'-').then_some(v)
    }
    while let Some(a) = it.next() {
        if a == "--" {
            for c in it.by_ref() {
                command.push(c.to_str()?.to_string());
            }
            break;
        }
        let s = a.to_str()?;
        let (flag, inline) = match s.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(std::ffi::OsStr::new(v))),
            _ => (s, None),
        };
        let mut val = || match inline {
            Some(v) => value(v),
            None => value(it.next()?),
        };
        match flag {
            "--no-verify" if inline.is_none() && !no_verify => no_verify = true,
            "--keep-terminal" if inline.is_none() && !keep_terminal => keep_terminal = true,
            "-v" | "--report" if inline.is_none() && !report => report = true,
            "--report-fd" if report_fd.is_none() => {
                report_fd = Some(val()?.to_str()?.parse::<i32>().ok().filter(|n| *n >= 0)?)
            }
            "--set" => set.push(parse_var(val()?.to_str()?).ok()?),
            "--persist" if persist.is_none() => persist = Some(PathBuf::from(val()?)),
            "--state-dir" if state_dir.is_none() => state_dir = Some(PathBuf::from(val()?)),
            "--api" if api.is_none() => {
                api = Some(match val()?.to_str()? {
                    "auto" => super::ApiArg::Auto,
                    "new" => super::ApiArg::New,
                    "classic" => super::ApiArg::Classic,
                    _ => return None,
                })
            }
            "--format" if format.is_none() => {
                format = Some(match val()?.to_str()? {
                    "text" => ApplyFormat::Text,
                    "json" => ApplyFormat::Json,
                    _ => return None,
                })
            }
            _ if !s.starts_with('-') && !s.is_empty() && plan.is_none() => {
                plan = Some(PathBuf::from(a))
            }
            _ => return None,
        }
    }
    if persist.is_some() && !command.is_empty() {
        return None;
    }
    Some(ApplyArgs {
        plan: plan?,
        vars: VarArgs { set, api },
        persist,
        no_verify,
        keep_terminal,
        report,
        format: format.unwrap_or(ApplyFormat::Text),
        report_fd,
        state_dir,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn both(line: &[&str]) -> (Option<String>, Option<String>) {
        let args: Vec<std::ffi::OsString> = line.iter().map(Into::into).collect();
        let quick = quick_apply(&args).map(|a| format!("{a:?}"));
        let full = Cli::try_parse_from(std::iter::once("mountplan").chain(line.iter().copied()))
            .ok()
            .map(|c| match c.command {
                Command::Apply(a) => format!("{a:?}"),
                other => format!("not apply: {other:?}"),
            });
        (quick, full)
    }

    #[test]
    fn quick_apply_takes_only_what_clap_takes_the_same_way() {
        let lines: &[&[&str]] = &[
            &["apply", "p.toml"],
            &["apply", "p.toml", "--set", "ROOTFS=/r", "--", "/bin/true"],
            &["apply", "--api", "classic", "p.toml", "--", "/bin/true"],
            &["apply", "p.toml", "--api=new"],
            &["apply", "p.toml", "--api", "bogus"],
            &["apply", "p.toml", "--api", "new", "--api", "auto"],
            &[
                "apply",
                "--set=ROOTFS=/r",
                "p.toml",
                "--",
                "/bin/true",
                "-x",
                "--",
                "y",
            ],
            &[
                "apply",
                "p.toml",
                "--set",
                "A=1",
                "--set",
                "B=",
                "--no-verify",
            ],
            &["apply", "p.toml", "--keep-terminal", "--format", "json"],
            &["apply", "p.toml", "--format=text", "--state-dir", "/s"],
            &["apply", "p.toml", "--state-dir=/s", "--persist", "/f"],
            &["apply", "p.toml", "--persist", "/f", "--", "sh"],
            &["apply", "p.toml", "--no-verify", "--no-verify"],
            &["apply", "p.toml", "--format", "JSON"],
            &["apply", "p.toml", "--format", "yaml"],
            &["apply", "p.toml", "--set", "1A=x"],
            &["apply", "p.toml", "--set", "noequals"],
            &["apply", "p.toml", "--set", "-x"],
            &["apply", "p.toml", "--set"],
            &["apply", "p.toml", "q.toml"],
            &["apply", "p.toml", "-h"],
            &["apply", "p.toml", "--help"],
            &["apply", "p.toml", "--version"],
            &["apply", "p.toml", "-V"],
            &["apply", "p.toml", "--no-verify=true"],
            &["apply", "p.toml", "--unknown"],
            &["apply", "--", "sh"],
            &["apply"],
            &["apply", ""],
            &["apply", "-"],
            &["apply", "p.toml", "--state-dir", ""],
            &["apply", "p.toml", "--persist", "/f", "--persist", "/g"],
            &["apply", "p.toml", "--"],
            &["apply", "p.toml", "--persist", "/f", "--"],
            &["apply", "p.toml", "--", ""],
            &["apply", "p.toml", "--set", "A=1", "--set=A=2"],
            &["apply", "--state-dir", "-", "p.toml"],
            &["apply", "p.toml", "-v", "--", "sh"],
            &["apply", "-v", "p.toml", "--report"],
            &["apply", "p.toml", "--report", "--report-fd", "3"],
            &["apply", "p.toml", "--report-fd=7", "--format", "json"],
            &["apply", "p.toml", "--report-fd", "-1"],
            &["apply", "p.toml", "--report-fd", "x"],
            &["apply", "p.toml", "--report-fd", "+4"],
            &["apply", "p.toml", "--report-fd", "3", "--report-fd", "4"],
            &["apply", "p.toml", "-vv"],
            &["apply", "p.toml", "--report=yes"],
            &["check", "p.toml"],
            &["--version"],
            &[],
        ];
        for l in lines {
            let (quick, full) = both(l);
            if let Some(q) = &quick {
                assert_eq!(Some(q), full.as_ref(), "{l:?}");
            }
        }
        // The common lines do take the quick way.
        assert!(both(lines[0]).0.is_some() && both(lines[1]).0.is_some());
        assert!(both(lines[2]).0.is_some() && both(lines[6]).0.is_some());
        for l in [
            &["apply", "p.toml", "-v", "--", "sh"][..],
            &["apply", "p.toml", "--report", "--report-fd", "3"],
            &["apply", "p.toml", "--report-fd=7", "--format", "json"],
        ] {
            assert!(both(l).0.is_some(), "{l:?}");
        }
    }
}
