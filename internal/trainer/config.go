package trainer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/executor"
	_ "github.com/flowsteer/flowsteer/internal/kinds" // every built-in kind registers itself
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/runstore"
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
		// Epochs is how many times each step's batch is passed to the
		// learner (GRPO's μ iterations per batch): every pass recomputes
		// the ratio against the log-probabilities recorded when the
		// episodes were sampled, so the clip bounds how far the passes
		// together move the policy. 0 (the default) is the policy kind's
		// default (policy.DefaultEpochs): 8 for the embedded network, 1
		// for a learner whose update is costly (an LLM).
		Epochs int `yaml:"epochs"`
	} `yaml:"optimizer"`

	Sampling struct {
		Temperature float64 `yaml:"temperature"`
		TopP        float64 `yaml:"top_p"`
		TopK        int     `yaml:"top_k"`
		// FinalTemperature, when set, anneals the temperature linearly
		// from Temperature to it over the run. The embedded policy
		// recomputes each choice at the temperature it was drawn at, so
		// the update trains the tempered policy that played.
		FinalTemperature float64 `yaml:"final_temperature"`
	} `yaml:"sampling"`

	// Policy is the learner: a kind from policy.Kinds and its options
	// (docs/config.md). The fields below are options some kinds have,
	// kept as fields so that older config files keep their hash; any
	// other option of the kind is written beside them (Options).
	Policy struct {
		Kind    string `yaml:"kind"`    // a kind with policy.TraitLearns: embedded or remote
		Address string `yaml:"address"` // remote: host:port (or dns:///name:port) of a PolicyService
		// Addresses lists PolicyService replicas (remote), instead of
		// Address: each episode's ActStream goes to one healthy replica,
		// round robin. Update and checkpoints go to one replica too, so the
		// replicas must share one learner's weights.
		Addresses []string `yaml:"addresses,omitempty"`
		// Auth: TLS and bearer token for the PolicyService connection
		// (remote); unset = plaintext, which suits loopback.
		Auth Credentials `yaml:"auth,omitempty"`
		// Credential names a bearer token the server's operator declared
		// (flowsteer serve --credential NAME=...), for runs started over
		// TrainerService, whose configs may not name files or variables.
		Credential string `yaml:"credential,omitempty"`
		Hidden     int    `yaml:"hidden"` // embedded: hidden units
		// LLM: an OpenAI-compatible endpoint serving the policy model.
		BaseURL string `yaml:"base_url"`
		Model   string `yaml:"model"`
		// Options are the kind's other options (e.g. embedded's
		// checkpoint), decoded by its factory.
		Options map[string]any `yaml:",inline"`
	} `yaml:"policy"`

	Canvas struct {
		// Addresses of Canvas services; empty runs one in this process.
		// Several host:port entries, or one dns:///name:port whose name has
		// several addresses, are replicas: one balanced connection puts
		// each episode on one healthy replica, round robin.
		Addresses []string `yaml:"addresses"`
		// Auth: TLS and bearer token for the connection to remote
		// canvases (ca_file, cert_file, key_file, server_name, tls,
		// token_file, token_env, insecure); unset = plaintext.
		Auth Credentials `yaml:"auth,omitempty"`
		// Credential: as policy.credential, for the canvases.
		Credential string `yaml:"credential,omitempty"`
		TwoStep    *bool  `yaml:"two_step"`
		Hints      bool   `yaml:"hints"`
		// Libraries are extra operator libraries of the in-process canvas:
		// each {name, kind, options} with a kind from operator.Libraries
		// (docs/config.md), e.g. {name: team, kind: remote, options:
		// {addr: 127.0.0.1:50060}}, dialled in plaintext. Remote canvases
		// load their own (flowsteer serve --operator-library).
		Libraries []operator.LibrarySpec `yaml:"libraries,omitempty"`
		// Library is the operator library every episode uses ("" = the
		// default one): a name from Libraries, or one a remote canvas has.
		// The policy and the eval baselines must know its operators.
		Library string `yaml:"library,omitempty"`
	} `yaml:"canvas"`

	// Backend is the executor backend: a kind from executor.Backends and
	// its options (docs/config.md), as Policy: every option the CLI has
	// (openai's timeout and max_concurrency, llamacpp's port, ...) can be
	// set here.
	Backend struct {
		Kind      string `yaml:"kind"` // sim, openai or llamacpp (a managed local llama.cpp server with SmolLM2-135M-Instruct)
		SimConfig string `yaml:"sim_config"`
		SimSeed   int64  `yaml:"sim_seed"`
		BaseURL   string `yaml:"base_url"`
		Model     string `yaml:"model"`
		APIKeyEnv string `yaml:"api_key_env"`
		// Credential: as policy.credential, the openai backend's API key.
		Credential string `yaml:"credential,omitempty"`
		// MathGrader grades math answers of the in-process canvas: auto
		// (also when empty: math-verify, the Go scorer where it cannot
		// run), math-verify or go. Omitted from the YAML while empty, so
		// runs made before it existed keep their hash and still resume.
		MathGrader string `yaml:"math_grader,omitempty"`
		// Options are the kind's other options, decoded by its factory.
		Options map[string]any `yaml:",inline"`
	} `yaml:"backend"`

	Eval struct {
		Every     int      `yaml:"every"`     // steps between evaluations (0 = only before and after)
		Tasks     int      `yaml:"tasks"`     // held-out tasks used (0 = all)
		Baselines []string `yaml:"baselines"` // random, cot, self-consistency, full, fixed:DSL (policy.Baseline)
		// Sample evaluates the policy as it acts in training (sampling at
		// the run's temperature; default) instead of taking the most likely
		// choice at every decision.
		Sample bool `yaml:"sample"`
	} `yaml:"eval"`

	Checkpoint struct {
		Every int `yaml:"every"`
	} `yaml:"checkpoint"`

	// Store is the run store: a kind from runstore.Kinds and its options
	// (docs/config.md), e.g. {kind: sqlite, busy_timeout: 10s}; left out
	// it is sqlite with its defaults, and the YAML omits it, so configs
	// made before it existed keep their hash. The run directory records
	// the store it was made with (runstore.SpecFile): a resume, flowsteer
	// runs, the viewer and TrainerService reopen the store that record
	// names.
	Store runstore.Spec `yaml:"store,omitempty"`

	// WarmStart clones demonstrated workflows into the policy before the
	// first step (warmstart.go); off unless warm_start.workflows is set.
	WarmStart WarmStart `yaml:"warm_start,omitempty"`

	// EpisodeTimeout bounds one episode.
	EpisodeTimeout time.Duration `yaml:"episode_timeout"`

	// Rollout is how episodes survive a lost replica. The written YAML
	// omits it while it holds the defaults, so runs made before it existed
	// keep their hash and still resume.
	Rollout RolloutConfig `yaml:"rollout,omitempty"`

	// Prices is the price table (money per million tokens, per backend and
	// model; backend "policy" prices the policy's own generation). Models
	// it does not list cost 0 and are reported as unpriced.
	Prices cost.Table `yaml:"prices,omitempty"`
	// Budget stops the run cleanly at the first limit reached (budget.go).
	// It is left out of Hash, so a run stopped by its budget resumes with
	// a raised one.
	Budget Budget `yaml:"budget,omitempty"`
	// Estimate configures `flowsteer train --estimate` (estimate.go).
	Estimate EstimateConfig `yaml:"estimate,omitempty"`
}

