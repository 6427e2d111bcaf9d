package runstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// PutStep stores one step's metrics, replacing what was stored for the same
// step: a step re-run after a resume overwrites rather than duplicates.
func (s *SQLite) PutStep(runID string, m *pb.StepMetrics) error {
	if m == nil {
		return fmt.Errorf("%w: run %q: nil step metrics", ErrInvalid, runID)
	}
	js, err := marshalOpts.Marshal(m)
	if err != nil {
		return fmt.Errorf("runstore: encode step %d: %w", m.GetStep(), err)
	}
	return s.write(func(tx *sql.Tx) error {
		if err := requireRun(tx, runID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO steps (run_id, step, metrics) VALUES (?, ?, ?)
			ON CONFLICT (run_id, step) DO UPDATE SET metrics = excluded.metrics`,
			runID, m.GetStep(), string(js)); err != nil {
			return fmt.Errorf("runstore: put step %d of run %q: %w", m.GetStep(), runID, err)
		}
		return nil
	})
}

// Steps returns a run's step metrics in step order. An unknown run has no
// steps; use GetRun to tell the two apart.
func (s *SQLite) Steps(runID string) ([]*pb.StepMetrics, error) {
	return queryProtos(s.db, `SELECT metrics FROM steps WHERE run_id = ? ORDER BY step`, runID,
		func() *pb.StepMetrics { return new(pb.StepMetrics) })
}

// PutEval stores an evaluation report under its step, replacing an earlier
// report for the same step.
func (s *SQLite) PutEval(runID string, r *pb.EvalReport) error {
	if r == nil {
		return fmt.Errorf("%w: run %q: nil eval report", ErrInvalid, runID)
	}
	js, err := marshalOpts.Marshal(r)
	if err != nil {
		return fmt.Errorf("runstore: encode eval at step %d: %w", r.GetStep(), err)
	}
	return s.write(func(tx *sql.Tx) error {
		if err := requireRun(tx, runID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO evals (run_id, step, report) VALUES (?, ?, ?)
			ON CONFLICT (run_id, step) DO UPDATE SET report = excluded.report`,
			runID, r.GetStep(), string(js)); err != nil {
			return fmt.Errorf("runstore: put eval at step %d of run %q: %w", r.GetStep(), runID, err)
		}
		return nil
	})
}

// Evals returns a run's evaluation reports in step order.
func (s *SQLite) Evals(runID string) ([]*pb.EvalReport, error) {
	return queryProtos(s.db, `SELECT report FROM evals WHERE run_id = ? ORDER BY step`, runID,
		func() *pb.EvalReport { return new(pb.EvalReport) })
}

func queryProtos[M proto.Message](db *sql.DB, query, runID string, mk func() M) ([]M, error) {
	rows, err := db.Query(query, runID)
	if err != nil {
		return nil, fmt.Errorf("runstore: run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []M
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			return nil, fmt.Errorf("runstore: run %q: %w", runID, err)
		}
		m := mk()
		if err := unmarshalOpts.Unmarshal([]byte(js), m); err != nil {
			return nil, fmt.Errorf("runstore: run %q: decode %T: %w", runID, m, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runstore: run %q: %w", runID, err)
	}
	return out, nil
}

// Checkpoint is a saved policy state the trainer can resume from.
type Checkpoint struct {
	RunID      string
	Step       int64
	Path       string
	Checksum   string
	ConfigHash string // the config the checkpoint was trained under; resume refuses a mismatch
	Created    time.Time
}

// PutCheckpoint records a checkpoint after its file is safely written; the
// row is the commit point, so a checkpoint file without a row is ignored on
// resume.
func (s *SQLite) PutCheckpoint(runID string, step int64, path, checksum, configHash string) error {
	if path == "" {
		return fmt.Errorf("%w: run %q: checkpoint at step %d has no path", ErrInvalid, runID, step)
	}
	return s.write(func(tx *sql.Tx) error {
		if err := requireRun(tx, runID); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO checkpoints (run_id, step, path, checksum, config_hash, created)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, step) DO UPDATE SET path = excluded.path, checksum = excluded.checksum,
				config_hash = excluded.config_hash, created = excluded.created`,
			runID, step, path, checksum, configHash, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("runstore: put checkpoint %d of run %q: %w", step, runID, err)
		}
		return nil
	})
}

// LastCheckpoint returns the checkpoint with the highest step; ok is false
// when the run has none (or does not exist).
func (s *SQLite) LastCheckpoint(runID string) (c Checkpoint, ok bool, err error) {
	var created int64
	err = s.db.QueryRow(`SELECT run_id, step, path, checksum, config_hash, created FROM checkpoints
		WHERE run_id = ? ORDER BY step DESC LIMIT 1`, runID).
		Scan(&c.RunID, &c.Step, &c.Path, &c.Checksum, &c.ConfigHash, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("runstore: last checkpoint of run %q: %w", runID, err)
	}
	c.Created = time.Unix(0, created)
	return c, true, nil
}
