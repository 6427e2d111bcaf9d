package experiment

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/flowsteer/flowsteer/internal/stats"
)

// metric reads one number off an episode.
type metric func(Outcome) float64

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	accuracy = func(o Outcome) float64 { return bool01(o.Correct) }
	rewardOf = func(o Outcome) float64 { return o.Reward }
	finished = func(o Outcome) float64 { return bool01(o.Finished) }
	turnsOf  = func(o Outcome) float64 { return float64(o.Turns) }
)

// table is the cells arranged for statistics: the held-out tasks every
// arm played (sorted by family, then id), grouped into family strata.
type table struct {
	arms     []string
	seeds    map[string][]int64
	tasks    []string
	family   []string
	strata   [][]int
	families []string
	// out[arm][seed][task] is the episode.
	out map[string]map[int64]map[string]Outcome
}

func newTable(cfg Config, cells []Cell) *table {
	t := &table{seeds: map[string][]int64{}, out: map[string]map[int64]map[string]Outcome{}}
	fam := map[string]string{}
	count := map[string]int{}
	for _, c := range cells {
		if t.out[c.Arm] == nil {
			t.out[c.Arm] = map[int64]map[string]Outcome{}
		}
		if t.out[c.Arm][c.Seed] == nil {
			t.seeds[c.Arm] = append(t.seeds[c.Arm], c.Seed)
		}
		m := map[string]Outcome{}
		for _, o := range c.Outcomes {
			if o.Failed {
				continue
			}
			m[o.TaskID] = o
			fam[o.TaskID] = o.Family
		}
		t.out[c.Arm][c.Seed] = m
	}
	for _, a := range cfg.Arms {
		if t.out[a.Name] != nil {
			t.arms = append(t.arms, a.Name)
		}
	}
	// A task enters the comparison when every cell of every arm played it,
	// so each difference is over the same tasks and seeds.
	cellsN := 0
	for _, a := range t.arms {
		for _, m := range t.out[a] {
			cellsN++
			for id := range m {
				count[id]++
			}
		}
	}
	for id, n := range count {
		if n == cellsN {
			t.tasks = append(t.tasks, id)
		}
	}
	slices.SortFunc(t.tasks, func(a, b string) int {
		if c := strings.Compare(fam[a], fam[b]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	idx := map[string]int{}
	for i, id := range t.tasks {
		f := fam[id]
		t.family = append(t.family, f)
		k, ok := idx[f]
		if !ok {
			k = len(t.strata)
			idx[f] = k
			t.strata = append(t.strata, nil)
			t.families = append(t.families, f)
		}
		t.strata[k] = append(t.strata[k], i)
	}
	return t
}

// byTask is x[task][seed] of arm's metric.
func (t *table) byTask(arm string, f metric) [][]float64 {
	x := make([][]float64, len(t.tasks))
	for i, id := range t.tasks {
		for _, s := range t.seeds[arm] {
			x[i] = append(x[i], f(t.out[arm][s][id]))
		}
	}
	return x
}

// byFamily is rliable's score matrix x[family][seed]: the arm's mean of f
// over the family's tasks in that seed's run.
func (t *table) byFamily(arm string, f metric) [][]float64 {
	x := make([][]float64, len(t.strata))
	for k, idx := range t.strata {
		for _, s := range t.seeds[arm] {
			sum := 0.0
			for _, i := range idx {
				sum += f(t.out[arm][s][t.tasks[i]])
			}
			x[k] = append(x[k], sum/float64(len(idx)))
		}
	}
	return x
}

// taskMean is the mean over tasks of each task's mean over seeds.
func taskMean(x [][]float64) float64 {
	s := 0.0
	for _, r := range x {
		s += stats.Mean(r)
	}
	if len(x) == 0 {
		return 0
	}
	return s / float64(len(x))
}

func (t *table) boot(reps int, salt uint64) stats.Bootstrap {
	return stats.Bootstrap{Reps: reps, Seed: salt}
}

// armCI is the arm's mean of f with a bootstrap interval over tasks,
// resampled within each family.
func (t *table) armCI(arm string, f metric, reps int) stats.Interval {
	x := t.byTask(arm, f)
	return t.boot(reps, 1).PairedCI(x, x, t.strata, func(x, _ [][]float64) float64 { return taskMean(x) })
}

// Comparison is the paired comparison of arm A against arm B.
type Comparison struct {
	A, B        string
	Accuracy    stats.Interval // mean over tasks of the per-task difference of accuracy
	Reward      stats.Interval
	IQM         stats.Interval // IQM(A) - IQM(B) over family x seed scores, seeds resampled within families
	Improvement float64        // P(A > B), rliable's probability of improvement over family x seed scores
}

func (t *table) compare(a, b string, reps int) Comparison {
	c := Comparison{A: a, B: b}
	bs := t.boot(reps, 2)
	c.Accuracy = bs.PairedCI(t.byTask(a, accuracy), t.byTask(b, accuracy), t.strata, stats.MeanDiff)
	c.Reward = bs.PairedCI(t.byTask(a, rewardOf), t.byTask(b, rewardOf), t.strata, stats.MeanDiff)
	fa, fb := t.byFamily(a, accuracy), t.byFamily(b, accuracy)
	c.IQM = iqmDiff(fa, fb, reps)
	c.Improvement = stats.ProbImprovement(fa, fb)
	return c
}

// iqmDiff is IQM(A) - IQM(B) with an interval from resampling each arm's
// seeds within each family independently: the seeds of two arms are
// independent runs, not pairs.
func iqmDiff(fa, fb [][]float64, reps int) stats.Interval {
	k := len(fa)
	joined := append(append([][]float64{}, fa...), fb...)
	return stats.Bootstrap{Reps: reps, Seed: 4}.Stratified(joined, func(s [][]float64) float64 {
		return stats.IQM(s[:k]) - stats.IQM(s[k:])
	})
}

func ci(iv stats.Interval, digits int) string {
	f := fmt.Sprintf("%%.%df [%%.%df, %%.%df]", digits, digits, digits)
	return fmt.Sprintf(f, iv.Point, iv.Lo, iv.Hi)
}

func signed(iv stats.Interval) string {
	return fmt.Sprintf("%+.3f [%+.3f, %+.3f]", iv.Point, iv.Lo, iv.Hi)
}

// Report is the markdown summary of the cells: one row per arm, per-family
// accuracy, and the paired comparisons: each trained arm against the best
// fixed workflow, the search arm and the untrained policy, and the first
// cwrpo arm against the first correctness arm.
func Report(cfg Config, cells []Cell) string {
	reps := cfg.BootstrapReps
	t := newTable(cfg, cells)
	var b strings.Builder
	if len(t.tasks) == 0 {
		b.WriteString("no held-out task was played by every cell: nothing to compare\n")
		return b.String()
	}
	fmt.Fprintf(&b, "Held-out tasks: %d (%s), each played once per seed by every arm. Intervals: 95%% percentile bootstrap, %d resamples, tasks resampled within families (stratified); IQM and probability of improvement over the family x seed accuracy matrix (rliable).\n\n",
		len(t.tasks), familyCounts(t), reps)
	b.WriteString("| arm | seeds | accuracy [95% CI] | IQM accuracy [95% CI] | reward [95% CI] | finished [95% CI] | turns [95% CI] | per-seed accuracy |\n")
	b.WriteString("| --- | ---: | --- | --- | --- | --- | --- | --- |\n")
	for i, a := range t.arms {
		fam := t.byFamily(a, accuracy)
		iqm := stats.Bootstrap{Reps: reps, Seed: uint64(10 + i)}.RunsCI(fam, stats.IQM)
		var per []string
		for _, s := range t.seeds[a] {
			sum := 0.0
			for _, id := range t.tasks {
				sum += accuracy(t.out[a][s][id])
			}
			per = append(per, fmt.Sprintf("%.2f", sum/float64(len(t.tasks))))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", a, len(t.seeds[a]),
			ci(t.armCI(a, accuracy, reps), 3), ci(iqm, 3), ci(t.armCI(a, rewardOf, reps), 3),
			ci(t.armCI(a, finished, reps), 2), ci(t.armCI(a, turnsOf, reps), 1), strings.Join(per, " "))
	}
	b.WriteString("\nAccuracy by family (mean over tasks and seeds):\n\n| arm |")
	for _, f := range t.families {
		fmt.Fprintf(&b, " %s |", f)
	}
	b.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(t.families)) + "\n")
	for _, a := range t.arms {
		fmt.Fprintf(&b, "| %s |", a)
		for _, row := range t.byFamily(a, accuracy) {
			fmt.Fprintf(&b, " %.3f |", stats.Mean(row))
		}
		b.WriteString("\n")
	}
	b.WriteString(builds(t))
	comps := comparisons(cfg, t)
	if len(comps) > 0 {
		b.WriteString("\nPaired comparisons (A minus B; per-task differences of the seed means):\n\n")
		b.WriteString("| A vs B | Δ accuracy [95% CI] | Δ reward [95% CI] | Δ IQM accuracy [95% CI] | P(A > B) |\n")
		b.WriteString("| --- | --- | --- | --- | ---: |\n")
		for _, p := range comps {
			c := t.compare(p[0], p[1], reps)
			fmt.Fprintf(&b, "| %s vs %s%s | %s | %s | %s | %.2f |\n", c.A, c.B, p[2], signed(c.Accuracy), signed(c.Reward), signed(c.IQM), c.Improvement)
		}
	}
	return b.String()
}

func familyCounts(t *table) string {
	var parts []string
	for k, f := range t.families {
		parts = append(parts, fmt.Sprintf("%s %d", f, len(t.strata[k])))
	}
	return strings.Join(parts, ", ")
}

// comparisons lists [A, B, note] pairs.
func comparisons(cfg Config, t *table) [][3]string {
	kind := map[string]Arm{}
	for _, a := range cfg.Arms {
		kind[a.Name] = a
	}
	has := func(n string) bool { return t.out[n] != nil }
	// The best fixed workflow is chosen on these same held-out tasks,
	// which favours it: a trained arm's lead over it is conservative.
	bestFixed, best := "", math.Inf(-1)
	var search, untrained, cw, gr, single string
	for _, a := range t.arms {
		switch kind[a].Kind {
		case KindFixed:
			if m := taskMean(t.byTask(a, accuracy)); m > best {
				bestFixed, best = a, m
			}
		case KindBestFixed:
			if single == "" {
				single = a
			}
		case KindSearch:
			if search == "" {
				search = a
			}
		case KindUntrained:
			if untrained == "" {
				untrained = a
			}
		case KindTrain:
			switch kind[a].Reward {
			case "", "cwrpo":
				if cw == "" {
					cw = a
				}
			case "correctness":
				if gr == "" {
					gr = a
				}
			}
		}
	}
	var out [][3]string
	for _, a := range t.arms {
		if kind[a].Kind != KindTrain {
			continue
		}
		if single != "" {
			out = append(out, [3]string{a, single, " (best single workflow, chosen on the training split)"})
		}
		if bestFixed != "" {
			out = append(out, [3]string{a, bestFixed, " (best fixed arm on these tasks)"})
		}
		if search != "" && has(search) {
			out = append(out, [3]string{a, search, ""})
		}
		if untrained != "" {
			out = append(out, [3]string{a, untrained, ""})
		}
	}
	if cw != "" && gr != "" {
		out = append(out, [3]string{cw, gr, " (CWRPO vs GRPO)"})
	}
	for _, a := range t.arms {
		for _, b := range kind[a].CompareTo {
			if has(b) {
				out = append(out, [3]string{a, b, ""})
			}
		}
	}
	if search != "" && bestFixed != "" {
		out = append(out, [3]string{search, bestFixed, " (best fixed arm on these tasks)"})
	}
	if search != "" && single != "" {
		out = append(out, [3]string{search, single, " (per family vs one for all)"})
	}
	return out
}

// builds is the table of what each arm builds per family: its finish
// rate and mean turns there, how many distinct final workflows its
// episodes ended with, and the most common one with its share of the
// family's episodes (every seed), so a policy that builds one shape for
// every family shows the same DSL on every row.
func builds(t *table) string {
	var b strings.Builder
	b.WriteString("\nWhat each arm builds, by family (every seed's episodes on the tasks above):\n\n")
	b.WriteString("| arm | family | finished | turns | distinct workflows | most common final workflow (share) |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | --- |\n")
	for _, a := range t.arms {
		for k, f := range t.families {
			n, fin, turns := 0, 0.0, 0.0
			count := map[string]int{}
			for _, s := range t.seeds[a] {
				for _, i := range t.strata[k] {
					o := t.out[a][s][t.tasks[i]]
					n++
					fin += finished(o)
					turns += turnsOf(o)
					count[o.DSL]++
				}
			}
			top, topN := "", -1
			for _, d := range slices.Sorted(maps.Keys(count)) {
				if count[d] > topN {
					top, topN = d, count[d]
				}
			}
			common := fmt.Sprintf("`%s` (%.2f)", strings.ReplaceAll(top, "|", "\\|"), float64(topN)/float64(n))
			switch {
			case topN == 1 && n > 1:
				common = "none: no two episodes ended with the same workflow"
			case top == "":
				common = fmt.Sprintf("the empty workflow (%.2f)", float64(topN)/float64(n))
			}
			fmt.Fprintf(&b, "| %s | %s | %.2f | %.1f | %d | %s |\n", a, f, fin/float64(n), turns/float64(n), len(count), common)
		}
	}
	return b.String()
}
