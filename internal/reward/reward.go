// Package reward computes an episode's reward from its final workflow and
// the correctness of that workflow's answer: CWRPO's diversity-constrained
// reward with conditional release (SPEC section 6), and two ablation
// variants.
//
// The graph given to Compute must be the workflow as last executed, the
// one whose answer the correctness scores (the canvas keeps it); every
// kind computes S(W) and its parts from it, so arms trained with
// different rewards can be compared on structure.
//
// Data path: canvas episode ends -> task scorer gives correctness ->
// reward.Spec.Compute -> the trainer turns rewards into advantages.
package reward

import (
	"fmt"
	"math"
	"strings"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Kind selects the reward function.
type Kind string

const (
	// CWRPO: R = -1 + S(W) + [S(W) >= 1] * c with
	// S(W) = min(1, 0.2*[checker] + 0.2*[Format] + 0.2*[ops >= 6] + 0.4*[structure]).
	CWRPO Kind = "cwrpo"
	// Milestone: the structure term is replaced by milestone bonuses M(W)
	// (ablation): R = -1 + M(W) + [M(W) >= 1] * c.
	Milestone Kind = "milestone"
	// Correctness: R = c (plain GRPO ablation).
	Correctness Kind = "correctness"
)

// Formula is the reward function of kind k in words, for reports.
func Formula(k Kind) string {
	if t, err := term(k); err == nil {
		return t.Formula()
	}
	return "unknown reward kind " + string(k)
}

// Spec holds every weight of the reward; the zero value is not useful, use
// Default and override fields.
type Spec struct {
	Kind             Kind    `yaml:"kind"`
	CheckerWeight    float64 `yaml:"checker_weight"`
	FormatWeight     float64 `yaml:"format_weight"`
	SizeWeight       float64 `yaml:"size_weight"`
	StructureWeight  float64 `yaml:"structure_weight"`
	MinOperators     int     `yaml:"min_operators"`
	Cap              float64 `yaml:"cap"`
	Base             float64 `yaml:"base"`
	ReleaseThreshold float64 `yaml:"release_threshold"`
	// Options, off (zero) by default: subtracted for an episode that ended
	// without an accepted finish, and per invalid action.
	UnfinishedPenalty    float64 `yaml:"unfinished_penalty"`
	InvalidActionPenalty float64 `yaml:"invalid_action_penalty"`
	// Cost is the cost-aware objective (cost.go), off by default.
	Cost CostSpec `yaml:"cost,omitempty"`
}

// Default is SPEC section 6's CWRPO reward.
func Default() Spec {
	return Spec{
		Kind:             CWRPO,
		CheckerWeight:    0.2,
		FormatWeight:     0.2,
		SizeWeight:       0.2,
		StructureWeight:  0.4,
		MinOperators:     6,
		Cap:              1,
		Base:             -1,
		ReleaseThreshold: 1,
	}
}

// Validate names the first bad field.
func (s Spec) Validate() error {
	if _, ok := Kinds.Lookup(string(s.Kind)); !ok {
		return fmt.Errorf("reward.kind must be one of %s, got %q", strings.Join(Kinds.Kinds(), ", "), s.Kind)
	}
	for name, v := range map[string]float64{
		"checker_weight": s.CheckerWeight, "format_weight": s.FormatWeight, "size_weight": s.SizeWeight,
		"structure_weight": s.StructureWeight, "cap": s.Cap, "base": s.Base, "release_threshold": s.ReleaseThreshold,
		"unfinished_penalty": s.UnfinishedPenalty, "invalid_action_penalty": s.InvalidActionPenalty,
	} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("reward.%s must be a finite number", name)
		}
	}
	if s.MinOperators < 0 {
		return fmt.Errorf("reward.min_operators must be >= 0, got %d", s.MinOperators)
	}
	if s.UnfinishedPenalty < 0 || s.InvalidActionPenalty < 0 {
		return fmt.Errorf("reward penalties must be >= 0")
	}
	return s.Cost.Validate()
}

