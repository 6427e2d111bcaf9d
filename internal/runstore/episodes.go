package runstore

import (
	"database/sql"
	"fmt"
	"math"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// Episode is one finished episode as the trainer saw it, with everything
// needed to audit it later: the final workflow, the reward's parts, the
// advantage it was trained with and the full turn log.
type Episode struct {
	RunID string
	Step  int64
	Phase string // PhaseTrain or EvalPhase(policy)
	// EpisodeID is unique within (run, step, phase). It may be empty for an
	// episode that failed before the canvas opened it; such rows are always
	// added, never merged, so every failure is still counted.
	EpisodeID string
	TaskID    string
	Family    string
	GroupID   string
	DSL       string // the final workflow
	Turns     int
	Reward    *pb.RewardBreakdown
	Advantage float64
	Failed    bool
	Error     string
	Invalid   int // invalid actions
	Finished  bool
	// TurnLog is JSON: a []TurnLogEntry, one per turn, written by the
	// trainer and read by the UI. The store keeps the bytes as given.
	TurnLog []byte
	// Replay is the episode's replay record (internal/replay owns the
	// bytes): kept in its own table so listings never read it. Empty
	// stores none.
	Replay []byte
}

// TurnLogEntry is one turn of an Episode's TurnLog: the reply (clipped),
// the action it parsed to, whether it was valid, the canvas's feedback
// (clipped), and the workflow and episode state after it.
type TurnLogEntry struct {
	Turn     int    `json:"turn"`
	Reply    string `json:"reply"`
	Action   string `json:"action"`
	Valid    bool   `json:"valid"`
	Feedback string `json:"feedback"`
	DSL      string `json:"dsl"`
	State    string `json:"state"`
}

// EpisodeFilter narrows Episodes. Zero values mean no restriction.
type EpisodeFilter struct {
	Step  *int64
	Phase string
	Limit int
	// GroupID keeps one group's episodes.
	GroupID string
}

// WorkflowCount is one final workflow and how often episodes ended with it.
type WorkflowCount struct {
	DSL        string
	Count      int
	MeanReward float64 // NaN when none of its episodes has a reward
}

// PutEpisodes stores a batch in one transaction, so a step's episodes are
// either all on disk or none are. An episode already stored under the same
// (run, step, phase, id) is replaced, which makes re-writing a batch after
// a retry harmless.
func (s *SQLite) PutEpisodes(eps []Episode) error {
	if len(eps) == 0 {
		return nil
	}
	type row struct {
		reward      sql.NullString
		rewardValue sql.NullFloat64
	}
	rows := make([]row, len(eps))
	runs := map[string]bool{}
	for i, e := range eps {
		switch {
		case e.RunID == "":
			return fmt.Errorf("%w: episode %d of the batch has no run id", ErrInvalid, i)
		case e.Phase == "":
			return fmt.Errorf("%w: run %q: episode %d (%q) of the batch has no phase", ErrInvalid, e.RunID, i, e.EpisodeID)
		}
		runs[e.RunID] = true
		if e.Reward != nil {
			js, err := marshalOpts.Marshal(e.Reward)
			if err != nil {
				return fmt.Errorf("runstore: encode reward of episode %q: %w", e.EpisodeID, err)
			}
			rows[i].reward = sql.NullString{String: string(js), Valid: true}
			rows[i].rewardValue = nullFloat(e.Reward.GetReward())
		}
	}
	return s.write(func(tx *sql.Tx) error {
		for id := range runs {
			if err := requireRun(tx, id); err != nil {
				return err
			}
		}
		stmt, err := tx.Prepare(`INSERT INTO episodes
			(run_id, step, phase, episode_id, task_id, family, group_id, dsl, turns,
			 reward, reward_value, advantage, failed, error, invalid, finished, turn_log)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, step, phase, episode_id) DO UPDATE SET
				task_id = excluded.task_id, family = excluded.family, group_id = excluded.group_id,
				dsl = excluded.dsl, turns = excluded.turns, reward = excluded.reward,
				reward_value = excluded.reward_value, advantage = excluded.advantage,
				failed = excluded.failed, error = excluded.error, invalid = excluded.invalid,
				finished = excluded.finished, turn_log = excluded.turn_log
			RETURNING seq`)
		if err != nil {
			return fmt.Errorf("runstore: put episodes: %w", err)
		}
		defer stmt.Close()
		for i, e := range eps {
			var seq int64
			if err := stmt.QueryRow(e.RunID, e.Step, e.Phase, sql.NullString{String: e.EpisodeID, Valid: e.EpisodeID != ""}, e.TaskID, e.Family, e.GroupID, e.DSL,
				e.Turns, rows[i].reward, rows[i].rewardValue, nullFloat(e.Advantage), e.Failed, e.Error,
				e.Invalid, e.Finished, e.TurnLog).Scan(&seq); err != nil {
				return fmt.Errorf("runstore: put episode %q of run %q: %w", e.EpisodeID, e.RunID, err)
			}
			if len(e.Replay) > 0 {
				if _, err := tx.Exec(`INSERT INTO episode_replays (episode_seq, data) VALUES (?, ?)
					ON CONFLICT (episode_seq) DO UPDATE SET data = excluded.data`, seq, e.Replay); err != nil {
					return fmt.Errorf("runstore: put replay of episode %q of run %q: %w", e.EpisodeID, e.RunID, err)
				}
			}
		}
		return nil
	})
}

// nullFloat maps NaN and infinities to NULL: SQLite stores NaN as NULL
// anyway, and saying so here keeps NOT NULL columns out of the question and
// AVG from being poisoned.
func nullFloat(f float64) sql.NullFloat64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: f, Valid: true}
}

