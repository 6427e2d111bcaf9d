package embedded

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

func addOp(op string) *pb.StructuredAction {
	return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: op}
}

func addPar(ops ...string) *pb.StructuredAction {
	return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL, Operators: ops}
}

func addCond(c, r, f string) *pb.StructuredAction {
	return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_CONDITIONAL, Condition: c, IfTrue: r, IfFalse: f}
}

func addLoop(count int32, ops ...string) *pb.StructuredAction {
	return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP, Operators: ops, Count: count}
}

// demo is the best single fixed workflow of the offline suite's grid
// (BENCHMARKS.md), as the observations and edits that build it on a code
// task with tests.
func demo() ([]*pb.Observation, []*pb.StructuredAction) {
	tk := testTask(famCode, true)
	stages := []*pb.Stage{opStage(1, "Plan"), parStage(2, "Programmer", "Programmer", "Custom"), opStage(3, "Aggregate"),
		opStage(4, "Revise"), condStage(5, "Test", "Programmer"), condStage(6, "Verify", "Revise")}
	acts := []*pb.StructuredAction{addOp("Plan"), addPar("Programmer", "Programmer", "Custom"), addOp("Aggregate"),
		addOp("Revise"), addCond("Test", "Programmer", "done"), addCond("Verify", "Revise", "done"), addOp("Format")}
	var obs []*pb.Observation
	for i := range acts {
		obs = append(obs, obsOf(tk, stages[:i]...))
	}
	return obs, acts
}

func TestImitateRecordsTheShownActionAsThePolicysOwnChoices(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 3})
	obs, acts := demo()
	obs = append(obs, obsOf(testTask(famMath, false), opStage(1, "Custom")), obsOf(testTask(famQA, false), opStage(1, "Custom")))
	acts = append(acts, addLoop(LoopCount, "Review", "Revise"), &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: "node_1"})
	for i, o := range obs {
		want := policy.Describe(acts[i])
		t.Run(want, func(t *testing.T) {
			d, err := p.Imitate(o, acts[i])
			if err != nil {
				t.Fatal(err)
			}
			if got := policy.Describe(d.GetAction().GetStructured()); got != want {
				t.Fatalf("the decision does %q, want %q", got, want)
			}
			// The recorded log-probs are what Update recomputes from the state.
			rec := logProbsOf(t, p, d)
			if len(rec) != len(d.GetLogprobs()) || len(rec) != len(d.GetTokenIds()) {
				t.Fatalf("%d recomputed log-probs for %d recorded, %d ids", len(rec), len(d.GetLogprobs()), len(d.GetTokenIds()))
			}
			for j := range rec {
				if !near(rec[j], d.GetLogprobs()[j], 1e-9) {
					t.Errorf("choice %d: recorded %v, recomputed %v", j, d.GetLogprobs()[j], rec[j])
				}
			}
		})
	}
}

func TestImitateRefusesWhatThePolicyCannotDo(t *testing.T) {
	p := newTestPolicy(t, Config{})
	code := obsOf(testTask(famCode, true), opStage(1, "Plan"), opStage(2, "Programmer"))
	noTests := obsOf(testTask(famCode, false), opStage(1, "Programmer"))
	at := func(a *pb.StructuredAction, pos int32) *pb.StructuredAction { a.Position = &pos; return a }
	for _, tc := range []struct {
		name string
		obs  *pb.Observation
		a    *pb.StructuredAction
		want string
	}{
		{"four branches", code, addPar("Programmer", "Programmer", "Custom", "Custom"), "branches"},
		{"a checker as a branch", code, addPar("Programmer", "Test"), `branch operator "Test"`},
		{"a false branch", code, addCond("Review", "Revise", "Programmer"), "false branch"},
		{"a loop of three", code, addLoop(3, "Review", "Revise"), "loop runs"},
		{"an unknown loop body", code, addLoop(LoopCount, "Plan", "Revise"), "loop body"},
		{"an insertion", code, at(addOp("Format"), 0), "at the end only"},
		{"a middle delete", code, &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: "node_1"}, "last stage"},
		{"a modify", code, &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_MODIFY, Target: "node_1", Operator: "Custom"}, "does not"},
		{"Test without tests", noTests, addOp("Test"), "not legal"},
		{"a finish the rules refuse", noTests, &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_FINISH}, "not legal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Imitate(tc.obs, tc.a)
			if !errors.Is(err, policy.ErrCannotImitate) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Imitate = %v, %v; want ErrCannotImitate mentioning %q", d, err, tc.want)
			}
		})
	}
}

func TestUpdatesOnImitatedDecisionsTeachTheShownWorkflow(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 5})
	obs, acts := demo()
	// The branches of a parallel block are draws of one head from one
	// state, so greedy decoding repeats one operator: the block
	// [Programmer, Programmer, Custom] is judged by its branch
	// probabilities instead, whose best clone is 2/3, 2/3, 1/3.
	const par = 1
	greedyMatches := func() int {
		n := 0
		for i, o := range obs {
			d := act(t, p, o, policy.Sampling{Greedy: true})
			if i != par && policy.Describe(d.GetAction().GetStructured()) == policy.Describe(acts[i]) {
				n++
			}
		}
		return n
	}
	before := greedyMatches()
	var ds []*pb.Decision
	for i, o := range obs {
		d, err := p.Imitate(o, acts[i])
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	req := &pb.UpdateRequest{Loss: &pb.LossConfig{Kind: pb.LossKind_LOSS_KIND_REINFORCE},
		Episodes: []*pb.EpisodeSamples{{EpisodeId: "demo", Advantage: 1, Decisions: ds}}}
	for range 300 {
		if _, err := p.Update(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if after := greedyMatches(); after != len(acts)-1 {
		t.Fatalf("greedy decisions take %d of the %d shown edits after cloning (%d before)", after, len(acts)-1, before)
	}
	if before == len(acts)-1 {
		t.Fatal("the untrained policy already took every shown edit: the test shows nothing")
	}
	lp := logProbsOf(t, p, ds[par]) // kind, width, then the three branches
	for j, want := range []float64{2.0 / 3, 2.0 / 3, 1.0 / 3} {
		if got := math.Exp(lp[2+j]); !near(got, want, 0.1) {
			t.Errorf("branch %d has probability %.3f after cloning, want about %.3f", j, got, want)
		}
	}
	p.Anchor()
	p.mu.RLock()
	defer p.mu.RUnlock()
	for i := range p.params {
		if p.ref[i] != p.params[i] || p.adamM[i] != 0 || p.adamV[i] != 0 {
			t.Fatalf("Anchor left parameter %d: ref %v params %v m %v v %v", i, p.ref[i], p.params[i], p.adamM[i], p.adamV[i])
		}
	}
	if p.adamT != 0 {
		t.Errorf("Anchor left Adam's clock at %d", p.adamT)
	}
}
