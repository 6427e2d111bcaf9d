#!/usr/bin/env python3
"""Summarise how a training run's policy ends its episodes, from run.db.

    python3 scripts/episode_stats.py RUN_DIR [RUN_DIR ...]

For each evaluation phase (eval:<policy> at each step) and for the first
and last training steps it prints: episodes, accuracy, the finished rate
with a Wilson 95% interval, mean turns with a normal 95% interval, finish
attempts per episode and how many were refused, S(W), the share of
episodes whose final workflow has >= 2 Format, and the most common first
stage. Standard library only (sqlite3, json).
"""
import collections
import json
import math
import sqlite3
import sys


def wilson(k, n, z=1.96):
    if n == 0:
        return (float("nan"),) * 3
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return p, c - h, c + h


def mean_ci(xs):
    n = len(xs)
    if n == 0:
        return (float("nan"),) * 3
    m = sum(xs) / n
    if n < 2:
        return m, m, m
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = 1.96 * sd / math.sqrt(n)
    return m, m - h, m + h


def summarise(rows):
    n = len(rows)
    fin = sum(r["finished"] for r in rows)
    turns = [r["turns"] for r in rows]
    correct = sum(1 for r in rows if r["reward"].get("score", {}).get("correct"))
    s = [r["reward"].get("structure_total", r["reward"].get("structureTotal", 0)) for r in rows]
    attempts = refused = 0
    first = collections.Counter()
    multi_format = 0
    fams = collections.defaultdict(collections.Counter)
    for r in rows:
        log = json.loads(r["turn_log"] or "[]")
        for t in log:
            if t.get("action", "").startswith("finish"):
                attempts += 1
                if not t.get("valid"):
                    refused += 1
        dsl = r["dsl"] or ""
        stages = [x.strip() for x in dsl.split("->")] if dsl else []
        first[stages[0].split(" ")[0] if stages else "(empty)"] += 1
        if dsl.count("Format") >= 2:
            multi_format += 1
        fams[r["family"]][dsl] += 1
    p, lo, hi = wilson(fin, n)
    tm, tlo, thi = mean_ci(turns)
    out = (f"n={n} acc={correct / n:.3f} finished={p:.3f} [{lo:.3f}, {hi:.3f}] turns={tm:.1f} [{tlo:.1f}, {thi:.1f}] "
           f"finish attempts/ep={attempts / n:.2f} refused={refused}/{attempts} S={sum(s) / n:.2f} "
           f">=2 Format={multi_format / n:.2f} first stage={dict(first.most_common(3))}")
    distinct = {f: len(c) for f, c in fams.items()}
    return out + f" distinct DSL per family={distinct}"


def main():
    for d in sys.argv[1:]:
        db = sqlite3.connect(f"{d}/run.db")
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute(
            "select phase, step, family, dsl, turns, reward, finished, turn_log from episodes where failed = 0")]
        for r in rows:
            r["reward"] = json.loads(r["reward"] or "{}")
        groups = collections.defaultdict(list)
        steps = sorted({r["step"] for r in rows if r["phase"] == "train"})
        for r in rows:
            if r["phase"] == "train" and steps and r["step"] not in (steps[0], steps[-1]):
                continue
            groups[(r["phase"], r["step"])].append(r)
        print(d)
        for (phase, step), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            print(f"  {phase:24s} step {step:3d}: {summarise(rs)}")


if __name__ == "__main__":
    main()
