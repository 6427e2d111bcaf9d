package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

// A backend kind and a policy kind registered by this test alone (no
// other file names them) are usable from every entry point: the CLI with
// their own flags, a YAML run config with their own keys, and
// TrainerService. Each factory records the option value it was created
// with, so the test sees the option arrive, not just the kind.

type throwawayBackend struct {
	Tag string `yaml:"throwaway_tag" flag:"throwaway-tag" doc:"a value the test looks for"`
}

func (c throwawayBackend) Validate() error {
	if strings.Contains(c.Tag, " ") {
		return errors.New("throwaway_tag must not hold spaces")
	}
	return nil
}

type throwawayPolicy struct {
	Width int `yaml:"width" flag:"throwaway-width" doc:"hidden units"`
}

func (c throwawayPolicy) Validate() error {
	if c.Width < 4 {
		return errors.New("width must be at least 4")
	}
	return nil
}

var (
	throwawayMu      sync.Mutex
	throwawayCreated []string // "backend:TAG" and "policy:WIDTH"
	throwawayOnce    sync.Once
)

func created() string {
	throwawayMu.Lock()
	defer throwawayMu.Unlock()
	return strings.Join(throwawayCreated, " ")
}

func registerThrowawayKinds(t *testing.T) {
	t.Helper()
	throwawayOnce.Do(func() {
		component.Register(executor.Backends, component.Factory[throwawayBackend, executor.Backend, executor.Deps]{
			Kind: "throwaway", Doc: "a test's backend", Traits: []string{executor.TraitSimulated},
			Default: func() throwawayBackend { return throwawayBackend{Tag: "none"} },
			Create: func(_ context.Context, c throwawayBackend, _ executor.Deps) (executor.Backend, error) {
				throwawayMu.Lock()
				throwawayCreated = append(throwawayCreated, "backend:"+c.Tag)
				throwawayMu.Unlock()
				return sim.New("throwaway", sim.DefaultConfig())
			},
		})
		component.Register(policy.Kinds, component.Factory[throwawayPolicy, policy.Policy, policy.Deps]{
			Kind: "throwaway-policy", Doc: "a test's learner", Traits: []string{policy.TraitLearns},
			Default: func() throwawayPolicy { return throwawayPolicy{Width: 8} },
			Create: func(_ context.Context, c throwawayPolicy, d policy.Deps) (policy.Policy, error) {
				throwawayMu.Lock()
				throwawayCreated = append(throwawayCreated, "policy:"+itoa(c.Width))
				throwawayMu.Unlock()
				return embedded.New(embedded.Config{Hidden: c.Width, Seed: d.Seed, LearningRate: d.LearningRate, MaxGradNorm: d.MaxGradNorm})
			},
		})
	})
}

