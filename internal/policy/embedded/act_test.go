package embedded

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

func TestFirstChoiceFrequenciesMatchLogProbs(t *testing.T) {
	tests := []struct {
		name   string
		obs    *pb.Observation
		masked []int
	}{
		{"finish rules met, all six kinds legal", obsOf(testTask(famMath, false), opStage(1, "Programmer"), parStage(2, "Programmer", "Custom"), condStage(3, "Review", "Revise")), nil},
		{"finish masked while the finish rules are unmet", obsOf(testTask(famMath, false), opStage(1, "Programmer")), []int{KindFinish}},
		{"empty workflow, delete and finish masked", obsOf(testTask(famMath, false)), []int{KindDeleteLast, KindFinish}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestPolicy(t, Config{Seed: 11})
			// A skewed kind head, so the check is not against a uniform distribution.
			for i, b := range []float64{0.6, -0.4, 0.3, 0, -0.7, 0.2} {
				p.params[p.arch.hb[HeadKind]+i] = b
			}
			const n = 20000
			counts := make([]int, len(Kinds))
			lp := make([]float64, len(Kinds))
			for i := range len(Kinds) {
				lp[i] = math.NaN()
			}
			for range n {
				d := act(t, p, tt.obs, policy.Sampling{})
				k := int(d.TokenIds[0])
				counts[k]++
				if math.IsNaN(lp[k]) {
					lp[k] = d.Logprobs[0]
				} else if lp[k] != d.Logprobs[0] {
					t.Fatalf("kind %d recorded with log-probs %v and %v for the same observation", k, lp[k], d.Logprobs[0])
				}
			}
			var total float64
			for k, c := range counts {
				if slices.Contains(tt.masked, k) {
					if c != 0 {
						t.Errorf("masked kind %s sampled %d times", Kinds[k], c)
					}
					continue
				}
				freq, prob := float64(c)/n, math.Exp(lp[k])
				total += prob
				if !near(freq, prob, 0.01) {
					t.Errorf("kind %s: frequency %.4f, exp(logprob) %.4f", Kinds[k], freq, prob)
				}
			}
			if !near(total, 1, 1e-9) {
				t.Errorf("probabilities of the legal kinds sum to %v", total)
			}
		})
	}
}

func TestSameSeedGivesIdenticalDecisions(t *testing.T) {
	a := newTestPolicy(t, Config{Seed: 5})
	b := newTestPolicy(t, Config{Seed: 5})
	for round := range 3 {
		for i, o := range observations() {
			da, db := act(t, a, o, policy.Sampling{}), act(t, b, o, policy.Sampling{})
			if !proto.Equal(da, db) {
				t.Fatalf("round %d obs %d: shared stream diverged:\n%v\n%v", round, i, da, db)
			}
			s := policy.Sampling{Seed: seed(int64(round))}
			if da, db := act(t, a, o, s), act(t, b, o, s); !proto.Equal(da, db) {
				t.Fatalf("round %d obs %d: seeded decisions differ", round, i)
			}
		}
	}
}

func TestSamplingSeedControlsTheSequence(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 5})
	seq := func(s int64, taskID string) string {
		var b strings.Builder
		for turn := range 40 {
			o := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
			o.Task.Id, o.EpisodeId, o.Turn = taskID, "ep-random-"+taskID+string(rune('a'+turn%26)), int32(turn)
			b.WriteString(act(t, p, o, policy.Sampling{Seed: seed(s)}).Action.Text + ";")
		}
		return b.String()
	}
	base := seq(1, "ep-a")
	if again := seq(1, "ep-a"); again != base {
		t.Fatal("the same sampling seed, task and turns gave a different sequence (episode ids must not matter)")
	}
	if seq(2, "ep-a") == base {
		t.Fatal("a different sampling seed gave the same sequence")
	}
	if seq(1, "ep-b") == base {
		t.Fatal("a different task with the same seed gave the same sequence")
	}
}

func TestDifferentConfigSeedsGiveDifferentPolicies(t *testing.T) {
	a, b := newTestPolicy(t, Config{Seed: 1}), newTestPolicy(t, Config{Seed: 2})
	if a.Info().Version == b.Info().Version {
		t.Fatal("different seeds gave identical weights")
	}
}

// actions collects n sampled decisions on obs.
func actions(t *testing.T, p *Policy, obs *pb.Observation, n int) []*pb.Decision {
	out := make([]*pb.Decision, n)
	for i := range out {
		out[i] = act(t, p, obs, policy.Sampling{})
	}
	return out
}

