package policy_test

import (
	"errors"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// canonical parses dsl against the default operator library: the text the
// canvas prints for the workflow Fixed must build.
func canonical(t *testing.T, dsl string) *workflow.Graph {
	t.Helper()
	if b, ok := policy.Baselines[dsl]; ok {
		dsl = b
	}
	g, err := workflow.Parse(dsl, operator.Default())
	if err != nil {
		t.Fatalf("target %q: %v", dsl, err)
	}
	return g
}

// nodeCount is the number of operator nodes, each of which takes one
// prompt-writing turn.
func nodeCount(g *workflow.Graph) int {
	n := 0
	for _, s := range g.Stages {
		n += len(s.Nodes())
	}
	return n
}

func allNodes(w *pb.Workflow) []*pb.WorkflowNode {
	var out []*pb.WorkflowNode
	for _, s := range w.GetStages() {
		for _, n := range append([]*pb.WorkflowNode{s.GetOperator(), s.GetCondition(), s.GetIfTrue(), s.GetIfFalse()}, append(s.GetBranches(), s.GetBody()...)...) {
			if n != nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func TestFixedBuildsExactlyTheTargetThenFinishes(t *testing.T) {
	cases := []struct {
		name   string
		dsl    string
		family pb.TaskFamily
	}{
		{"cot baseline", "cot", famMath},
		{"self-consistency baseline", "self-consistency", famQA},
		{"full baseline", "full", famMath},
		{"operators only", "Plan -> Programmer -> Verify -> Format", famMath},
		{"parallel then combiner", "Decompose -> [Custom, AnswerGenerate, Custom] -> Aggregate", famQA},
		{"conditional with done", "AnswerGenerate -> Review ? Revise : done", famMath},
		{"conditional with a false branch", "Custom -> Verify ? Revise : Format", famQA},
		{"loop", "AnswerGenerate -> (Review -> Revise) * 2", famMath},
		{"loop written with x and a single-operator body", "Programmer -> (Test) x 4", famCode},
		{"every structure kind", "Plan -> [Programmer, Custom] -> ScEnsemble -> (Verify -> Revise) * 3 -> Review ? Revise : AnswerGenerate -> Format", famMath},
		{"multiple choice without Programmer", "[AnswerGenerate, Custom, AnswerGenerate] -> ScEnsemble -> Verify ? Revise : done -> Format", famMC},
		{"names in another case", "plan -> answergenerate -> review ? revise : DONE", famMath},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.NewFixed(tc.dsl)
			if err != nil {
				t.Fatal(err)
			}
			target := canonical(t, tc.dsl)
			ctx := testCtx(t)
			rec, err := rollout.Play(ctx, newLocalCanvas(), rollout.InProcess{P: p}, taskOf(tc.family, "t-"+tc.name), lenientFinish(60), policy.Sampling{})
			if err != nil {
				t.Fatalf("play: %v", err)
			}
			final := rec.Final
			if final.GetEndReason() != pb.EndReason_END_REASON_FINISHED {
				t.Fatalf("ended %s after %d turns, want finished; last feedback %q; workflow %q",
					final.GetEndReason(), final.GetTurn(), final.GetFeedback(), final.GetWorkflow().GetDsl())
			}
			if got, want := final.GetWorkflow().GetDsl(), target.String(); got != want {
				t.Fatalf("built %q, want %q", got, want)
			}
			if rec.Invalid != 0 {
				for _, tr := range rec.Turns {
					t.Logf("turn %d %s valid=%v: %s", tr.Number, tr.Action, tr.Valid, tr.Feedback)
				}
				t.Fatalf("%d invalid turns: Fixed must never waste a turn on an empty canvas", rec.Invalid)
			}
			// One add per stage, one prompt per node, one finish: nothing else.
			if want := len(target.Stages) + nodeCount(target) + 1; len(rec.Turns) != want {
				t.Fatalf("%d turns, want exactly %d (stages + nodes + finish)", len(rec.Turns), want)
			}
			for _, n := range allNodes(final.GetWorkflow()) {
				if want := policy.NodePrompt(n.GetOperator(), tc.family); n.GetPrompt() != want {
					t.Errorf("%s (%s) has prompt %q, want NodePrompt's %q", n.GetId(), n.GetOperator(), n.GetPrompt(), want)
				}
			}
			for _, d := range rec.Decisions {
				if d.GetPolicyVersion() != p.Info().Version {
					t.Fatalf("decision version %q, want %q", d.GetPolicyVersion(), p.Info().Version)
				}
			}
		})
	}
}

func TestFixedDeletesExtraOrWrongStages(t *testing.T) {
	add := func(op string) *pb.StructuredAction {
		return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: op}
	}
	loop := func(n int32, ops ...string) *pb.StructuredAction {
		return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP, Operators: ops, Count: n}
	}
	cond := func(c, tr, f string) *pb.StructuredAction {
		return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_CONDITIONAL, Condition: c, IfTrue: tr, IfFalse: f}
	}
	par := func(ops ...string) *pb.StructuredAction {
		return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL, Operators: ops}
	}
	cases := []struct {
		name        string
		existing    []*pb.StructuredAction
		target      string
		firstDelete string // the stage Fixed must delete first
	}{
		{"extra trailing stage", []*pb.StructuredAction{add("AnswerGenerate"), add("Custom")}, "AnswerGenerate", "node_2"},
		{"several extra stages", []*pb.StructuredAction{add("Custom"), add("Verify"), add("Format")}, "Custom", "node_3"},
		{"wrong operator in the middle", []*pb.StructuredAction{add("Plan"), add("Custom"), add("Format")}, "Plan -> AnswerGenerate -> Format", "node_2"},
		{"wrong first stage", []*pb.StructuredAction{add("Custom")}, "Plan -> Custom", "node_1"},
		{"loop with the wrong count", []*pb.StructuredAction{add("Custom"), loop(2, "Review", "Revise")}, "Custom -> (Review -> Revise) * 3", "node_2"},
		{"loop with the wrong body", []*pb.StructuredAction{loop(3, "Verify", "Revise")}, "(Review -> Revise) * 3", "node_1"},
		{"conditional with a different false branch", []*pb.StructuredAction{cond("Review", "Revise", "Format")}, "Review ? Revise : done", "node_1"},
		{"conditional missing its false branch", []*pb.StructuredAction{cond("Verify", "Revise", "done")}, "Verify ? Revise : Format", "node_1"},
		{"parallel with branches in another order", []*pb.StructuredAction{par("Custom", "AnswerGenerate"), add("ScEnsemble")}, "[AnswerGenerate, Custom] -> ScEnsemble", "node_1"},
		{"structure where an operator belongs", []*pb.StructuredAction{par("Custom", "Custom")}, "Custom", "node_1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			p, err := policy.NewFixed(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			lc := newLocalCanvas()
			ep, err := lc.Open(ctx, taskOf(famMath, "t1"), lenientFinish(60))
			if err != nil {
				t.Fatal(err)
			}
			e := ep.(*localEpisode)
			var obs *pb.Observation
			for _, a := range tc.existing {
				obs = e.stepAll(t, a, famMath)
			}
			d, err := p.Act(ctx, obs, policy.Sampling{})
			if err != nil {
				t.Fatal(err)
			}
			if s := d.GetAction().GetStructured(); s.GetKind() != pb.ActionKind_ACTION_KIND_DELETE || s.GetTarget() != tc.firstDelete {
				t.Fatalf("first action on %q is %q, want delete %s", obs.GetWorkflow().GetDsl(), d.GetAction().GetText(), tc.firstDelete)
			}
			for i := 0; !obs.GetDone(); i++ {
				if i > 60 {
					t.Fatalf("no end after %d turns; workflow %q", i, obs.GetWorkflow().GetDsl())
				}
				d, err := p.Act(ctx, obs, policy.Sampling{})
				if err != nil {
					t.Fatal(err)
				}
				if obs, err = e.Step(ctx, d.GetAction()); err != nil {
					t.Fatal(err)
				}
				if !obs.GetValid() {
					t.Fatalf("turn %d: %q refused: %s", obs.GetTurn(), d.GetAction().GetText(), obs.GetFeedback())
				}
			}
			if obs.GetEndReason() != pb.EndReason_END_REASON_FINISHED {
				t.Fatalf("ended %s, want finished", obs.GetEndReason())
			}
			if got, want := obs.GetWorkflow().GetDsl(), canonical(t, tc.target).String(); got != want {
				t.Fatalf("finished with %q, want %q", got, want)
			}
		})
	}
}

