package trainer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/reward"
)

// Config is a training run's configuration (YAML). It mirrors SPEC
// section 7; every field has a documented default (DefaultConfig), unknown
// keys are errors, and Validate names the bad key.
type Config struct {
	Name  string `yaml:"name"`
	Seed  int64  `yaml:"seed"`
	Steps int    `yaml:"steps"`

	Tasks struct {
		// Train and Eval are task files; empty uses the offline suite
		// built into the binary.
		Train  string `yaml:"train"`
		Eval   string `yaml:"eval"`
		Format string `yaml:"format"`
		// Families keeps only these families (empty = all).
		Families []string `yaml:"families"`
		// Limit caps the number of training tasks read (0 = all).
		Limit int `yaml:"limit"`
	} `yaml:"tasks"`

	// Grouping: "task" (true GRPO: G episodes of each task) or "source"
	// (the released code: N distinct tasks per source, one episode each,
	// normalised within each source).
	Grouping  string `yaml:"grouping"`
	GroupSize int    `yaml:"group_size"`  // G: episodes per task (grouping task) or tasks per source (grouping source)
	BatchSize int    `yaml:"batch_tasks"` // tasks (or sources) per step
	MaxRounds int    `yaml:"max_rounds"`
	// Concurrency bounds the episodes in flight.
	Concurrency int `yaml:"concurrency"`

	Reward reward.Spec  `yaml:"reward"`
	Loss   cwrpo.Params `yaml:"loss"`

	Optimizer struct {
		LearningRate float64 `yaml:"learning_rate"`
		MaxGradNorm  float64 `yaml:"max_grad_norm"`
	} `yaml:"optimizer"`

	Sampling struct {
		Temperature float64 `yaml:"temperature"`
		TopP        float64 `yaml:"top_p"`
		TopK        int     `yaml:"top_k"`
		// FinalTemperature, when set, anneals the temperature linearly
		// from Temperature to it over the run.
		FinalTemperature float64 `yaml:"final_temperature"`
	} `yaml:"sampling"`

	Policy struct {
		Kind    string `yaml:"kind"`    // embedded, remote, llm
		Address string `yaml:"address"` // remote: host:port of a PolicyService
		Hidden  int    `yaml:"hidden"`  // embedded: hidden units
		// LLM: an OpenAI-compatible endpoint serving the policy model.
		BaseURL string `yaml:"base_url"`
		Model   string `yaml:"model"`
	} `yaml:"policy"`

	Canvas struct {
		// Addresses of Canvas services; empty runs one in this process.
		Addresses []string `yaml:"addresses"`
		TwoStep   *bool    `yaml:"two_step"`
		Hints     bool     `yaml:"hints"`
	} `yaml:"canvas"`

	Backend struct {
		Kind      string `yaml:"kind"` // sim or openai
		SimConfig string `yaml:"sim_config"`
		SimSeed   int64  `yaml:"sim_seed"`
		BaseURL   string `yaml:"base_url"`
		Model     string `yaml:"model"`
		APIKeyEnv string `yaml:"api_key_env"`
	} `yaml:"backend"`

	Eval struct {
		Every     int      `yaml:"every"`     // steps between evaluations (0 = only before and after)
		Tasks     int      `yaml:"tasks"`     // held-out tasks used (0 = all)
		Baselines []string `yaml:"baselines"` // random, cot, self-consistency, full, or fixed:DSL
		// Sample evaluates the policy as it acts in training (sampling at
		// the run's temperature; default) instead of taking the most likely
		// choice at every decision.
		Sample bool `yaml:"sample"`
	} `yaml:"eval"`

	Checkpoint struct {
		Every int `yaml:"every"`
	} `yaml:"checkpoint"`

	// EpisodeTimeout bounds one episode.
	EpisodeTimeout time.Duration `yaml:"episode_timeout"`
}

// DefaultConfig is the quickstart: the embedded policy on the offline
// suite with the simulated executor, a few minutes on 2 cores.
func DefaultConfig() Config {
	var c Config
	c.Name = "quickstart"
	c.Seed = 1
	c.Steps = 40
	c.Tasks.Format = "auto"
	c.Grouping = "task"
	c.GroupSize = 8
	c.BatchSize = 6
	c.MaxRounds = 20
	c.Concurrency = 16
	c.Reward = reward.Default()
	c.Loss = cwrpo.Default()
	c.Optimizer.LearningRate = 3e-3
	c.Optimizer.MaxGradNorm = 1
	c.Sampling.Temperature = 1
	c.Policy.Kind = "embedded"
	c.Policy.Hidden = 64
	c.Backend.Kind = "sim"
	c.Backend.SimSeed = 1
	c.Eval.Every = 0
	c.Eval.Tasks = 60
	c.Eval.Baselines = []string{"random", "cot", "self-consistency", "full"}
	// The policy is evaluated as it was trained: sampled. Its greedy
	// decoding (the most likely choice of every head, each turn) is a
	// different policy that CWRPO never optimised, and on the quickstart it
	// collapses: after 25 steps (seed 1, 45 eval tasks) greedy decoding
	// builds "Format -> Format -> ..." on every task, mean reward -0.600
	// and no release, below the untrained policy, while sampling the same
	// checkpoint gives +0.609 with 93% release (untrained sampled -0.111,
	// random -0.202).
	c.Eval.Sample = true
	c.Checkpoint.Every = 5
	c.EpisodeTimeout = 5 * time.Minute
	return c
}

