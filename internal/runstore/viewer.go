package runstore

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// This file holds what the viewer (internal/ui) and exact replay
// (internal/replay) read and write: episodes by id, replay records,
// recorded spans and resumes.

// ErrNoReplay is returned by EpisodeReplay for an episode stored without a
// replay record (written by an older build, or failed before it played).
var ErrNoReplay = errors.New("runstore: episode has no replay record")

// EpisodeByID returns the episode with this id in the run. Episode ids are
// unique per canvas process; should a run hold the id twice (a resumed run
// whose interrupted step reused it) the latest row wins.
func (s *SQLite) EpisodeByID(runID, episodeID string) (Episode, error) {
	row := s.db.QueryRow(`SELECT run_id, step, phase, COALESCE(episode_id, ''), task_id, family, group_id, dsl, turns,
		reward, advantage, failed, error, invalid, finished, turn_log
		FROM episodes WHERE run_id = ? AND episode_id = ? ORDER BY seq DESC LIMIT 1`, runID, episodeID)
	var e Episode
	var reward sql.NullString
	var adv sql.NullFloat64
	err := row.Scan(&e.RunID, &e.Step, &e.Phase, &e.EpisodeID, &e.TaskID, &e.Family, &e.GroupID,
		&e.DSL, &e.Turns, &reward, &adv, &e.Failed, &e.Error, &e.Invalid, &e.Finished, &e.TurnLog)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("runstore: episode %q of run %q: %w", episodeID, runID, ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("runstore: episode %q of run %q: %w", episodeID, runID, err)
	}
	e.Advantage = floatOrNaN(adv)
	if reward.Valid {
		e.Reward = new(pb.RewardBreakdown)
		if err := unmarshalOpts.Unmarshal([]byte(reward.String), e.Reward); err != nil {
			return e, fmt.Errorf("runstore: decode reward of episode %q: %w", episodeID, err)
		}
	}
	return e, nil
}

// EpisodeReplay returns the replay record stored with an episode.
func (s *SQLite) EpisodeReplay(runID, episodeID string) ([]byte, error) {
	var data []byte
	err := s.db.QueryRow(`SELECT r.data FROM episodes e JOIN episode_replays r ON r.episode_seq = e.seq
		WHERE e.run_id = ? AND e.episode_id = ? ORDER BY e.seq DESC LIMIT 1`, runID, episodeID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.EpisodeByID(runID, episodeID); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("runstore: episode %q of run %q: %w", episodeID, runID, ErrNoReplay)
	}
	if err != nil {
		return nil, fmt.Errorf("runstore: replay of episode %q of run %q: %w", episodeID, runID, err)
	}
	return data, nil
}

// Span is one span flowsteer recorded itself (internal/telemetry's span
// recorder), so that a trace is readable without Jaeger.
type Span struct {
	EpisodeID string // the episode whose subtree holds the span ("" outside episodes)
	TraceID   string
	SpanID    string
	ParentID  string
	Name      string
	Start     time.Time
	End       time.Time
	Status    string // "" ok, else "error: message"
	Attrs     string // JSON object of the span's attributes
}

