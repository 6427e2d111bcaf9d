package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/ui"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

// A run store kind registered by this test alone (no other file names
// it) is usable from a YAML run config's store section and from train's
// --store flag with its own option flag; the run directory records it,
// and flowsteer runs, TrainerService and the viewer reopen the run with
// it. The kind keeps its SQLite file in a subdirectory, so a reader that
// opened run.db by name would find no run.

type throwawayStore struct {
	Tag string `yaml:"tag" flag:"throwaway-store-tag" doc:"a value the test looks for"`
}

func (c throwawayStore) Validate() error {
	if strings.Contains(c.Tag, " ") {
		return errors.New("throwaway-store.tag must not hold spaces")
	}
	return nil
}

var (
	storeOnce    sync.Once
	storeMu      sync.Mutex
	storeCreated []string // the tags each store was created (opened) with
)

func storesCreated() string {
	storeMu.Lock()
	defer storeMu.Unlock()
	return strings.Join(storeCreated, " ")
}

func registerThrowawayStore() {
	storeOnce.Do(func() {
		component.Register(runstore.Kinds, component.Factory[throwawayStore, runstore.Store, runstore.Deps]{
			Kind: "throwaway-store", Doc: "a test's store",
			Default: func() throwawayStore { return throwawayStore{Tag: "none"} },
			Create: func(_ context.Context, c throwawayStore, d runstore.Deps) (runstore.Store, error) {
				storeMu.Lock()
				storeCreated = append(storeCreated, "store:"+c.Tag)
				storeMu.Unlock()
				return runstore.OpenSQLite(filepath.Join(d.Dir, "throwaway"), runstore.DefaultSQLiteConfig())
			},
		})
	})
}

const storeYAML = `name: stored
steps: 1
batch_tasks: 1
group_size: 2
max_rounds: 2
concurrency: 2
eval: {tasks: 1, baselines: [random]}
store: {kind: throwaway-store, tag: yaml}
`

func runTrainCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newTrainCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append(args, "--no-progress"))
	err := cmd.Execute()
	return out.String(), err
}

func TestThrowawayStoreKindFromAYAMLRunConfigIsReopenedEverywhere(t *testing.T) {
	registerThrowawayStore()
	tmp := t.TempDir()
	runs := filepath.Join(tmp, "runs")
	cfgPath := filepath.Join(tmp, "run.yaml")
	if err := os.WriteFile(cfgPath, []byte(storeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTrainCmd(t, "--config", cfgPath, "--dir", filepath.Join(runs, "y")); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	if c := storesCreated(); !strings.Contains(c, "store:yaml") {
		t.Fatalf("stores created %q: want the YAML's store:yaml", c)
	}
	if _, err := os.Stat(filepath.Join(runs, "y", runstore.FileName)); err == nil {
		t.Fatalf("the run wrote %s: its store kind was not used", runstore.FileName)
	}
	if spec, err := runstore.ReadSpec(filepath.Join(runs, "y")); err != nil || spec.Kind != "throwaway-store" || spec.Options["tag"] != "yaml" {
		t.Fatalf("recorded store %+v (%v)", spec, err)
	}

	// flowsteer runs lists it, through the recorded kind.
	before := strings.Count(storesCreated(), "store:yaml")
	list := newRunsCmd()
	var lo bytes.Buffer
	list.SetOut(&lo)
	list.SetArgs([]string{"list", "--runs-dir", runs})
	if err := list.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lo.String(), "y ") || !strings.Contains(lo.String(), "succeeded") {
		t.Errorf("flowsteer runs:\n%s", lo.String())
	}
	// TrainerService reads it.
	svc := trainersvc.NewService(context.Background(), runs, slog.New(slog.NewTextHandler(io.Discard, nil)))
	got, err := svc.GetRun(context.Background(), &pb.GetRunRequest{RunId: "y"})
	if err != nil || got.GetRun().GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED || len(got.GetSteps()) != 1 {
		t.Errorf("TrainerService GetRun: %v, %d steps (%v)", got.GetRun().GetStatus(), len(got.GetSteps()), err)
	}
	// The viewer shows it.
	v, err := ui.New(ui.Options{RunsDir: runs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	rec := httptest.NewRecorder()
	v.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/runs/y?format=json", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"total_steps": 1`) {
		t.Errorf("viewer /runs/y: %d %.300s", rec.Code, rec.Body.String())
	}
	if n := strings.Count(storesCreated(), "store:yaml") - before; n < 3 {
		t.Errorf("the readers opened the throwaway store %d times, want once each (runs, GetRun, viewer)", n)
	}

	// An option the kind does not have is refused, naming it.
	bad := strings.Replace(storeYAML, "tag: yaml", "tag: yaml, depth: 2", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runTrainCmd(t, "--config", cfgPath, "--dir", filepath.Join(runs, "bad")); err == nil || !strings.Contains(err.Error(), `"depth"`) {
		t.Errorf("store.depth: %v, want an error naming it", err)
	}
}

func TestThrowawayStoreKindFromTheCLIFlag(t *testing.T) {
	registerThrowawayStore()
	tmp := t.TempDir()
	cfgPath := filepath.Join(tmp, "run.yaml")
	plain := strings.Replace(storeYAML, "store: {kind: throwaway-store, tag: yaml}\n", "", 1)
	if err := os.WriteFile(cfgPath, []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(tmp, "runs", "c")
	if out, err := runTrainCmd(t, "--config", cfgPath, "--dir", dir, "--store", "throwaway-store", "--throwaway-store-tag", "cli"); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	if c := storesCreated(); !strings.Contains(c, "store:cli") {
		t.Errorf("stores created %q: want the flag's store:cli", c)
	}
	if spec, err := runstore.ReadSpec(dir); err != nil || spec.Kind != "throwaway-store" {
		t.Errorf("recorded store %+v (%v)", spec, err)
	}
	// An option of another kind is refused, naming the flag.
	if _, err := runTrainCmd(t, "--config", cfgPath, "--dir", filepath.Join(tmp, "runs", "d"), "--store", "sqlite", "--throwaway-store-tag", "x"); err == nil || !strings.Contains(err.Error(), "--throwaway-store-tag") {
		t.Errorf("--throwaway-store-tag with --store sqlite: %v, want an error naming the flag", err)
	}
	// Help lists the kind and its flag from the registry.
	help := newTrainCmd()
	var hb bytes.Buffer
	help.SetOut(&hb)
	help.SetArgs([]string{"--help"})
	_ = help.Execute()
	for _, want := range []string{"throwaway-store (a test's store)", "--throwaway-store-tag"} {
		if !strings.Contains(hb.String(), want) {
			t.Errorf("train --help does not list %q", want)
		}
	}
}
