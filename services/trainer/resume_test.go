package trainer

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

var cli struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// flowsteerBinary builds cmd/flowsteer once per test binary.
func flowsteerBinary(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		if p, err := exec.LookPath("go"); err == nil {
			goTool = p
		}
		dir, err := os.MkdirTemp("", "flowsteer-cli-")
		if err != nil {
			cli.err = err
			return
		}
		cli.path = filepath.Join(dir, "flowsteer")
		cmd := exec.Command(goTool, "build", "-o", cli.path, "github.com/flowsteer/flowsteer/cmd/flowsteer")
		cli.out, cli.err = cmd.CombinedOutput()
	})
	if cli.err != nil {
		t.Fatalf("go build cmd/flowsteer: %v\n%s", cli.err, cli.out)
	}
	return cli.path
}

// syncBuffer collects a child's output from its copying goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lastCheckpoint reads the store of a live run, once it exists.
func lastCheckpoint(dir, id string) (runstore.Checkpoint, bool) {
	if _, err := os.Stat(filepath.Join(dir, runstore.FileName)); err != nil {
		return runstore.Checkpoint{}, false
	}
	st, err := runstore.Open(dir)
	if err != nil {
		return runstore.Checkpoint{}, false
	}
	defer st.Close()
	ck, ok, err := st.LastCheckpoint(id)
	return ck, ok && err == nil
}