func TestNewFixedRejectsBadDSLWithTheParseError(t *testing.T) {
	cases := []struct {
		name, dsl string
	}{
		{"dangling arrow", "Plan ->"},
		{"double arrow", "Plan -> -> Custom"},
		{"one-branch parallel", "[Custom]"},
		{"unclosed parallel", "[Custom, AnswerGenerate"},
		{"loop count too large", "(Review -> Revise) * 11"},
		{"loop without a count", "(Review -> Revise)"},
		{"nested structure", "[(Review -> Revise) * 2, Custom]"},
		{"done as a stage", "done"},
		{"done as the true branch", "Review ? done : Revise"},
		{"stray character", "Plan -> Custom!"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, want := workflow.Parse(tc.dsl, nil)
			if want == nil {
				t.Fatalf("the DSL parser accepts %q; the case is wrong", tc.dsl)
			}
			p, err := policy.NewFixed(tc.dsl)
			if err == nil {
				t.Fatalf("NewFixed(%q) = %v, want an error", tc.dsl, p.Info())
			}
			var pe *workflow.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v does not wrap the *workflow.ParseError", err)
			}
			if !strings.Contains(err.Error(), want.Error()) || !strings.HasPrefix(err.Error(), "fixed policy: ") {
				t.Fatalf("error %q, want %q with its position and reason", err, "fixed policy: "+want.Error())
			}
		})
	}
	t.Run("empty text", func(t *testing.T) {
		for _, dsl := range []string{"", "   "} {
			if _, err := policy.NewFixed(dsl); err == nil || !strings.Contains(err.Error(), "empty") {
				t.Fatalf("NewFixed(%q): %v, want an error saying the workflow is empty", dsl, err)
			}
		}
	})
}

