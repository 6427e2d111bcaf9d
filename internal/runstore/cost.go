package runstore

import (
	"github.com/flowsteer/flowsteer/internal/cost"
)

// RunCost is everything a run has spent: the sum of its steps' and
// evaluations' costs (StepMetrics.cost, EvalReport.cost).
func (s *Store) RunCost(runID string) (cost.Summary, error) {
	var total cost.Summary
	steps, err := s.Steps(runID)
	if err != nil {
		return total, err
	}
	for _, m := range steps {
		total.Merge(cost.SummaryFromPB(m.GetCost()))
	}
	evals, err := s.Evals(runID)
	if err != nil {
		return total, err
	}
	for _, e := range evals {
		total.Merge(cost.SummaryFromPB(e.GetCost()))
	}
	return total, nil
}
