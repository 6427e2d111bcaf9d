"""Usage: python3 scripts/cost_compare.py RUN_DIR_LAMBDA0 RUN_DIR_COST_AWARE (stdlib only).

Paired comparison of the final evaluations of the cost benchmark runs.

Per eval task: correctness and the tokens of one run of the final workflow.
Intervals: Wilson for accuracy, normal for mean tokens, paired bootstrap
(over tasks, 10,000 resamples, seed 1) for the token ratio and the accuracy
difference.
"""
import json, math, random, sqlite3, sys

def load(run, phase="eval:trained"):
    db = sqlite3.connect(run + "/run.db")
    step = db.execute("select max(step) from episode_costs where phase=?", (phase,)).fetchone()[0]
    tok = {}
    for eid, c in db.execute("select episode_id, cost from episode_costs where phase=? and step=?", (phase, step)):
        tok[eid] = int(json.loads(c).get("final_workflow_tokens", 0))
    out = {}
    for eid, task, rw in db.execute("select episode_id, task_id, reward from episodes where phase=? and step=?", (phase, step)):
        r = json.loads(rw) if rw else {}
        out[task] = (1 if r.get("score", {}).get("correct") else 0, tok.get(eid, 0))
    return out

def wilson(k, n, z=1.96):
    p = k / n; d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d; h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h

def summary(name, d):
    n = len(d); k = sum(v[0] for v in d.values()); t = [v[1] for v in d.values()]
    m = sum(t) / n; sd = math.sqrt(sum((x - m) ** 2 for x in t) / (n - 1))
    lo, hi = wilson(k, n)
    print(f"| {name} | {n} | {k/n:.3f} [{lo:.3f}, {hi:.3f}] | {m:.0f} [{m-1.96*sd/math.sqrt(n):.0f}, {m+1.96*sd/math.sqrt(n):.0f}] |")

def paired(a, b):
    tasks = sorted(set(a) & set(b)); rng = random.Random(1)
    def stats(ts):
        ta = sum(a[t][1] for t in ts); tb = sum(b[t][1] for t in ts)
        return tb / ta, (sum(b[t][0] for t in ts) - sum(a[t][0] for t in ts)) / len(ts)
    r0, d0 = stats(tasks); rs, ds = [], []
    for _ in range(10000):
        s = [rng.choice(tasks) for _ in tasks]; r, d = stats(s); rs.append(r); ds.append(d)
    rs.sort(); ds.sort()
    print(f"tokens ratio (cost-aware / lambda=0): {r0:.3f} [{rs[250]:.3f}, {rs[9749]:.3f}]; accuracy change {d0:+.3f} [{ds[250]:+.3f}, {ds[9749]:+.3f}] over {len(tasks)} paired tasks")

lam0, lam = load(sys.argv[1]), load(sys.argv[2])
print("| policy | tasks | accuracy [95% CI] | workflow tokens/task [95% CI] |\n| --- | --- | --- | --- |")
summary("trained, lambda = 0", lam0)
summary("trained, lambda = 0.5", lam)
for b in ["cot", "self-consistency", "full"]:
    summary(b, load(sys.argv[1], "eval:" + b))
paired(lam0, lam)
