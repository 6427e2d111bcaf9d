package engine_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// shoutDef, shout and shoutSim are a whole new operator: one definition
// (with its input binding, state advance and default node prompt), one
// implementation and one simulated answer. Nothing outside this file
// knows it.
var shoutDef = operator.Def{
	Name: "Shout", Group: "formatting",
	Inputs: []string{"problem", "text"}, Outputs: []string{"loud"},
	Description: "Repeats the previous output in capitals.",
	WhenToUse:   "Never in earnest: it proves that an operator is one definition, one implementation and one simulated answer.",
	Bind:        operator.BindText("text"),
	Advance:     operator.KeepSolution,
	Prompt:      operator.NodePrompt{Any: "Repeat the answer to this {task} loudly."},
	Impl:        operator.ImplFunc(shout),
}

const shoutInstr = "You repeat a text in capitals. Reply with <loud>the text</loud>."

func shout(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	in := c.Inputs.Text("text")
	resp, err := env.Complete(ctx, executor.Request{
		Messages: []executor.Message{{Role: "system", Content: shoutInstr + "\n\n" + c.Prompt}, {Role: "user", Content: in}},
		Meta: executor.Meta{Operator: "Shout", NodeID: c.NodeID, TaskID: c.Task.ID, Variant: c.Variant, Sim: c.Sim,
			Inputs: map[string]string{"text": in}},
	})
	if err != nil {
		return out, err
	}
	out.Usage.Add(resp)
	loud := strings.TrimSuffix(strings.TrimPrefix(resp.Text, "<loud>"), "</loud>")
	out.Fields = operator.Fields{"loud": {Text: loud}}
	out.Forward = loud
	return out, nil
}

func shoutSim(c *sim.Call) (string, error) {
	return "<loud>" + strings.ToUpper(c.Input("text")) + "</loud>", nil
}

// TestNewOperatorIsOneDefinitionOneImplementationOneSimAnswer adds Shout
// to the default operators and builds "AnswerGenerate -> Shout" on a
// canvas episode, prompts included, run by the engine on the simulated
// backend.
func TestNewOperatorIsOneDefinitionOneImplementationOneSimAnswer(t *testing.T) {
	lib, err := operator.NewLibrary("with-shout", append(builtin.Library().Defs(), shoutDef))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sim.New("sim", sim.DefaultConfig(), sim.WithAnswer("Shout", shoutSim))
	if err != nil {
		t.Fatal(err)
	}
	reg := executor.NewRegistry()
	if err := reg.Register(sb); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, reg, engineOpts{cache: executor.NewCache(0)})
	var mu sync.Mutex
	systems := map[string]string{}
	e.SetRecorder(func(_ string, _ int, req executor.Request, _ executor.Response, _ error) {
		mu.Lock()
		systems[req.Meta.Operator] = req.Messages[0].Content
		mu.Unlock()
	})
	cv := canvas.New(canvas.WithExecutor(e), canvas.WithLibraries(operator.NewRegistryWith(lib)))
	cfg := canvas.DefaultConfig() // two-step: each new node asks for its prompt
	ctx := context.Background()
	ep, _, err := cv.Create(ctx, mathTask, cfg, reward.Default())
	if err != nil {
		t.Fatal(err)
	}
	step := func(text string) canvas.Observation {
		t.Helper()
		o, err := ep.Step(ctx, canvas.Input{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if !o.Valid {
			t.Fatalf("%q refused: %s", text, o.Feedback)
		}
		return o
	}
	for _, op := range []string{"AnswerGenerate", "Shout"} {
		o := step("<action>add</action><operator>" + op + "</operator>")
		if o.Awaiting == nil || o.Awaiting.Operator != op {
			t.Fatalf("after adding %s the canvas awaits %+v", op, o.Awaiting)
		}
		d, _ := lib.Lookup(op)
		o = step("<prompt>" + d.DefaultPrompt(mathTask.Family) + "</prompt>")
		if op != "Shout" {
			continue
		}
		ex := o.Execution
		if !ex.Executed || ex.Error != "" || len(ex.Nodes) != 2 {
			t.Fatalf("execution: executed=%v error=%q nodes=%+v", ex.Executed, ex.Error, ex.Nodes)
		}
		for _, n := range ex.Nodes {
			if n.Status != canvas.NodeOK {
				t.Fatalf("%s (%s) is %s: %s", n.NodeID, n.Operator, n.Status, n.Error)
			}
		}
		// Bind handed Shout AnswerGenerate's answer; the sim answered it.
		first, last := ex.Nodes[0], ex.Nodes[1]
		if last.Operator != "Shout" || first.Output == "" || ex.FinalAnswer != strings.ToUpper(first.Output) {
			t.Errorf("final answer %q, want %s's output %q in capitals", ex.FinalAnswer, first.Operator, first.Output)
		}
		if !ex.Stats.Simulated {
			t.Error("the execution is not marked simulated")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "Repeat the answer to this math problem loudly."; !strings.Contains(systems["Shout"], want) {
		t.Errorf("Shout's system prompt %q lacks its default node prompt %q", systems["Shout"], want)
	}
}

// TestShoutFlowsLikeAnyOperator checks Bind and Advance of a new operator
// without the engine: the binding reads the flow, and Step keeps Shout's
// output as the latest solution for a later Revise.
func TestShoutFlowsLikeAnyOperator(t *testing.T) {
	f := operator.Flow{Prev: operator.Value{List: []string{"a", "b"}}}
	if got := shoutDef.BindInputs(f).Text("text"); got != "Solution 1:\na\n\nSolution 2:\nb" {
		t.Errorf("bound text %q", got)
	}
	f.Step(shoutDef, operator.Output{Forward: "AB"})
	if f.LastSolution != "AB" || f.Prev.Text != "AB" {
		t.Errorf("after Shout the flow is %+v", f)
	}
	if got := shoutDef.DefaultPrompt(task.Code); got != "Repeat the answer to this coding task loudly." {
		t.Errorf("default prompt %q", got)
	}
}
