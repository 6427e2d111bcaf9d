package runstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flowsteer/flowsteer/internal/component"
)

// A run directory made before store records existed (run.db alone) opens
// as sqlite, and Open there creates no record.
func TestOpenWithoutARecordIsSQLite(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "old")
	s.Close()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, ok := st.(*SQLite); !ok {
		t.Errorf("Open of a directory without %s gave %T, want *SQLite", SpecFile, st)
	}
	if _, err := st.GetRun("old"); err != nil {
		t.Errorf("GetRun: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, SpecFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open wrote %s (%v): only Create records a store", SpecFile, err)
	}
}

// Create records the kind and the options, and Open reopens with them.
func TestCreateRecordsTheStoreAndOpenReopensIt(t *testing.T) {
	dir := t.TempDir()
	st, err := Create(context.Background(), dir, Spec{Options: map[string]any{"busy_timeout": "9s", "synchronous": "normal"}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	b, err := os.ReadFile(filepath.Join(dir, SpecFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: sqlite", "busy_timeout: 9s", "synchronous: normal"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s = %q, want %q in it", SpecFile, b, want)
		}
	}
	spec, err := ReadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := spec.Config()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(SQLiteConfig); got.BusyTimeout.String() != "9s" || got.Synchronous != "normal" {
		t.Errorf("recorded config %+v", got)
	}
	st, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var mode string
	if err := st.(*SQLite).db.QueryRow("PRAGMA synchronous").Scan(&mode); err != nil || mode != "1" { // NORMAL = 1
		t.Errorf("PRAGMA synchronous = %q (%v), want 1 (NORMAL) as recorded", mode, err)
	}
	if !Exists(dir) || Exists(t.TempDir()) {
		t.Error("Exists does not tell a run directory from an empty one")
	}
}

func TestCreateRefusesBadSpecsNamingTheOption(t *testing.T) {
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{Kind: "nosuch"}, `store kind "nosuch" is not one of`},
		{Spec{Options: map[string]any{"journal": "delete"}}, `no option "journal"`},
		{Spec{Options: map[string]any{"synchronous": "off"}}, "sqlite.synchronous must be FULL or NORMAL"},
		{Spec{Options: map[string]any{"busy_timeout": "0s"}}, "sqlite.busy_timeout"},
	} {
		dir := t.TempDir()
		if _, err := Create(context.Background(), dir, tt.spec); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Create(%+v) = %v, want %q", tt.spec, err, tt.want)
		}
		if Exists(dir) {
			t.Errorf("Create(%+v) failed but left a store behind", tt.spec)
		}
	}
}

// A kind registered by a test alone is created by Create and reopened by
// Open from the record, with its options.
type memoStore struct {
	Label string `yaml:"label"`
}

func (c memoStore) Validate() error {
	if c.Label == "" {
		return errors.New("memo.label is required")
	}
	return nil
}

var (
	memoOnce sync.Once
	memoMu   sync.Mutex
	memoSeen []string
)

func TestAKindRegisteredByATestIsReopenedFromItsRecord(t *testing.T) {
	memoOnce.Do(func() {
		component.Register(Kinds, component.Factory[memoStore, Store, Deps]{
			Kind: "memo", Doc: "a test's store", Default: func() memoStore { return memoStore{} },
			Create: func(_ context.Context, c memoStore, d Deps) (Store, error) {
				memoMu.Lock()
				memoSeen = append(memoSeen, c.Label)
				memoMu.Unlock()
				return OpenSQLite(filepath.Join(d.Dir, "memo"), DefaultSQLiteConfig())
			},
		})
	})
	dir := t.TempDir()
	if _, err := Create(context.Background(), dir, Spec{Kind: "memo"}); err == nil || !strings.Contains(err.Error(), "memo.label is required") {
		t.Fatalf("Create without label: %v", err)
	}
	st, err := Create(context.Background(), dir, Spec{Kind: "memo", Options: map[string]any{"label": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st.(*SQLite), "r")
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
		t.Errorf("the memo kind wrote %s at the top of the run directory", FileName)
	}
	st, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetRun("r"); err != nil {
		t.Errorf("reopened store lost the run: %v", err)
	}
	memoMu.Lock()
	defer memoMu.Unlock()
	if strings.Join(memoSeen, ",") != "x,x" {
		t.Errorf("memo created with labels %v, want x twice (Create, then Open from the record)", memoSeen)
	}
}

// A run recorded with a kind this build lacks says so, and which it has.
func TestOpenOfAnUnknownRecordedKindSaysWhich(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SpecFile), []byte("kind: elsewhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrUnknownKind) || !strings.Contains(err.Error(), `"elsewhere"`) || !strings.Contains(err.Error(), "sqlite") {
		t.Errorf("Open: %v, want ErrUnknownKind naming elsewhere and sqlite", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err == nil {
		t.Errorf("Open of an unknown kind made %s", FileName)
	}
}