func itoa(i int) string {
	var b []byte
	for i > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func TestThrowawayKindsPlayFromTheCLI(t *testing.T) {
	registerThrowawayKinds(t)
	cmd := newPlayCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	file := filepath.Join("..", "..", "testdata", "benchmarks", "gsm8k", "test.jsonl")
	cmd.SetArgs([]string{"--task-file", file, "--limit", "1", "--max-rounds", "2", "--math-grader", "go",
		"--backend", "throwaway", "--throwaway-tag", "cli", "--policy", "throwaway-policy", "--throwaway-width", "12"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("play: %v\n%s", err, out.String())
	}
	if c := created(); !strings.Contains(c, "backend:cli") || !strings.Contains(c, "policy:12") {
		t.Errorf("created %q: want the CLI's backend:cli and policy:12", c)
	}
	if !strings.Contains(out.String(), "--- ended") {
		t.Errorf("no episode played:\n%s", out.String())
	}
	// Help lists the kinds from the registry.
	help := newPlayCmd()
	var hb bytes.Buffer
	help.SetOut(&hb)
	help.SetArgs([]string{"--help"})
	_ = help.Execute()
	for _, want := range []string{"throwaway (a test's backend)", "throwaway-policy (a test's learner)", "--throwaway-tag", "--throwaway-width"} {
		if !strings.Contains(hb.String(), want) {
			t.Errorf("play --help does not list %q", want)
		}
	}
	// An option of another kind is refused, naming the flag.
	bad := newPlayCmd()
	bad.SetOut(io.Discard)
	bad.SetErr(io.Discard)
	bad.SetArgs([]string{"--task-file", file, "--backend", "sim", "--throwaway-tag", "x"})
	if err := bad.Execute(); err == nil || !strings.Contains(err.Error(), "--throwaway-tag") {
		t.Errorf("--throwaway-tag with --backend sim: %v, want an error naming the flag", err)
	}
}

const throwawayYAML = `name: throwaway
steps: 1
batch_tasks: 1
group_size: 2
max_rounds: 2
concurrency: 2
policy: {kind: throwaway-policy, width: 16}
backend: {kind: throwaway, throwaway_tag: yaml}
eval: {tasks: 1, baselines: [random]}
`

func TestThrowawayKindsTrainFromAYAMLRunConfig(t *testing.T) {
	registerThrowawayKinds(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "run.yaml")
	if err := os.WriteFile(cfgPath, []byte(throwawayYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newTrainCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--config", cfgPath, "--runs-dir", filepath.Join(dir, "runs"), "--no-progress"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("train: %v\n%s", err, out.String())
	}
	if c := created(); !strings.Contains(c, "backend:yaml") || !strings.Contains(c, "policy:16") {
		t.Errorf("created %q: want the YAML's backend:yaml and policy:16", c)
	}
	// An option the kind does not have is refused, naming it.
	bad := strings.Replace(throwawayYAML, "width: 16", "width: 16, depth: 2", 1)
	if err := os.WriteFile(cfgPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = newTrainCmd()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--config", cfgPath, "--runs-dir", filepath.Join(dir, "runs")})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), `"depth"`) {
		t.Errorf("policy.depth: %v, want an error naming it", err)
	}
}

func TestThrowawayKindsThroughTrainerService(t *testing.T) {
	registerThrowawayKinds(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log := servertest.Discard()
	v := server.Validators{}
	trainersvc.AddValidators(v)
	srv := server.New(server.Options{Logger: log, Validators: v})
	svc := trainersvc.NewService(ctx, filepath.Join(t.TempDir(), "runs"), log)
	trainersvc.Register(srv, svc)
	lis := bufconn.Listen(1 << 20)
	served := make(chan struct{})
	go func() { _ = srv.Serve(ctx, lis, 5*time.Second); close(served) }()
	conn, err := grpc.NewClient("passthrough:///trainer",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { conn.Close(); cancel(); <-served; svc.Wait() }()
	client := pb.NewTrainerServiceClient(conn)

	// Evaluate: the policy kind with its option in PolicySpec.options,
	// on the throwaway backend.
	tasks := filepath.Join("..", "..", "testdata", "benchmarks", "gsm8k", "test.jsonl")
	abs, _ := filepath.Abs(tasks)
	st, err := client.Evaluate(ctx, &pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "throwaway-policy", Options: map[string]string{"width": "20"}},
		Tasks: firstTask(t, abs), Backend: "throwaway"})
	if err != nil {
		t.Fatal(err)
	}
	var rep *pb.EvalReport
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		if r.GetReport() != nil {
			rep = r.GetReport()
		}
	}
	if rep == nil || len(rep.GetPolicies()) != 1 {
		t.Fatalf("Evaluate: report %v", rep)
	}
	if c := created(); !strings.Contains(c, "policy:20") || !strings.Contains(c, "backend:none") {
		t.Errorf("created %q: want Evaluate's policy:20 on backend:none (its default)", c)
	}
	// StartRun: the YAML config through the service.
	resp, err := client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: strings.Replace(throwawayYAML, "yaml}", "grpc}", 1)})
	if err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	ws, err := client.WatchRun(ctx, &pb.WatchRunRequest{RunId: resp.GetRun().GetId(), FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := ws.Recv(); err != nil {
			break
		}
	}
	t.Logf("created: %s", created())
	if c := created(); !strings.Contains(c, "backend:grpc") {
		t.Errorf("created %q: want StartRun's backend:grpc", c)
	}
	run, err := client.GetRun(ctx, &pb.GetRunRequest{RunId: resp.GetRun().GetId()})
	if err != nil || run.GetRun().GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED {
		t.Errorf("run %v (%v)", run.GetRun(), err)
	}
}

// firstTask reads one task of a file through the CLI's loader.
func firstTask(t *testing.T, path string) []*pb.Task {
	t.Helper()
	ts, _, err := system.LoadTasks(context.Background(), path, "auto", nil, 1, nil)
	if err != nil || len(ts) == 0 {
		t.Fatalf("%s: %d tasks, %v", path, len(ts), err)
	}
	return []*pb.Task{protoconv.TaskToPB(ts[0])}
}
