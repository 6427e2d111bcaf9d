package eval

import (
	"math"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/task"
)

func TestWilsonMatchesKnownValues(t *testing.T) {
	tests := []struct {
		k, n     int
		lo, hi   float64
		hasRange bool
	}{
		{0, 0, 0, 0, false},
		{5, 10, 0.2366, 0.7634, true},
		{10, 10, 0.7225, 1, true},
		{0, 10, 0, 0.2775, true},
	}
	for _, tt := range tests {
		lo, hi := Wilson(tt.k, tt.n)
		if math.Abs(lo-tt.lo) > 1e-3 || math.Abs(hi-tt.hi) > 1e-3 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tt.k, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestMeanCI(t *testing.T) {
	m, lo, hi := MeanCI([]float64{1, 0, 1, 0})
	if m != 0.5 || !(lo < 0.5 && hi > 0.5) || math.Abs((hi-lo)/2-1.959964*math.Sqrt(1.0/3)/2) > 1e-9 {
		t.Fatalf("MeanCI = %v [%v, %v]", m, lo, hi)
	}
	if m, lo, hi := MeanCI([]float64{0.7}); m != 0.7 || lo != 0.7 || hi != 0.7 {
		t.Fatalf("single value: %v %v %v", m, lo, hi)
	}
}

func TestSummarizeNamesMetricsPerFamily(t *testing.T) {
	rs := []Result{
		{Family: task.Math, Correct: true, Score: 1}, {Family: task.Math, Correct: false, Score: 0},
		{Family: task.QA, Correct: false, Score: 0.5}, {Family: task.Code, Correct: true, Score: 1},
	}
	sums := Summarize(rs)
	got := map[string]float64{}
	for _, s := range sums {
		for _, m := range s.Metrics {
			got[string(s.Family)+"/"+m.Name] = m.Value
		}
	}
	want := map[string]float64{"math/accuracy": 0.5, "qa/em": 0, "qa/f1": 0.5, "code/pass@1": 1, "all/accuracy": 0.5, "all/mean score": 0.625}
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-12 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if txt := Format(sums); !strings.Contains(txt, "pass@1") || !strings.Contains(txt, "95% CI") {
		t.Fatalf("Format:\n%s", txt)
	}
}
