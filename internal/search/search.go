// Package search finds a good fixed workflow by searching the workflow
// space: the baseline a trained Flow-Director must beat (issue #19, "a
// search baseline worth beating").
//
// The method follows AFlow (Zhang et al. 2024, "AFlow: Automating Agentic
// Workflow Generation"): an archive of evaluated workflows forms a tree
// (each child is its parent with one modification); every round picks a
// parent among the best workflows with AFlow's mixed probability (uniform
// mixed with a softmax of the scores), modifies it, evaluates the child on
// the training tasks and adds it to the archive; the best workflow found is
// the result. AFlow asks an LLM to rewrite the parent's code; here a
// modification is one atomic DSL edit of the set the canvas allows a
// policy (add an operator, a parallel block, a conditional or a loop at a
// position; delete a stage; change one node's operator), applied with the
// workflow package's own edit methods, so every candidate obeys the same
// structural rules as a policy's workflow. Callers add the rest of the
// canvas's rules (finish rules, turn budget) as Config.Valid.
//
// The search is deterministic for a seed: it is sequential, and the score
// function is called on one candidate at a time (it may fan out over tasks
// itself).
package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Score is a candidate's evaluation: Value is maximised (mean accuracy on
// the training tasks), Cost is what it spent (executor calls), counted
// against Config.Budget.
type Score struct {
	Value float64
	Cost  int
}

// ScoreFunc evaluates one workflow.
type ScoreFunc func(ctx context.Context, g *workflow.Graph) (Score, error)

// Config configures a search. Operators, Checkers and Combiners describe
// the operator library (Checkers and Combiners are subsets of Operators).
type Config struct {
	Seed int64
	// Budget is the total Score.Cost the search may spend (executor calls);
	// the search stops before the first evaluation once it is spent, so
	// the last evaluation may overrun it by one candidate's cost. 0 = no
	// cost limit.
	Budget int
	// MaxEvals caps the candidates evaluated (the starting ones included);
	// 0 = no cap. At least one of Budget and MaxEvals must be set.
	MaxEvals int
	// Start lists the DSL of the initial workflows (AFlow starts from one
	// hand-written workflow; several are allowed). At least one.
	Start []string

	Operators []string
	Checkers  []string
	Combiners []string

	// Valid rejects candidates the canvas would not accept as a finished
	// workflow (nil accepts every graph the edits can build). Rejected
	// candidates are never evaluated and cost nothing.
	Valid func(*workflow.Graph) error

	// TopK parents are candidates for selection (default 3; AFlow's
	// sample count); the best starting workflow is always one of them.
	TopK int
	// Alpha and Lambda are AFlow's selection constants: P(i) = Lambda/n +
	// (1-Lambda) * softmax(Alpha * (s_i - s_max)), scores in percent.
	// Defaults 0.2 and 0.3, AFlow's.
	Alpha, Lambda float64
	// MaxParallel bounds the operators of a parallel block an edit adds
	// (default 3), MaxLoop a loop's count (default 3).
	MaxParallel, MaxLoop int
	// Tries bounds the attempts to draw a new valid child of one parent
	// before another parent is drawn (default 50).
	Tries int
	// OnEval, when set, hears every evaluated candidate (progress).
	OnEval func(Candidate)
}

// Candidate is one evaluated workflow.
type Candidate struct {
	DSL    string  `json:"dsl"`
	Score  float64 `json:"score"`
	Cost   int     `json:"cost"`
	Parent string  `json:"parent,omitempty"` // DSL of the parent; empty for a starting workflow
	Edit   string  `json:"edit,omitempty"`   // the edit that made it from the parent
	Round  int     `json:"round"`            // 0 for starting workflows
}

// Result is what a search found.
type Result struct {
	Best      Candidate
	Evaluated []Candidate // in evaluation order
	Spent     int         // total cost
	// Stopped says why the search ended: "budget", "max-evals",
	// "exhausted" (no new valid edit found) or "cancelled".
	Stopped string
}

func (c *Config) defaults() error {
	if c.Budget <= 0 && c.MaxEvals <= 0 {
		return errors.New("search: set budget or max evaluations")
	}
	if len(c.Start) == 0 {
		return errors.New("search: no starting workflow")
	}
	if len(c.Operators) == 0 {
		return errors.New("search: no operators")
	}
	if c.TopK <= 0 {
		c.TopK = 3
	}
	if c.Alpha == 0 {
		c.Alpha = 0.2
	}
	if c.Lambda == 0 {
		c.Lambda = 0.3
	}
	if c.MaxParallel < 2 {
		c.MaxParallel = 3
	}
	if c.MaxLoop < 1 {
		c.MaxLoop = 3
	}
	if c.Tries <= 0 {
		c.Tries = 50
	}
	return nil
}

