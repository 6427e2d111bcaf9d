package runstore

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// The crash test re-executes the test binary as a writer and SIGKILLs it
// mid-loop, because only a real process death shows what a dead trainer
// leaves on disk; closing a Store in-process always finishes cleanly.
const (
	crashDirEnv   = "RUNSTORE_CRASH_DIR"
	crashStartEnv = "RUNSTORE_CRASH_START"
	crashRun      = "crash"
	crashBatch    = 6 // episodes written per step, in one PutEpisodes
)

// TestCrashChild is the writer; it does nothing unless the parent set the
// environment.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestCrashConsistency")
	}
	start, err := strconv.ParseInt(os.Getenv(crashStartEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatal(err)
	}
	log := []byte(strings.Repeat(`{"turn":1,"reply":"<add>Programmer</add>","feedback":"ok"},`, 60))
	for step := start; ; step++ {
		// The trainer's order: episodes, then the step row, then progress.
		eps := make([]Episode, crashBatch)
		for i := range eps {
			eps[i] = episode(crashRun, step, PhaseTrain, fmt.Sprint("e", i), "Plan -> [Programmer, Custom] -> ScEnsemble", float64(i)/10)
			eps[i].TurnLog = log
		}
		if err := s.PutEpisodes(eps); err != nil {
			t.Fatal(err)
		}
		if err := s.PutStep(crashRun, stepMetrics(step)); err != nil {
			t.Fatal(err)
		}
		if step%4 == 0 {
			if err := s.PutEval(crashRun, &pb.EvalReport{Step: step, Policies: []*pb.PolicyEval{{Policy: "trained", MeanReward: float64(step)}}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.UpdateRun(crashRun, StatusRunning, step, ""); err != nil {
			t.Fatal(err)
		}
		if step == start {
			fmt.Println("ready")
		}
	}
}

func TestCrashConsistency(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("inside the child")
	}
	dir := t.TempDir()
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRun(Run{ID: crashRun, Status: StatusRunning}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	next := int64(0)
	for round := range 4 {
		child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		child.Env = append(os.Environ(), crashDirEnv+"="+dir, crashStartEnv+"="+strconv.FormatInt(next, 10))
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		child.Stderr = os.Stderr
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- true
				}
			}
			close(ready)
		}()
		select {
		case ok := <-ready:
			if !ok {
				child.Wait()
				t.Fatalf("round %d: child exited before writing", round)
			}
		case <-time.After(20 * time.Second):
			child.Process.Kill()
			t.Fatalf("round %d: child never became ready", round)
		}
		// Kill at a random moment so that, over the rounds, the kill lands
		// inside different kinds of transaction.
		time.Sleep(time.Duration(20+rand.IntN(120)) * time.Millisecond)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait()

		last := checkCrashedStore(t, dir, round)
		t.Logf("round %d: killed after step %d", round, last)
		next = last + 1
	}
	if next < 8 {
		t.Errorf("the children wrote only %d steps in all; the test did not exercise much", next)
	}
}

// checkCrashedStore reopens after a kill, checks that everything stored is
// whole, and truncates like a resuming trainer. It returns the last step.
func checkCrashedStore(t *testing.T, dir string, round int) int64 {
	t.Helper()
	s, err := OpenSQLite(dir, DefaultSQLiteConfig())
	if err != nil {
		t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
	}
	defer s.Close()
	if err := s.IntegrityCheck(); err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	steps, err := s.Steps(crashRun)
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	if len(steps) == 0 {
		t.Fatalf("round %d: no steps survived", round)
	}
	for i, m := range steps {
		if m.Step != int64(i) {
			t.Fatalf("round %d: step %d stored at position %d: history has a hole", round, m.Step, i)
		}
		if !proto.Equal(m, stepMetrics(m.Step)) {
			t.Fatalf("round %d: step %d is not what was written:\n%v", round, m.Step, m)
		}
	}
	last := steps[len(steps)-1].Step

	eps, err := s.Episodes(crashRun, EpisodeFilter{})
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	perStep := map[int64]int{}
	for _, e := range eps {
		perStep[e.Step]++
		if e.Reward == nil || len(e.TurnLog) == 0 || e.DSL == "" {
			t.Fatalf("round %d: episode %s/%d stored incomplete: %+v", round, e.EpisodeID, e.Step, e)
		}
	}
	for step, n := range perStep {
		if n != crashBatch {
			t.Fatalf("round %d: step %d has %d of %d episodes: a batch was split", round, step, n, crashBatch)
		}
		// Episodes precede their step row, so at most the in-flight step
		// may have episodes without one.
		if step > last+1 {
			t.Fatalf("round %d: episodes at step %d beyond last step %d", round, step, last)
		}
	}
	for step := int64(0); step <= last; step++ {
		if perStep[step] != crashBatch {
			t.Fatalf("round %d: step %d has a row but %d episodes", round, step, perStep[step])
		}
	}
	evals, err := s.Evals(crashRun)
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	for _, e := range evals {
		if len(e.Policies) != 1 || e.Policies[0].MeanReward != float64(e.Step) {
			t.Fatalf("round %d: eval at step %d incomplete: %v", round, e.Step, e)
		}
	}
	r, err := s.GetRun(crashRun)
	if err != nil {
		t.Fatal(err)
	}
	if r.Step > last || r.Step < last-1 {
		t.Fatalf("round %d: run says step %d, stored steps end at %d", round, r.Step, last)
	}

	// Resume as the trainer would: drop whatever the dead process wrote
	// past the last whole step.
	if err := s.Truncate(crashRun, last); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.Episodes(crashRun, EpisodeFilter{}); len(after) != int(last+1)*crashBatch {
		t.Fatalf("round %d: %d episodes after truncate, want %d", round, len(after), (last+1)*crashBatch)
	}
	return last
}