// ParseConfig reads YAML over the defaults. Unknown keys are errors.
func ParseConfig(b []byte) (Config, error) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// LoadConfig reads a YAML file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate names the first bad key.
func (c Config) Validate() error {
	bad := func(key, why string, v any) error { return fmt.Errorf("%s %s, got %v", key, why, v) }
	switch {
	case strings.TrimSpace(c.Name) == "" || strings.ContainsAny(c.Name, `/\`):
		return bad("name", "must be a non-empty name without slashes", c.Name)
	case c.Steps < 1:
		return bad("steps", "must be at least 1", c.Steps)
	case c.Grouping != "task" && c.Grouping != "source":
		return bad("grouping", "must be task or source", c.Grouping)
	case c.GroupSize < 2:
		return bad("group_size", "must be at least 2 (advantages are relative to the group)", c.GroupSize)
	case c.BatchSize < 1:
		return bad("batch_tasks", "must be at least 1", c.BatchSize)
	case c.MaxRounds < 1 || c.MaxRounds > 200:
		return bad("max_rounds", "must be in 1..200", c.MaxRounds)
	case c.Concurrency < 1:
		return bad("concurrency", "must be at least 1", c.Concurrency)
	// The range checks are written so that NaN fails them too.
	case !(c.Optimizer.LearningRate > 0 && c.Optimizer.LearningRate <= 1):
		return bad("optimizer.learning_rate", "must be in (0, 1]", c.Optimizer.LearningRate)
	case !(c.Optimizer.MaxGradNorm > 0) || math.IsInf(c.Optimizer.MaxGradNorm, 0):
		return bad("optimizer.max_grad_norm", "must be a positive number", c.Optimizer.MaxGradNorm)
	case !(c.Sampling.Temperature > 0 && c.Sampling.Temperature <= 5):
		return bad("sampling.temperature", "must be in (0, 5]", c.Sampling.Temperature)
	case !(c.Sampling.FinalTemperature >= 0 && c.Sampling.FinalTemperature <= 5):
		return bad("sampling.final_temperature", "must be in [0, 5]", c.Sampling.FinalTemperature)
	case !(c.Sampling.TopP >= 0 && c.Sampling.TopP <= 1):
		return bad("sampling.top_p", "must be in [0, 1] (0 = the policy's default)", c.Sampling.TopP)
	case c.Sampling.TopK < 0:
		return bad("sampling.top_k", "must be >= 0 (0 = the policy's default)", c.Sampling.TopK)
	case c.Eval.Every < 0:
		return bad("eval.every", "must be >= 0", c.Eval.Every)
	case c.Eval.Tasks < 0:
		return bad("eval.tasks", "must be >= 0", c.Eval.Tasks)
	case c.Checkpoint.Every < 1:
		return bad("checkpoint.every", "must be at least 1", c.Checkpoint.Every)
	case c.EpisodeTimeout <= 0:
		return bad("episode_timeout", "must be positive", c.EpisodeTimeout)
	case c.Tasks.Limit < 0:
		return bad("tasks.limit", "must be >= 0", c.Tasks.Limit)
	}
	for _, f := range c.Tasks.Families {
		switch f {
		case "math", "qa", "code", "mc":
		default:
			return bad("tasks.families", "entries must be math, qa, code or mc", f)
		}
	}
	switch c.Policy.Kind {
	case "embedded":
		if c.Policy.Hidden < 4 || c.Policy.Hidden > 4096 {
			return bad("policy.hidden", "must be in 4..4096", c.Policy.Hidden)
		}
	case "remote":
		if c.Policy.Address == "" {
			return bad("policy.address", "is required for policy.kind remote", `""`)
		}
	case "llm":
		return fmt.Errorf("policy.kind llm cannot learn inside the Go trainer: serve it with a learner (the Python PolicyServer) and use policy.kind remote")
	default:
		return bad("policy.kind", "must be embedded or remote", c.Policy.Kind)
	}
	switch c.Backend.Kind {
	case "sim":
	case "openai":
		if c.Backend.BaseURL == "" || c.Backend.Model == "" {
			return fmt.Errorf("backend.base_url and backend.model are required for backend.kind openai")
		}
	default:
		return bad("backend.kind", "must be sim or openai", c.Backend.Kind)
	}
	for _, b := range c.Eval.Baselines {
		if b != "random" && b != "cot" && b != "self-consistency" && b != "full" && !strings.HasPrefix(b, "fixed:") {
			return bad("eval.baselines", "entries must be random, cot, self-consistency, full or fixed:DSL", b)
		}
		// A workflow that does not parse would only fail at the first
		// evaluation, after the run has been created.
		if _, err := Baseline(b, c.Seed); err != nil {
			return fmt.Errorf("eval.baselines: %q: %w", b, err)
		}
	}
	if err := c.Reward.Validate(); err != nil {
		return err
	}
	if err := c.Loss.Validate(); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	return nil
}

// YAML renders the config.
func (c Config) YAML() string {
	b, _ := yaml.Marshal(c)
	return string(b)
}

// Hash identifies a configuration; a resumed run must keep it.
func (c Config) Hash() string {
	s := sha256.Sum256([]byte(c.YAML()))
	return hex.EncodeToString(s[:8])
}
