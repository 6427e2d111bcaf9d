// Package bench measures flowsteer's hot paths side by side in one run and
// reports absolute numbers next to ratios, with the machine described:
//
//   - canvas overhead per turn (apply, validate, observe; execution off)
//     in process against a gRPC Interact stream on loopback TCP;
//   - rollout efficiency: a fixed-workflow policy playing many episodes
//     against the openai executor backend and a fake OpenAI-compatible
//     server that answers after a fixed delay, as a fraction of the ideal
//     C / (calls per episode x delay);
//   - executor calls of one training step with the executor cache on and
//     off (the simulated backend, the untrained seeded embedded policy);
//   - memory per open episode, for many concurrent open episodes, and the
//     goroutines left once they are closed;
//   - the time of one CWRPO update of the embedded policy on a batch built
//     from its own decisions.
//
// `flowsteer bench` (cmd/flowsteer/bench.go) runs it and prints the table;
// `make bench` rewrites the bench block of BENCHMARKS.md. Absolute times on
// a shared machine are noise; the ratios are what to compare.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Section names, in the order they run.
const (
	SectionCanvas  = "canvas"
	SectionRollout = "rollout"
	SectionCache   = "cache"
	SectionMemory  = "memory"
	SectionTrainer = "trainer"
)

// Sections lists every section in run order.
var Sections = []string{SectionCanvas, SectionRollout, SectionCache, SectionMemory, SectionTrainer}

// EfficiencyTarget is the rollout efficiency the issue asks for.
const EfficiencyTarget = 0.9

// Config sizes a run. Zero fields are not defaults: start from
// DefaultConfig or QuickConfig.
type Config struct {
	// Only runs these sections (nil = all).
	Only []string `json:"only,omitempty"`
	// Quick marks the small sizes (recorded in the report).
	Quick bool `json:"quick"`

	// CanvasEpisodes is the number of scripted episodes played on each
	// side (in process, gRPC); each has ScriptTurns turns.
	CanvasEpisodes int `json:"canvas_episodes"`

	// Delay is the fake OpenAI server's answer time per call.
	Delay time.Duration `json:"delay_ns"`
	// Concurrency is C, the openai backend's max_concurrency.
	Concurrency int `json:"concurrency"`
	// Streams is the number of episodes played at once.
	Streams int `json:"streams"`
	// Warmup is run before the measured Window starts (at least 1.5
	// ideal episode lifetimes: streams x calls x delay / C).
	Warmup time.Duration `json:"warmup_ns"`
	Window time.Duration `json:"window_ns"`
	// MinEpisodes stretches the window until at least this many episodes
	// completed in it, so a slow machine still measures a rate.
	MinEpisodes int `json:"min_episodes"`
	// Workflow is the fixed policy's DSL.
	Workflow string `json:"workflow"`

	// GroupSize episodes per task, on Tasks tasks of the offline suite.
	GroupSize int `json:"group_size"`
	Tasks     int `json:"tasks"`

	// OpenEpisodes are held open at once for the memory section.
	OpenEpisodes int `json:"open_episodes"`

	// UpdateEpisodes x UpdateDecisions is the CWRPO batch; the update is
	// timed UpdateRepeats times.
	UpdateEpisodes  int `json:"update_episodes"`
	UpdateDecisions int `json:"update_decisions"`
	UpdateRepeats   int `json:"update_repeats"`

	// Seed seeds the policies and the simulation.
	Seed int64 `json:"seed"`

	// Progress receives one line per phase (nil = silent).
	Progress io.Writer `json:"-"`
}

// DefaultWorkflow is the rollout section's workflow: a planner, three
// solvers in parallel, a vote in code (no call), a checker with a repair
// branch, and Format. It passes the canvas's default finish rules.
const DefaultWorkflow = "Plan -> [AnswerGenerate, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Format"

// DefaultConfig are the full sizes `make bench` runs.
func DefaultConfig() Config {
	return Config{
		CanvasEpisodes: 200,
		Delay:          50 * time.Millisecond,
		Concurrency:    8,
		Streams:        32,
		Warmup:         2 * time.Second,
		Window:         10 * time.Second,
		MinEpisodes:    64,
		Workflow:       DefaultWorkflow,
		GroupSize:      36,
		Tasks:          3,
		OpenEpisodes:   1000,
		UpdateEpisodes: 36, UpdateDecisions: 20, UpdateRepeats: 10,
		Seed: 1,
	}
}

