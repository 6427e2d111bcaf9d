package runstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/component"
)

// KindSQLite is the default run store kind: one SQLite file per run
// directory (dir/run.db, doc.go).
const KindSQLite = "sqlite"

// SQLiteConfig are the sqlite kind's options. The defaults are what every
// run.db was opened with before the store had options.
type SQLiteConfig struct {
	BusyTimeout time.Duration `yaml:"busy_timeout" doc:"how long a writer waits for another process's lock (a report, a CLI reading the run) before SQLITE_BUSY"`
	Synchronous string        `yaml:"synchronous" doc:"FULL fsyncs every commit, so a power cut loses no stored step; NORMAL is faster and may lose the last commits on power loss (never on a process crash)"`
}

// DefaultSQLiteConfig: busy timeout 5s, synchronous FULL.
func DefaultSQLiteConfig() SQLiteConfig {
	return SQLiteConfig{BusyTimeout: 5 * time.Second, Synchronous: "FULL"}
}

// Validate names the bad option.
func (c SQLiteConfig) Validate() error {
	if c.BusyTimeout < time.Millisecond || c.BusyTimeout > time.Hour {
		return fmt.Errorf("sqlite.busy_timeout must be in 1ms..1h, got %v", c.BusyTimeout)
	}
	switch strings.ToUpper(c.Synchronous) {
	case "FULL", "NORMAL":
	default:
		return fmt.Errorf("sqlite.synchronous must be FULL or NORMAL, got %q", c.Synchronous)
	}
	return nil
}

func init() {
	component.Register(Kinds, component.Factory[SQLiteConfig, Store, Deps]{
		Kind: KindSQLite, Doc: "one SQLite file per run directory (run.db): WAL, one transaction per write, readable with the sqlite3 shell",
		Default: DefaultSQLiteConfig,
		Create: func(_ context.Context, c SQLiteConfig, d Deps) (Store, error) {
			s, err := OpenSQLite(d.Dir, c)
			if err != nil {
				return nil, err // not a nil *SQLite in a non-nil Store
			}
			return s, nil
		},
	})
}