// Run searches until the budget, the evaluation cap or the edits run out,
// or ctx ends; a cancelled search returns what it found so far together
// with ctx's error.
func Run(ctx context.Context, cfg Config, score ScoreFunc) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	s := &searcher{cfg: cfg, score: score, rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0xaf10)),
		cat: newCatalog(cfg.Operators, cfg.Checkers, cfg.Combiners), seen: map[string]bool{}}
	for _, dsl := range cfg.Start {
		g, err := workflow.Parse(dsl, s.cat)
		if err != nil {
			return Result{}, fmt.Errorf("search: start %q: %w", dsl, err)
		}
		if cfg.Valid != nil {
			if err := cfg.Valid(g); err != nil {
				return Result{}, fmt.Errorf("search: start %q is not valid: %w", dsl, err)
			}
		}
		if stop, err := s.evaluate(ctx, g, Candidate{}, 0); stop != "" {
			return s.result(stop), err
		}
	}
	for round := 1; ; round++ {
		parent := s.selectParent()
		child, edit, ok := s.child(parent)
		if !ok {
			// This parent has no new valid child: try every other
			// archived workflow before giving up.
			for _, p := range s.byScore() {
				if child, edit, ok = s.child(p); ok {
					parent = p
					break
				}
			}
			if !ok {
				return s.result("exhausted"), nil
			}
		}
		if stop, err := s.evaluate(ctx, child, Candidate{Parent: parent.DSL, Edit: edit}, round); stop != "" {
			return s.result(stop), err
		}
	}
}

type searcher struct {
	cfg     Config
	score   ScoreFunc
	rng     *rand.Rand
	cat     *catalog
	seen    map[string]bool
	archive []Candidate
	graphs  map[string]*workflow.Graph
	nStart  int
	spent   int
}

// evaluate scores g unless a limit is reached; it returns a non-empty stop
// reason when the search must end.
func (s *searcher) evaluate(ctx context.Context, g *workflow.Graph, c Candidate, round int) (string, error) {
	if err := ctx.Err(); err != nil {
		return "cancelled", err
	}
	if s.cfg.Budget > 0 && s.spent >= s.cfg.Budget {
		return "budget", nil
	}
	if s.cfg.MaxEvals > 0 && len(s.archive) >= s.cfg.MaxEvals {
		return "max-evals", nil
	}
	c.DSL, c.Round = g.String(), round
	s.seen[c.DSL] = true
	sc, err := s.score(ctx, g)
	if err != nil {
		if ctx.Err() != nil {
			return "cancelled", ctx.Err()
		}
		return "error", fmt.Errorf("search: scoring %s: %w", c.DSL, err)
	}
	c.Score, c.Cost = sc.Value, sc.Cost
	s.spent += sc.Cost
	if s.graphs == nil {
		s.graphs = map[string]*workflow.Graph{}
	}
	s.graphs[c.DSL] = g
	if round == 0 {
		s.nStart++
	}
	s.archive = append(s.archive, c)
	if s.cfg.OnEval != nil {
		s.cfg.OnEval(c)
	}
	return "", nil
}

func (s *searcher) result(stop string) Result {
	r := Result{Evaluated: s.archive, Spent: s.spent, Stopped: stop}
	if best := s.byScore(); len(best) > 0 {
		r.Best = best[0]
	}
	return r
}