// Input is what the reward reads about an ended episode.
type Input struct {
	// Graph is the workflow as last executed: nodes added or modified but
	// never run (still awaiting their prompts when max_rounds ended the
	// episode) must not be in it.
	Graph *workflow.Graph
	// IsChecker tells which operators count as checkers: the library's
	// checkers that can run on this task (Test only where the task has
	// tests).
	IsChecker func(op string) bool
	// Correctness in [0, 1] from the task's scorer.
	Correctness    float64
	Finished       bool
	InvalidActions int
}

// Breakdown shows every part of a reward. Checker, Format, Size,
// Structure and StructureTotal are SPEC section 6's S(W) and its parts for
// every kind, so arms trained with different rewards compare on structure.
type Breakdown struct {
	Kind           Kind
	Reward         float64
	Base           float64
	Checker        float64 // weight earned by having a checker
	Format         float64
	Size           float64
	Structure      float64 // weight earned by a parallel, conditional or loop
	StructureTotal float64 // S(W), capped
	// Released: for cwrpo and milestone, correctness was added to the
	// reward; for correctness (which always counts c) whether S(W) reached
	// the release threshold, i.e. whether CWRPO would have released it.
	Released    bool
	Milestone   float64 // M(W), capped: the milestone kind's structure score (0 for other kinds)
	Correctness float64
	Penalties   float64
	Cost        CostTerm // cost-aware objective (cost.go); zero when off
}

// releaseSlack absorbs floating-point error in sums of decimal weights.
const releaseSlack = 1e-9

// Compute returns the reward for in.
func (s Spec) Compute(in Input) Breakdown {
	c := math.Max(0, math.Min(1, in.Correctness))
	if math.IsNaN(in.Correctness) {
		c = 0
	}
	b := Breakdown{Kind: s.Kind, Correctness: c}
	g := in.Graph
	if g == nil {
		g = workflow.New()
	}
	st := g.Stats()
	// S(W) and its parts, whatever the kind.
	if hasChecker(g, in.IsChecker) {
		b.Checker = s.CheckerWeight
	}
	if g.Has("Format") {
		b.Format = s.FormatWeight
	}
	if st.TotalOperators >= s.MinOperators {
		b.Size = s.SizeWeight
	}
	if st.HasStructure() {
		b.Structure = s.StructureWeight
	}
	b.StructureTotal = math.Min(s.Cap, b.Checker+b.Format+b.Size+b.Structure)
	// The weights are decimals that need not sum exactly in floating point
	// (0.2+0.2+0.2+0.4 = 1.0000000000000002 or 0.9999999999999999
	// depending on order), so the release test allows a rounding error.
	b.Released = b.StructureTotal >= s.ReleaseThreshold-releaseSlack
	t, err := term(s.Kind)
	if err != nil {
		t, _ = term(CWRPO) // Validate refuses an unknown kind; a zero Spec reads as CWRPO
	}
	t.Apply(s, st, &b)
	if !in.Finished {
		b.Penalties += s.UnfinishedPenalty
	}
	b.Penalties += s.InvalidActionPenalty * float64(in.InvalidActions)
	b.Reward -= b.Penalties
	return b
}

func hasChecker(g *workflow.Graph, isChecker func(string) bool) bool {
	if isChecker == nil {
		isChecker = func(op string) bool { return op == "Review" || op == "Verify" || op == "Test" }
	}
	for _, op := range g.Operators() {
		if isChecker(op) {
			return true
		}
	}
	return false
}

// milestones is the ablation's structure score: 0.1 for each of 3, 4, 5
// and 6 unique operator types and for 6 and 8 operators; 0.2 for a
// parallel block, 0.15 for a conditional, 0.1 for a loop, 0.15 for two or
// more kinds of structure.
func milestones(st workflow.Stats) float64 {
	v := 0.0
	for _, n := range []int{3, 4, 5, 6} {
		if st.UniqueOperators >= n {
			v += 0.1
		}
	}
	for _, n := range []int{6, 8} {
		if st.TotalOperators >= n {
			v += 0.1
		}
	}
	kinds := 0
	if st.Parallel > 0 {
		v += 0.2
		kinds++
	}
	if st.Conditional > 0 {
		v += 0.15
		kinds++
	}
	if st.Loop > 0 {
		v += 0.1
		kinds++
	}
	if kinds >= 2 {
		v += 0.15
	}
	return v
}
