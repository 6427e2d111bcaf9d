package policy

import (
	"context"
	"fmt"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/component"
)

// Kinds is the registry of policy kinds. Each kind registers itself from
// its own file (random and fixed: baselines.go; embedded, llm and remote:
// their packages' factory.go). Every entry point decodes a policy kind and
// its options here: flowsteer play and eval (--policy KIND and the kinds'
// flags), a run config's policy section, TrainerService's PolicySpec.
var Kinds = component.NewRegistry[Policy, Deps]("policy")

// Traits of policy kinds.
const (
	// TraitLearns: the Go trainer can train the kind (flowsteer train,
	// StartRun). Kinds without it play and evaluate only. A remote
	// policy has it and is checked once connected (its Describe says
	// whether the server learns).
	TraitLearns = "learns"
	// TraitBaseline: the kind can be named as a baseline
	// (eval.baselines, --baselines): it needs no file, model or server.
	TraitBaseline = "baseline"
	// TraitCheapUpdate: the kind's update costs little next to its
	// rollouts, so the trainer passes each step's batch to it
	// CheapUpdateEpochs times unless optimizer.epochs says otherwise (the
	// embedded network: one pass a step left it near its initial policy
	// after 40 steps; BENCHMARKS.md, issue #19). Other learners (an LLM
	// behind a PolicyServer) get one pass.
	TraitCheapUpdate = "cheap-update"
)

// CheapUpdateEpochs is the default optimizer.epochs of a kind with
// TraitCheapUpdate.
const CheapUpdateEpochs = 8

// DefaultEpochs is how many times the trainer passes a batch to a learner
// of kind when the run config leaves optimizer.epochs at 0.
func DefaultEpochs(kind string) int {
	if info, ok := Kinds.Lookup(kind); ok && info.HasTrait(TraitCheapUpdate) {
		return CheapUpdateEpochs
	}
	return 1
}

// Deps is what an entry point gives every policy factory.
type Deps struct {
	// Seed seeds sampling and initial weights.
	Seed int64
	// LearningRate and MaxGradNorm are the trainer's optimizer settings
	// (optimizer section); 0 keeps a learner's own default.
	LearningRate, MaxGradNorm float64
	// Connect reaches PolicyService replicas (policy kind remote): the
	// entry point owns the connection, its credentials and its closing.
	// nil: remote policies are refused.
	Connect func(ctx context.Context, addrs []string) (pb.PolicyServiceClient, error)
}

// ParseName reads a policy as written on a command line or in a baseline
// list: "KIND", "KIND:ARG" (ARG fills the kind's "arg" option, so
// fixed:DSL is the fixed kind with that workflow), or a named baseline
// workflow (cot, self-consistency, full: fixed with that workflow).
func ParseName(name string) (kind string, set map[string]any) {
	if _, ok := Baselines[name]; ok {
		return KindFixed, map[string]any{"dsl": name}
	}
	if k, arg, ok := strings.Cut(name, ":"); ok {
		if info, known := Kinds.Lookup(k); known {
			for _, o := range info.Options {
				if o.Key == "dsl" || o.Key == "arg" {
					return k, map[string]any{o.Key: arg}
				}
			}
		}
		return k, map[string]any{"arg": arg}
	}
	return name, nil
}

// Baseline builds a named baseline (random, cot, self-consistency, full,
// fixed:DSL or any kind with TraitBaseline): the one rule for
// eval.baselines, --baselines and EvaluateRequest.baselines.
func Baseline(ctx context.Context, name string, seed int64) (Policy, error) {
	kind, set, err := CheckBaseline(name)
	if err != nil {
		return nil, err
	}
	c, err := Kinds.Decode(kind, set)
	if err != nil {
		return nil, err
	}
	return Kinds.Create(ctx, kind, c, Deps{Seed: seed})
}

// CheckBaseline validates a baseline name without building it.
func CheckBaseline(name string) (kind string, set map[string]any, err error) {
	kind, set = ParseName(name)
	info, ok := Kinds.Lookup(kind)
	if !ok || !info.HasTrait(TraitBaseline) {
		return "", nil, fmt.Errorf("baseline %q: use %s, cot, self-consistency, full or fixed:DSL", name, strings.Join(BaselineKinds(), ", "))
	}
	if _, err := Kinds.Decode(kind, set); err != nil {
		return "", nil, fmt.Errorf("baseline %q: %w", name, err)
	}
	return kind, set, nil
}

// BaselineKinds lists the kinds with TraitBaseline.
func BaselineKinds() []string {
	var out []string
	for _, k := range Kinds.Kinds() {
		if info, _ := Kinds.Lookup(k); info.HasTrait(TraitBaseline) {
			out = append(out, k)
		}
	}
	return out
}

// CheckLearns is the rule for training: the kind must have TraitLearns.
func CheckLearns(kind string) error {
	info, ok := Kinds.Lookup(kind)
	if !ok {
		return Kinds.UnknownKind(kind)
	}
	if !info.HasTrait(TraitLearns) {
		var learners []string
		for _, k := range Kinds.Kinds() {
			if i, _ := Kinds.Lookup(k); i.HasTrait(TraitLearns) {
				learners = append(learners, k)
			}
		}
		return fmt.Errorf("policy kind %s cannot learn inside the Go trainer (it plays and evaluates only): train %s; an LLM policy learns behind a PolicyServer with kind remote", kind, strings.Join(learners, " or "))
	}
	return nil
}

// Describer is a policy that names itself in run logs ("policy: ...").
type Describer interface{ Describe() string }

// Name names p for run logs: its Describe, else its kind and model.
func Name(p Policy) string {
	if d, ok := p.(Describer); ok {
		return d.Describe()
	}
	i := p.Info()
	return strings.TrimSpace(i.Kind + " " + i.Model)
}
