package operator_test

import (
	"context"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/operator/remote"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
	opsvc "github.com/flowsteer/flowsteer/services/operator"
)

// A team's operator library in "another process": a Shout solver and a
// LengthCheck checker, served over OperatorService on bufconn.
func teamLibrary(t *testing.T) *operator.Library {
	t.Helper()
	l, err := operator.NewLibrary("team", []operator.Def{
		{Name: "Shout", Group: "solving", Roles: []operator.Role{operator.Solver}, Inputs: []string{"input"}, Outputs: []string{"response"},
			Description: "Upper-cases the question.",
			Impl: operator.ImplFunc(func(_ context.Context, _ operator.Env, c operator.Call) (operator.Output, error) {
				s := strings.ToUpper(c.Task.Question)
				return operator.Output{Fields: operator.Fields{"response": {Text: s}}, Forward: s}, nil
			})},
		{Name: "LengthCheck", Group: "checking", Roles: []operator.Role{operator.Checker}, Inputs: []string{"solution"}, Outputs: []string{"verdict"},
			Description: "Passes short solutions.",
			Impl: operator.ImplFunc(func(_ context.Context, _ operator.Env, c operator.Call) (operator.Output, error) {
				ok := len(c.Inputs.Text("solution")) < 10
				return operator.Output{Verdict: &ok, Feedback: "length checked", Forward: c.Inputs.Text("solution")}, nil
			})},
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRemoteOperatorsRunInsideAWorkflow(t *testing.T) {
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard()}, func(s *server.Server) {
		opsvc.Register(s, &opsvc.Service{Library: teamLibrary(t)})
	})

	lib, err := remote.NewLibrary(context.Background(), "team", pb.NewOperatorServiceClient(conn))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lib.Names(), ","); got != "Shout,LengthCheck" || !lib.IsChecker("LengthCheck") || !lib.IsSolver("Shout") {
		t.Fatalf("remote library: %s checker=%v", got, lib.IsChecker("LengthCheck"))
	}
	reg := executor.NewRegistry()
	b, _ := sim.New("sim", sim.DefaultConfig())
	if err := reg.Register(b); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.DefaultConfig(), reg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := workflow.Parse("Shout -> LengthCheck ? Shout : done", lib)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := eng.Execute(context.Background(), canvas.ExecRequest{Graph: g, Task: task.Task{ID: "t", Family: task.QA, Question: "who wrote it?"}, Library: lib})
	if err != nil {
		t.Fatal(err)
	}
	// "WHO WROTE IT?" is 13 characters: LengthCheck fails it, so the repair branch (Shout) runs.
	if ex.FinalAnswer != "WHO WROTE IT?" || len(ex.Nodes) != 3 || ex.Nodes[1].Verdict == nil || *ex.Nodes[1].Verdict || ex.Nodes[2].Status != canvas.NodeOK {
		t.Fatalf("execution: answer %q nodes %+v", ex.FinalAnswer, ex.Nodes)
	}
	if _, err := remote.NewLibrary(context.Background(), "team", pb.NewOperatorServiceClient(conn)); err != nil {
		t.Fatal(err)
	}
}

// The remote kind through the registry: system builds the library from a
// spec, dialling with the entry point's Dial (here: the bufconn
// connection), and its operators run in the other process.
func TestRemoteKindBuildsALibraryThroughTheEntryPointsDial(t *testing.T) {
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard()}, func(s *server.Server) {
		opsvc.Register(s, &opsvc.Service{Library: teamLibrary(t)})
	})
	var dialled []string
	o := system.DefaultOptions()
	o.NoExecute = true
	o.Libraries = []operator.LibrarySpec{{Name: "team", Kind: remote.Kind, Options: map[string]any{"addr": "team.example:50060", "dial_timeout": "5s"}}}
	o.LibraryDeps.Dial = func(_ context.Context, addr string) (any, error) {
		dialled = append(dialled, addr)
		return conn, nil
	}
	sys, err := system.BuildContext(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	lib, err := sys.Canvas.Libraries().Get("team")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lib.Names(), ","); got != "Shout,LengthCheck" || strings.Join(dialled, ",") != "team.example:50060" {
		t.Fatalf("library %s, dialled %v", got, dialled)
	}
	d, _ := lib.Lookup("Shout")
	out, err := d.Impl.Invoke(context.Background(), nil, operator.Call{Task: task.Task{ID: "t", Family: task.QA, Question: "hi"}})
	if err != nil || out.Forward != "HI" {
		t.Errorf("remote Shout: %q, %v", out.Forward, err)
	}
}
