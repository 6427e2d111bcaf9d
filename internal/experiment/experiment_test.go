package experiment

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseTakesDefaultsAndNamesBadKeys(t *testing.T) {
	c, err := Parse([]byte("seeds: [3, 4]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Arms) != len(Default().Arms) || c.Seeds[1] != 4 || c.Concurrency != 4 {
		t.Fatalf("defaults not kept: %+v", c)
	}
	for in, want := range map[string]string{
		"bogus: 1\n":                                                       "bogus",
		"arms: [{name: a, kind: magic}]\n":                                 "arms[0].kind",
		"arms: [{name: a, kind: fixed}]\n":                                 "arms[0].dsl",
		"arms: [{name: a, kind: train, reward: x}]\n":                      "arms[0].reward",
		"arms: [{name: a, kind: untrained}, {name: a, kind: untrained}]\n": "used twice",
		"seeds: [1, 1]\n":                                                  "seeds",
		"train: {steps: 0}\n":                                              "train",
		"arms: [{name: a, kind: fixed, dsl: cot, set: [steps=2]}]\n":       "arms[0].set",
		"arms: [{name: a, kind: search, greedy: true}]\n":                  "arms[0].greedy",
		"arms: [{name: a, kind: fixed, dsl: cot, temperature: 0.5}]\n":     "arms[0].temperature",
		"arms: [{name: a, kind: train, greedy: true, temperature: 0.5}]\n": "exclude each other",
		"arms: [{name: a, kind: train, temperature: -1}]\n":                "arms[0].temperature",
		"cell_concurrency: 0\n":                                            "cell_concurrency",
		"tasks: {generate_seed: 0}\n":                                      "tasks.generate_seed",
		"arms: [{name: a, kind: untrained, compare_to: [a]}]\n":            "the arm itself",
		"arms: [{name: a, kind: untrained, compare_to: [b]}]\n":            "no arm is named \"b\"",
		"arms: [{name: a, kind: train, warm_from: oracle}]\n":              "arms[0].warm_from",
		"arms: [{name: a, kind: untrained, warm_from: search}]\n":          "only a train arm",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error naming %q", in, err, want)
		}
	}
}

// fake plays a cell from a table of per-arm accuracies: task i of 20 is
// correct when i < acc*20.
type fake struct {
	calls int
	acc   map[string]float64
	fail  string
}

func (f *fake) RunCell(_ context.Context, arm Arm, seed int64) (Cell, error) {
	f.calls++
	if arm.Name == f.fail {
		return Cell{}, errors.New("boom")
	}
	c := Cell{Note: "n"}
	for i := range 20 {
		fam := []string{"code", "math"}[i%2]
		// seed shifts which tasks are right, so seeds differ.
		ok := float64((i+int(seed))%20) < f.acc[arm.Name]*20
		c.Outcomes = append(c.Outcomes, Outcome{TaskID: fmt.Sprintf("t%02d", i), Family: fam, Correct: ok, Reward: bool01(ok), Finished: true, Turns: 10})
	}
	return c, nil
}

func grid() Config {
	c := Default()
	c.Seeds = []int64{1, 2, 3}
	c.BootstrapReps = 300
	c.Arms = []Arm{
		{Name: "cwrpo", Kind: KindTrain, Reward: "cwrpo"},
		{Name: "grpo", Kind: KindTrain, Reward: "correctness"},
		{Name: "cot", Kind: KindFixed, DSL: "cot"},
		{Name: "full", Kind: KindFixed, DSL: "full"},
	}
	return c
}