func TestNewFixedResolvesBaselineNames(t *testing.T) {
	for name, dsl := range policy.Baselines {
		t.Run(name, func(t *testing.T) {
			p, err := policy.NewFixed(name)
			if err != nil {
				t.Fatal(err)
			}
			i := p.Info()
			if i.Kind != "fixed" || i.CanLearn || i.Format != pb.ActionFormat_ACTION_FORMAT_STRUCTURED {
				t.Fatalf("info %+v", i)
			}
			if i.Extra["dsl"] != canonical(t, dsl).String() || i.Version != "fixed:"+i.Extra["dsl"] {
				t.Fatalf("info %+v for baseline %q", i, dsl)
			}
		})
	}
}

// Under the default finish rules a lone AnswerGenerate is refused (too few
// operators, no structure, no checker): the cot baseline keeps asking and
// the episode ends at max_rounds, which is an end, not an error.
func TestFixedCotBaselineIsRefusedFinishAndEndsAtMaxRounds(t *testing.T) {
	p, err := policy.NewFixed("cot")
	if err != nil {
		t.Fatal(err)
	}
	for _, rounds := range []int32{0, 7} { // 0: the canvas default (20)
		var cfg *pb.EpisodeConfig
		want := int32(20)
		if rounds != 0 {
			cfg, want = &pb.EpisodeConfig{MaxRounds: ptr(rounds)}, rounds
		}
		rec, err := rollout.Play(testCtx(t), newLocalCanvas(), rollout.InProcess{P: p}, taskOf(famMath, "cot"), cfg, policy.Sampling{})
		if err != nil {
			t.Fatalf("max_rounds %d: play: %v", want, err)
		}
		f := rec.Final
		if !f.GetDone() || f.GetEndReason() != pb.EndReason_END_REASON_MAX_ROUNDS || f.GetTurn() != want {
			t.Fatalf("max_rounds %d: done=%v reason=%s turn=%d", want, f.GetDone(), f.GetEndReason(), f.GetTurn())
		}
		if f.GetWorkflow().GetDsl() != "AnswerGenerate" {
			t.Fatalf("workflow %q, want the cot baseline", f.GetWorkflow().GetDsl())
		}
		refused := 0
		for _, tr := range rec.Turns {
			if tr.Kind == pb.ActionKind_ACTION_KIND_FINISH && !tr.Valid && strings.Contains(tr.Feedback, "Finish refused") {
				refused++
			}
		}
		if refused != int(want)-2 || rec.Invalid != refused {
			t.Fatalf("max_rounds %d: %d refused finishes and %d invalid turns, want %d of each (every turn after add and prompt)", want, refused, rec.Invalid, want-2)
		}
	}
}
