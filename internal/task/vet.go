package task

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// VetPublicTests runs every public example of the code tasks against the
// data set's own reference solution and drops those it fails, recording
// each in Task.DroppedTests. Public tests are what the policy is shown and
// what the Test operator runs: an example that contradicts the reference
// (HumanEval/47's median docstring, for one) would report correct code as
// failing. Tasks without a reference or without public tests are left as
// they are. At most concurrency tasks run at once; it returns how many
// examples were dropped. A runner error (not a failing example) stops it.
func VetPublicTests(ctx context.Context, tasks []Task, runner CodeRunner, concurrency int) (int, error) {
	if runner == nil {
		return 0, fmt.Errorf("task: VetPublicTests needs a code runner")
	}
	if concurrency < 1 {
		concurrency = 1
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		dropped  int
		firstErr error
	)
	sem := make(chan struct{}, concurrency)
	for i := range tasks {
		t := &tasks[i]
		if t.Family != Code || t.Reference == "" || t.PublicTests.Empty() {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := vetTask(ctx, t, runner)
			mu.Lock()
			defer mu.Unlock()
			dropped += n
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("task %s: vetting public tests: %w", t.ID, err)
			}
		}()
	}
	wg.Wait()
	return dropped, firstErr
}

const vetTimeout = 10 * time.Second

func vetTask(ctx context.Context, t *Task, runner CodeRunner) (int, error) {
	prog, _ := Program(*t, t.Reference)
	before := len(t.DroppedTests)
	if len(t.PublicTests.Cases) > 0 {
		var kept []IOCase
		for _, c := range t.PublicTests.Cases {
			out, exit, timedOut, err := runner.RunPython(ctx, prog, c.Input, vetTimeout)
			if err != nil {
				return 0, err
			}
			why := ""
			switch {
			case timedOut:
				why = "the reference solution times out on it"
			case exit != 0:
				why = fmt.Sprintf("the reference solution exits with code %d on it", exit)
			case diffOutput(c.Output, out) != "":
				why = "the reference solution's output differs: " + diffOutput(c.Output, out)
			}
			if why != "" {
				t.DroppedTests = append(t.DroppedTests, DroppedTest{Test: "input: " + clip(c.Input, 200), Reason: why})
				continue
			}
			kept = append(kept, c)
		}
		t.PublicTests.Cases = kept
		return len(t.DroppedTests) - before, nil
	}
	preamble, stmts := splitAsserts(t.PublicTests.Code)
	var kept []string
	for _, s := range stmts {
		_, exit, timedOut, err := runner.RunPython(ctx, prog+"\n\n"+preamble+s+"\n", "", vetTimeout)
		if err != nil {
			return 0, err
		}
		if timedOut || exit != 0 {
			why := "the reference solution fails it"
			if timedOut {
				why = "the reference solution times out on it"
			}
			t.DroppedTests = append(t.DroppedTests, DroppedTest{Test: strings.TrimSpace(s), Reason: why})
			continue
		}
		kept = append(kept, s)
	}
	if len(kept) == 0 {
		t.PublicTests = Tests{}
	} else {
		t.PublicTests.Code = preamble + strings.Join(kept, "\n") + "\n"
	}
	return len(t.DroppedTests) - before, nil
}

// splitAsserts cuts assert-style public tests into the lines before the
// first top-level assert (imports, "candidate = f") and one statement per
// top-level assert, each with its continuation lines.
func splitAsserts(code string) (string, []string) {
	var pre strings.Builder
	var stmts []string
	for _, l := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "assert"):
			stmts = append(stmts, l)
		case len(stmts) == 0:
			pre.WriteString(l + "\n")
		default:
			stmts[len(stmts)-1] += "\n" + l
		}
	}
	return pre.String(), stmts
}
