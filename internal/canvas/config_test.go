package canvas

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

func TestDefaultConfigIsTheSpecs(t *testing.T) {
	c := DefaultConfig()
	if c.MaxRounds != 20 || !c.TwoStep || !c.Lenient || !c.ExecuteEachStep || c.Hints || !c.RenderPrompt || c.Finish != DefaultFinishRules() {
		t.Errorf("DefaultConfig = %+v", c)
	}
	r := DefaultFinishRules()
	if !r.RequireNonEmpty || r.MinOperators != 5 || !r.RequireStructure || !r.RequireSolver || !r.RequireChecker ||
		!r.RequireTestForCode || !r.RequireProgrammerOrTestForCode || !r.RequireFormatWhenVerbose {
		t.Errorf("DefaultFinishRules = %+v", r)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("default config invalid: %v", err)
	}
	if s := DefaultStoreConfig(); s.MaxEpisodes != 10000 || s.IdleTTL != 30*time.Minute || s.Validate() != nil {
		t.Errorf("DefaultStoreConfig = %+v", s)
	}
}

func TestConfigValidateNamesTheBadField(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"max rounds zero", func(c *Config) { c.MaxRounds = 0 }, "max_rounds must be in 1..1000, got 0"},
		{"max rounds too many", func(c *Config) { c.MaxRounds = 1001 }, "max_rounds must be in 1..1000, got 1001"},
		{"min operators negative", func(c *Config) { c.Finish.MinOperators = -1 }, "finish.min_operators must be in 0..1000, got -1"},
		{"min operators huge", func(c *Config) { c.Finish.MinOperators = 1001 }, "finish.min_operators must be in 0..1000, got 1001"},
		{"feedback limit", func(c *Config) { c.FeedbackLimit = 99 }, "feedback_limit must be at least 100, got 99"},
		{"excerpt limit", func(c *Config) { c.ExcerptLimit = 19 }, "excerpt_limit must be at least 20, got 19"},
		{"history limit negative", func(c *Config) { c.HistoryLimit = -1 }, "history_limit must be in 0..100, got -1"},
		{"history limit huge", func(c *Config) { c.HistoryLimit = 101 }, "history_limit must be in 0..100, got 101"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			_, _, err = New().Create(context.Background(), mathTask(), cfg, reward.Default())
			wantErrIs(t, err, ErrInvalid, "config."+tc.want)
		})
	}
	t.Run("bounds are inclusive", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxRounds, cfg.FeedbackLimit, cfg.ExcerptLimit, cfg.HistoryLimit = 1000, 100, 20, 100
		cfg.Finish.MinOperators = 0
		if err := cfg.Validate(); err != nil {
			t.Error(err)
		}
		cfg.MaxRounds, cfg.HistoryLimit, cfg.Finish.MinOperators = 1, 0, 1000
		if err := cfg.Validate(); err != nil {
			t.Error(err)
		}
	})
}

func TestStoreConfigValidateNamesTheBadField(t *testing.T) {
	cases := []struct {
		cfg  StoreConfig
		want string
	}{
		{StoreConfig{MaxEpisodes: 0, IdleTTL: time.Minute}, "max_episodes must be at least 1, got 0"},
		{StoreConfig{MaxEpisodes: -5, IdleTTL: time.Minute}, "max_episodes must be at least 1, got -5"},
		{StoreConfig{MaxEpisodes: 1, IdleTTL: 0}, "idle_ttl must be positive, got 0s"},
		{StoreConfig{MaxEpisodes: 1, IdleTTL: -time.Second}, "idle_ttl must be positive, got -1s"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || err.Error() != tc.want {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
			s, err := NewMemoryStore(tc.cfg)
			if s != nil || err == nil || err.Error() != "episode store: "+tc.want {
				t.Fatalf("NewMemoryStore = %v, %v", s, err)
			}
		})
	}
}

