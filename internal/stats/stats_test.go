package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Known values below were computed by hand and agree with
// numpy.percentile / scipy.stats.trim_mean on the same inputs.
func TestTrimMeanMatchesScipy(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		cut  float64
		want float64
	}{
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.25, 5.5}, // drops 2 each side
		{[]float64{1, 2, 3, 4, 100}, 0.25, 3},                 // drops 1 each side: the outlier goes
		{[]float64{4, 1, 3}, 0.25, 8.0 / 3},                   // int(0.75) = 0: nothing dropped
		{[]float64{7}, 0.25, 7},
	} {
		if got := TrimMean(c.xs, c.cut); !near(got, c.want) {
			t.Errorf("TrimMean(%v, %v) = %v, want %v", c.xs, c.cut, got, c.want)
		}
	}
}

func TestIQMPoolsRunsAndTasks(t *testing.T) {
	if got := IQM([][]float64{{1, 2}, {3, 100}}); !near(got, 2.5) {
		t.Fatalf("IQM = %v, want 2.5", got)
	}
	if got := MeanOf([][]float64{{1, 2}, {3, 100}}); !near(got, 26.5) {
		t.Fatalf("MeanOf = %v, want 26.5", got)
	}
}

func TestPercentileInterpolatesLikeNumpy(t *testing.T) {
	xs := []float64{4, 1, 3, 2}
	for q, want := range map[float64]float64{0: 1, 25: 1.75, 50: 2.5, 97.5: 3.925, 100: 4} {
		if got := Percentile(xs, q); !near(got, want) {
			t.Errorf("Percentile(%v) = %v, want %v", q, got, want)
		}
	}
}

func TestProbImprovementIsTheMannWhitneyStatisticPerTask(t *testing.T) {
	x := [][]float64{{1, 0}, {1, 1}}
	y := [][]float64{{0, 0}, {1, 0}}
	// task 0: (1>0)+(1>0)+(0=0)/2+(0=0)/2 = 3 of 4; task 1: .5+1+.5+1 = 3 of 4.
	if got := ProbImprovement(x, y); !near(got, 0.75) {
		t.Fatalf("P(X>Y) = %v, want 0.75", got)
	}
	if got := ProbImprovement(y, x); !near(got, 0.25) {
		t.Fatalf("P(Y>X) = %v, want 0.25 (the two sum to 1)", got)
	}
	if got := ProbImprovement(x, x); !near(got, 0.5) {
		t.Fatalf("P(X>X) = %v, want 0.5", got)
	}
}

func TestMeanDiffIsTheMeanOfPerTaskDifferences(t *testing.T) {
	x := [][]float64{{1, 1}, {0, 1}, {1}}
	y := [][]float64{{0}, {0, 0}, {1, 1}}
	if got := MeanDiff(x, y); !near(got, (1+0.5+0)/3) {
		t.Fatalf("MeanDiff = %v", got)
	}
}

func TestBootstrapOfConstantDataIsThePoint(t *testing.T) {
	iv := Bootstrap{Reps: 200, Seed: 1}.MeanCI([][]float64{{2, 2, 2}, {2}})
	if iv.Point != 2 || iv.Lo != 2 || iv.Hi != 2 {
		t.Fatalf("interval %+v, want all 2", iv)
	}
}

func TestBootstrapIsReproducibleWithASeed(t *testing.T) {
	data := [][]float64{{0.3, 1.7, 1.1, 0.2, 1.9, 1.4, 1.05, 0.01}, {1.3, 0.6, 0.08}}
	a := Bootstrap{Reps: 500, Seed: 9}.MeanCI(data)
	b := Bootstrap{Reps: 500, Seed: 9}.MeanCI(data)
	c := Bootstrap{Reps: 500, Seed: 10}.MeanCI(data)
	if a != b {
		t.Fatalf("same seed, different intervals: %+v %+v", a, b)
	}
	if a == c {
		t.Fatalf("different seeds gave the same interval %+v (suspicious)", a)
	}
}

// The bootstrap interval of a mean of n normal draws has about the normal
// interval's width, 2 * 1.96 * sigma / sqrt(n).
func TestBootstrapMeanIntervalHasTheNormalWidth(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([]float64, 400)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	iv := Bootstrap{Reps: 4000, Seed: 5}.MeanCI([][]float64{xs})
	want := 2 * 1.96 / math.Sqrt(400)
	if w := iv.Hi - iv.Lo; math.Abs(w-want) > 0.15*want {
		t.Fatalf("width %v, want about %v", w, want)
	}
	if iv.Lo > iv.Point || iv.Hi < iv.Point {
		t.Fatalf("point %v outside [%v, %v]", iv.Point, iv.Lo, iv.Hi)
	}
}

// Pairing removes the task-to-task spread both arms share: X = Y + 0.1
// on tasks whose difficulty varies widely gives a tight interval around
// 0.1 that excludes 0.
func TestPairedIntervalCancelsSharedTaskSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x, y [][]float64
	var idx []int
	for m := range 100 {
		base := rng.Float64() * 10
		y = append(y, []float64{base, base + 0.02})
		x = append(x, []float64{base + 0.1, base + 0.12})
		idx = append(idx, m)
	}
	iv := Bootstrap{Reps: 1000, Seed: 1}.PairedCI(x, y, [][]int{idx}, MeanDiff)
	if !near(iv.Point, 0.1) || iv.Lo < 0.099 || iv.Hi > 0.101 {
		t.Fatalf("paired interval %+v, want 0.1 [~0.1, ~0.1]", iv)
	}
}

func TestPairedIntervalKeepsStrataSizes(t *testing.T) {
	// Stratum A always differs by 1, stratum B by 0: resampling within
	// strata keeps their weights, so every resample's mean is 0.5.
	x := [][]float64{{1}, {1}, {0}, {0}, {0}, {0}}
	y := [][]float64{{0}, {0}, {0}, {0}, {0}, {0}}
	strata := [][]int{{0, 1, 2}, {3, 4, 5}}
	x[2] = []float64{1}
	iv := Bootstrap{Reps: 300, Seed: 1}.PairedCI(x, y, strata, MeanDiff)
	if !near(iv.Point, 0.5) || !near(iv.Lo, 0.5) || !near(iv.Hi, 0.5) {
		t.Fatalf("interval %+v, want exactly 0.5", iv)
	}
}
