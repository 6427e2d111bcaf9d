// Package stats holds the statistics `flowsteer experiment` reports: means,
// the interquartile mean, the probability of improvement and stratified
// bootstrap confidence intervals, with the definitions of Agarwal et al.
// 2021, "Deep Reinforcement Learning at the Edge of the Statistical
// Precipice" (NeurIPS), whose rliable library is the field's reference
// implementation. The formulas are written out at each function; the code
// is ours (rliable is Python, and these few functions are smaller than a
// bridge to it).
//
// Scores are arranged as a matrix x[m][i]: m indexes tasks (held-out
// problems here), i indexes runs (seeds).
package stats

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Mean is the arithmetic mean; 0 for no values.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TrimMean is scipy.stats.trim_mean(xs, cut): the mean after removing
// floor(cut*n) values from each end of the sorted values.
func TrimMean(xs []float64, cut float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(cut * float64(len(s)))
	return Mean(s[k : len(s)-k])
}

// IQM is the interquartile mean of rliable (aggregate_iqm): the mean of the
// middle 50% of all run-task scores pooled, i.e.
// scipy.stats.trim_mean(x.flatten(), 0.25).
func IQM(x [][]float64) float64 { return TrimMean(flatten(x), 0.25) }

// MeanOf is the mean of all run-task scores pooled (rliable aggregate_mean
// with one score per task-run pair).
func MeanOf(x [][]float64) float64 { return Mean(flatten(x)) }

func flatten(x [][]float64) []float64 {
	var out []float64
	for _, row := range x {
		out = append(out, row...)
	}
	return out
}

// ProbImprovement is rliable's probability of improvement of X over Y:
//
//	P(X > Y) = 1/M * sum_m P(X_m > Y_m)
//	P(X_m > Y_m) = 1/(N*K) * sum_i sum_j S(x[m][i], y[m][j]),
//	S(a, b) = 1 if a > b, 1/2 if a == b, 0 otherwise
//
// (the Mann-Whitney U statistic of each task, averaged over tasks). x and y
// must have the same tasks (rows); their runs may differ in number. Tasks
// where either side has no runs are skipped.
func ProbImprovement(x, y [][]float64) float64 {
	total, tasks := 0.0, 0
	for m := range min(len(x), len(y)) {
		if len(x[m]) == 0 || len(y[m]) == 0 {
			continue
		}
		s := 0.0
		for _, a := range x[m] {
			for _, b := range y[m] {
				switch {
				case a > b:
					s++
				case a == b:
					s += 0.5
				}
			}
		}
		total += s / float64(len(x[m])*len(y[m]))
		tasks++
	}
	if tasks == 0 {
		return 0
	}
	return total / float64(tasks)
}

// Interval is a point estimate with a two-sided confidence interval.
type Interval struct {
	Point, Lo, Hi float64
}

// Percentile is numpy.percentile(xs, q) with linear interpolation
// (q in [0, 100]); xs need not be sorted.
func Percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q / 100 * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// Bootstrap configures a stratified bootstrap: Reps resamples (default
// 2000, rliable's default), a 1-Alpha percentile interval (default 0.05,
// so 95%), from a generator seeded with Seed so every interval is
// reproducible.
type Bootstrap struct {
	Reps  int
	Alpha float64
	Seed  uint64
}

func (b Bootstrap) reps() int {
	if b.Reps <= 0 {
		return 2000
	}
	return b.Reps
}

func (b Bootstrap) alpha() float64 {
	if b.Alpha <= 0 || b.Alpha >= 1 {
		return 0.05
	}
	return b.Alpha
}

// Stratified returns stat of the data with a percentile bootstrap
// interval. Each stratum is resampled with replacement on its own and keeps
// its size, so strata keep their weight in every resample: rliable's
// StratifiedBootstrap resamples the runs within each task; for paired
// differences over tasks the strata are the task families. stat receives
// the resampled strata (reuse nothing across calls: the slices are
// overwritten).
func (b Bootstrap) Stratified(strata [][]float64, stat func([][]float64) float64) Interval {
	iv := Interval{Point: stat(strata)}
	rng := rand.New(rand.NewPCG(b.Seed, 0x5eed))
	sample := make([][]float64, len(strata))
	for i, s := range strata {
		sample[i] = make([]float64, len(s))
	}
	vals := make([]float64, 0, b.reps())
	for range b.reps() {
		for i, s := range strata {
			for j := range sample[i] {
				sample[i][j] = s[rng.IntN(len(s))]
			}
		}
		vals = append(vals, stat(sample))
	}
	a := b.alpha()
	iv.Lo, iv.Hi = Percentile(vals, 100*a/2), Percentile(vals, 100*(1-a/2))
	return iv
}

// MeanCI is the mean of all values of all strata with its stratified
// bootstrap interval.
func (b Bootstrap) MeanCI(strata [][]float64) Interval {
	return b.Stratified(strata, MeanOf)
}

// RunsCI resamples the runs of each task (rliable's StratifiedBootstrap
// with the tasks as strata) and returns stat of x, the run-task matrix,
// with its interval.
func (b Bootstrap) RunsCI(x [][]float64, stat func([][]float64) float64) Interval {
	return b.Stratified(x, stat)
}

// PairedCI resamples tasks, keeping each task's scores of X and Y together
// (the pairing), and returns stat(xResampled, yResampled) with its
// interval. x and y are run-task matrices over the same tasks, tasks are
// resampled within each stratum (strata[k] lists task indices, e.g. one
// stratum per task family). Resampling whole tasks of both arms at once is
// what makes the interval paired: the task-to-task spread, which both arms
// share, cancels out of the difference.
func (b Bootstrap) PairedCI(x, y [][]float64, strata [][]int, stat func(x, y [][]float64) float64) Interval {
	iv := Interval{Point: stat(x, y)}
	rng := rand.New(rand.NewPCG(b.Seed, 0xba1d))
	n := 0
	for _, s := range strata {
		n += len(s)
	}
	xs, ys := make([][]float64, 0, n), make([][]float64, 0, n)
	vals := make([]float64, 0, b.reps())
	for range b.reps() {
		xs, ys = xs[:0], ys[:0]
		for _, s := range strata {
			for range s {
				m := s[rng.IntN(len(s))]
				xs, ys = append(xs, x[m]), append(ys, y[m])
			}
		}
		vals = append(vals, stat(xs, ys))
	}
	a := b.alpha()
	iv.Lo, iv.Hi = Percentile(vals, 100*a/2), Percentile(vals, 100*(1-a/2))
	return iv
}

// MeanDiff is the mean over tasks of the paired difference
// d_m = mean_i x[m][i] - mean_j y[m][j].
func MeanDiff(x, y [][]float64) float64 {
	s, n := 0.0, 0
	for m := range min(len(x), len(y)) {
		if len(x[m]) == 0 || len(y[m]) == 0 {
			continue
		}
		s += Mean(x[m]) - Mean(y[m])
		n++
	}
	if n == 0 {
		return 0
	}
	return s / float64(n)
}

// IQMDiff is IQM(x) - IQM(y).
func IQMDiff(x, y [][]float64) float64 { return IQM(x) - IQM(y) }
