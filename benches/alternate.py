#!/usr/bin/env python3
"""Times shell commands in alternation: round 1 runs each command once, round 2
again, and so on, so that a change in the machine's load hits every command
alike. One warm-up round first (not counted). Before every run the --prepare
command runs (not timed).

Usage: alternate.py OUT.json RUNS [--prepare CMD] -n NAME CMD [-n NAME CMD ...]

Writes OUT.json in hyperfine's layout (results: command, median, mean, stddev,
times, user) and a markdown table next to it (OUT.md); prints the table.
"""
import json
import os
import statistics
import subprocess
import sys
import time


def run(cmd):
    before = os.times()
    start = time.perf_counter()
    subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, after.children_user - before.children_user


def main(argv):
    out, runs, rest = argv[0], int(argv[1]), argv[2:]
    prepare, commands = None, []
    while rest:
        if rest[0] == "--prepare":
            prepare, rest = rest[1], rest[2:]
        elif rest[0] == "-n":
            commands.append((rest[1], rest[2]))
            rest = rest[3:]
        else:
            sys.exit(f"unexpected argument {rest[0]!r}")
    times = {name: [] for name, _ in commands}
    users = {name: [] for name, _ in commands}
    for round_ in range(runs + 1):
        for name, cmd in commands:
            if prepare:
                subprocess.run(prepare, shell=True, check=True)
            wall, user = run(cmd)
            if round_ > 0:
                times[name].append(wall)
                users[name].append(user)
    results = []
    for name, _ in commands:
        t = times[name]
        results.append({
            "command": name,
            "median": statistics.median(t),
            "mean": statistics.fmean(t),
            "stddev": statistics.stdev(t) if len(t) > 1 else 0.0,
            "times": t,
            "user": statistics.median(users[name]),
        })
    json.dump({"results": results}, open(out, "w"), indent=1)
    lines = ["| command | median | mean ± σ | user CPU (median) |", "| --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['command']} | {r['median']:.3f} s | {r['mean']:.3f} ± {r['stddev']:.3f} s | {r['user']:.3f} s |")
    table = "\n".join(lines) + "\n"
    open(out[:-5] + ".md", "w").write(table)
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
