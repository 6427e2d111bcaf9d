package runstore

import (
	"database/sql"
	"fmt"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
)

// EpisodeCost is what one episode cost, keyed as its Episode row.
type EpisodeCost struct {
	RunID     string
	Step      int64
	Phase     string
	EpisodeID string
	GroupID   string
	Cost      *pb.CostSummary
}

// PutEpisodeCosts stores a batch of episode costs in one transaction,
// replacing any stored under the same key. Episodes without an id (failed
// before the canvas opened them) cost nothing and are skipped.
func (s *SQLite) PutEpisodeCosts(cs []EpisodeCost) error {
	if len(cs) == 0 {
		return nil
	}
	return s.write(func(tx *sql.Tx) error {
		for _, c := range cs {
			if c.EpisodeID == "" {
				continue
			}
			js, err := marshalOpts.Marshal(c.Cost)
			if err != nil {
				return fmt.Errorf("runstore: encode cost of episode %q: %w", c.EpisodeID, err)
			}
			if _, err := tx.Exec(`INSERT INTO episode_costs (run_id, step, phase, episode_id, group_id, cost) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (run_id, step, phase, episode_id) DO UPDATE SET group_id = excluded.group_id, cost = excluded.cost`,
				c.RunID, c.Step, c.Phase, c.EpisodeID, c.GroupID, string(js)); err != nil {
				return fmt.Errorf("runstore: put cost of episode %q of run %q: %w", c.EpisodeID, c.RunID, err)
			}
		}
		return nil
	})
}

// EpisodeCosts returns a run's episode costs in step order; phase ""
// returns every phase.
func (s *SQLite) EpisodeCosts(runID, phase string) ([]EpisodeCost, error) {
	rows, err := s.db.Query(`SELECT run_id, step, phase, episode_id, group_id, cost FROM episode_costs
		WHERE run_id = ? AND (? = '' OR phase = ?) ORDER BY step, phase, group_id, episode_id`, runID, phase, phase)
	if err != nil {
		return nil, fmt.Errorf("runstore: episode costs of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []EpisodeCost
	for rows.Next() {
		var c EpisodeCost
		var js string
		if err := rows.Scan(&c.RunID, &c.Step, &c.Phase, &c.EpisodeID, &c.GroupID, &js); err != nil {
			return nil, fmt.Errorf("runstore: episode costs of run %q: %w", runID, err)
		}
		c.Cost = new(pb.CostSummary)
		if err := unmarshalOpts.Unmarshal([]byte(js), c.Cost); err != nil {
			return nil, fmt.Errorf("runstore: decode cost of episode %q: %w", c.EpisodeID, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RunCost is everything a run has spent: the sum of its steps' and
// evaluations' costs (StepMetrics.cost, EvalReport.cost).
func (s *SQLite) RunCost(runID string) (cost.Summary, error) {
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
