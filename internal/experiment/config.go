// Package experiment runs the comparison of issue #19, "an experiment that
// can tell": a grid of arms (a trained policy per reward, hand-written
// baselines, a searched workflow) x seeds, each cell played on the same
// held-out tasks, appended to a results file as it completes (so a re-run
// skips finished cells; CellConcurrency of them at a time), then
// summarised with paired statistics (internal/stats) into one markdown
// report and an SVG plot of the intervals.
//
// The package holds the grid, the results file and the report; what a cell
// does (train, evaluate, search) is the caller's CellRunner, so nothing
// here builds a canvas or a policy.
package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Arm kinds.
const (
	KindTrain     = "train"     // the embedded Flow-Director trained with Reward and Loss
	KindUntrained = "untrained" // the same policy before training (seed-initialised)
	KindFixed     = "fixed"     // a fixed workflow: DSL or a baseline name (cot, self-consistency, full)
	KindSearch    = "search"    // the workflow `flowsteer search` finds per family on the training split
	// KindBestFixed is the best single fixed workflow: `flowsteer search
	// --joint` once over the training tasks of every family together, the
	// one workflow it finds played on every family.
	KindBestFixed = "best-fixed"
	KindRandom    = "random" // uniformly random valid actions
	// KindSearchPolicy is the search arm's per-family search confined to
	// the workflows the embedded policy can build (its action space): the
	// best a policy that only chose among them could do, and what a train
	// arm's warm_from: search-policy shows it.
	KindSearchPolicy = "search-policy"
)

// Arm is one row of the comparison.
type Arm struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`
	// Reward is the train arm's reward kind: cwrpo (default), correctness
	// (plain GRPO) or milestone.
	Reward string `yaml:"reward,omitempty"`
	// Loss is the train arm's loss: cwrpo (default, the clipped surrogate)
	// or reinforce.
	Loss string `yaml:"loss,omitempty"`
	// DSL is the fixed arm's workflow or baseline name.
	DSL string `yaml:"dsl,omitempty"`
	// Set lists the train arm's trainer overrides, key=value as
	// `flowsteer train --set` takes them, applied after the grid's
	// train.set. The keys are checked before any cell runs (the caller's
	// CheckTrain).
	Set []string `yaml:"set,omitempty"`
	// Greedy evaluates with each head's most likely choice instead of
	// sampling. Two train arms that differ only in Greedy (or Name) share
	// one training run per seed.
	Greedy bool `yaml:"greedy,omitempty"`
	// Temperature is the temperature of the sampled evaluation of a train
	// or untrained arm (0 = 1, as the embedded policy trains; lower is
	// nearer greedy). Like Greedy it changes the evaluation only: arms
	// that differ only in it share their training runs.
	Temperature float64 `yaml:"temperature,omitempty"`
	// WarmFrom warm-starts a train arm (trainer warm_start) from the
	// per-family workflows of best-fixed (the best single workflow as
	// played on each family), search or search-policy, found once on the
	// training split as those arms find them (the arm need not be in the
	// grid). Empty: no warm start.
	WarmFrom string `yaml:"warm_from,omitempty"`
	// CompareTo names other arms this one is also compared with, pair by
	// pair, in the report (beyond the comparisons every report makes). It
	// changes the report only, never a cell.
	CompareTo []string `yaml:"compare_to,omitempty"`
}

// Config is an experiment (YAML). Zero values take the documented
// defaults (Default); unknown keys are errors.
type Config struct {
	Name  string  `yaml:"name"`
	Seeds []int64 `yaml:"seeds"` // default 1..5
	Tasks struct {
		// Train and Eval are task files (empty: the offline suite built
		// into the binary); EvalPerFamily keeps the first N held-out tasks
		// of each family (0 = all), TrainPerFamily the first N training
		// tasks of each family (0 = all).
		Train          string `yaml:"train"`
		Eval           string `yaml:"eval"`
		EvalPerFamily  int    `yaml:"eval_per_family"`
		TrainPerFamily int    `yaml:"train_per_family"`
		// GenerateSeed seeds the suite generator when the built-in
		// held-out split is smaller than EvalPerFamily (it has 30 tasks a
		// family): the held-out set is then generated (the tasks after the
		// built-in training split's, those equal to a training task
		// dropped) into the experiment directory. Default 1, the built-in
		// suite's seed, whose held-out tasks it extends.
		GenerateSeed int64 `yaml:"generate_seed,omitempty"`
	} `yaml:"tasks"`
	// Train sizes every train arm's run (the rest is the trainer's
	// defaults, or the trainer config file Base).
	Train struct {
		Base       string `yaml:"base"`
		Steps      int    `yaml:"steps"`
		BatchTasks int    `yaml:"batch_tasks"`
		GroupSize  int    `yaml:"group_size"`
		// Set lists trainer overrides (key=value, as `flowsteer train
		// --set`) for every train arm, applied over Base and the sizes
		// above; an arm's own set comes after.
		Set []string `yaml:"set,omitempty"`
	} `yaml:"train"`
	// Search sizes the search arm: an executor-call budget per family,
	// an evaluation cap per family, and the training tasks per family each
	// candidate is scored on. The search runs once (seed Search.Seed) and
	// its workflows are evaluated under every seed, as AFlow evaluates its
	// searched workflow.
	Search struct {
		Seed           int64 `yaml:"seed"`
		Budget         int   `yaml:"budget"`
		MaxEvals       int   `yaml:"max_evals"`
		TasksPerFamily int   `yaml:"tasks_per_family"`
	} `yaml:"search"`
	Arms []Arm `yaml:"arms"`
	// Concurrency bounds the episodes in flight within a cell.
	Concurrency int `yaml:"concurrency"`
	// CellConcurrency bounds the cells run at once (default 1): the
	// episodes in flight are at most CellConcurrency x Concurrency.
	CellConcurrency int `yaml:"cell_concurrency,omitempty"`
	// BootstrapReps resamples per interval (default 2000).
	BootstrapReps int `yaml:"bootstrap_reps"`
}

