#!/usr/bin/env python3
"""Times commands interleaved: each round runs every command once, in a new random order, so
that a change of load on a shared machine falls on all of them alike (hyperfine runs all the
runs of one command before the next).

Usage: interleave.py [--rounds N] [--warmup N] [--json FILE] [--ref NAME] NAME=COMMAND...
A COMMAND is split on spaces (no shell). Each run is one posix_spawn and wait, timed with
the monotonic clock; the spawn's own cost is the same for every command. Prints a Markdown
table: median, the 25th and 75th percentiles, and each median's ratio to --ref's (the first
command's by default); --json writes every time (seconds) by name.
"""
import json
import os
import random
import sys
import time


def run(argv):
    t = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
    ])
    _, status = os.waitpid(pid, 0)
    t = time.perf_counter_ns() - t
    if status != 0:
        sys.exit("interleave: %s exited with status %d" % (" ".join(argv), status))
    return t / 1e9


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def main():
    a = sys.argv[1:]
    rounds, warmup, out, ref = 100, 10, None, None
    cmds = []
    while a:
        x = a.pop(0)
        if x == "--rounds":
            rounds = int(a.pop(0))
        elif x == "--warmup":
            warmup = int(a.pop(0))
        elif x == "--json":
            out = a.pop(0)
        elif x == "--ref":
            ref = a.pop(0)
        else:
            name, _, cmd = x.partition("=")
            argv = cmd.split()
            if argv and not argv[0].startswith("/"):
                for d in os.environ.get("PATH", "").split(":"):
                    if os.access(os.path.join(d, argv[0]), os.X_OK):
                        argv[0] = os.path.join(d, argv[0])
                        break
            cmds.append((name, argv))
    times = {n: [] for n, _ in cmds}
    order = list(cmds)
    for r in range(warmup + rounds):
        random.shuffle(order)
        for name, argv in order:
            t = run(argv)
            if r >= warmup:
                times[name].append(t)
    ref = ref or cmds[0][0]
    rm = pct(times[ref], 0.5)
    print("| command | median ms | p25 | p75 | / %s |" % ref)
    print("| --- | --- | --- | --- | --- |")
    for name, _ in cmds:
        v = times[name]
        print("| %s | %.3f | %.3f | %.3f | %.2f |" % (
            name, pct(v, 0.5) * 1e3, pct(v, 0.25) * 1e3, pct(v, 0.75) * 1e3, pct(v, 0.5) / rm))
    if out:
        json.dump({"rounds": rounds, "times": times}, open(out, "w"))


main()