func TestRunResumesSkippingFinishedCells(t *testing.T) {
	dir := t.TempDir()
	cfg := grid()
	f := &fake{acc: map[string]float64{"cwrpo": 0.9, "grpo": 0.6, "cot": 0.3, "full": 0.5}, fail: "cot"}
	cells, err := Run(context.Background(), cfg, dir, f, io.Discard)
	if err == nil || len(cells) != 6 || f.calls != 7 {
		t.Fatalf("first run: err %v, %d cells, %d calls; want the cot failure after 6 cells", err, len(cells), f.calls)
	}
	// A torn line (killed mid-write) is ignored and that cell re-run.
	fh, _ := os.OpenFile(filepath.Join(dir, ResultsFile), os.O_APPEND|os.O_WRONLY, 0)
	fh.WriteString(`{"arm":"cot","seed":1,"outc`)
	fh.Close()
	f.fail, f.calls = "", 0
	cells, err = Run(context.Background(), cfg, dir, f, io.Discard)
	if err != nil || len(cells) != 12 || f.calls != 6 {
		t.Fatalf("resume: err %v, %d cells, %d calls; want 12 cells from 6 new calls", err, len(cells), f.calls)
	}
	loaded, _ := LoadCells(dir)
	if len(loaded) != 12 {
		t.Fatalf("results file holds %d cells, want 12", len(loaded))
	}
	f.calls = 0
	if _, err := Run(context.Background(), cfg, dir, f, io.Discard); err != nil || f.calls != 0 {
		t.Fatalf("a finished grid re-ran %d cells (err %v)", f.calls, err)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fake{acc: map[string]float64{}}
	if _, err := Run(ctx, grid(), t.TempDir(), f, io.Discard); !errors.Is(err, context.Canceled) || f.calls != 0 {
		t.Fatalf("err %v after %d calls, want Canceled before any cell", err, f.calls)
	}
}

func TestReportComparesArmsWithPairedIntervals(t *testing.T) {
	cfg := grid()
	f := &fake{acc: map[string]float64{"cwrpo": 0.9, "grpo": 0.6, "cot": 0.3, "full": 0.5}}
	cells, err := Run(context.Background(), cfg, t.TempDir(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep := Report(cfg, cells)
	for _, want := range []string{
		"Held-out tasks: 20 (code 10, math 10)",
		"| cwrpo | 3 | 0.900 [",
		"| cwrpo vs full (best fixed arm on these tasks) | +0.400 [",
		"| cwrpo vs grpo (CWRPO vs GRPO) | +0.300 [",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	tb := newTable(cfg, cells)
	c := tb.compare("cwrpo", "full", 300)
	if c.Accuracy.Lo <= 0 || c.Improvement != 1 {
		t.Fatalf("cwrpo is right on 18 of 20 tasks in every seed, full on 10: want Δ interval above 0 and P=1, got %+v", c)
	}
	c = tb.compare("grpo", "grpo", 300)
	if c.Accuracy.Point != 0 || c.Improvement != 0.5 {
		t.Fatalf("an arm against itself: %+v", c)
	}
}

func TestReportUsesOnlyTasksEveryCellPlayed(t *testing.T) {
	cfg := grid()
	cfg.Arms = cfg.Arms[:2]
	cells := []Cell{
		{Arm: "cwrpo", Seed: 1, Outcomes: []Outcome{{TaskID: "a", Family: "qa", Correct: true}, {TaskID: "b", Family: "qa"}}},
		{Arm: "grpo", Seed: 1, Outcomes: []Outcome{{TaskID: "a", Family: "qa"}, {TaskID: "b", Family: "qa", Failed: true}}},
	}
	tb := newTable(cfg, cells)
	if len(tb.tasks) != 1 || tb.tasks[0] != "a" {
		t.Fatalf("tasks %v, want only a (b failed in one cell)", tb.tasks)
	}
}

func TestShippedConfigIsTheDefaultGrid(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "configs", "experiment-sim.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	c.Name = d.Name
	if c.YAML() != d.YAML() {
		t.Fatalf("configs/experiment-sim.yaml and Default differ:\n%s\n---\n%s", c.YAML(), d.YAML())
	}
}

// gate is a CellRunner that counts the cells in flight, holds each until
// released (or ctx ends), and cancels the run after cancelAfter cells
// have completed.
type gate struct {
	mu          sync.Mutex
	inFlight    int
	peak        int
	completed   int
	cancelAfter int
	cancel      context.CancelFunc
	release     chan struct{}
}

func (g *gate) RunCell(ctx context.Context, arm Arm, seed int64) (Cell, error) {
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	select {
	case <-g.release:
	case <-ctx.Done():
		return Cell{}, ctx.Err()
	}
	g.mu.Lock()
	g.completed++
	if g.cancelAfter > 0 && g.completed == g.cancelAfter {
		g.cancel()
	}
	g.mu.Unlock()
	return Cell{Outcomes: []Outcome{{TaskID: "t", Family: "qa", Correct: seed%2 == 0, Turns: 3}}}, nil
}

func TestRunKeepsCellConcurrencyBound(t *testing.T) {
	cfg := grid() // 4 arms x 3 seeds
	cfg.CellConcurrency = 3
	g := &gate{release: make(chan struct{})}
	go func() {
		// Let the cells through one at a time once all three slots are
		// taken, slowly enough that the runner could overfill them.
		for {
			g.mu.Lock()
			full := g.inFlight == 3
			g.mu.Unlock()
			if full {
				break
			}
			time.Sleep(time.Millisecond)
		}
		for range 12 {
			time.Sleep(2 * time.Millisecond)
			g.release <- struct{}{}
		}
	}()
	dir := t.TempDir()
	cells, err := Run(context.Background(), cfg, dir, g, io.Discard)
	if err != nil || len(cells) != 12 {
		t.Fatalf("err %v, %d cells; want 12", err, len(cells))
	}
	if g.peak != 3 {
		t.Fatalf("at most %d cells ran at once, want exactly cell_concurrency 3", g.peak)
	}
	for i, c := range cells { // grid order, whatever order they finished in
		if want := cfg.Arms[i/3].Name; c.Arm != want || c.Seed != cfg.Seeds[i%3] {
			t.Fatalf("cell %d is %s seed %d, want %s seed %d", i, c.Arm, c.Seed, want, cfg.Seeds[i%3])
		}
	}
	if loaded, _ := LoadCells(dir); len(loaded) != 12 {
		t.Fatalf("results file holds %d cells, want 12", len(loaded))
	}
}

func TestCancelledParallelRunLeavesAFileARerunCompletes(t *testing.T) {
	cfg := grid()
	cfg.CellConcurrency = 4
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	close(release) // every cell completes at once unless cancelled first
	g := &gate{release: release, cancelAfter: 5, cancel: cancel}
	cells, err := Run(ctx, cfg, dir, g, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want Canceled", err)
	}
	loaded, lerr := LoadCells(dir)
	if lerr != nil || len(loaded) != len(cells) || len(cells) < 5 || len(cells) == 12 {
		t.Fatalf("cancelled run: %d cells returned, %d in the file (err %v); want the same number, at least 5 and not all", len(cells), len(loaded), lerr)
	}
	first := len(cells)
	g2 := &gate{release: release}
	cells, err = Run(context.Background(), cfg, dir, g2, io.Discard)
	if err != nil || len(cells) != 12 || g2.completed != 12-first {
		t.Fatalf("re-run: err %v, %d cells, %d new; want 12 cells from %d new", err, len(cells), g2.completed, 12-first)
	}
	if loaded, _ := LoadCells(dir); len(loaded) != 12 {
		t.Fatalf("results file holds %d cells after the re-run, want 12", len(loaded))
	}
}

func TestReportShowsWhatEachArmBuildsPerFamily(t *testing.T) {
	cfg := grid()
	cfg.Arms = []Arm{{Name: "cwrpo", Kind: KindTrain}, {Name: "full", Kind: KindFixed, DSL: "full"}}
	var cells []Cell
	for _, s := range []int64{1, 2} {
		c := Cell{Arm: "cwrpo", Seed: s}
		f := Cell{Arm: "full", Seed: s}
		for i := range 4 {
			dsl := "A -> Format"
			if i == 3 {
				dsl = "B -> Format"
			}
			c.Outcomes = append(c.Outcomes,
				Outcome{TaskID: fmt.Sprintf("m%d", i), Family: "math", DSL: "[P, P] -> ScEnsemble", Finished: true, Turns: 8},
				Outcome{TaskID: fmt.Sprintf("q%d", i), Family: "qa", DSL: dsl, Finished: i < 2, Turns: 20})
			f.Outcomes = append(f.Outcomes,
				Outcome{TaskID: fmt.Sprintf("m%d", i), Family: "math", DSL: "F", Finished: true, Turns: 12},
				Outcome{TaskID: fmt.Sprintf("q%d", i), Family: "qa", DSL: "F", Finished: true, Turns: 12})
		}
		cells = append(cells, c, f)
	}
	cells = append(cells, Cell{Arm: "cwrpo", Seed: 3, Outcomes: []Outcome{{TaskID: "m0", Family: "math", DSL: "x"}, {TaskID: "m1", Family: "math"}}})
	cells = append(cells, Cell{Arm: "full", Seed: 3, Outcomes: []Outcome{{TaskID: "m0", Family: "math"}, {TaskID: "m1", Family: "math"}}})
	rep := Report(cfg, cells[:4])
	for _, want := range []string{
		"| cwrpo | math | 1.00 | 8.0 | 1 | `[P, P] -> ScEnsemble` (1.00) |",
		"| cwrpo | qa | 0.50 | 20.0 | 2 | `A -> Format` (0.75) |",
		"| full | qa | 1.00 | 12.0 | 1 | `F` (1.00) |",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
	// A seed of its own: every episode different, or the empty workflow.
	cfg.Seeds = []int64{3}
	rep = Report(cfg, cells[4:])
	for _, want := range []string{
		"| cwrpo | math | 0.00 | 0.0 | 2 | none: no two episodes ended with the same workflow |",
		"| full | math | 0.00 | 0.0 | 1 | the empty workflow (1.00) |",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
}

func TestPlotDrawsAnIntervalPerArmAndFamily(t *testing.T) {
	cfg := grid()
	f := &fake{acc: map[string]float64{"cwrpo": 0.9, "grpo": 0.6, "cot": 0.3, "full": 0.5}}
	cells, err := Run(context.Background(), cfg, t.TempDir(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svg := Plot(cfg, cells)
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>\n") {
		t.Fatalf("not an SVG document:\n%s", svg)
	}
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v", err)
	}
	// 4 arms x (all, code, math) intervals, each a <title> with its numbers.
	if n := strings.Count(svg, "<title>"); n != 12 {
		t.Fatalf("%d intervals, want 12", n)
	}
	for _, want := range []string{"<title>cwrpo all: 0.900 [", "<title>cot math: ", ">code</text>", ">full</text>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("plot lacks %q", want)
		}
	}
	if !strings.Contains(Plot(cfg, nil), "no held-out task") {
		t.Error("an empty grid's plot does not say so")
	}
}

// configs/experiment-issue19.yaml is the grid of the issue's "done
// means": every arm it names, >= 5 seeds, >= 300 held-out tasks a family.
func TestIssue19ConfigHoldsTheIssuesGrid(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "configs", "experiment-issue19.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Seeds) < 5 || c.Tasks.EvalPerFamily < 300 {
		t.Fatalf("%d seeds, %d held-out tasks a family; the issue asks for >= 5 and >= 300", len(c.Seeds), c.Tasks.EvalPerFamily)
	}
	want := map[string]bool{"untrained": false, "random": false, "cot": false, "self-consistency": false, "full": false,
		KindBestFixed: false, KindSearch: false, "cwrpo": false, "correctness": false, "milestone": false}
	for _, a := range c.Arms {
		switch a.Kind {
		case KindUntrained, KindRandom, KindBestFixed, KindSearch:
			want[a.Kind] = true
		case KindFixed:
			want[a.DSL] = true
		case KindTrain:
			want[a.Reward] = true
		}
	}
	for k, ok := range want {
		if !ok {
			t.Errorf("no %s arm", k)
		}
	}
	// Its training and searches are those of the grid BENCHMARKS.md
	// reports at 50 a family, so the two tables differ only in size.
	learn, err := Load(filepath.Join("..", "..", "configs", "experiment-learn.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Train, learn.Train) || c.Search != learn.Search || c.Tasks.TrainPerFamily != learn.Tasks.TrainPerFamily {
		t.Errorf("train/search of experiment-issue19.yaml drifted from experiment-learn.yaml:\n%+v %+v\n%+v %+v", c.Train, c.Search, learn.Train, learn.Search)
	}
}

func TestReportComparesTrainedArmsWithTheBestSingleWorkflow(t *testing.T) {
	cfg := grid()
	cfg.Arms = []Arm{
		{Name: "cwrpo", Kind: KindTrain},
		{Name: "single", Kind: KindBestFixed},
		{Name: "search", Kind: KindSearch},
		{Name: "full", Kind: KindFixed, DSL: "full"},
	}
	f := &fake{acc: map[string]float64{"cwrpo": 0.9, "single": 0.7, "search": 0.8, "full": 0.5}}
	cells, err := Run(context.Background(), cfg, t.TempDir(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep := Report(cfg, cells)
	for _, want := range []string{
		"| cwrpo vs single (best single workflow, chosen on the training split) | +0.200 [",
		"| cwrpo vs search | +0.100 [",
		"| search vs single (per family vs one for all) | +0.100 [",
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
}

// Every experiment config shipped in configs/ loads and validates, so a
// documented command never starts by refusing its own file.
func TestShippedExperimentConfigsLoad(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "configs", "experiment*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 5 {
		t.Fatalf("found %d experiment configs in configs/, expected the shipped ones", len(paths))
	}
	for _, p := range paths {
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
	}
}

func TestCompareToAddsPairsToTheReportAndChangesNoCell(t *testing.T) {
	cfg := grid()
	cfg.Arms = []Arm{
		{Name: "cwrpo", Kind: KindTrain},
		{Name: "value", Kind: KindTrain, Set: []string{"policy.credit=value"}, CompareTo: []string{"cwrpo"}},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	plain := cfg
	plain.Arms = []Arm{cfg.Arms[0], cfg.Arms[1]}
	plain.Arms[1].CompareTo = nil
	if !cfg.Same(plain) {
		t.Fatal("a config differing only in compare_to is not the same experiment")
	}
	f := &fake{acc: map[string]float64{"cwrpo": 0.8, "value": 0.6}}
	cells, err := Run(context.Background(), cfg, t.TempDir(), f, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	with, without := Report(cfg, cells), Report(plain, cells)
	if !strings.Contains(with, "| value vs cwrpo | -0.200 [") {
		t.Fatalf("report lacks the value vs cwrpo pair:\n%s", with)
	}
	if strings.Contains(without, "| value vs cwrpo |") {
		t.Fatal("the pair appears without compare_to")
	}
}