// Default is the grid of configs/experiment-sim.yaml: 7 arms x 5 seeds x
// 20 held-out tasks a family, which took 28 minutes on a shared 2-core VM
// with the simulated executor (BENCHMARKS.md, issue #19).
func Default() Config {
	var c Config
	c.Name = "experiment"
	c.Seeds = []int64{1, 2, 3, 4, 5}
	c.Tasks.EvalPerFamily = 20
	c.Tasks.TrainPerFamily = 20
	c.Tasks.GenerateSeed = 1
	c.Train.Steps = 10
	c.Train.BatchTasks = 3
	c.Train.GroupSize = 4
	c.Search.Seed = 1
	c.Search.Budget = 300
	c.Search.MaxEvals = 40
	c.Search.TasksPerFamily = 10
	c.Arms = []Arm{
		{Name: "untrained", Kind: KindUntrained},
		{Name: "cwrpo", Kind: KindTrain, Reward: "cwrpo"},
		{Name: "grpo", Kind: KindTrain, Reward: "correctness"},
		{Name: "cot", Kind: KindFixed, DSL: "cot"},
		{Name: "self-consistency", Kind: KindFixed, DSL: "self-consistency"},
		{Name: "full", Kind: KindFixed, DSL: "full"},
		{Name: "search", Kind: KindSearch},
	}
	c.Concurrency = 4
	c.CellConcurrency = 1
	c.BootstrapReps = 2000
	return c
}

// Parse reads YAML over the defaults; arms, when given, replace the
// default arms.
func Parse(b []byte) (Config, error) {
	c := Default()
	c.Arms = nil
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return Config{}, fmt.Errorf("experiment config: %w", err)
	}
	if c.Arms == nil {
		c.Arms = Default().Arms
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("experiment config: %w", err)
	}
	return c, nil
}

