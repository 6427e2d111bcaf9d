// Package e2e holds the tests that start flowsteer processes and talk to
// them over real loopback sockets. Each test builds the binary once,
// starts what it needs and stops it by PID when it ends.
package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/tests/testbin"
)

// binary is the flowsteer binary these tests start (built once).
func binary(t *testing.T) string { return testbin.Flowsteer(t) }

// proc is a running flowsteer serve.
type proc struct {
	cmd  *exec.Cmd
	addr string
	logs *logBuffer
	done chan error
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(s + "\n")
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var addrRE = regexp.MustCompile(`msg="flowsteer serving" addr=(\S+)`)

// startServe runs `flowsteer serve` on a free loopback port and waits
// until it reports its address.
func startServe(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &logBuffer{}, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.add(line)
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case p.addr = <-addrc:
	case err := <-p.done:
		t.Fatalf("flowsteer serve exited early: %v\n%s", err, p.logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("flowsteer serve did not report its address\n%s", p.logs)
	}
	return p
}

func TestServeOverLoopbackPlaysEpisodeAndStopsGracefully(t *testing.T) {
	p := startServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := flowsteer.Dial(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ops, err := c.ListOperators(ctx, "")
	if err != nil || len(ops) != 12 {
		t.Fatalf("ListOperators: %d operators, %v", len(ops), err)
	}
	ep, err := c.Open(ctx, &pb.Task{Family: pb.TaskFamily_TASK_FAMILY_QA, Question: "Who wrote the note?", Context: "Mara wrote the note on Tuesday."})
	if err != nil {
		t.Fatal(err)
	}
	replies := []string{
		"<action>add</action><structure>parallel</structure><operators>Custom, AnswerGenerate, Custom</operators>",
		"Read the passage and name the writer.",
		"Quote the sentence that names the writer.",
		"Answer with the name only.",
		"<action>add</action><operator>ScEnsemble</operator><prompt>Pick the majority name.</prompt>",
		"<action>add</action><operator>Verify</operator><prompt>Check the name against the passage.</prompt>",
		"<action>add</action><operator>Format</operator><prompt>Return just the name.</prompt>",
		"<action>finish</action>",
	}
	var obs *pb.Observation
	for _, r := range replies {
		if obs, err = ep.Step(ctx, flowsteer.Text(r)); err != nil {
			t.Fatalf("step %q: %v", r, err)
		}
		if !obs.GetValid() {
			t.Fatalf("step %q refused: %s", r, obs.GetFeedback())
		}
	}
	if !obs.GetDone() || obs.GetReward().GetStructureTotal() < 0.99 {
		t.Fatalf("episode not finished with full structure: done=%v reward=%v", obs.GetDone(), obs.GetReward())
	}

	// A second episode stays open on its stream while the server is told
	// to stop: the drain must end that stream so shutdown is prompt.
	open, err := c.Open(ctx, &pb.Task{Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: "1+1?"})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, p.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop within 20s of SIGTERM\n%s", p.logs)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("graceful stop took %s: open streams were not drained", d)
	}
	if !strings.Contains(p.logs.String(), "shutting down") {
		t.Fatalf("no shutdown log line:\n%s", p.logs)
	}
}

func TestServeRefusesUnknownService(t *testing.T) {
	out, err := exec.Command(binary(t), "serve", "--addr", "127.0.0.1:0", "--services", "canvas,bogus").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown service "bogus"`) {
		t.Fatalf("got %v: %s", err, out)
	}
}

func TestServeReportsPortInUse(t *testing.T) {
	p := startServe(t)
	out, err := exec.Command(binary(t), "serve", "--addr", p.addr).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "listen on "+p.addr) {
		t.Fatalf("second serve on %s: %v: %s", p.addr, err, out)
	}
}

func TestDemoRunsToTheEnd(t *testing.T) {
	out, err := exec.Command(binary(t), "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"episode ended (finished)", "Finish refused", "ScEnsemble cannot be inside a parallel block", "correctness released: true"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary(t), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "flowsteer ") {
		t.Fatalf("version: %v %s", err, out)
	}
}