// byScore lists the archive best first: higher score, then found
// earlier (a child that only ties its parent is no improvement). Cost does
// not break ties: it counts the calls the cache could not answer, so it
// says more about the order of evaluation than about the workflow.
func (s *searcher) byScore() []Candidate {
	out := slices.Clone(s.archive)
	slices.SortStableFunc(out, func(a, b Candidate) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	return out
}

// selectParent is AFlow's selection: the top-k candidates plus the best
// starting workflow, drawn with lambda*uniform + (1-lambda)*softmax.
func (s *searcher) selectParent() Candidate {
	ranked := s.byScore()
	pool := ranked[:min(s.cfg.TopK, len(ranked))]
	var bestStart *Candidate
	for i := range ranked {
		if ranked[i].Round == 0 {
			bestStart = &ranked[i]
			break
		}
	}
	if bestStart != nil && !slices.ContainsFunc(pool, func(c Candidate) bool { return c.DSL == bestStart.DSL }) {
		pool = append(slices.Clone(pool), *bestStart)
	}
	sMax := math.Inf(-1)
	for _, c := range pool {
		sMax = max(sMax, 100*c.Score)
	}
	w := make([]float64, len(pool))
	z := 0.0
	for i, c := range pool {
		w[i] = math.Exp(s.cfg.Alpha * (100*c.Score - sMax))
		z += w[i]
	}
	u := s.rng.Float64()
	for i := range pool {
		p := s.cfg.Lambda/float64(len(pool)) + (1-s.cfg.Lambda)*w[i]/z
		if u < p {
			return pool[i]
		}
		u -= p
	}
	return pool[len(pool)-1]
}

// child draws up to Tries edits of parent and returns the first that
// builds a new, valid workflow.
func (s *searcher) child(parent Candidate) (*workflow.Graph, string, bool) {
	for range s.cfg.Tries {
		g := s.graphs[parent.DSL].Clone()
		edit, err := s.edit(g)
		if err != nil {
			continue
		}
		dsl := g.String()
		if s.seen[dsl] {
			continue
		}
		if s.cfg.Valid != nil && s.cfg.Valid(g) != nil {
			s.seen[dsl] = true // invalid now, invalid forever
			continue
		}
		return g, edit, true
	}
	return nil, "", false
}

func (s *searcher) pick(ops []string) string { return ops[s.rng.IntN(len(ops))] }

// nonCombiners are the operators a parallel block may hold.
func (s *searcher) nonCombiners() []string {
	var out []string
	for _, op := range s.cfg.Operators {
		if !s.cat.IsCombiner(op) {
			out = append(out, op)
		}
	}
	return out
}

// edit applies one random atomic edit to g, the canvas's action set.
func (s *searcher) edit(g *workflow.Graph) (string, error) {
	pos := s.rng.IntN(len(g.Stages) + 1)
	switch k := s.rng.IntN(8); {
	case k < 2: // add operator
		op := s.pick(s.cfg.Operators)
		_, err := g.Insert(pos, workflow.StageSpec{Kind: workflow.Operator, Operators: []string{op}}, s.cat)
		return fmt.Sprintf("add %s at %d", op, pos), err
	case k == 2: // add parallel
		ops := s.nonCombiners()
		if len(ops) == 0 {
			return "", errors.New("no operator may stand in a parallel block")
		}
		n := 2 + s.rng.IntN(s.cfg.MaxParallel-1)
		var block []string
		for range n {
			block = append(block, s.pick(ops))
		}
		_, err := g.Insert(pos, workflow.StageSpec{Kind: workflow.Parallel, Operators: block}, s.cat)
		return fmt.Sprintf("add [%s] at %d", strings.Join(block, ", "), pos), err
	case k == 3: // add conditional
		if len(s.cfg.Checkers) == 0 {
			return "", errors.New("no checkers")
		}
		spec := workflow.StageSpec{Kind: workflow.Conditional, Condition: s.pick(s.cfg.Checkers), True: s.pick(s.cfg.Operators), False: workflow.Done}
		if s.rng.IntN(3) == 0 {
			spec.False = s.pick(s.cfg.Operators)
		}
		_, err := g.Insert(pos, spec, s.cat)
		return fmt.Sprintf("add %s ? %s : %s at %d", spec.Condition, spec.True, spec.False, pos), err
	case k == 4: // add loop
		body := []string{s.pick(s.cfg.Operators)}
		if s.rng.IntN(2) == 0 {
			body = append(body, s.pick(s.cfg.Operators))
		}
		n := 1 + s.rng.IntN(s.cfg.MaxLoop)
		_, err := g.Insert(pos, workflow.StageSpec{Kind: workflow.Loop, Operators: body, Count: n}, s.cat)
		return fmt.Sprintf("add (%s) * %d at %d", strings.Join(body, " -> "), n, pos), err
	case k == 5: // delete
		if len(g.Stages) < 2 {
			return "", errors.New("nothing to delete")
		}
		id := g.Stages[s.rng.IntN(len(g.Stages))].ID
		return "delete " + id, g.Delete(id)
	default: // modify one operator node
		ids := g.NodeIDs()
		if len(ids) == 0 {
			return "", errors.New("no nodes")
		}
		id, op := ids[s.rng.IntN(len(ids))], s.pick(s.cfg.Operators)
		if n, _, ok := g.Node(id); !ok || n.Operator == op {
			return "", errors.New("no change")
		}
		return fmt.Sprintf("modify %s to %s", id, op), g.SetOperator(id, op, s.cat)
	}
}

// catalog is the operator library as the workflow package sees it.
type catalog struct {
	canon             map[string]string
	checker, combiner map[string]bool
}

func newCatalog(ops, checkers, combiners []string) *catalog {
	c := &catalog{canon: map[string]string{}, checker: map[string]bool{}, combiner: map[string]bool{}}
	for _, op := range ops {
		c.canon[strings.ToLower(op)] = op
	}
	for _, op := range checkers {
		c.checker[strings.ToLower(op)] = true
	}
	for _, op := range combiners {
		c.combiner[strings.ToLower(op)] = true
	}
	return c
}

func (c *catalog) Canonical(name string) (string, bool) {
	op, ok := c.canon[strings.ToLower(name)]
	return op, ok
}
func (c *catalog) IsChecker(name string) bool  { return c.checker[strings.ToLower(name)] }
func (c *catalog) IsCombiner(name string) bool { return c.combiner[strings.ToLower(name)] }
