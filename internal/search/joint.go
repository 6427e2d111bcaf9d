package search

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Part is one task family's share of a joint search: what the family's
// canvas enables, its validity rules, its starting workflows and its
// scorer (on the family's training tasks).
type Part struct {
	Name      string
	Operators []string
	Checkers  []string
	Combiners []string
	Valid     func(*workflow.Graph) error
	Start     []string
	Score     ScoreFunc
}

// Adapt is g as it is played where only ops are enabled: every stage that
// uses another operator is left out (the canvas refuses to add it). A
// workflow with Test, say, is played on a family without tests as if the
// Test stage were not there.
func Adapt(g *workflow.Graph, ops []string) *workflow.Graph {
	out := g.Clone()
	var drop []string
	for _, s := range out.Stages {
		for _, n := range s.Nodes() {
			if !slices.Contains(ops, n.Operator) {
				drop = append(drop, s.ID)
				break
			}
		}
	}
	for _, id := range drop {
		_ = out.Delete(id) // the id was just read off out
	}
	return out
}

// Joint is the search for the best single workflow over several families
// (the "best single fixed workflow" baseline): base's limits and seed,
// the union of the parts' operators as the edit set, a candidate valid
// when its adaptation to every part is valid for that part, and its score
// the mean of the parts' scores of their adaptations (each family counts
// the same) at the sum of their costs. The starting workflows are the
// parts' starts that are valid jointly.
func Joint(base Config, parts []Part) (Config, ScoreFunc, error) {
	if len(parts) == 0 {
		return Config{}, nil, errors.New("search: a joint search needs at least one family")
	}
	cfg := base
	cfg.Operators, cfg.Checkers, cfg.Combiners, cfg.Start = nil, nil, nil, nil
	union := func(dst *[]string, src []string) {
		for _, x := range src {
			if !slices.Contains(*dst, x) {
				*dst = append(*dst, x)
			}
		}
	}
	for _, p := range parts {
		union(&cfg.Operators, p.Operators)
		union(&cfg.Checkers, p.Checkers)
		union(&cfg.Combiners, p.Combiners)
	}
	cfg.Valid = func(g *workflow.Graph) error {
		for _, p := range parts {
			a := Adapt(g, p.Operators)
			if a.Empty() {
				return fmt.Errorf("%s: nothing of it is enabled", p.Name)
			}
			if p.Valid != nil {
				if err := p.Valid(a); err != nil {
					return fmt.Errorf("%s: %w", p.Name, err)
				}
			}
		}
		return nil
	}
	cat := newCatalog(cfg.Operators, cfg.Checkers, cfg.Combiners)
	for _, p := range parts {
		for _, dsl := range p.Start {
			g, err := workflow.Parse(dsl, cat)
			if err != nil || cfg.Valid(g) != nil || slices.Contains(cfg.Start, g.String()) {
				continue
			}
			cfg.Start = append(cfg.Start, g.String())
		}
	}
	if len(cfg.Start) == 0 {
		return Config{}, nil, errors.New("search: no starting workflow is valid for every family")
	}
	score := func(ctx context.Context, g *workflow.Graph) (Score, error) {
		var sc Score
		for _, p := range parts {
			s, err := p.Score(ctx, Adapt(g, p.Operators))
			if err != nil {
				return Score{}, fmt.Errorf("%s: %w", p.Name, err)
			}
			sc.Value += s.Value / float64(len(parts))
			sc.Cost += s.Cost
		}
		return sc, nil
	}
	return cfg, score, nil
}