func floatOrNaN(f sql.NullFloat64) float64 {
	if !f.Valid {
		return math.NaN()
	}
	return f.Float64
}

// Episodes returns a run's episodes in step order and, within a step, in
// the order they were written.
func (s *SQLite) Episodes(runID string, f EpisodeFilter) ([]Episode, error) {
	var q strings.Builder
	q.WriteString(`SELECT run_id, step, phase, COALESCE(episode_id, ''), task_id, family, group_id, dsl, turns,
		reward, advantage, failed, error, invalid, finished, turn_log
		FROM episodes WHERE run_id = ?`)
	args := []any{runID}
	if f.Step != nil {
		q.WriteString(` AND step = ?`)
		args = append(args, *f.Step)
	}
	if f.Phase != "" {
		q.WriteString(` AND phase = ?`)
		args = append(args, f.Phase)
	}
	if f.GroupID != "" {
		q.WriteString(` AND group_id = ?`)
		args = append(args, f.GroupID)
	}
	q.WriteString(` ORDER BY step, seq`)
	if f.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, f.Limit)
	}
	rows, err := s.db.Query(q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("runstore: episodes of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []Episode
	for rows.Next() {
		var e Episode
		var reward sql.NullString
		var adv sql.NullFloat64
		if err := rows.Scan(&e.RunID, &e.Step, &e.Phase, &e.EpisodeID, &e.TaskID, &e.Family, &e.GroupID,
			&e.DSL, &e.Turns, &reward, &adv, &e.Failed, &e.Error, &e.Invalid, &e.Finished, &e.TurnLog); err != nil {
			return nil, fmt.Errorf("runstore: episodes of run %q: %w", runID, err)
		}
		e.Advantage = floatOrNaN(adv)
		if reward.Valid {
			e.Reward = new(pb.RewardBreakdown)
			if err := unmarshalOpts.Unmarshal([]byte(reward.String), e.Reward); err != nil {
				return nil, fmt.Errorf("runstore: decode reward of episode %q: %w", e.EpisodeID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runstore: episodes of run %q: %w", runID, err)
	}
	return out, nil
}

// TopWorkflows returns the n most frequent final workflows among a run's
// episodes of one phase (empty: every phase) at fromStep or later, most
// frequent first, ties broken by higher mean reward, then by DSL so the
// order is stable between reports. Episodes that ended with an empty graph
// are not workflows and are left out. n <= 0 returns all.
func (s *SQLite) TopWorkflows(runID, phase string, fromStep int64, n int) ([]WorkflowCount, error) {
	q := `SELECT dsl, COUNT(*) AS c, AVG(reward_value) AS m FROM episodes
		WHERE run_id = ? AND step >= ? AND dsl != ''`
	args := []any{runID, fromStep}
	if phase != "" {
		q += ` AND phase = ?`
		args = append(args, phase)
	}
	q += ` GROUP BY dsl ORDER BY c DESC, m IS NULL, m DESC, dsl`
	if n > 0 {
		q += ` LIMIT ?`
		args = append(args, n)
	}
	rows, err := s.db.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("runstore: top workflows of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []WorkflowCount
	for rows.Next() {
		var w WorkflowCount
		var mean sql.NullFloat64
		if err := rows.Scan(&w.DSL, &w.Count, &mean); err != nil {
			return nil, fmt.Errorf("runstore: top workflows of run %q: %w", runID, err)
		}
		w.MeanReward = floatOrNaN(mean)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runstore: top workflows of run %q: %w", runID, err)
	}
	return out, nil
}