func TestValidateTask(t *testing.T) {
	cases := []struct {
		name string
		edit func(*task.Task)
		want string // "" = valid
	}{
		{"valid", func(*task.Task) {}, ""},
		{"empty question", func(t *task.Task) { t.Question = "  " }, "task.question is empty: an episode needs a problem"},
		{"prompt instead of question", func(t *task.Task) { t.Question, t.Prompt = "", "def add(a, b):" }, ""},
		{"empty family", func(t *task.Task) { t.Family = "" }, `task.family "" is not one of math, qa, code, mc`},
		{"unknown family", func(t *task.Task) { t.Family = "poetry" }, `task.family "poetry" is not one of math, qa, code, mc`},
		{"difficulty below 0", func(t *task.Task) { t.Difficulty = -0.1 }, "task.difficulty must be in [0, 1], got -0.1"},
		{"difficulty above 1", func(t *task.Task) { t.Difficulty = 1.5 }, "task.difficulty must be in [0, 1], got 1.5"},
		{"difficulty 1", func(t *task.Task) { t.Difficulty = 1 }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tk := mathTask()
			tc.edit(&tk)
			err := ValidateTask(tk)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidateTask = %v", err)
				}
				return
			}
			wantErrIs(t, err, ErrInvalid, tc.want)
			_, _, err = New().Create(context.Background(), tk, DefaultConfig(), reward.Default())
			wantErrIs(t, err, ErrInvalid, tc.want)
		})
	}
}

func TestCreateRefusesBadRewardAndLibrary(t *testing.T) {
	c := New()
	bad := reward.Default()
	bad.Kind = "mystery"
	_, _, err := c.Create(context.Background(), mathTask(), DefaultConfig(), bad)
	wantErrIs(t, err, ErrInvalid, "reward.kind must be one of correctness, cwrpo, milestone")
	cfg := DefaultConfig()
	cfg.Library = "nope"
	_, _, err = c.Create(context.Background(), mathTask(), cfg, reward.Default())
	wantErrIs(t, err, ErrInvalid, `config.library: unknown operator library "nope": known are default`)
	if c.Store().Len() != 0 {
		t.Errorf("a refused Create stored an episode")
	}
}

func TestCreateAssignsTaskIDAndUsesNamedLibrary(t *testing.T) {
	reg := operator.NewRegistry()
	lib, err := operator.NewLibrary("tiny", []operator.Def{
		{Name: "Solve", Group: "solving", Roles: []operator.Role{operator.Solver}, Description: "Solves."},
		{Name: "Check", Group: "checking", Roles: []operator.Role{operator.Checker}, Description: "Checks."},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(lib); err != nil {
		t.Fatal(err)
	}
	c := New(WithLibraries(reg))
	if c.Libraries() != reg {
		t.Fatal("WithLibraries ignored")
	}
	tk := mathTask()
	tk.ID = ""
	cfg := oneStepCfg()
	cfg.Library = "tiny"
	e, o := newEpisode(t, c, tk, cfg)
	if !strings.HasPrefix(e.Task().ID, "task-") || o.Task.ID != e.Task().ID {
		t.Errorf("task id = %q", e.Task().ID)
	}
	if e.Config().Library != "tiny" || len(o.Operators) != 2 || o.Operators[0].Library != "tiny" {
		t.Errorf("operators = %+v", o.Operators)
	}
	o = say(t, e, addOp("Programmer"))
	mustContain(t, "feedback", o.Feedback, "Cannot add: unknown operator Programmer: known are Solve, Check")
	o = say(t, e, addCond("check", "solve", ""))
	if !o.Valid || o.DSL != "Check ? Solve : done" {
		t.Errorf("valid=%v dsl=%q feedback=%q", o.Valid, o.DSL, o.Feedback)
	}
	// Lenient parsing knows this library's names.
	if o = say(t, e, "then Solve"); !o.Valid || o.DSL != "Check ? Solve : done -> Solve" {
		t.Errorf("lenient: valid=%v dsl=%q feedback=%q", o.Valid, o.DSL, o.Feedback)
	}
}
