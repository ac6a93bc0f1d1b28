//! A line diff of two texts in unified format (`diff -u`, `git diff`), for `plan --check`: a
//! checked-in dry run against the dry run now, readable in a CI log.
//!
//! Takes the two texts and their names; returns `None` when they are the same, else the diff:
//! `---`/`+++` headers, then hunks with three lines of context, `\ No newline at end of file`
//! after a last line without one. The lines the texts begin and end with in common are set
//! aside first; what is left is compared with Myers' algorithm (a shortest edit script), up to
//! [`MAX_EDITS`] edits, past which the part that differs is shown as removed, then added.

use std::fmt::Write as _;

/// Lines of context around a change.
const CONTEXT: usize = 3;

/// The most edits the shortest-script search looks for (its memory grows with the square of
/// it: 8 MB at this bound); a longer difference is shown as every old line between the common
/// head and tail removed, then every new one added.
pub const MAX_EDITS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `old[i] == new[j]`.
    Same(usize, usize),
    /// `old[i]` removed (`j` new lines before it).
    Del(usize, usize),
    /// `new[j]` added (`i` old lines before it).
    Ins(usize, usize),
}

/// The unified diff of `old` (named `old_name`) and `new`, or `None` when they are equal.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> Option<String> {
    if old == new {
        return None;
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = script(&a, &b);
    let mut o = String::new();
    let _ = writeln!(o, "--- {old_name}");
    let _ = writeln!(o, "+++ {new_name}");
    for (lo, hi) in hunks(&ops) {
        let ops = &ops[lo..hi];
        // Where the hunk starts on each side: the lines of that side before its first op.
        let (a_at, b_at) = at(ops[0]);
        let a_n = ops.iter().filter(|op| !matches!(op, Op::Ins(..))).count();
        let b_n = ops.iter().filter(|op| !matches!(op, Op::Del(..))).count();
        let _ = writeln!(o, "@@ -{} +{} @@", range(a_at, a_n), range(b_at, b_n));
        for op in ops {
            let (mark, line) = match *op {
                Op::Same(i, _) => (' ', a[i]),
                Op::Del(i, _) => ('-', a[i]),
                Op::Ins(_, j) => ('+', b[j]),
            };
            o.push(mark);
            o.push_str(line);
            if !line.ends_with('\n') {
                o.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    Some(o)
}

/// The old and new lines before an op.
fn at(op: Op) -> (usize, usize) {
    match op {
        Op::Same(i, j) | Op::Del(i, j) | Op::Ins(i, j) => (i, j),
    }
}

/// `start,count` as unified diffs write it: from 1, `count` left out when it is 1, and an
/// empty range as the line before it (`0,0` at the top).
fn range(at: usize, n: usize) -> String {
    match n {
        0 => format!("{at},0"),
        1 => format!("{}", at + 1),
        n => format!("{},{n}", at + 1),
    }
}

/// The ranges of `ops` each hunk shows: every change with [`CONTEXT`] lines around it, hunks
/// whose context would touch merged.
fn hunks(ops: &[Op]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        if matches!(op, Op::Same(..)) {
            continue;
        }
        let lo = k.saturating_sub(CONTEXT);
        let hi = (k + 1 + CONTEXT).min(ops.len());
        match out.last_mut() {
            Some(last) if lo <= last.1 => last.1 = hi,
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// An edit script from `a` to `b`: the common head and tail, and between them a shortest
/// script (or, past [`MAX_EDITS`], all removed then all added).
fn script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut ops: Vec<Op> = (0..head).map(|i| Op::Same(i, i)).collect();
    match myers(am, bm, MAX_EDITS) {
        Some(mid) => ops.extend(mid.into_iter().map(|op| match op {
            Op::Same(i, j) => Op::Same(i + head, j + head),
            Op::Del(i, j) => Op::Del(i + head, j + head),
            Op::Ins(i, j) => Op::Ins(i + head, j + head),
        })),
        None => {
            ops.extend((0..am.len()).map(|i| Op::Del(i + head, head)));
            let after = head + am.len();
            ops.extend((0..bm.len()).map(|j| Op::Ins(after, j + head)));
        }
    }
    let (at, bt) = (a.len() - tail, b.len() - tail);
    ops.extend((0..tail).map(|k| Op::Same(at + k, bt + k)));
    ops
}

/// Myers' shortest edit script from `a` to `b`, or `None` when it needs more than `max` edits.
fn myers(a: &[&str], b: &[&str], max: usize) -> Option<Vec<Op>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    // trace[d][k + d]: the furthest x on diagonal k (x - y) after d edits.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let limit = (max as isize).min(n + m);
    for d in 0..=limit {
        let mut cur = vec![0isize; 2 * d as usize + 1];
        let mut k = -d;
        while k <= d {
            let x0 = if d == 0 {
                0
            } else {
                let prev = &trace[d as usize - 1];
                let at = |k: isize| prev[(k + d - 1) as usize];
                if k == -d || (k != d && at(k - 1) < at(k + 1)) {
                    at(k + 1)
                } else {
                    at(k - 1) + 1
                }
            };
            let (mut x, mut y) = (x0, x0 - k);
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            cur[(k + d) as usize] = x;
            if x >= n && y >= m {
                trace.push(cur);
                return Some(backtrack(&trace, n, m));
            }
            k += 2;
        }
        trace.push(cur);
    }
    None
}

/// Walks the trace back from `(n, m)` to `(0, 0)`: the edits and the equal runs between them.
fn backtrack(trace: &[Vec<isize>], n: isize, m: isize) -> Vec<Op> {
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (1..trace.len() as isize).rev() {
        let prev = &trace[d as usize - 1];
        let at = |k: isize| prev[(k + d - 1) as usize];
        let k = x - y;
        let down = k == -d || (k != d && at(k - 1) < at(k + 1));
        let pk = if down { k + 1 } else { k - 1 };
        let px = at(pk);
        let py = px - pk;
        // After the edit: one line down (an insertion) or one across (a deletion).
        let (ex, ey) = if down { (px, py + 1) } else { (px + 1, py) };
        while x > ex && y > ey {
            x -= 1;
            y -= 1;
            ops.push(Op::Same(x as usize, y as usize));
        }
        ops.push(if down {
            Op::Ins(px as usize, py as usize)
        } else {
            Op::Del(px as usize, py as usize)
        });
        (x, y) = (px, py);
    }
    while x > 0 && y > 0 {
        x -= 1;
        y -= 1;
        ops.push(Op::Same(x as usize, y as usize));
    }
    ops.reverse();
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> String {
        (1..=n).map(|i| format!("{i}\n")).collect()
    }

    /// `text` with whole line `from` replaced by `to`.
    fn swap(text: &str, from: &str, to: &str) -> String {
        text.split_inclusive('\n')
            .map(|l| {
                if l == format!("{from}\n") {
                    format!("{to}\n")
                } else {
                    l.to_string()
                }
            })
            .collect()
    }

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a\nb\n", "a\nb\n", "x", "y"), None);
        assert_eq!(unified("", "", "x", "y"), None);
    }

    #[test]
    fn one_changed_line_in_the_middle() {
        let old = lines(10);
        let new = swap(&old, "5", "five");
        let want = "--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n";
        assert_eq!(unified(&old, &new, "old", "new").as_deref(), Some(want));
    }

    #[test]
    fn changes_far_apart_make_two_hunks_and_near_ones_one() {
        let old = lines(20);
        let new = swap(&swap(&old, "2", "two"), "18", "eighteen");
        let want = "--- a\n+++ b\n\
                    @@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n\
                    @@ -15,6 +15,6 @@\n 15\n 16\n 17\n-18\n+eighteen\n 19\n 20\n";
        assert_eq!(unified(&old, &new, "a", "b").as_deref(), Some(want));
        let near = swap(&swap(&old, "2", "two"), "8", "eight");
        let want = "--- a\n+++ b\n\
                    @@ -1,11 +1,11 @@\n 1\n-2\n+two\n 3\n 4\n 5\n 6\n 7\n-8\n+eight\n 9\n 10\n 11\n";
        assert_eq!(unified(&old, &near, "a", "b").as_deref(), Some(want));
    }

    #[test]
    fn insertions_and_deletions_at_the_ends() {
        // Into an empty file, and everything removed: the empty side is `-0,0` / `+0,0`.
        assert_eq!(
            unified("", "a\nb\n", "a", "b").as_deref(),
            Some("--- a\n+++ b\n@@ -0,0 +1,2 @@\n+a\n+b\n")
        );
        assert_eq!(
            unified("a\n", "", "a", "b").as_deref(),
            Some("--- a\n+++ b\n@@ -1 +0,0 @@\n-a\n")
        );
        // Lines added after the last one: the old side's empty range is after its line 5.
        let old = lines(5);
        let new = format!("{old}6\n7\n");
        assert_eq!(
            unified(&old, &new, "a", "b").as_deref(),
            Some("--- a\n+++ b\n@@ -3,3 +3,5 @@\n 3\n 4\n 5\n+6\n+7\n")
        );
        // A line inserted at the top.
        assert_eq!(
            unified("b\nc\n", "a\nb\nc\n", "a", "b").as_deref(),
            Some("--- a\n+++ b\n@@ -1,2 +1,3 @@\n+a\n b\n c\n")
        );
    }

    #[test]
    fn a_missing_newline_at_the_end_is_marked() {
        assert_eq!(
            unified("a\nb\n", "a\nb", "a", "b").as_deref(),
            Some("--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n")
        );
    }

    #[test]
    fn a_moved_block_is_a_shortest_script() {
        // x y z a b c -> a b c x y z: three removed, three added, three kept.
        let d = unified("x\ny\nz\na\nb\nc\n", "a\nb\nc\nx\ny\nz\n", "a", "b").unwrap();
        let minus = d
            .lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"));
        let plus = d
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"));
        assert_eq!((minus.count(), plus.count()), (3, 3), "{d}");
    }

    /// Applying the script to the old text gives the new one, for many random pairs, and the
    /// script is no longer than a removal of everything and an addition of everything.
    #[test]
    fn the_script_turns_old_into_new() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |k: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % k
        };
        for _ in 0..300 {
            let mk = |next: &mut dyn FnMut(u64) -> u64| -> Vec<String> {
                (0..next(30)).map(|_| format!("{}\n", next(5))).collect()
            };
            let (a, b) = (mk(&mut next), mk(&mut next));
            let (ar, br): (Vec<&str>, Vec<&str>) = (
                a.iter().map(String::as_str).collect(),
                b.iter().map(String::as_str).collect(),
            );
            let ops = script(&ar, &br);
            let rebuilt: Vec<&str> = ops
                .iter()
                .filter_map(|op| match *op {
                    Op::Same(i, j) => {
                        assert_eq!(ar[i], br[j]);
                        Some(br[j])
                    }
                    Op::Ins(_, j) => Some(br[j]),
                    Op::Del(..) => None,
                })
                .collect();
            assert_eq!(rebuilt, br);
            // Every op knows how many lines of each side come before it.
            let (mut i, mut j) = (0, 0);
            for op in &ops {
                assert_eq!(at(*op), (i, j), "{ops:?}");
                match op {
                    Op::Same(..) => (i, j) = (i + 1, j + 1),
                    Op::Del(..) => i += 1,
                    Op::Ins(..) => j += 1,
                }
            }
            assert_eq!((i, j), (ar.len(), br.len()));
        }
    }

    /// As short as GNU diff's `--minimal` script, the oracle, for random pairs of texts.
    #[test]
    fn as_short_as_gnu_diff_minimal() {
        let dir = std::env::temp_dir().join(format!("mountplan-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (pa, pb) = (dir.join("a"), dir.join("b"));
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |k: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % k
        };
        let changed = |d: &str| {
            d.lines()
                .filter(|l| {
                    (l.starts_with('-') && !l.starts_with("---"))
                        || (l.starts_with('+') && !l.starts_with("+++"))
                })
                .count()
        };
        let mut ran = 0;
        for _ in 0..100 {
            let mut mk = || -> String { (0..next(40)).map(|_| format!("{}\n", next(6))).collect() };
            let (a, b) = (mk(), mk());
            std::fs::write(&pa, &a).unwrap();
            std::fs::write(&pb, &b).unwrap();
            let Ok(out) = std::process::Command::new("diff")
                .arg("--minimal")
                .arg("-u")
                .arg(&pa)
                .arg(&pb)
                .output()
            else {
                break;
            };
            ran += 1;
            let gnu = String::from_utf8_lossy(&out.stdout).into_owned();
            let ours = unified(&a, &b, "a", "b").unwrap_or_default();
            assert_eq!(changed(&ours), changed(&gnu), "ours:\n{ours}\ngnu:\n{gnu}");
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            ran == 100 || std::env::var("CI").as_deref() != Ok("true"),
            "diff(1) is missing"
        );
        eprintln!("compared with diff --minimal: {ran} pairs");
    }

    #[test]
    fn past_the_edit_limit_the_middle_is_replaced_whole() {
        let old: String = (0..MAX_EDITS).map(|i| format!("a{i}\n")).collect();
        let new: String = (0..MAX_EDITS).map(|i| format!("b{i}\n")).collect();
        let old = format!("head\n{old}tail\n");
        let new = format!("head\n{new}tail\n");
        let d = unified(&old, &new, "a", "b").unwrap();
        let n = MAX_EDITS;
        assert!(d.starts_with(&format!(
            "--- a\n+++ b\n@@ -1,{} +1,{} @@\n head\n-a0\n",
            n + 2,
            n + 2
        )));
        assert!(d.ends_with(&format!("+b{}\n tail\n", n - 1)));
    }
}