// Credentials are a connection's TLS and bearer token (canvas.auth,
// policy.auth): the fields of the public Go client's
// flowsteer.Credentials, to which services/trainer converts them when it
// dials. Declared here, not imported, because domain packages do not
// import the public client (it is built on them, not they on it);
// services/trainer/credentials_test.go checks the two agree, tags included.
type Credentials struct {
	CAFile     string `yaml:"ca_file,omitempty"`
	CertFile   string `yaml:"cert_file,omitempty"`
	KeyFile    string `yaml:"key_file,omitempty"`
	ServerName string `yaml:"server_name,omitempty"`
	TLS        bool   `yaml:"tls,omitempty"`
	Token      string `yaml:"token,omitempty"`
	TokenFile  string `yaml:"token_file,omitempty"`
	TokenEnv   string `yaml:"token_env,omitempty"`
	Insecure   bool   `yaml:"insecure,omitempty"`
}

// RolloutConfig is the retry budget of episodes that lose their replica.
//
// An episode whose canvas (or remote policy) replica dies or drains fails
// with a retryable error (gRPC Unavailable, or a stream reset). The trainer
// plays it again from the start (a new Open, a new policy session, the same
// sampling seed) on another replica, so its group stays full. Each episode
// may be re-run Retries times, waiting RetryBackoff, then twice that, up to
// 5s, between attempts so the balancer can notice the lost replica. When an
// episode's budget is spent the step fails with an error naming the replica
// and the cause; no update is made from a partial group. Other errors (an
// invalid request, a policy that fails) are never retried: such an episode
// is recorded as failed and left out of its group, as before.
type RolloutConfig struct {
	Retries      int           `yaml:"retries"`       // default 3
	RetryBackoff time.Duration `yaml:"retry_backoff"` // default 200ms
}

