// Package embedded holds the embedded Flow-Director: a small neural policy
// written in pure Go that acts on structured observations and learns with
// CWRPO on a CPU, with no language model and no GPU.
//
// The network is features -> Dense(Hidden) -> tanh -> one Dense head per
// categorical choice. An action is a short sequence of choices (kind, then
// operator, parallel width and branches, conditional checker and repair, or
// loop body), each drawn from a masked softmax so illegal edits are never
// proposed. Because SPEC section 7 trains on "tokens", the choices play the
// role of tokens: each decision records the chosen indices and their
// log-probabilities, and the loss from package cwrpo is back-propagated by
// hand through the heads and the trunk.
//
// Data path: canvas observation -> Act (features, masks, sampling) ->
// Decision (structured action, choice indices, log-probs, and a state blob
// holding the features and masks) -> canvas; trainer -> Update (recomputes
// log-probs from the state blobs, cwrpo.Loss, backprop, Adam) -> new
// parameters. Save and Load move the parameters, the optimiser state and
// the frozen reference policy through a versioned checkpoint file.
//
// Config.Credit "value" (off by default) gives each decision its own
// advantage against a learned critic instead of the episode's; critic.go
// explains it, and BENCHMARKS.md measures it.
//
// Prompt-writing turns (the canvas awaiting a node prompt) are answered
// from fixed per-operator templates; they carry no choices and so never
// enter the loss.
package embedded

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// Kind is the policy kind reported by Info.
const Kind = "embedded"

// versionPrefix names the network family; the suffix is a hash of the
// parameters so a trainer can tell which weights produced a decision.
const versionPrefix = "embedded-v1@"

// Config configures the embedded policy; zero values take the defaults.
type Config struct {
	// Hidden is the width of the tanh trunk (default 64).
	Hidden int `yaml:"hidden" json:"hidden"`
	// LearningRate is Adam's step size (default 3e-3); an UpdateRequest's
	// loss.learning_rate overrides it for that step.
	LearningRate float64 `yaml:"learning_rate" json:"learning_rate"`
	Beta1        float64 `yaml:"beta1" json:"beta1"` // default 0.9
	Beta2        float64 `yaml:"beta2" json:"beta2"` // default 0.999
	Eps          float64 `yaml:"eps" json:"eps"`     // default 1e-8
	// MaxGradNorm clips the global gradient norm (default 1.0).
	MaxGradNorm float64 `yaml:"max_grad_norm" json:"max_grad_norm"`
	// Seed seeds the initial weights and the shared sampling stream (default 1).
	Seed int64 `yaml:"seed" json:"seed"`
	// TextBuckets is the number of hashed bag-of-words features of the
	// task question (default 32).
	TextBuckets int `yaml:"text_buckets" json:"text_buckets"`
	// Temperature is the default sampling temperature (default 1.0).
	Temperature float64 `yaml:"temperature" json:"temperature"`
	// Credit is how an episode's advantage reaches its decisions:
	// "episode" (default, every decision shares it, SPEC section 7) or
	// "value" (per decision, by GAE against a learned critic; critic.go).
	Credit string `yaml:"credit" json:"credit"`
	// GAELambda is value credit's lambda in (0, 1] (default 1: unbiased).
	GAELambda float64 `yaml:"gae_lambda" json:"gae_lambda"`
	// CriticHidden is the width of value credit's critic (default 32).
	CriticHidden int `yaml:"critic_hidden" json:"critic_hidden"`
	// CriticLearningRate is the critic's Adam step size (default 1e-2).
	CriticLearningRate float64 `yaml:"critic_learning_rate" json:"critic_learning_rate"`
}

// Limits keep a typo in a config file from allocating gigabytes.
const (
	maxHidden      = 4096
	maxTextBuckets = 1 << 14
	// The sampling temperatures a decision may be drawn (and so
	// recomputed) at: colder than 1e-6 is greedy in all but name, and the
	// decision state stores the temperature as a float32.
	minTemperature = 1e-6
	maxTemperature = 1e3
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Hidden: 64, LearningRate: 3e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		MaxGradNorm: 1.0, Seed: 1, TextBuckets: 32, Temperature: 1.0,
		Credit: CreditEpisode, GAELambda: 1, CriticHidden: 32, CriticLearningRate: 1e-2}
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	c.Hidden = cmp.Or(c.Hidden, d.Hidden)
	c.LearningRate = cmp.Or(c.LearningRate, d.LearningRate)
	c.Beta1 = cmp.Or(c.Beta1, d.Beta1)
	c.Beta2 = cmp.Or(c.Beta2, d.Beta2)
	c.Eps = cmp.Or(c.Eps, d.Eps)
	c.MaxGradNorm = cmp.Or(c.MaxGradNorm, d.MaxGradNorm)
	c.Seed = cmp.Or(c.Seed, d.Seed)
	c.TextBuckets = cmp.Or(c.TextBuckets, d.TextBuckets)
	c.Temperature = cmp.Or(c.Temperature, d.Temperature)
	c.Credit = cmp.Or(c.Credit, d.Credit)
	c.GAELambda = cmp.Or(c.GAELambda, d.GAELambda)
	c.CriticHidden = cmp.Or(c.CriticHidden, d.CriticHidden)
	c.CriticLearningRate = cmp.Or(c.CriticLearningRate, d.CriticLearningRate)
	return c
}