// PutSpans stores spans of a run in one transaction; a span already stored
// (same id) is kept as it was.
func (s *SQLite) PutSpans(runID string, spans []Span) error {
	if len(spans) == 0 {
		return nil
	}
	return s.write(func(tx *sql.Tx) error {
		if err := requireRun(tx, runID); err != nil {
			return err
		}
		stmt, err := tx.Prepare(`INSERT OR IGNORE INTO spans
			(run_id, episode_id, trace_id, span_id, parent_id, name, start_ns, end_ns, status, attrs)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("runstore: put spans: %w", err)
		}
		defer stmt.Close()
		for _, sp := range spans {
			attrs := sp.Attrs
			if attrs == "" {
				attrs = "{}"
			}
			if _, err := stmt.Exec(runID, sp.EpisodeID, sp.TraceID, sp.SpanID, sp.ParentID, sp.Name,
				sp.Start.UnixNano(), sp.End.UnixNano(), sp.Status, attrs); err != nil {
				return fmt.Errorf("runstore: put span %s of run %q: %w", sp.SpanID, runID, err)
			}
		}
		return nil
	})
}

// SpanFilter selects spans: by episode, or by trace id (one of them).
type SpanFilter struct {
	EpisodeID string
	TraceID   string
	Limit     int // 0 = 20,000
}

// Spans returns a run's recorded spans in start order.
func (s *SQLite) Spans(runID string, f SpanFilter) ([]Span, error) {
	q := `SELECT episode_id, trace_id, span_id, parent_id, name, start_ns, end_ns, status, attrs FROM spans WHERE run_id = ?`
	args := []any{runID}
	switch {
	case f.EpisodeID != "":
		q += ` AND episode_id = ?`
		args = append(args, f.EpisodeID)
	case f.TraceID != "":
		q += ` AND trace_id = ?`
		args = append(args, f.TraceID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 20_000
	}
	q += ` ORDER BY start_ns, span_id LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.Query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("runstore: spans of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []Span
	for rows.Next() {
		var sp Span
		var start, end int64
		if err := rows.Scan(&sp.EpisodeID, &sp.TraceID, &sp.SpanID, &sp.ParentID, &sp.Name, &start, &end, &sp.Status, &sp.Attrs); err != nil {
			return nil, fmt.Errorf("runstore: spans of run %q: %w", runID, err)
		}
		sp.Start, sp.End = time.Unix(0, start), time.Unix(0, end)
		out = append(out, sp)
	}
	return out, rows.Err()
}

// EpisodeOfTrace returns the episode whose recorded spans carry traceID
// ("" when none is an episode's).
func (s *SQLite) EpisodeOfTrace(runID, traceID string) (string, error) {
	var id string
	err := s.db.QueryRow(`SELECT episode_id FROM spans WHERE run_id = ? AND trace_id = ? AND episode_id != '' LIMIT 1`, runID, traceID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// TraceOfEpisode returns the trace id of an episode's recorded spans ("" when none were recorded).
func (s *SQLite) TraceOfEpisode(runID, episodeID string) (string, error) {
	var id string
	err := s.db.QueryRow(`SELECT trace_id FROM spans WHERE run_id = ? AND episode_id = ? LIMIT 1`, runID, episodeID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// Resume is one restart of a run from a checkpoint.
type Resume struct {
	FromStep    int64 // the checkpoint's step
	Interrupted int64 // the step that was in flight when the process stopped, played again
	Dropped     int   // its episodes the stopped process had stored, discarded on resume
	At          time.Time
}

// RecordResume notes that the run resumes from fromStep: call it before
// Truncate, which discards what the stopped process stored after the
// checkpoint, so that the viewer can still say which step was interrupted.
func (s *SQLite) RecordResume(runID string, fromStep int64) error {
	return s.write(func(tx *sql.Tx) error {
		if err := requireRun(tx, runID); err != nil {
			return err
		}
		var dropped int
		if err := tx.QueryRow(`SELECT COUNT(*) FROM episodes WHERE run_id = ? AND step > ?`, runID, fromStep).Scan(&dropped); err != nil {
			return fmt.Errorf("runstore: record resume of run %q: %w", runID, err)
		}
		if _, err := tx.Exec(`INSERT INTO resumes (run_id, from_step, interrupted, dropped, at) VALUES (?, ?, ?, ?, ?)`,
			runID, fromStep, fromStep+1, dropped, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("runstore: record resume of run %q: %w", runID, err)
		}
		return nil
	})
}

// Resumes lists a run's resumes, oldest first.
func (s *SQLite) Resumes(runID string) ([]Resume, error) {
	rows, err := s.db.Query(`SELECT from_step, interrupted, dropped, at FROM resumes WHERE run_id = ? ORDER BY at`, runID)
	if err != nil {
		return nil, fmt.Errorf("runstore: resumes of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []Resume
	for rows.Next() {
		var r Resume
		var at int64
		if err := rows.Scan(&r.FromStep, &r.Interrupted, &r.Dropped, &at); err != nil {
			return nil, fmt.Errorf("runstore: resumes of run %q: %w", runID, err)
		}
		r.At = time.Unix(0, at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// GroupSummary is one group of episodes of a step.
type GroupSummary struct {
	Step       int64
	Phase      string
	GroupID    string
	Episodes   int
	MeanReward float64 // NaN when none has a reward
	Released   int     // episodes whose correctness was released
}

// Groups summarises a run's groups, by step then phase then group.
func (s *SQLite) Groups(runID string) ([]GroupSummary, error) {
	rows, err := s.db.Query(`SELECT step, phase, group_id, COUNT(*), AVG(reward_value),
		SUM(CASE WHEN json_extract(reward, '$.released') THEN 1 ELSE 0 END)
		FROM episodes WHERE run_id = ? GROUP BY step, phase, group_id ORDER BY step, phase, MIN(seq)`, runID)
	if err != nil {
		return nil, fmt.Errorf("runstore: groups of run %q: %w", runID, err)
	}
	defer rows.Close()
	var out []GroupSummary
	for rows.Next() {
		var g GroupSummary
		var mean sql.NullFloat64
		var rel sql.NullInt64
		if err := rows.Scan(&g.Step, &g.Phase, &g.GroupID, &g.Episodes, &mean, &rel); err != nil {
			return nil, fmt.Errorf("runstore: groups of run %q: %w", runID, err)
		}
		g.MeanReward, g.Released = floatOrNaN(mean), int(rel.Int64)
		out = append(out, g)
	}
	return out, rows.Err()
}

// GroupEpisodes returns the episodes of one group of a step, in write order.
func (s *SQLite) GroupEpisodes(runID string, step int64, groupID string) ([]Episode, error) {
	return s.Episodes(runID, EpisodeFilter{Step: &step, GroupID: groupID})
}