// DefaultRollout is the default retry budget.
func DefaultRollout() RolloutConfig {
	return RolloutConfig{Retries: 3, RetryBackoff: 200 * time.Millisecond}
}

// IsZero tells YAML to omit the defaults (see Config.Rollout).
func (r RolloutConfig) IsZero() bool { return r == DefaultRollout() }

// PolicyAddresses are the remote policy's replicas: policy.address and
// policy.addresses together.
func (c Config) PolicyAddresses() []string {
	var out []string
	if c.Policy.Address != "" {
		out = append(out, c.Policy.Address)
	}
	return append(out, c.Policy.Addresses...)
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
	c.Rollout = DefaultRollout()
	return c
}

// ParseConfig reads YAML over the defaults. Unknown keys are errors, and
// so is a config that YAML() cannot write back as it is: a run stores its
// config as YAML and a resumed run must find the same Hash.
func ParseConfig(b []byte) (Config, error) {
	c, err := parseConfig(b)
	if err != nil {
		return Config{}, err
	}
	// yaml.v3 writes a string holding a line break as a block scalar,
	// which loses a leading break ("\n0" reads back as "0") or does not
	// parse at all ("\t\nx").
	if back, err := parseConfig([]byte(c.YAML())); err != nil || back.Hash() != c.Hash() {
		return Config{}, errors.New("config: a string value cannot be written back as YAML unchanged " +
			"(such as one that opens with a line break): remove the odd whitespace")
	}
	return c, nil
}