func operatorsOf(a *pb.StructuredAction) []string {
	out := append([]string{a.GetOperator(), a.GetCondition(), a.GetIfTrue()}, a.GetOperators()...)
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

func TestMasksKeepIllegalChoicesOut(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 3})
	tests := []struct {
		name      string
		obs       *pb.Observation
		never     []string // operators that must never appear
		sometimes []string // operators that must appear at least once
		neverKind []int
	}{
		{"multiple choice never uses Programmer", obsOf(testTask(famMC, false), opStage(1, "Custom")),
			[]string{"Programmer", "Test"}, []string{"Custom", "AnswerGenerate", "Review"}, nil},
		{"code with public tests may use Test", obsOf(testTask(famCode, true), opStage(1, "Programmer")),
			nil, []string{"Test", "Programmer"}, nil},
		{"code without public tests never uses Test", obsOf(testTask(famCode, false), opStage(1, "Programmer")),
			[]string{"Test"}, []string{"Programmer"}, nil},
		{"math never uses Test", obsOf(testTask(famMath, false), opStage(1, "Programmer")),
			[]string{"Test"}, []string{"Programmer", "Verify"}, nil},
		{"an empty workflow cannot be deleted from or finished", obsOf(testTask(famQA, false)),
			[]string{"Test"}, nil, []int{KindDeleteLast, KindFinish}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, d := range actions(t, p, tt.obs, 3000) {
				for _, op := range operatorsOf(d.Action.Structured) {
					seen[op] = true
					if slices.Contains(tt.never, op) {
						t.Fatalf("%s chosen: %s", op, d.Action.Text)
					}
				}
				if slices.Contains(tt.neverKind, int(d.TokenIds[0])) {
					t.Fatalf("masked kind chosen: %s", d.Action.Text)
				}
				dec, err := decodeState(d.State, p.arch.in)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range dec.choices {
					for _, bad := range tt.never {
						if i := slices.Index(namesOf(c.head), bad); i >= 0 && c.legal.has(i) {
							t.Fatalf("%s is legal in head %s", bad, c.head)
						}
					}
				}
			}
			for _, op := range tt.sometimes {
				if !seen[op] {
					t.Errorf("%s never chosen in 3000 decisions", op)
				}
			}
		})
	}
}

// namesOf lists the operator names of a head's choices ("" where a choice
// is not a single operator).
func namesOf(h Head) []string {
	switch h {
	case HeadOperator:
		return Operators
	case HeadBranch:
		return BranchOperators
	case HeadChecker:
		return Checkers
	case HeadRepair:
		return Repairs
	case HeadLoopBody:
		out := make([]string, len(LoopBodies))
		for i, b := range LoopBodies {
			if b[0] == "Test" {
				out[i] = "Test" // the Test body is exactly the one to mask
			}
		}
		return out
	}
	return nil
}

func TestOperatorListFromTheCanvasOverridesTheFamilyRule(t *testing.T) {
	o := obsOf(testTask(famMath, false), opStage(1, "Custom"))
	for _, n := range Operators {
		o.Operators = append(o.Operators, &pb.OperatorInfo{Name: n, Enabled: n != "Format" && n != "Programmer"})
	}
	l := legalityOf(o)
	if l.op.has(slices.Index(Operators, "Format")) || l.op.has(slices.Index(Operators, "Programmer")) {
		t.Fatalf("disabled operators are legal: %b", l.op)
	}
	if l.repair.has(slices.Index(Repairs, "Programmer")) || l.branch.has(slices.Index(BranchOperators, "Programmer")) {
		t.Fatal("disabled Programmer is legal inside a structure")
	}
}

func TestActionsHaveTheirStructuredForm(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 9})
	obs := obsOf(testTask(famCode, true), opStage(1, "Programmer"), parStage(2, "Programmer", "Custom"), opStage(3, "Test"), condStage(4, "Review", "Revise"))
	kinds := map[int]bool{}
	for _, d := range actions(t, p, obs, 2000) {
		a := d.Action.Structured
		k := int(d.TokenIds[0])
		kinds[k] = true
		if len(d.TokenIds) != len(d.Logprobs) || len(d.Mask) != len(d.TokenIds) || d.PolicyVersion == "" || d.Action.Text == "" {
			t.Fatalf("incomplete decision %v", d)
		}
		for _, lp := range d.Logprobs {
			if !(lp <= 0) {
				t.Fatalf("log-prob %v", lp)
			}
		}
		add := pb.ActionKind_ACTION_KIND_ADD
		switch k {
		case KindAddOperator:
			if a.Kind != add || a.Operator == "" || a.Structure != pb.StructureKind_STRUCTURE_KIND_UNSPECIFIED || len(d.TokenIds) != 2 {
				t.Fatalf("add operator: %v", a)
			}
		case KindAddParallel:
			w := Widths[d.TokenIds[1]]
			if a.Kind != add || a.Structure != pb.StructureKind_STRUCTURE_KIND_PARALLEL || len(a.Operators) != w || len(d.TokenIds) != 2+w {
				t.Fatalf("add parallel: %v", a)
			}
		case KindAddConditional:
			if a.Structure != pb.StructureKind_STRUCTURE_KIND_CONDITIONAL || a.Condition == "" || a.IfTrue == "" || a.IfFalse != "done" || len(d.TokenIds) != 3 {
				t.Fatalf("add conditional: %v", a)
			}
		case KindAddLoop:
			if a.Structure != pb.StructureKind_STRUCTURE_KIND_LOOP || len(a.Operators) != 2 || a.Count != LoopCount || len(d.TokenIds) != 2 {
				t.Fatalf("add loop: %v", a)
			}
		case KindDeleteLast:
			if a.Kind != pb.ActionKind_ACTION_KIND_DELETE || a.Target != "node_4" || len(d.TokenIds) != 1 {
				t.Fatalf("delete: %v (the last stage is node_4)", a)
			}
		case KindFinish:
			if a.Kind != pb.ActionKind_ACTION_KIND_FINISH || len(d.TokenIds) != 1 {
				t.Fatalf("finish: %v", a)
			}
		}
		if a.Position != nil {
			t.Fatalf("the policy appends; position %d set", *a.Position)
		}
	}
	if len(kinds) != len(Kinds) {
		t.Fatalf("only kinds %v sampled", kinds)
	}
}