// Load reads a config file; an empty path is Default.
func Load(path string) (Config, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate names the first bad key.
func (c Config) Validate() error {
	if len(c.Seeds) == 0 {
		return errors.New("seeds: at least one seed")
	}
	seen := map[int64]bool{}
	for _, s := range c.Seeds {
		if seen[s] {
			return fmt.Errorf("seeds: %d twice", s)
		}
		seen[s] = true
	}
	if c.Tasks.GenerateSeed == 0 {
		return errors.New("tasks.generate_seed: 0 is not a seed (leave it out for 1, the built-in suite's)")
	}
	if c.Tasks.EvalPerFamily < 0 || c.Tasks.TrainPerFamily < 0 {
		return errors.New("tasks.eval_per_family and tasks.train_per_family must be >= 0")
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("concurrency must be >= 1, got %d", c.Concurrency)
	}
	if c.CellConcurrency < 1 {
		return fmt.Errorf("cell_concurrency must be >= 1, got %d", c.CellConcurrency)
	}
	if len(c.Arms) == 0 {
		return errors.New("arms: at least one arm")
	}
	names := map[string]bool{}
	hasTrain, hasSearch := false, false
	for i, a := range c.Arms {
		key := fmt.Sprintf("arms[%d]", i)
		if a.Name == "" {
			return fmt.Errorf("%s.name is required", key)
		}
		if names[a.Name] {
			return fmt.Errorf("%s.name %q is used twice", key, a.Name)
		}
		names[a.Name] = true
		switch a.Kind {
		case KindTrain:
			hasTrain = true
			switch a.Reward {
			case "", "cwrpo", "correctness", "milestone":
			default:
				return fmt.Errorf("%s.reward must be cwrpo, correctness or milestone, got %q", key, a.Reward)
			}
			switch a.Loss {
			case "", "cwrpo", "reinforce":
			default:
				return fmt.Errorf("%s.loss must be cwrpo or reinforce, got %q", key, a.Loss)
			}
			switch a.WarmFrom {
			case "":
			case KindBestFixed, KindSearch, KindSearchPolicy:
				hasSearch = true
			default:
				return fmt.Errorf("%s.warm_from must be best-fixed, search or search-policy, got %.80q", key, a.WarmFrom)
			}
		case KindFixed:
			if a.DSL == "" {
				return fmt.Errorf("%s.dsl is required for a fixed arm", key)
			}
		case KindSearch, KindBestFixed, KindSearchPolicy:
			hasSearch = true
		case KindUntrained, KindRandom:
		default:
			return fmt.Errorf("%s.kind must be train, untrained, random, fixed, search, search-policy or best-fixed, got %q", key, a.Kind)
		}
		if a.Kind != KindTrain && a.WarmFrom != "" {
			return fmt.Errorf("%s.warm_from: only a train arm warm-starts", key)
		}
		if a.Kind != KindTrain && len(a.Set) > 0 {
			return fmt.Errorf("%s.set: only a train arm takes trainer overrides", key)
		}
		if a.Greedy && a.Kind != KindTrain && a.Kind != KindUntrained {
			return fmt.Errorf("%s.greedy: only the embedded policy's arms (train, untrained) can be evaluated greedily", key)
		}
		switch {
		case a.Temperature != 0 && a.Kind != KindTrain && a.Kind != KindUntrained:
			return fmt.Errorf("%s.temperature: only the embedded policy's arms (train, untrained) take an evaluation temperature", key)
		case a.Temperature != 0 && a.Greedy:
			return fmt.Errorf("%s: greedy and temperature exclude each other (greedy takes the most likely choice)", key)
		case !(a.Temperature >= 0 && a.Temperature <= 5):
			return fmt.Errorf("%s.temperature must be in (0, 5] (0 = 1), got %v", key, a.Temperature)
		}
	}
	for i, a := range c.Arms {
		for _, b := range a.CompareTo {
			switch {
			case b == a.Name:
				return fmt.Errorf("arms[%d].compare_to: %q is the arm itself", i, b)
			case !names[b]:
				return fmt.Errorf("arms[%d].compare_to: no arm is named %.80q", i, b)
			}
		}
	}
	if hasTrain && (c.Train.Steps < 1 || c.Train.BatchTasks < 1 || c.Train.GroupSize < 2) {
		return fmt.Errorf("train: steps >= 1, batch_tasks >= 1 and group_size >= 2 are needed, got %d, %d, %d", c.Train.Steps, c.Train.BatchTasks, c.Train.GroupSize)
	}
	if hasSearch && (c.Search.Budget <= 0 && c.Search.MaxEvals <= 0 || c.Search.TasksPerFamily < 1) {
		return errors.New("search: budget or max_evals, and tasks_per_family >= 1, are needed")
	}
	return nil
}

// Same reports whether c and o are the same experiment: equal but for
// how many episodes and cells run at once, which change the wall time,
// not the cells (every episode is seeded by its cell).
// Comparisons (compare_to) change the report, not the cells, so they may
// change too.
func (c Config) Same(o Config) bool {
	c.Concurrency, c.CellConcurrency = 0, 0
	o.Concurrency, o.CellConcurrency = 0, 0
	c.Arms, o.Arms = withoutComparisons(c.Arms), withoutComparisons(o.Arms)
	return c.YAML() == o.YAML()
}

func withoutComparisons(arms []Arm) []Arm {
	out := make([]Arm, len(arms))
	for i, a := range arms {
		a.CompareTo = nil
		out[i] = a
	}
	return out
}

// YAML is the config as written to an experiment directory (defaults
// filled in), so a resumed run can tell whether it is the same experiment.
func (c Config) YAML() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("# unprintable config: %v\n", err)
	}
	return string(b)
}