func parseConfig(b []byte) (Config, error) {
	c := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	// A second document would be ignored without a word (two files
	// concatenated, say): refuse it instead.
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err != nil {
			if err.Error() != "EOF" {
				return Config{}, fmt.Errorf("config: %w", err)
			}
			break
		}
		if len(doc.Content) > 0 && !(doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
			return Config{}, fmt.Errorf("config: holds more than one YAML document (another starts at line %d)", doc.Content[0].Line)
		}
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

// UpdateEpochs is how many times a step passes its batch to the learner:
// optimizer.epochs, or the policy kind's default when that is 0.
func (c Config) UpdateEpochs() int {
	if c.Optimizer.Epochs > 0 {
		return c.Optimizer.Epochs
	}
	return policy.DefaultEpochs(c.Policy.Kind)
}

// Upper bounds of Validate on the counts that size a step.
const (
	MaxGroupSize   = 1024
	MaxBatchTasks  = 4096
	MaxConcurrency = 4096
	MaxEpochs      = 32
)

// Validate names the first bad key.
func (c Config) Validate() error {
	bad := func(key, why string, v any) error { return fmt.Errorf("%s %s, got %v", key, why, v) }
	switch {
	case strings.TrimSpace(c.Name) == "" || strings.ContainsAny(c.Name, `/\`) || strings.IndexFunc(c.Name, unicode.IsControl) >= 0:
		return bad("name", "must be a non-empty name without slashes or control characters", fmt.Sprintf("%q", c.Name))
	case c.Steps < 1:
		return bad("steps", "must be at least 1", c.Steps)
	case c.Grouping != "task" && c.Grouping != "source":
		return bad("grouping", "must be task or source", c.Grouping)
	case c.GroupSize < 2:
		return bad("group_size", "must be at least 2 (advantages are relative to the group)", c.GroupSize)
	// Upper bounds, so that a config (from a file or a StartRun request)
	// cannot make a step allocate its episodes out of memory.
	case c.GroupSize > MaxGroupSize:
		return bad("group_size", fmt.Sprintf("must be at most %d", MaxGroupSize), c.GroupSize)
	case c.BatchSize < 1 || c.BatchSize > MaxBatchTasks:
		return bad("batch_tasks", fmt.Sprintf("must be in 1..%d", MaxBatchTasks), c.BatchSize)
	case c.MaxRounds < 1 || c.MaxRounds > 200:
		return bad("max_rounds", "must be in 1..200", c.MaxRounds)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return bad("concurrency", fmt.Sprintf("must be in 1..%d", MaxConcurrency), c.Concurrency)
	// The range checks are written so that NaN fails them too.
	case !(c.Optimizer.LearningRate > 0 && c.Optimizer.LearningRate <= 1):
		return bad("optimizer.learning_rate", "must be in (0, 1]", c.Optimizer.LearningRate)
	case !(c.Optimizer.MaxGradNorm > 0) || math.IsInf(c.Optimizer.MaxGradNorm, 0):
		return bad("optimizer.max_grad_norm", "must be a positive number", c.Optimizer.MaxGradNorm)
	case c.Optimizer.Epochs < 0 || c.Optimizer.Epochs > MaxEpochs:
		return bad("optimizer.epochs", fmt.Sprintf("must be in 0..%d (0: the policy kind's default)", MaxEpochs), c.Optimizer.Epochs)
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
	case c.Rollout.Retries < 0 || c.Rollout.Retries > 100:
		return bad("rollout.retries", "must be in 0..100 (0 = never re-run an episode)", c.Rollout.Retries)
	case c.Rollout.RetryBackoff < 0 || c.Rollout.RetryBackoff > time.Minute:
		return bad("rollout.retry_backoff", "must be in 0s..1m", c.Rollout.RetryBackoff)
	}
	for i, a := range c.Canvas.Addresses {
		if strings.TrimSpace(a) == "" {
			return bad(fmt.Sprintf("canvas.addresses[%d]", i), "must be host:port or dns:///name:port", `""`)
		}
	}
	for i, a := range c.Policy.Addresses {
		if strings.TrimSpace(a) == "" {
			return bad(fmt.Sprintf("policy.addresses[%d]", i), "must be host:port or dns:///name:port", `""`)
		}
	}
	for _, f := range c.Tasks.Families {
		switch f {
		case "math", "qa", "code", "mc":
		default:
			return bad("tasks.families", "entries must be math, qa, code or mc", f)
		}
	}
	switch strings.ToLower(c.Backend.MathGrader) {
	case "", "auto", "math-verify", "go":
	default:
		return bad("backend.math_grader", "must be auto, math-verify or go (empty = auto)", c.Backend.MathGrader)
	}
	if err := policy.CheckLearns(c.Policy.Kind); err != nil {
		return fmt.Errorf("policy.kind: %w", err)
	}
	if _, err := c.PolicyConfig(); err != nil {
		return err
	}
	if _, ok := executor.Backends.Lookup(c.Backend.Kind); !ok {
		return fmt.Errorf("backend.kind: %w", executor.Backends.UnknownKind(c.Backend.Kind))
	}
	if _, err := c.BackendConfig(); err != nil {
		return err
	}
	for _, b := range c.Eval.Baselines {
		// A workflow that does not parse would only fail at the first
		// evaluation, after the run has been created.
		if _, _, err := policy.CheckBaseline(b); err != nil {
			return fmt.Errorf("eval.baselines: %w", err)
		}
	}
	if err := c.checkLibraries(); err != nil {
		return err
	}
	if _, err := c.Store.Config(); err != nil {
		return sectionError("store", c.Store.KindOrDefault(), err)
	}
	if err := c.Prices.Validate("prices"); err != nil {
		return err
	}
	if err := c.Budget.Validate(); err != nil {
		return err
	}
	if err := c.Estimate.Validate(); err != nil {
		return err
	}
	if err := c.rewardSpec().Validate(); err != nil {
		return err
	}
	if err := c.Loss.Validate(); err != nil {
		return fmt.Errorf("loss: %w", err)
	}
	if err := c.WarmStart.Validate(); err != nil {
		return err
	}
	if c.WarmStart.Enabled() && c.Policy.Options["credit"] == "value" {
		return errors.New("warm_start: value credit replaces the advantage the warm start gives each shown decision; warm-start with policy.credit episode")
	}
	return nil
}

// checkLibraries: canvas.libraries decode through operator.Libraries and
// serve the in-process canvas only; canvas.library names one of them (or
// the default) unless the canvases are remote, where they check it.
func (c Config) checkLibraries() error {
	if len(c.Canvas.Libraries) > 0 && len(c.Canvas.Addresses) > 0 {
		return errors.New("canvas.libraries: extra operator libraries belong to the in-process canvas; remote canvases load theirs (flowsteer serve --operator-library NAME=ADDR)")
	}
	if err := operator.CheckLibraries(c.Canvas.Libraries); err != nil {
		return fmt.Errorf("canvas.%w", err)
	}
	if c.Canvas.Library == "" || c.Canvas.Library == operator.DefaultName || len(c.Canvas.Addresses) > 0 {
		return nil
	}
	names := []string{operator.DefaultName}
	for _, l := range c.Canvas.Libraries {
		if l.Name == c.Canvas.Library {
			return nil
		}
		names = append(names, l.Name)
	}
	return fmt.Errorf("canvas.library %q is not one of the canvas's libraries: %s", c.Canvas.Library, strings.Join(names, ", "))
}

// PolicySpec is the policy's kind and the options the config sets: the
// section's fields that differ from the defaults, and its other keys.
// auth and credential belong to the connection, not to the kind.
func (c Config) PolicySpec() (string, map[string]any, error) {
	set, err := component.Changed(c.Policy, DefaultConfig().Policy, "kind", "auth", "credential")
	return c.Policy.Kind, set, err
}

// PolicyConfig decodes the policy section through its kind's factory.
func (c Config) PolicyConfig() (component.Config, error) {
	kind, set, err := c.PolicySpec()
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	pc, err := policy.Kinds.Decode(kind, set)
	if err != nil {
		return nil, sectionError("policy", kind, err)
	}
	return pc, nil
}

// BackendSpec is the backend's kind and the options the config sets, as
// PolicySpec; credential and math_grader are the process's, not the
// kind's.
func (c Config) BackendSpec() (string, map[string]any, error) {
	set, err := component.Changed(c.Backend, DefaultConfig().Backend, "kind", "credential", "math_grader")
	return c.Backend.Kind, set, err
}

// BackendConfig decodes the backend section through its kind's factory.
func (c Config) BackendConfig() (component.Config, error) {
	kind, set, err := c.BackendSpec()
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	bc, err := executor.Backends.Decode(kind, set)
	if err != nil {
		return nil, sectionError("backend", kind, err)
	}
	return bc, nil
}

// sectionError names a kind's bad option by its key in the run config: a
// kind's Validate says "openai.base_url ..."; here that key is
// backend.base_url.
func sectionError(section, kind string, err error) error {
	msg := err.Error()
	for _, p := range []string{kind + ".", section + "."} {
		if strings.HasPrefix(msg, p) {
			return errors.New(section + "." + strings.TrimPrefix(msg, p))
		}
	}
	return fmt.Errorf("%s: %w", section, err)
}

// YAML renders the config.
func (c Config) YAML() string {
	b, _ := yaml.Marshal(c)
	return string(b)
}

// Hash identifies a configuration; a resumed run must keep it.
func (c Config) Hash() string {
	c.Budget = Budget{}
	c.Estimate = EstimateConfig{}
	s := sha256.Sum256([]byte(c.YAML()))
	return hex.EncodeToString(s[:8])
}