func TestAwaitingPromptTurnsReturnATemplateAndNoChoices(t *testing.T) {
	p := newTestPolicy(t, Config{})
	for _, f := range []pb.TaskFamily{famMath, famQA, famCode, famMC, pb.TaskFamily_TASK_FAMILY_UNSPECIFIED} {
		for _, op := range append(slices.Clone(Operators), "SomeCustomOperator", "") {
			o := obsOf(testTask(f, f == famCode), opStage(1, "Programmer"))
			o.State = pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT
			o.Awaiting = &pb.AwaitingPrompt{NodeId: "node_1", Operator: op}
			d := act(t, p, o, policy.Sampling{})
			prompt := d.GetAction().GetStructured().GetPrompt()
			if len([]rune(strings.TrimSpace(prompt))) < 5 || strings.ContainsAny(prompt, "<>") {
				t.Fatalf("%s/%s: prompt %q", f, op, prompt)
			}
			if len(d.TokenIds)+len(d.Logprobs)+len(d.Mask)+len(d.State) != 0 {
				t.Fatalf("%s/%s: a prompt decision carries choices: %v", f, op, d)
			}
		}
	}
	if !strings.Contains(PromptFor("Format", famMC), "letter") || !strings.Contains(PromptFor("Custom", famMath), "math") {
		t.Fatal("templates do not mention the task kind")
	}
}

func TestActRefusesEndedEpisodesAndCancelledContexts(t *testing.T) {
	p := newTestPolicy(t, Config{})
	o := obsOf(testTask(famMath, false))
	o.Done, o.State = true, pb.EpisodeState_EPISODE_STATE_DONE
	if _, err := p.Act(context.Background(), o, policy.Sampling{}); !errors.Is(err, ErrEpisodeDone) {
		t.Fatalf("done episode: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Act(ctx, obsOf(testTask(famMath, false)), policy.Sampling{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	if _, err := p.Act(context.Background(), nil, policy.Sampling{}); err == nil {
		t.Fatal("nil observation accepted")
	}
}

func TestGreedyTakesTheMostLikelyChoice(t *testing.T) {
	p := newTestPolicy(t, Config{})
	p.params[p.arch.hb[HeadKind]+KindAddLoop] = 5
	p.params[p.arch.hb[HeadLoopBody]+1] = 5
	o := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
	for range 20 {
		d := act(t, p, o, policy.Sampling{Greedy: true})
		if d.Action.Text != "add loop (Verify -> Revise) * 2" {
			t.Fatalf("greedy chose %q", d.Action.Text)
		}
	}
}

func TestTemperatureChangesSamplingAndIsRecordedInOldLogProbs(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 2})
	p.params[p.arch.hb[HeadKind]+KindAddParallel] = 1
	o := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
	frac := func(temp float64) (float64, float64) {
		n, lp := 0, 0.0
		for range 4000 {
			d := act(t, p, o, policy.Sampling{Temperature: temp})
			if d.TokenIds[0] == KindAddParallel {
				n++
				lp = d.Logprobs[0]
			}
		}
		return float64(n) / 4000, lp
	}
	cold, coldLP := frac(0.5)
	hot, hotLP := frac(2)
	if !(cold > hot+0.1) {
		t.Fatalf("temperature 0.5 picks the favourite %.3f of the time, temperature 2 %.3f", cold, hot)
	}
	if !near(cold, math.Exp(coldLP), 0.03) || !near(hot, math.Exp(hotLP), 0.03) {
		t.Fatalf("recorded old log-probs are not those of the tempered distributions: %.3f vs %.3f, %.3f vs %.3f",
			cold, math.Exp(coldLP), hot, math.Exp(hotLP))
	}
}
