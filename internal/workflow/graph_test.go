package workflow

import (
	"maps"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t testing.TB, text string) *Graph {
	t.Helper()
	g, err := Parse(text, lib)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return g
}

func TestKindNames(t *testing.T) {
	for k, want := range map[Kind]string{Operator: "operator", Parallel: "parallel", Conditional: "conditional", Loop: "loop", Kind(9): "kind(9)"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), want)
		}
		if got, ok := ParseKind(" " + strings.ToUpper(want) + " "); k <= Loop && (!ok || got != k) {
			t.Errorf("ParseKind(%q) = %v, %v", want, got, ok)
		}
	}
	if _, ok := ParseKind("sequence"); ok {
		t.Error("ParseKind accepted an unknown kind")
	}
}

func TestStatsCountOccurrences(t *testing.T) {
	tests := []struct {
		name, in string
		want     Stats
	}{
		{"empty graph", "", Stats{OperatorCounts: map[string]int{}}},
		{"spec example", specExample, Stats{
			TotalOperators: 9, UniqueOperators: 9, Stages: 6, Parallel: 1, Conditional: 1,
			OperatorCounts: map[string]int{"Plan": 1, "Programmer": 1, "AnswerGenerate": 1, "Custom": 1, "ScEnsemble": 1, "Review": 1, "Revise": 1, "Verify": 1, "Format": 1},
		}},
		{"repeated operators counted per occurrence", "[Custom, Custom, Custom] -> ScEnsemble -> Custom", Stats{
			TotalOperators: 5, UniqueOperators: 2, Stages: 3, Parallel: 1,
			OperatorCounts: map[string]int{"Custom": 4, "ScEnsemble": 1},
		}},
		{"loop body counted once", "Programmer -> (Review -> Revise) * 10", Stats{
			TotalOperators: 3, UniqueOperators: 3, Stages: 2, Loop: 1,
			OperatorCounts: map[string]int{"Programmer": 1, "Review": 1, "Revise": 1},
		}},
		{"conditional with both branches", "Programmer -> Test ? Programmer : Format", Stats{
			TotalOperators: 4, UniqueOperators: 3, Stages: 2, Conditional: 1,
			OperatorCounts: map[string]int{"Programmer": 2, "Test": 1, "Format": 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, tc.in).Stats()
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Stats = %+v\nwant    %+v", got, tc.want)
			}
			if got.HasStructure() != (tc.want.Parallel+tc.want.Conditional+tc.want.Loop > 0) {
				t.Fatalf("HasStructure = %v", got.HasStructure())
			}
		})
	}
}

func TestUniqueOperatorsCountsTypesNotOccurrences(t *testing.T) {
	st := mustParse(t, "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Custom -> Format").Stats()
	if st.TotalOperators != 9 || st.UniqueOperators != 8 {
		t.Fatalf("got %+v", st)
	}
}

func TestOperatorsAndHasFollowExecutionOrder(t *testing.T) {
	g := mustParse(t, "Plan -> [Programmer, Custom] -> Review ? Revise : Format -> (Test -> Programmer) * 2")
	want := []string{"Plan", "Programmer", "Custom", "Review", "Revise", "Format", "Test", "Programmer"}
	if got := g.Operators(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Operators = %v, want %v", got, want)
	}
	for _, op := range want {
		if !g.Has(op) {
			t.Errorf("Has(%s) = false", op)
		}
	}
	if g.Has("Verify") || g.Has("plan") {
		t.Error("Has matched an absent or wrongly cased operator")
	}
	ids := "node_1 node_2_p0 node_2_p1 node_3_cond node_3_true node_3_false node_4_l0 node_4_l1"
	if got := strings.Join(g.NodeIDs(), " "); got != ids {
		t.Fatalf("NodeIDs = %s, want %s", got, ids)
	}
	if got := len(g.Stages[2].Nodes()); got != 3 {
		t.Fatalf("conditional Nodes = %d, want 3", got)
	}
}

