package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/remote"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/task"
)

// taskFile writes generated tasks (a math task first, so fixed:full can
// finish it under the default finish rules) as JSONL into a temp dir.
func taskFile(t *testing.T) (string, []task.Task) {
	t.Helper()
	tasks := task.Generate(4, 11)
	i := slices.IndexFunc(tasks, func(x task.Task) bool { return x.Family == task.Math })
	if i < 0 {
		t.Fatal("the generated suite has no math task")
	}
	tasks[0], tasks[i] = tasks[i], tasks[0]
	path := filepath.Join(t.TempDir(), "tasks.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.WriteJSONL(f, tasks); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, tasks
}

type canvasOpener struct{ c *flowsteer.Client }

func (o canvasOpener) Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (rollout.Episode, error) {
	return o.c.Open(ctx, t, cfg)
}

var (
	turnRE  = regexp.MustCompile(`(?m)^\[turn (\d+)\] (?:reflection: .*\n {10})?action: (.+)$`)
	endedRE = regexp.MustCompile(`(?m)^--- ended \((finished|max_rounds)\) after (\d+) turns, (\d+) invalid$`)
)

// episodes splits `flowsteer play` output at its "=== [i/n]" headers.
func episodes(out string) []string {
	parts := regexp.MustCompile(`(?m)^=== \[\d+/\d+\] `).Split(out, -1)
	return parts[1:]
}

// checkPlayOutput asserts that every episode printed turns 1..N in order,
// each followed by its feedback, and ended with a summary line for N.
func checkPlayOutput(t *testing.T, out string, want int) []string {
	t.Helper()
	eps := episodes(out)
	if len(eps) != want {
		t.Fatalf("%d episodes printed, want %d:\n%s", len(eps), want, out)
	}
	var reasons []string
	for i, ep := range eps {
		turns := turnRE.FindAllStringSubmatch(ep, -1)
		end := endedRE.FindStringSubmatch(ep)
		if end == nil || len(turns) == 0 {
			t.Fatalf("episode %d: no turns or no \"--- ended (\" line:\n%s", i+1, ep)
		}
		for j, tm := range turns {
			if tm[1] != strconv.Itoa(j+1) {
				t.Fatalf("episode %d: turn line %d is numbered %s", i+1, j+1, tm[1])
			}
		}
		if n, _ := strconv.Atoi(end[2]); n != len(turns) {
			t.Fatalf("episode %d: ended after %d turns but %d turns printed", i+1, n, len(turns))
		}
		if got := strings.Count(ep, "    feedback ["); got != len(turns) {
			t.Fatalf("episode %d: %d feedback lines for %d turns (the last turn's feedback must be printed too)", i+1, got, len(turns))
		}
		reasons = append(reasons, end[1])
	}
	return reasons
}

func runPlay(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), append([]string{"play"}, args...)...)
	cmd.Dir = t.TempDir()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("flowsteer play %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestEveryPolicyKindPlaysToTheEndOverRealGRPC serves every service in one
// process with the embedded policy, plays it remotely against the served
// canvas, and runs `flowsteer play` processes for the baselines and for
// the served policy.
func TestEveryPolicyKindPlaysToTheEndOverRealGRPC(t *testing.T) {
	file, tasks := taskFile(t)
	srv := startServe(t, "--policy", "embedded", "--runs-dir", t.TempDir())
	if !strings.Contains(srv.logs.String(), "services=canvas,policy,trainer") {
		t.Fatalf("serve did not start every service:\n%s", srv.logs)
	}

	t.Run("embedded via the served PolicyService and Canvas", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := flowsteer.Dial(srv.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		rp, err := remote.New(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		if i := rp.Info(); i.Kind != "remote:embedded" || !i.CanLearn || !strings.HasPrefix(i.Version, "embedded-v1@") {
			t.Fatalf("served policy %+v, want the embedded learner", i)
		}
		for i, tk := range tasks[:2] {
			sess, err := rp.Session(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seed := int64(i)
			rec, err := rollout.Play(ctx, canvasOpener{c}, sess, protoconv.TaskToPB(tk), nil, policy.Sampling{Seed: &seed})
			if err != nil {
				t.Fatalf("episode %d: %v", i, err)
			}
			f := rec.Final
			if !f.GetDone() || (f.GetEndReason() != pb.EndReason_END_REASON_FINISHED && f.GetEndReason() != pb.EndReason_END_REASON_MAX_ROUNDS) {
				t.Fatalf("episode %d ended %s (done=%v)", i, f.GetEndReason(), f.GetDone())
			}
			if f.GetReward() == nil || len(rec.Decisions) != int(f.GetTurn()) {
				t.Fatalf("episode %d: reward %v, %d decisions for %d turns", i, f.GetReward(), len(rec.Decisions), f.GetTurn())
			}
			for _, d := range rec.Decisions {
				if d.GetPolicyVersion() != rp.Info().Version {
					t.Fatalf("decision from version %q, served %q", d.GetPolicyVersion(), rp.Info().Version)
				}
			}
			ep, err := c.GetEpisode(ctx, rec.EpisodeID, true)
			if err != nil || len(ep.GetTurns()) != int(f.GetTurn()) {
				t.Fatalf("the canvas recorded %d turns for %d played: %v", len(ep.GetTurns()), f.GetTurn(), err)
			}
			t.Logf("episode %d: %d turns, %s: %s", i, f.GetTurn(), f.GetEndReason(), f.GetWorkflow().GetDsl())
		}
	})

	t.Run("flowsteer play --policy random", func(t *testing.T) {
		out := runPlay(t, "--policy", "random", "--task-file", file, "--limit", "2")
		if !strings.Contains(out, "policy: random (random)") {
			t.Fatalf("no policy line:\n%s", out)
		}
		checkPlayOutput(t, out, 2)
	})

	t.Run("flowsteer play --policy fixed:full", func(t *testing.T) {
		out := runPlay(t, "--policy", "fixed:full", "--task-file", file, "--limit", "1")
		reasons := checkPlayOutput(t, out, 1)
		want := canonicalFull(t)
		if reasons[0] != "finished" || !strings.Contains(out, "--- ended (finished) after 16 turns, 0 invalid") {
			t.Fatalf("fixed:full did not finish in 16 valid turns:\n%s", out)
		}
		if !strings.Contains(out, "    workflow: "+want+"\n") || !strings.Contains(out, "[turn 16] action: finish") ||
			!strings.Contains(out, "feedback [ok]: Finish accepted") {
			t.Fatalf("fixed:full output lacks the built workflow %q or the accepted finish:\n%s", want, out)
		}
	})

	t.Run("flowsteer play --policy remote against the served policy and canvas", func(t *testing.T) {
		out := runPlay(t, "--policy", "remote", "--policy-addr", srv.addr, "--canvas", srv.addr, "--task-file", file, "--limit", "1")
		if !strings.Contains(out, "policy: remote:embedded (embedded-v1@") {
			t.Fatalf("no remote policy line:\n%s", out)
		}
		checkPlayOutput(t, out, 1)
	})
}

func canonicalFull(t *testing.T) string {
	t.Helper()
	p, err := policy.NewFixed("full")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(p.Info().Extra["dsl"])
}