// Validate names the bad field. Zero fields mean their defaults and are
// valid.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case c.Hidden <= 0 || c.Hidden > maxHidden:
		return fmt.Errorf("hidden must be in 1..%d, got %d", maxHidden, c.Hidden)
	case bad(c.LearningRate) || c.LearningRate <= 0:
		return fmt.Errorf("learning_rate must be > 0, got %v", c.LearningRate)
	case bad(c.Beta1) || c.Beta1 < 0 || c.Beta1 >= 1:
		return fmt.Errorf("beta1 must be in [0, 1), got %v", c.Beta1)
	case bad(c.Beta2) || c.Beta2 < 0 || c.Beta2 >= 1:
		return fmt.Errorf("beta2 must be in [0, 1), got %v", c.Beta2)
	case bad(c.Eps) || c.Eps <= 0:
		return fmt.Errorf("eps must be > 0, got %v", c.Eps)
	case bad(c.MaxGradNorm) || c.MaxGradNorm <= 0:
		return fmt.Errorf("max_grad_norm must be > 0, got %v", c.MaxGradNorm)
	case c.TextBuckets <= 0 || c.TextBuckets > maxTextBuckets:
		return fmt.Errorf("text_buckets must be in 1..%d, got %d", maxTextBuckets, c.TextBuckets)
	case !(c.Temperature >= minTemperature && c.Temperature <= maxTemperature):
		return fmt.Errorf("temperature must be in [%v, %v], got %v", minTemperature, maxTemperature, c.Temperature)
	case c.Credit != CreditEpisode && c.Credit != CreditValue:
		return fmt.Errorf("credit must be %q or %q, got %q", CreditEpisode, CreditValue, c.Credit)
	case !(c.GAELambda > 0 && c.GAELambda <= 1):
		return fmt.Errorf("gae_lambda must be in (0, 1], got %v", c.GAELambda)
	case c.CriticHidden <= 0 || c.CriticHidden > maxHidden:
		return fmt.Errorf("critic_hidden must be in 1..%d, got %d", maxHidden, c.CriticHidden)
	case bad(c.CriticLearningRate) || c.CriticLearningRate <= 0:
		return fmt.Errorf("critic_learning_rate must be > 0, got %v", c.CriticLearningRate)
	}
	return nil
}

// Policy is the embedded Flow-Director. It implements policy.Learner and is
// safe for concurrent use: Act may run while Update computes gradients; the
// parameters change only under the write lock, between two Acts.
type Policy struct {
	cfg  Config
	arch arch

	// updateMu serialises Update and Load, so a gradient computed under the
	// read lock is applied to the parameters it was computed from.
	updateMu sync.Mutex

	mu      sync.RWMutex
	params  []float64
	ref     []float64 // frozen reference: the initial policy of the run
	adamM   []float64
	adamV   []float64
	adamT   int64
	version string

	rngMu sync.Mutex
	pcg   *rand.PCG // shared stream for Acts without a sampling seed

	// Value credit only (nil otherwise), under updateMu: the critic, and
	// the last batch's per-decision advantages with its batchKey, which the
	// trainer's further passes over that batch reuse.
	critic  *critic
	lastKey uint64
	lastAdv [][]float64
	// criticMSE is the critic's squared error on the last batch, before
	// its steps on it (under mu; Info reports it).
	criticMSE float64
}

var _ policy.Learner = (*Policy)(nil)

// New builds a policy with freshly initialised weights; the reference
// policy is a snapshot of them.
func New(cfg Config) (*Policy, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("embedded policy config: %w", err)
	}
	a := newArch(FeatureSize+cfg.TextBuckets, cfg.Hidden)
	p := &Policy{cfg: cfg, arch: a}
	seed := uint64(cfg.Seed)
	p.params = a.init(rand.New(rand.NewPCG(seed, 0x5eed_1417_c0de_0001)))
	p.ref = append([]float64(nil), p.params...)
	p.adamM = make([]float64, len(p.params))
	p.adamV = make([]float64, len(p.params))
	p.pcg = rand.NewPCG(seed, 0x5a3b_1e5d_0000_0002)
	p.version = versionOf(p.params)
	if cfg.Credit == CreditValue {
		p.critic = newCritic(a.in, cfg.CriticHidden, seed)
	}
	return p, nil
}

// Config returns the effective configuration (defaults applied).
func (p *Policy) Config() Config { return p.cfg }

// InputSize is the length of the feature vector: FeatureSize structured
// features followed by TextBuckets hashed words.
func (p *Policy) InputSize() int { return p.arch.in }

// Info describes the policy.
func (p *Policy) Info() policy.Info {
	p.mu.RLock()
	v, t, mse := p.version, p.adamT, p.criticMSE
	p.mu.RUnlock()
	info := policy.Info{
		Kind: Kind, Version: v, CanLearn: true, Format: pb.ActionFormat_ACTION_FORMAT_STRUCTURED,
		Model: fmt.Sprintf("mlp %d-%d-tanh, %d heads", p.arch.in, p.arch.hidden, numHeads),
		Extra: map[string]string{
			"hidden":       strconv.Itoa(p.arch.hidden),
			"input_size":   strconv.Itoa(p.arch.in),
			"text_buckets": strconv.Itoa(p.cfg.TextBuckets),
			"parameters":   strconv.Itoa(p.arch.size),
			"updates":      strconv.FormatInt(t, 10),
			"credit":       p.cfg.Credit,
		},
	}
	if p.critic != nil {
		info.Extra["critic_mse"] = strconv.FormatFloat(mse, 'g', 4, 64)
	}
	return info
}

// versionOf hashes the parameters' exact bits, so equal versions mean
// bit-identical weights.
func versionOf(params []float64) string {
	h := sha256.New()
	var b [8]byte
	for _, v := range params {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		h.Write(b[:])
	}
	return versionPrefix + hex.EncodeToString(h.Sum(nil))[:12]
}
