package runstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Run is a training run's identity and life cycle. Metrics live in their
// own tables; Step is the last step the trainer reported done.
type Run struct {
	ID         string
	Name       string
	Status     string // pending|running|succeeded|failed|cancelled
	ConfigYAML string
	ConfigHash string
	Error      string
	Backend    string
	Policy     string
	Model      string
	Hardware   string
	Simulated  bool
	Step       int64
	TotalSteps int64
	Created    time.Time
	Updated    time.Time
}

// ValidStatus reports whether s is one of the stored statuses.
func ValidStatus(s string) bool {
	switch s {
	case StatusPending, StatusRunning, StatusSucceeded, StatusFailed, StatusCancelled, StatusBudgetReached:
		return true
	}
	return false
}

// CreateRun stores a new run. An empty Status means pending; zero Created
// and Updated mean now. An id that exists gives ErrExists.
func (s *SQLite) CreateRun(r Run) error {
	if r.ID == "" {
		return fmt.Errorf("%w: empty run id", ErrInvalid)
	}
	if r.Status == "" {
		r.Status = StatusPending
	}
	if !ValidStatus(r.Status) {
		return fmt.Errorf("%w: run %q: status %q", ErrInvalid, r.ID, r.Status)
	}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	if r.Updated.IsZero() {
		r.Updated = r.Created
	}
	return s.write(func(tx *sql.Tx) error {
		// INSERT OR IGNORE plus a row count tells "taken" apart from other
		// failures without parsing driver error text.
		res, err := tx.Exec(`INSERT OR IGNORE INTO runs
			(id, name, status, config_yaml, config_hash, error, backend, policy, model, hardware,
			 simulated, step, total_steps, created, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Name, r.Status, r.ConfigYAML, r.ConfigHash, r.Error, r.Backend, r.Policy, r.Model, r.Hardware,
			r.Simulated, r.Step, r.TotalSteps, r.Created.UnixNano(), r.Updated.UnixNano())
		if err != nil {
			return fmt.Errorf("runstore: create run %q: %w", r.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("runstore: create run %q: %w", r.ID, err)
		} else if n == 0 {
			return fmt.Errorf("runstore: run %q: %w", r.ID, ErrExists)
		}
		return nil
	})
}

// UpdateRun records progress: the status (empty keeps the current one), the
// last finished step and the error message (empty clears it, so a resumed
// run does not keep the crash's message).
func (s *SQLite) UpdateRun(id, status string, step int64, errMsg string) error {
	if status != "" && !ValidStatus(status) {
		return fmt.Errorf("%w: run %q: status %q", ErrInvalid, id, status)
	}
	return s.write(func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE runs SET
				status = CASE WHEN ? = '' THEN status ELSE ? END,
				step = ?, error = ?, updated = ?
			WHERE id = ?`,
			status, status, step, errMsg, time.Now().UnixNano(), id)
		if err != nil {
			return fmt.Errorf("runstore: update run %q: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("runstore: update run %q: %w", id, err)
		} else if n == 0 {
			return notFound(id)
		}
		return nil
	})
}

const runColumns = `id, name, status, config_yaml, config_hash, error, backend, policy, model, hardware,
	simulated, step, total_steps, created, updated`

type scanner interface{ Scan(dest ...any) error }

func scanRun(sc scanner) (Run, error) {
	var r Run
	var created, updated int64
	err := sc.Scan(&r.ID, &r.Name, &r.Status, &r.ConfigYAML, &r.ConfigHash, &r.Error, &r.Backend, &r.Policy,
		&r.Model, &r.Hardware, &r.Simulated, &r.Step, &r.TotalSteps, &created, &updated)
	r.Created = time.Unix(0, created)
	r.Updated = time.Unix(0, updated)
	return r, err
}

// GetRun returns one run; a missing id gives an error wrapping ErrNotFound.
func (s *SQLite) GetRun(id string) (Run, error) {
	r, err := scanRun(s.db.QueryRow(`SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, notFound(id)
	}
	if err != nil {
		return Run{}, fmt.Errorf("runstore: get run %q: %w", id, err)
	}
	return r, nil
}

// ListRuns returns every run, oldest first.
func (s *SQLite) ListRuns() ([]Run, error) {
	rows, err := s.db.Query(`SELECT ` + runColumns + ` FROM runs ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("runstore: list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("runstore: list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runstore: list runs: %w", err)
	}
	return out, nil
}

// Truncate drops everything a run recorded after afterStep: steps,
// episodes, evals and checkpoints, and clamps the run's step. On resume the
// trainer passes its checkpoint's step, so the half-finished step of the
// process that died is gone and the history matches the restored policy.
// Checkpoints go too because a later one would describe a policy the
// resumed run no longer continues from.
func (s *SQLite) Truncate(runID string, afterStep int64) error {
	return s.write(func(tx *sql.Tx) error {
		if err := requireRun(tx, runID); err != nil {
			return err
		}
		for _, table := range []string{"steps", "episodes", "evals", "checkpoints", "episode_costs"} {
			if _, err := tx.Exec(`DELETE FROM `+table+` WHERE run_id = ? AND step > ?`, runID, afterStep); err != nil {
				return fmt.Errorf("runstore: truncate %s of run %q: %w", table, runID, err)
			}
		}
		if _, err := tx.Exec(`UPDATE runs SET step = MIN(step, ?), updated = ? WHERE id = ?`,
			afterStep, time.Now().UnixNano(), runID); err != nil {
			return fmt.Errorf("runstore: truncate run %q: %w", runID, err)
		}
		return nil
	})
}