// A `flowsteer train` process killed with SIGKILL after its second
// checkpoint resumes from its last checkpoint and finishes the run.
func TestResumeAfterSIGKILL(t *testing.T) {
	bin := flowsteerBinary(t)
	root := t.TempDir()
	dir := filepath.Join(root, "killed")
	cfg := tinyConfig()
	cfg.Name = "killed"
	cfg.Steps = 4
	cfg.Eval.Tasks = 3
	cfg.Eval.Baselines = nil
	cfgPath := filepath.Join(root, "train.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "train", "--config", cfgPath, "--dir", dir, "--no-progress")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(120 * time.Second)
	for waiting := true; waiting; {
		select {
		case err := <-exited:
			t.Fatalf("flowsteer train ended (%v) before its second checkpoint:\n%s", err, out.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("no checkpoint at step 2 within 120 s:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
			if ck, ok := lastCheckpoint(dir, "killed"); ok && ck.Step >= 2 {
				waiting = false
			}
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatalf("flowsteer train finished before the kill:\n%s", out.String())
	}
	t.Logf("killed flowsteer train after:\n%s", out.String())

	// The dead process's store is whole: SQLite's own check, every stored
	// checkpoint loads and matches its checksum, and every step whose
	// metrics were stored has all of its groups' episodes.
	st, err := runstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.IntegrityCheck(); err != nil {
		t.Fatalf("after SIGKILL: %v", err)
	}
	ck, ok, err := st.LastCheckpoint("killed")
	if err != nil || !ok || ck.Step < 2 {
		t.Fatalf("last checkpoint %+v (%v)", ck, err)
	}
	run, _ := st.GetRun("killed")
	if run.Status != runstore.StatusRunning {
		t.Errorf("a killed run is %q, want still running", run.Status)
	}
	checkCheckpointsLoad(t, dir)
	killedSteps, err := st.Steps("killed")
	if err != nil {
		t.Fatal(err)
	}
	done := int64(len(killedSteps)) // steps whose metrics reached the store
	checkStepsWhole(t, st, "killed", cfg, done)
	// Step counters: checkpoints come every step, so the run's step, its
	// last checkpoint and its last stored step are at most the one step in
	// flight apart, and resuming loses at most that step.
	if done-ck.Step > 1 || ck.Step-run.Step > 1 || run.Step > ck.Step {
		t.Errorf("after the kill: %d steps stored, checkpoint at %d, run at %d: more than the step in flight apart", done, ck.Step, run.Step)
	}
	t.Logf("killed after %d stored steps, checkpoint at step %d, run at step %d", done, ck.Step, run.Step)
	// Leave what a process killed inside the next step leaves: its
	// metrics and episodes stored, its checkpoint not.
	orphan := ck.Step + 1
	if err := st.PutStep("killed", &pb.StepMetrics{Step: orphan, MeanReward: 42}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutEpisodes([]runstore.Episode{{RunID: "killed", Step: orphan, Phase: runstore.PhaseTrain, EpisodeID: "orphan"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	ctx := context.Background()
	p, err := Prepare(ctx, cfg, Options{Dir: dir, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Start != ck.Step {
		t.Errorf("resume starts after step %d, want the last checkpoint's %d", p.Start, ck.Step)
	}
	if lost := done - p.Start; lost > 1 {
		t.Errorf("resume lost %d stored steps (%d stored, resuming after %d), want at most the one in flight", lost, done, p.Start)
	}
	steps, err := p.Store.Steps("killed")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range steps {
		if m.GetStep() > p.Start {
			t.Errorf("step %d beyond the checkpoint survived the resume", m.GetStep())
		}
	}
	if int64(len(steps)) != p.Start {
		t.Errorf("%d steps kept, want %d", len(steps), p.Start)
	}
	if eps, _ := p.Store.Episodes("killed", runstore.EpisodeFilter{Step: &orphan}); len(eps) != 0 {
		t.Errorf("%d episodes of the unfinished step survived", len(eps))
	}
	// The viewer can still say which step was interrupted and replayed.
	if rs, err := p.Store.Resumes("killed"); err != nil || len(rs) != 1 || rs[0].FromStep != ck.Step || rs[0].Interrupted != orphan || rs[0].Dropped < 1 {
		t.Errorf("resumes %+v (%v), want one from step %d interrupting %d with the orphan dropped", rs, err, ck.Step, orphan)
	}
	if err := p.Store.IntegrityCheck(); err != nil {
		t.Error(err)
	}
	pol, err := embedded.New(embedded.Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if step, err := pol.Load(ck.Path, ck.Checksum); err != nil || step != ck.Step {
		t.Errorf("checkpoint %s: step %d, %v", ck.Path, step, err)
	}

	if err := p.Trainer.Run(ctx); err != nil {
		t.Fatal(err)
	}
	run, err = p.Store.GetRun("killed")
	if err != nil || run.Status != runstore.StatusSucceeded || run.Step != 4 || run.Error != "" {
		t.Fatalf("resumed run %s at %d (%q, %v), want succeeded at 4", run.Status, run.Step, run.Error, err)
	}
	steps, _ = p.Store.Steps("killed")
	if len(steps) != 4 {
		t.Fatalf("%d steps after the resume, want 4", len(steps))
	}
	for i, m := range steps {
		if m.GetStep() != int64(i+1) || m.GetMeanReward() == 42 {
			t.Errorf("step %d: %v", i+1, m)
		}
	}
	evals, _ := p.Store.Evals("killed")
	if len(evals) != 2 || evals[0].GetStep() != 0 || evals[1].GetStep() != 4 {
		var at []int64
		for _, e := range evals {
			at = append(at, e.GetStep())
		}
		t.Errorf("evaluations at %v, want 0 and 4", at)
	}
	last, ok, _ := p.Store.LastCheckpoint("killed")
	if !ok || last.Step != 4 || fileSum(t, last.Path) != last.Checksum {
		t.Errorf("final checkpoint %+v", last)
	}
	for _, c := range checkpointRows(t, dir) {
		if fileSum(t, c.path) != c.checksum {
			t.Errorf("checkpoint %d does not match its file", c.step)
		}
	}
	// The finished run is whole too: every step has all of its groups,
	// every checkpoint loads, and the store passes its check.
	checkStepsWhole(t, p.Store, "killed", cfg, 4)
	checkCheckpointsLoad(t, dir)
	if err := p.Store.IntegrityCheck(); err != nil {
		t.Errorf("after the resumed run: %v", err)
	}
	if !strings.Contains(out.String(), "step   1") {
		t.Errorf("the child printed no step line:\n%s", out.String())
	}
}

// checkCheckpointsLoad loads every checkpoint the store references with the
// project's loader: the file exists, matches the stored checksum, and holds
// the step of its row.
func checkCheckpointsLoad(t *testing.T, dir string) {
	t.Helper()
	rows := checkpointRows(t, dir)
	if len(rows) == 0 {
		t.Error("the store references no checkpoint")
	}
	for _, c := range rows {
		pol, err := embedded.New(embedded.Config{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if step, err := pol.Load(c.path, c.checksum); err != nil || step != c.step {
			t.Errorf("checkpoint row of step %d (%s): loads as step %d, %v", c.step, c.path, step, err)
		}
	}
}

// checkStepsWhole checks the training episodes of a run's first steps
// steps: each has batch_tasks groups of group_size episodes (the tiny
// suite has more tasks than batch_tasks), and no step past them has only
// part of its episodes (a step's episodes are written in one transaction).
func checkStepsWhole(t *testing.T, st runstore.Store, id string, cfg trainer.Config, steps int64) {
	t.Helper()
	eps, err := st.Episodes(id, runstore.EpisodeFilter{Phase: runstore.PhaseTrain})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[int64]map[string]int{}
	for _, e := range eps {
		if groups[e.Step] == nil {
			groups[e.Step] = map[string]int{}
		}
		groups[e.Step][e.GroupID]++
	}
	for step := int64(1); step <= steps; step++ {
		g := groups[step]
		if len(g) != cfg.BatchSize {
			t.Errorf("step %d: %d groups stored, want %d", step, len(g), cfg.BatchSize)
		}
		for id, n := range g {
			if n != cfg.GroupSize {
				t.Errorf("step %d group %s: %d episodes stored, want %d", step, id, n, cfg.GroupSize)
			}
		}
	}
	for step, g := range groups {
		if step <= steps {
			continue
		}
		n := 0
		for _, c := range g {
			n += c
		}
		if n != 0 && n != cfg.BatchSize*cfg.GroupSize {
			t.Errorf("step %d (in flight at the kill): %d of its %d episodes stored", step, n, cfg.BatchSize*cfg.GroupSize)
		}
	}
}
