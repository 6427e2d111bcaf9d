package runstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver; no cgo in the trainer's build

	"google.golang.org/protobuf/encoding/protojson"
)

// FileName is the database's name inside a run directory.
const FileName = "run.db"

// Run statuses, as stored. They mirror pb.RunStatus without the prefix so
// the column stays readable in the sqlite3 shell.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	// StatusBudgetReached: the trainer stopped cleanly at a budget after a
	// completed, checkpointed step; Run.Error names the budget.
	StatusBudgetReached = "budget_reached"
)

// PhaseTrain is the phase of episodes sampled for a training step; eval
// episodes use EvalPhase(policy).
const PhaseTrain = "train"

// EvalPhase is the phase of an evaluation episode of the named policy.
func EvalPhase(policy string) string { return "eval:" + policy }

var (
	// ErrNotFound is returned (wrapped with the id) for a run that is not in
	// the store, including when a child row names a missing run.
	ErrNotFound = errors.New("runstore: not found")
	// ErrExists is returned by CreateRun for an id already taken, so a
	// resumed run is never silently overwritten by a fresh one.
	ErrExists = errors.New("runstore: already exists")
	// ErrInvalid is returned for arguments the store refuses before
	// touching the database.
	ErrInvalid = errors.New("runstore: invalid argument")
)

// Proto rows use proto field names so json_extract(metrics, '$.mean_reward')
// works in the shell, and unknown fields are dropped on read so an older
// binary can report on a run written by a newer one.
var (
	marshalOpts   = protojson.MarshalOptions{UseProtoNames: true}
	unmarshalOpts = protojson.UnmarshalOptions{DiscardUnknown: true}
)

// SQLite is the store kind sqlite: one run directory's database,
// dir/run.db. It is safe for concurrent use.
type SQLite struct {
	db   *sql.DB
	path string
	// mu serialises writers inside the process. SQLite allows one writer at
	// a time anyway; queueing here instead of on busy_timeout keeps
	// goroutines fair and makes SQLITE_BUSY a cross-process-only event.
	mu sync.Mutex
}

// OpenSQLite opens (creating when needed) dir/run.db and brings its schema
// up to date. Entry points open a run's store with Open or Create, which
// choose the kind; this is the sqlite kind's constructor.
func OpenSQLite(dir string, c SQLiteConfig) (*SQLite, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty run directory", ErrInvalid)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("runstore: create run directory: %w", err)
	}
	abs, err := filepath.Abs(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("runstore: %w", err)
	}
	db, err := sql.Open("sqlite", c.dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("runstore: open %s: %w", abs, err)
	}
	s := &SQLite{db: db, path: abs}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("runstore: open %s: %w", abs, err)
	}
	return s, nil
}

// dsn builds a URI so that a path holding '?' or '#' cannot be mistaken for
// parameters. The pragmas are per connection, which is why they live in the
// DSN and not in a one-off Exec: database/sql opens connections at will.
//   - WAL lets the report and WatchRun read while the trainer writes.
//   - synchronous=FULL (the default) fsyncs the WAL on every commit: with
//     WAL, NORMAL may lose the last commits on power loss, and a lost step
//     is worse than a slow one at one step per minutes.
//   - busy_timeout covers a second process (a report or a CLI) holding the lock.
//   - _txlock=immediate takes the write lock at BEGIN, so a transaction
//     never fails half way through when it upgrades from reader to writer.
func (c SQLiteConfig) dsn(path string) string {
	u := url.URL{Scheme: "file", Path: path}
	q := []string{
		fmt.Sprintf("_busy_timeout=%d", c.BusyTimeout.Milliseconds()),
		"_journal_mode=WAL",
		"_synchronous=" + strings.ToUpper(c.Synchronous),
		"_foreign_keys=1",
		"_txlock=immediate",
	}
	return u.String() + "?" + strings.Join(q, "&")
}

// dsn is the DSN of the default config (tests open files with it).
func dsn(path string) string { return DefaultSQLiteConfig().dsn(path) }

// Path is the database file's absolute path.
func (s *SQLite) Path() string { return s.path }

// Close closes the database. The last connection to close checkpoints the
// WAL into the main file.
func (s *SQLite) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Close()
}

