package system

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// An operator library kind registered by this test alone (no other file
// names it) is built from a spec through operator.Libraries, and an
// episode that picks the library with config.library runs its operator.

type echoLibrary struct {
	Word string `yaml:"word" doc:"what the Echo operator answers"`
}

func (c echoLibrary) Validate() error {
	if c.Word == "" {
		return errors.New("echo.word is required")
	}
	return nil
}

var echoOnce sync.Once

func registerEchoLibrary() {
	echoOnce.Do(func() {
		component.Register(operator.Libraries, component.Factory[echoLibrary, *operator.Library, operator.LibraryDeps]{
			Kind: "throwaway-echo", Doc: "a test's library", Default: func() echoLibrary { return echoLibrary{} },
			Create: func(_ context.Context, c echoLibrary, d operator.LibraryDeps) (*operator.Library, error) {
				return operator.NewLibrary(d.Name, []operator.Def{{
					Name: "Echo", Group: "solving", Roles: []operator.Role{operator.Solver},
					Inputs: []string{"input"}, Outputs: []string{"response"}, Description: "Answers the configured word.",
					Impl: operator.ImplFunc(func(context.Context, operator.Env, operator.Call) (operator.Output, error) {
						return operator.Output{Fields: operator.Fields{"response": {Text: c.Word}}, Forward: c.Word}, nil
					}),
				}})
			},
		})
	})
}

func TestAnEpisodeRunsAnOperatorOfALibraryKindRegisteredByATest(t *testing.T) {
	registerEchoLibrary()
	o := DefaultOptions()
	o.MathGrader = "go"
	o.Libraries = []operator.LibrarySpec{{Name: "team", Kind: "throwaway-echo", Options: map[string]any{"word": "forty-two"}}}
	sys, err := BuildContext(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	cfg := canvas.DefaultConfig()
	cfg.TwoStep = false
	cfg.Library = "team"
	ctx := context.Background()
	ep, obs, err := sys.Canvas.Create(ctx, task.Task{ID: "t", Family: task.QA, Question: "what is the answer?"}, cfg, reward.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Operators) != 1 || obs.Operators[0].Name != "Echo" {
		t.Fatalf("the episode offers %+v, want the team library's Echo", obs.Operators)
	}
	o2, err := ep.Step(ctx, canvas.Input{Text: "<action>add</action><operator>Echo</operator>"})
	if err != nil {
		t.Fatal(err)
	}
	if !o2.Valid || !o2.Execution.Executed || o2.Execution.FinalAnswer != "forty-two" {
		t.Fatalf("valid %v (%s), execution %+v: want Echo's answer", o2.Valid, o2.Feedback, o2.Execution)
	}
}

func TestLibrarySpecsAreDecodedThroughTheRegistry(t *testing.T) {
	registerEchoLibrary()
	for _, tt := range []struct {
		specs []operator.LibrarySpec
		want  string
	}{
		{[]operator.LibrarySpec{{Name: "team", Kind: "throwaway-echo", Options: map[string]any{"word": "x", "volume": 3}}}, `no option "volume"`},
		{[]operator.LibrarySpec{{Name: "team", Kind: "throwaway-echo"}}, "echo.word is required"},
		{[]operator.LibrarySpec{{Name: "team", Kind: "nosuch"}}, `operator library kind "nosuch" is not one of`},
		{[]operator.LibrarySpec{{Name: "", Kind: "builtin"}}, "name must be"},
		{[]operator.LibrarySpec{{Name: "a", Kind: "builtin"}, {Name: "a", Kind: "builtin"}}, `library "a" is named twice`},
		{[]operator.LibrarySpec{{Name: "far", Kind: "remote", Options: map[string]any{"addr": "127.0.0.1:1"}}}, "cannot connect to an OperatorService"},
	} {
		o := DefaultOptions()
		o.NoExecute = true
		o.Libraries = tt.specs
		if _, err := BuildContext(context.Background(), o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.specs, err, tt.want)
		}
	}
	// builtin: the default operators under another name.
	o := DefaultOptions()
	o.NoExecute = true
	o.Libraries = []operator.LibrarySpec{{Name: "copy", Kind: "builtin"}}
	sys, err := BuildContext(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sys.Canvas.Libraries().Get("copy")
	if err != nil || len(l.Names()) != len(sys.Library.Names()) {
		t.Errorf("builtin copy: %v (%v)", l, err)
	}
}
