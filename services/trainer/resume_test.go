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

	// The dead process's store is whole.
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
	if !strings.Contains(out.String(), "step   1") {
		t.Errorf("the child printed no step line:\n%s", out.String())
	}
}