// IntegrityCheck runs PRAGMA integrity_check and foreign_key_check; the
// trainer calls it on resume so that a damaged file stops the run instead
// of being trained on.
func (s *SQLite) IntegrityCheck() error {
	ctx := context.Background()
	rows, err := s.db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("runstore: integrity check: %w", err)
	}
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return fmt.Errorf("runstore: integrity check: %w", err)
		}
		msgs = append(msgs, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("runstore: integrity check: %w", err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("runstore: integrity check failed: %s", strings.Join(msgs, "; "))
	}
	fk, err := s.db.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("runstore: foreign key check: %w", err)
	}
	defer fk.Close()
	if fk.Next() {
		return errors.New("runstore: foreign key check failed: rows reference missing runs")
	}
	return fk.Err()
}

// write runs fn in one transaction, the unit that survives a crash whole or
// not at all.
func (s *SQLite) write(fn func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("runstore: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("runstore: commit: %w", err)
	}
	return nil
}

// requireRun turns a missing parent into ErrNotFound inside the writing
// transaction; the foreign key would also refuse the row, but with a
// message that does not say which run.
func requireRun(tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRow("SELECT 1 FROM runs WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	}
	if err != nil {
		return fmt.Errorf("runstore: run %q: %w", id, err)
	}
	return nil
}

func notFound(id string) error { return fmt.Errorf("runstore: run %q: %w", id, ErrNotFound) }

// migrations[i] takes the schema from version i to i+1. Append only: a
// shipped entry is part of every existing run.db.
var migrations = []string{
	`
CREATE TABLE runs (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
	config_yaml TEXT NOT NULL DEFAULT '',
	config_hash TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	backend     TEXT NOT NULL DEFAULT '',
	policy      TEXT NOT NULL DEFAULT '',
	model       TEXT NOT NULL DEFAULT '',
	hardware    TEXT NOT NULL DEFAULT '',
	simulated   INTEGER NOT NULL DEFAULT 0,
	step        INTEGER NOT NULL DEFAULT 0,
	total_steps INTEGER NOT NULL DEFAULT 0,
	created     INTEGER NOT NULL, -- unix nanoseconds: exact and sortable
	updated     INTEGER NOT NULL
) STRICT;

CREATE TABLE steps (
	run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step    INTEGER NOT NULL,
	metrics TEXT NOT NULL, -- protojson StepMetrics
	PRIMARY KEY (run_id, step)
) STRICT;

CREATE TABLE episodes (
	seq          INTEGER PRIMARY KEY, -- write order, so listings come back as the trainer wrote them
	run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step         INTEGER NOT NULL,
	phase        TEXT NOT NULL,
	episode_id   TEXT,    -- NULL for an episode that failed before it got an id: NULLs never collide in the UNIQUE key, so each keeps its row
	task_id      TEXT NOT NULL DEFAULT '',
	family       TEXT NOT NULL DEFAULT '',
	group_id     TEXT NOT NULL DEFAULT '',
	dsl          TEXT NOT NULL DEFAULT '',
	turns        INTEGER NOT NULL DEFAULT 0,
	reward       TEXT,    -- protojson RewardBreakdown; NULL when the episode has none
	reward_value REAL,    -- reward.reward copied out so TopWorkflows can average in SQL; NULL for none or NaN
	advantage    REAL,    -- NULL stands for NaN, which SQLite cannot store
	failed       INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	invalid      INTEGER NOT NULL DEFAULT 0,
	finished     INTEGER NOT NULL DEFAULT 0,
	turn_log     BLOB,
	UNIQUE (run_id, step, phase, episode_id)
) STRICT;
CREATE INDEX episodes_by_phase ON episodes (run_id, phase, step);

CREATE TABLE checkpoints (
	run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step        INTEGER NOT NULL,
	path        TEXT NOT NULL,
	checksum    TEXT NOT NULL DEFAULT '',
	config_hash TEXT NOT NULL DEFAULT '',
	created     INTEGER NOT NULL,
	PRIMARY KEY (run_id, step)
) STRICT;

CREATE TABLE evals (
	run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step   INTEGER NOT NULL,
	report TEXT NOT NULL, -- protojson EvalReport
	PRIMARY KEY (run_id, step)
) STRICT;
`,
	// 2: what the viewer and exact replay need (issue #22): each
	// episode's replay record, the spans flowsteer recorded itself, and
	// the resumes of a run.
	`
CREATE INDEX episodes_by_id ON episodes (run_id, episode_id);
-- Covering indexes: a run page summarises 10,000 episodes without reading
-- their turn logs.
CREATE INDEX episodes_groups ON episodes (run_id, step, phase, group_id, reward_value, json_extract(reward, '$.released'));
CREATE INDEX episodes_workflows ON episodes (run_id, phase, step, dsl, reward_value);

CREATE TABLE episode_replays (
	episode_seq INTEGER PRIMARY KEY REFERENCES episodes (seq) ON DELETE CASCADE,
	data        BLOB NOT NULL -- gzipped JSON owned by internal/replay
) STRICT;

CREATE TABLE spans (
	run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	episode_id TEXT NOT NULL DEFAULT '',
	trace_id   TEXT NOT NULL,
	span_id    TEXT NOT NULL,
	parent_id  TEXT NOT NULL DEFAULT '',
	name       TEXT NOT NULL,
	start_ns   INTEGER NOT NULL,
	end_ns     INTEGER NOT NULL,
	status     TEXT NOT NULL DEFAULT '',
	attrs      TEXT NOT NULL DEFAULT '{}', -- JSON object
	PRIMARY KEY (run_id, span_id)
) STRICT;
CREATE INDEX spans_by_episode ON spans (run_id, episode_id);
CREATE INDEX spans_by_trace ON spans (trace_id);

CREATE TABLE resumes (
	run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	from_step   INTEGER NOT NULL, -- the checkpoint's step the run resumed from
	interrupted INTEGER NOT NULL, -- the step that was in flight and is played again
	dropped     INTEGER NOT NULL, -- episodes of that step the dead process had stored
	at          INTEGER NOT NULL  -- unix nanoseconds
) STRICT;
`,
	// 3: the budget_reached status. SQLite cannot alter a CHECK, and
	// rebuilding runs would cascade-delete every child row, so the CHECK is
	// widened in place: the documented procedure for schema changes that
	// leave every stored row valid (sqlite.org/lang_altertable.html, "making
	// other kinds of table schema changes").
	`
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, '''failed'', ''cancelled'')', '''failed'', ''cancelled'', ''budget_reached'')')
	WHERE type = 'table' AND name = 'runs';
PRAGMA writable_schema = OFF;
`,
	// 4: what each episode cost (issue 23), apart from the episodes table
	// so that its writers stay as they are.
	`
CREATE TABLE episode_costs (
	run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step       INTEGER NOT NULL,
	phase      TEXT NOT NULL,
	episode_id TEXT NOT NULL,
	group_id   TEXT NOT NULL DEFAULT '',
	cost       TEXT NOT NULL, -- protojson CostSummary
	PRIMARY KEY (run_id, step, phase, episode_id)
) STRICT;
`,
	// 5: report sections that tools outside the trainer add to a run
	// (scripts/run_llm.py's before/after table), so the Go report renders
	// them instead of the tool editing report.html.
	`
CREATE TABLE report_sections (
	run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	key     TEXT NOT NULL,
	body    TEXT NOT NULL, -- JSON Section
	created INTEGER NOT NULL, -- unix nanoseconds: sections render in the order they were first added
	PRIMARY KEY (run_id, key)
) STRICT;
`,
}

// SchemaVersion is the schema this build writes.
func SchemaVersion() int { return len(migrations) }

// migrate runs in one immediate transaction, so two processes opening a
// fresh directory at once cannot both create the tables.
func (s *SQLite) migrate() error {
	// Fast path without the write lock, so that opening a live run for a
	// report or a listing never queues behind the trainer's commits.
	var cur int
	if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_version`).Scan(&cur); err == nil && cur == len(migrations) {
		return nil
	}
	return s.write(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT`); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		var v int
		if err := tx.QueryRow(`SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		if v > len(migrations) {
			// Writing with an older schema could corrupt columns the newer
			// binary relies on; refuse rather than guess.
			return fmt.Errorf("schema version %d is newer than this build's %d", v, len(migrations))
		}
		for i := v; i < len(migrations); i++ {
			if _, err := tx.Exec(migrations[i]); err != nil {
				return fmt.Errorf("schema migration %d: %w", i+1, err)
			}
			if strings.Contains(migrations[i], "writable_schema") {
				// An edit of sqlite_schema takes effect once the schema
				// cookie moves: every connection, this one included, then
				// reparses the schema.
				var cookie int64
				if err := tx.QueryRow(`PRAGMA schema_version`).Scan(&cookie); err != nil {
					return fmt.Errorf("schema migration %d: %w", i+1, err)
				}
				if _, err := tx.Exec(fmt.Sprintf(`PRAGMA schema_version = %d`, cookie+1)); err != nil {
					return fmt.Errorf("schema migration %d: %w", i+1, err)
				}
			}
		}
		if v == len(migrations) {
			return nil
		}
		if _, err := tx.Exec(`DELETE FROM schema_version`); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_version (version) VALUES (?)`, len(migrations)); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		return nil
	})
}