func TestEqualComparesStructureOnly(t *testing.T) {
	base := mustParse(t, specExample)
	renumbered := mustParse(t, specExample)
	renumbered.SetPrompt("node_1", "a different prompt")
	renumbered.Stages[0].setIDs("node_42")
	if !base.Equal(renumbered) {
		t.Fatal("ids and prompts should not matter")
	}
	differ := []string{
		"Plan -> [Programmer, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format",
		"Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : Format -> Verify -> Format",
		"Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify",
		"Plan -> (Programmer -> AnswerGenerate -> Custom) * 3 -> ScEnsemble -> Review ? Revise : done -> Verify -> Format",
		"(Review) * 2",
	}
	for _, d := range differ {
		if base.Equal(mustParse(t, d)) {
			t.Errorf("Equal(%q) = true", d)
		}
	}
	if mustParse(t, "(Review) * 2").Equal(mustParse(t, "(Review) * 3")) {
		t.Error("loop counts should matter")
	}
	if !New().Equal(nil) || !(*Graph)(nil).Equal(New()) || New().Equal(base) {
		t.Error("nil should equal only the empty graph")
	}
}

func TestCloneIsDeepAndKeepsCounter(t *testing.T) {
	g := mustParse(t, "Plan -> [Custom, Programmer] -> Review ? Revise -> (Test) * 2")
	g.SetPrompt("node_2_p0", "think in steps")
	c := g.Clone()
	if !c.Equal(g) || c.String() != g.String() || !maps.Equal(c.Prompts(), g.Prompts()) {
		t.Fatal("clone differs")
	}
	c.SetOperator("node_2_p0", "AnswerGenerate", lib)
	c.SetPrompt("node_2_p0", "changed")
	c.Stages[3].Count = 5
	c.Delete("node_1")
	if g.String() != "Plan -> [Custom, Programmer] -> Review ? Revise : done -> (Test) * 2" || g.Prompts()["node_2_p0"] != "think in steps" {
		t.Fatalf("editing the clone changed the original: %s %v", g, g.Prompts())
	}
	s1, _ := g.Insert(-1, StageSpec{Kind: Operator, Operators: []string{"Format"}}, lib)
	s2, _ := c.Insert(-1, StageSpec{Kind: Operator, Operators: []string{"Format"}}, lib)
	if s1.ID != "node_5" || s2.ID != "node_5" {
		t.Fatalf("clone counter: %s vs %s", s1.ID, s2.ID)
	}
}

func TestEmptyAndNilGraphs(t *testing.T) {
	var nilGraph *Graph
	if !nilGraph.Empty() || nilGraph.String() != "" || nilGraph.Stats().TotalOperators != 0 || nilGraph.Has("Plan") || nilGraph.Clone() != nil {
		t.Fatal("nil graph should read as empty")
	}
	if !New().Empty() || mustParse(t, "Plan").Empty() {
		t.Fatal("Empty")
	}
}

func TestHandBuiltGraphNeverReusesIDs(t *testing.T) {
	g := &Graph{Stages: []*Stage{{ID: "node_7", Kind: Operator, Op: &Node{ID: "node_7", Operator: "Plan"}}}}
	s, err := g.Insert(-1, StageSpec{Kind: Operator, Operators: []string{"Custom"}}, lib)
	if err != nil || s.ID != "node_8" {
		t.Fatalf("got %v %v, want node_8", s, err)
	}
}

func TestStageStringIsTheStageDSL(t *testing.T) {
	g := mustParse(t, "Review ? Revise -> [Custom, Custom] -> (Test -> Programmer) * 2 -> Format")
	want := []string{"Review ? Revise : done", "[Custom, Custom]", "(Test -> Programmer) * 2", "Format"}
	for i, s := range g.Stages {
		if s.String() != want[i] {
			t.Errorf("stage %d = %q, want %q", i, s, want[i])
		}
	}
}