// QuickConfig are small sizes for tests and a first look (seconds).
func QuickConfig() Config {
	c := DefaultConfig()
	c.Quick = true
	c.CanvasEpisodes = 8
	c.Delay = 10 * time.Millisecond
	c.Concurrency = 4
	c.Streams = 12
	c.Warmup = 200 * time.Millisecond
	c.Window = time.Second
	c.MinEpisodes = 4
	c.GroupSize = 4
	c.Tasks = 1
	c.OpenEpisodes = 50
	c.UpdateEpisodes, c.UpdateDecisions, c.UpdateRepeats = 4, 5, 2
	return c
}

// Validate names the first bad field.
func (c Config) Validate() error {
	for _, s := range c.Only {
		if !slices.Contains(Sections, s) {
			return fmt.Errorf("only: unknown section %q: use %s", s, strings.Join(Sections, ", "))
		}
	}
	pos := []struct {
		name string
		v    int
	}{
		{"canvas_episodes", c.CanvasEpisodes}, {"concurrency", c.Concurrency}, {"streams", c.Streams}, {"min_episodes", c.MinEpisodes},
		{"group_size", c.GroupSize}, {"tasks", c.Tasks}, {"open_episodes", c.OpenEpisodes},
		{"update_episodes", c.UpdateEpisodes}, {"update_decisions", c.UpdateDecisions}, {"update_repeats", c.UpdateRepeats},
	}
	for _, p := range pos {
		if p.v < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", p.name, p.v)
		}
	}
	switch {
	case c.Delay <= 0:
		return fmt.Errorf("delay must be positive, got %s", c.Delay)
	case c.Window <= 0:
		return fmt.Errorf("window must be positive, got %s", c.Window)
	case c.Warmup < 0:
		return fmt.Errorf("warmup must not be negative, got %s", c.Warmup)
	case c.Tasks > 3:
		return fmt.Errorf("tasks must be at most 3 (one per family: math, qa, code), got %d", c.Tasks)
	case c.GroupSize < 2:
		return fmt.Errorf("group_size must be at least 2 (advantages need a group), got %d", c.GroupSize)
	case strings.TrimSpace(c.Workflow) == "":
		return errors.New("workflow must not be empty")
	}
	return nil
}

func (c Config) runs(section string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, section)
}

func (c Config) progress(format string, args ...any) {
	if c.Progress != nil {
		fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...)
	}
}

// Report is one run's results. Times are in milliseconds or microseconds
// as their names say; sections not run are nil.
type Report struct {
	Generated time.Time      `json:"generated"`
	Machine   Machine        `json:"machine"`
	Config    Config         `json:"config"`
	Canvas    *CanvasResult  `json:"canvas,omitempty"`
	Rollout   *RolloutResult `json:"rollout,omitempty"`
	Cache     *CacheResult   `json:"cache,omitempty"`
	Memory    *MemoryResult  `json:"memory,omitempty"`
	Trainer   *TrainerResult `json:"trainer,omitempty"`
	Seconds   float64        `json:"seconds"`
}

// Run measures every configured section in turn.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	start := time.Now()
	r := &Report{Generated: start.UTC().Truncate(time.Second), Machine: DescribeMachine(), Config: cfg}
	steps := []struct {
		name string
		run  func() error
	}{
		{SectionCanvas, func() (err error) { r.Canvas, err = runCanvas(ctx, cfg); return }},
		{SectionRollout, func() (err error) { r.Rollout, err = runRollout(ctx, cfg); return }},
		{SectionCache, func() (err error) { r.Cache, err = runCache(ctx, cfg); return }},
		{SectionMemory, func() (err error) { r.Memory, err = runMemory(ctx, cfg); return }},
		{SectionTrainer, func() (err error) { r.Trainer, err = runTrainer(ctx, cfg); return }},
	}
	for _, s := range steps {
		if !cfg.runs(s.name) {
			continue
		}
		t := time.Now()
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("bench %s: %w", s.name, err)
		}
		cfg.progress("%s done in %.1fs", s.name, time.Since(t).Seconds())
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}
