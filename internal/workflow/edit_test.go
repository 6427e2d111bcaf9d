package workflow

import (
	"errors"
	"strings"
	"testing"
)

func op(name string) StageSpec { return StageSpec{Kind: Operator, Operators: []string{name}} }

func mustInsert(t *testing.T, g *Graph, pos int, spec StageSpec) *Stage {
	t.Helper()
	s, err := g.Insert(pos, spec, lib)
	if err != nil {
		t.Fatalf("Insert(%d, %+v): %v", pos, spec, err)
	}
	return s
}

func TestInsertNeverReusesIDs(t *testing.T) {
	g := New()
	mustInsert(t, g, -1, op("Plan"))
	mustInsert(t, g, -1, op("Programmer"))
	if err := g.Delete("node_1"); err != nil {
		t.Fatal(err)
	}
	s := mustInsert(t, g, 0, op("Custom"))
	if s.ID != "node_3" || g.String() != "Custom -> Programmer" {
		t.Fatalf("got %s in %q, want node_3 first", s.ID, g)
	}
	if err := g.Delete("node_3"); err != nil {
		t.Fatal(err)
	}
	if err := g.Delete("node_2"); err != nil {
		t.Fatal(err)
	}
	if s := mustInsert(t, g, 0, op("Format")); s.ID != "node_4" {
		t.Fatalf("after emptying the graph got %s, want node_4", s.ID)
	}
}

func TestInsertPositions(t *testing.T) {
	tests := []struct {
		pos  int
		want string
	}{
		{-1, "Plan -> Custom -> Format"},
		{-7, "Plan -> Custom -> Format"},
		{2, "Plan -> Custom -> Format"},
		{99, "Plan -> Custom -> Format"},
		{0, "Format -> Plan -> Custom"},
		{1, "Plan -> Format -> Custom"},
	}
	for _, tc := range tests {
		g := mustParse(t, "Plan -> Custom")
		mustInsert(t, g, tc.pos, op("format"))
		if g.String() != tc.want {
			t.Errorf("Insert at %d: %q, want %q", tc.pos, g, tc.want)
		}
	}
}

func TestInsertBuildsStructuresWithChildIDs(t *testing.T) {
	g := New()
	tests := []struct {
		spec StageSpec
		dsl  string
		ids  string
	}{
		{op(" programmer "), "Programmer", "node_1"},
		{StageSpec{Kind: Parallel, Operators: []string{"Programmer", "custom", "AnswerGenerate"}}, "[Programmer, Custom, AnswerGenerate]", "node_2_p0 node_2_p1 node_2_p2"},
		{StageSpec{Kind: Conditional, Condition: "review", True: "Revise"}, "Review ? Revise : done", "node_3_cond node_3_true"},
		{StageSpec{Kind: Conditional, Condition: "Test", True: "Programmer", False: "Done"}, "Test ? Programmer : done", "node_4_cond node_4_true"},
		{StageSpec{Kind: Conditional, Condition: "Verify", True: "Revise", False: "format"}, "Verify ? Revise : Format", "node_5_cond node_5_true node_5_false"},
		{StageSpec{Kind: Loop, Operators: []string{"Review", "Revise"}, Count: 3}, "(Review -> Revise) * 3", "node_6_l0 node_6_l1"},
		{StageSpec{Kind: Loop, Operators: []string{"ScEnsemble"}, Count: 10, Condition: "ignored"}, "(ScEnsemble) * 10", "node_7_l0"},
	}
	for _, tc := range tests {
		s := mustInsert(t, g, -1, tc.spec)
		var ids []string
		for _, n := range s.Nodes() {
			ids = append(ids, n.ID)
		}
		if s.String() != tc.dsl || strings.Join(ids, " ") != tc.ids {
			t.Errorf("%+v: got %q %v, want %q %s", tc.spec, s, ids, tc.dsl, tc.ids)
		}
	}
	if h := mustParse(t, g.String()); !h.Equal(g) {
		t.Fatalf("built graph does not round-trip: %s", g)
	}
}

func TestInsertWithoutCatalogAcceptsIdentifiers(t *testing.T) {
	g := New()
	if _, err := g.Insert(-1, StageSpec{Kind: Parallel, Operators: []string{"ScEnsemble", "my_op2"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Insert(-1, StageSpec{Kind: Conditional, Condition: "Custom", True: "x"}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := g.Insert(-1, op("not an op"), nil)
	if !errors.Is(err, ErrInvalid) || err.Error() != `"not an op" is not a valid operator name (letters, digits and _, not starting with a digit)` {
		t.Fatalf("got %v", err)
	}
}

func TestInsertRejectsBrokenRules(t *testing.T) {
	checkers := "the condition of a conditional must be a checker (Test, Review, Verify), not "
	tests := []struct {
		name string
		spec StageSpec
		cat  Catalog
		is   error
		msg  string
	}{
		{"unknown operator", op("Foo"), lib, ErrUnknownOperator, "unknown operator Foo: known are " + knownList},
		{"unknown operator without names", op("Foo"), bare, ErrUnknownOperator, "unknown operator Foo"},
		{"long unknown name is clipped", op(strings.Repeat("Q", 50)), bare, ErrUnknownOperator, "unknown operator " + strings.Repeat("Q", 40) + "..."},
		{"empty operator name", op("  "), lib, ErrInvalid, "an operator name is empty"},
		{"done as operator", op("done"), lib, ErrInvalid, doneMsg},
		{"operator stage with two names", StageSpec{Kind: Operator, Operators: []string{"Plan", "Custom"}}, lib, ErrInvalid, "an operator stage needs exactly 1 operator, got 2"},
		{"operator stage with no name", StageSpec{Kind: Operator}, lib, ErrInvalid, "an operator stage needs exactly 1 operator, got 0"},
		{"parallel of one", StageSpec{Kind: Parallel, Operators: []string{"Custom"}}, lib, ErrInvalid, "a parallel block needs at least 2 operators"},
		{"combiner in parallel", StageSpec{Kind: Parallel, Operators: []string{"Custom", "scensemble"}}, lib, ErrInvalid, "ScEnsemble cannot be inside a parallel block: add it after the block"},
		{"unknown in parallel", StageSpec{Kind: Parallel, Operators: []string{"Custom", "Bar"}}, lib, ErrUnknownOperator, "unknown operator Bar: known are " + knownList},
		{"condition missing", StageSpec{Kind: Conditional, True: "Revise"}, lib, ErrInvalid, "a conditional needs a condition (a checker operator)"},
		{"condition not a checker", StageSpec{Kind: Conditional, Condition: "Custom", True: "Revise"}, lib, ErrInvalid, checkers + "Custom"},
		{"condition unknown", StageSpec{Kind: Conditional, Condition: "Judge", True: "Revise"}, lib, ErrUnknownOperator, "unknown operator Judge: known are " + knownList},
		{"true branch missing", StageSpec{Kind: Conditional, Condition: "Review"}, lib, ErrInvalid, "a conditional needs a true branch: the repair operator that runs when the condition fails"},
		{"true branch done", StageSpec{Kind: Conditional, Condition: "Review", True: "DONE"}, lib, ErrInvalid, "the true branch may not be done"},
		{"false branch unknown", StageSpec{Kind: Conditional, Condition: "Review", True: "Revise", False: "Nope"}, lib, ErrUnknownOperator, "unknown operator Nope: known are " + knownList},
		{"loop without body", StageSpec{Kind: Loop, Count: 3}, lib, ErrInvalid, "a loop needs at least 1 operator in its body"},
		{"loop count zero", StageSpec{Kind: Loop, Operators: []string{"Review"}}, lib, ErrInvalid, "loops hold 1..10 repetitions, got 0"},
		{"loop count eleven", StageSpec{Kind: Loop, Operators: []string{"Review"}, Count: 11}, lib, ErrInvalid, "loops hold 1..10 repetitions, got 11"},
		{"loop body with done", StageSpec{Kind: Loop, Operators: []string{"Review", "done"}, Count: 2}, lib, ErrInvalid, doneMsg},
		{"unknown kind", StageSpec{Kind: Kind(7), Operators: []string{"Plan"}}, lib, ErrInvalid, "unknown stage kind kind(7)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustParse(t, "Plan -> Custom")
			before, next := g.String(), g.NextID()
			s, err := g.Insert(0, tc.spec, tc.cat)
			if s != nil || !errors.Is(err, tc.is) || err.Error() != tc.msg {
				t.Fatalf("got %v, %v\nwant %v: %s", s, err, tc.is, tc.msg)
			}
			var ee *EditError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T is not an *EditError", err)
			}
			if g.String() != before || g.NextID() != next {
				t.Fatalf("a refused insert changed the graph: %q %s", g, g.NextID())
			}
		})
	}
}

func TestInsertRespectsOperatorLimit(t *testing.T) {
	g := mustParse(t, strings.TrimSuffix(strings.Repeat("Custom -> ", MaxOperators-1), " -> "))
	_, err := g.Insert(-1, StageSpec{Kind: Parallel, Operators: []string{"Custom", "Custom"}}, lib)
	if !errors.Is(err, ErrInvalid) || err.Error() != "the workflow would hold 1001 operators; the limit is 1000" {
		t.Fatalf("got %v", err)
	}
	mustInsert(t, g, -1, op("Format"))
}

func TestUnknownOperatorIsAlsoInvalid(t *testing.T) {
	if !errors.Is(ErrUnknownOperator, ErrInvalid) || errors.Is(ErrNotFound, ErrInvalid) {
		t.Fatal("sentinel hierarchy")
	}
}

const editBase = "Plan -> [Programmer, Custom] -> Review ? Revise : Format -> (Test -> Programmer) * 2"

const editIDs = "node_1, node_2, node_2_p0, node_2_p1, node_3, node_3_cond, node_3_true, node_3_false, node_4, node_4_l0, node_4_l1"

func TestDeleteRemovesTopLevelStages(t *testing.T) {
	tests := []struct{ id, want string }{
		{"node_1", "[Programmer, Custom] -> Review ? Revise : Format -> (Test -> Programmer) * 2"},
		{"node_2", "Plan -> Review ? Revise : Format -> (Test -> Programmer) * 2"},
		{" NODE_3 ", "Plan -> [Programmer, Custom] -> (Test -> Programmer) * 2"},
		{"node_4", "Plan -> [Programmer, Custom] -> Review ? Revise : Format"},
	}
	for _, tc := range tests {
		g := mustParse(t, editBase)
		if err := g.Delete(tc.id); err != nil {
			t.Fatalf("Delete(%q): %v", tc.id, err)
		}
		if g.String() != tc.want {
			t.Errorf("Delete(%q) = %q, want %q", tc.id, g, tc.want)
		}
	}
}

func TestEditErrorsLeaveGraphUnchanged(t *testing.T) {
	checkers := "the condition of a conditional must be a checker (Test, Review, Verify), not "
	tests := []struct {
		name string
		edit func(g *Graph) error
		is   error
		msg  string
	}{
		{"delete missing", func(g *Graph) error { return g.Delete("node_9") }, ErrNotFound, "node_9 does not exist; existing nodes: " + editIDs},
		{"delete empty id", func(g *Graph) error { return g.Delete("") }, ErrNotFound, "an empty id does not exist; existing nodes: " + editIDs},
		{"delete branch", func(g *Graph) error { return g.Delete("node_2_p1") }, ErrInvalid,
			"node_2_p1 is part of node_2 (a parallel block); delete node_2 to remove the whole structure, or modify node_2_p1 to change it"},
		{"delete condition", func(g *Graph) error { return g.Delete("node_3_cond") }, ErrInvalid,
			"node_3_cond is part of node_3 (a conditional); delete node_3 to remove the whole structure, or modify node_3_cond to change it"},
		{"delete loop body", func(g *Graph) error { return g.Delete("node_4_l0") }, ErrInvalid,
			"node_4_l0 is part of node_4 (a loop); delete node_4 to remove the whole structure, or modify node_4_l0 to change it"},
		{"modify missing", func(g *Graph) error { return g.SetOperator("node_2_p2", "Custom", lib) }, ErrNotFound, "node_2_p2 does not exist; existing nodes: " + editIDs},
		{"modify parallel id", func(g *Graph) error { return g.SetOperator("node_2", "Custom", lib) }, ErrInvalid,
			"node_2 is a parallel block; modify one of its branches, e.g. node_2_p0"},
		{"modify conditional id", func(g *Graph) error { return g.SetOperator("node_3", "Verify", lib) }, ErrInvalid,
			"node_3 is a conditional; modify its condition or a branch, e.g. node_3_cond"},
		{"modify loop id", func(g *Graph) error { return g.SetOperator("node_4", "Custom", lib) }, ErrInvalid,
			"node_4 is a loop; modify one of its body operators, e.g. node_4_l0"},
		{"modify to unknown", func(g *Graph) error { return g.SetOperator("node_1", "Foo", lib) }, ErrUnknownOperator, "unknown operator Foo: known are " + knownList},
		{"modify to done", func(g *Graph) error { return g.SetOperator("node_3_false", "done", lib) }, ErrInvalid, doneMsg},
		{"modify branch to combiner", func(g *Graph) error { return g.SetOperator("node_2_p0", "Aggregate", lib) }, ErrInvalid,
			"Aggregate cannot be inside a parallel block: add it after the block"},
		{"modify condition to non-checker", func(g *Graph) error { return g.SetOperator("node_3_cond", "Custom", lib) }, ErrInvalid, checkers + "Custom"},
		{"prompt missing", func(g *Graph) error { return g.SetPrompt("node_5", "solve it carefully") }, ErrNotFound, "node_5 does not exist; existing nodes: " + editIDs},
		{"prompt on structure", func(g *Graph) error { return g.SetPrompt("node_4", "solve it carefully") }, ErrInvalid,
			"node_4 is a loop; set the prompt of one of its body operators, e.g. node_4_l0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustParse(t, editBase)
			g.SetPrompt("node_1", "plan first")
			want := g.Clone()
			err := tc.edit(g)
			if !errors.Is(err, tc.is) || err.Error() != tc.msg {
				t.Fatalf("got %v\nwant %v: %s", err, tc.is, tc.msg)
			}
			if !g.Equal(want) || g.String() != want.String() || g.Prompts()["node_1"] != "plan first" || g.NextID() != want.NextID() {
				t.Fatalf("a refused edit changed the graph: %s", g)
			}
		})
	}
}

func TestNotFoundOnEmptyGraphSaysSo(t *testing.T) {
	err := New().Delete("node_1")
	if !errors.Is(err, ErrNotFound) || err.Error() != "node_1 does not exist; the workflow is empty" {
		t.Fatalf("got %v", err)
	}
}

func TestNotFoundListIsBounded(t *testing.T) {
	g := mustParse(t, strings.TrimSuffix(strings.Repeat("Custom -> ", 50), " -> "))
	err := g.SetPrompt("node_99", "hello there")
	if !strings.HasSuffix(err.Error(), "node_40, ... (10 more)") {
		t.Fatalf("got %v", err)
	}
}

func TestSetOperatorStoresCanonicalNameAndKeepsPrompt(t *testing.T) {
	tests := []struct{ id, op, want string }{
		{"node_1", "decompose", "Decompose -> [Programmer, Custom] -> Review ? Revise : Format -> (Test -> Programmer) * 2"},
		{"node_2_p1", "ANSWERGENERATE", "Plan -> [Programmer, AnswerGenerate] -> Review ? Revise : Format -> (Test -> Programmer) * 2"},
		{"node_3_cond", "verify", "Plan -> [Programmer, Custom] -> Verify ? Revise : Format -> (Test -> Programmer) * 2"},
		{"node_3_true", "ScEnsemble", "Plan -> [Programmer, Custom] -> Review ? ScEnsemble : Format -> (Test -> Programmer) * 2"},
		{"node_3_false", "custom", "Plan -> [Programmer, Custom] -> Review ? Revise : Custom -> (Test -> Programmer) * 2"},
		{"node_4_l1", "Aggregate", "Plan -> [Programmer, Custom] -> Review ? Revise : Format -> (Test -> Aggregate) * 2"},
	}
	for _, tc := range tests {
		g := mustParse(t, editBase)
		if err := g.SetPrompt(tc.id, "keep me"); err != nil {
			t.Fatal(err)
		}
		if err := g.SetOperator(tc.id, tc.op, lib); err != nil {
			t.Fatalf("SetOperator(%s, %s): %v", tc.id, tc.op, err)
		}
		n, _, ok := g.Node(tc.id)
		if g.String() != tc.want || !ok || n.Prompt != "keep me" {
			t.Errorf("SetOperator(%s, %s) = %q (prompt %q), want %q", tc.id, tc.op, g, n.Prompt, tc.want)
		}
	}
}

func TestSetOperatorWithoutCatalogSkipsRoles(t *testing.T) {
	g := mustParse(t, editBase)
	if err := g.SetOperator("node_3_cond", "Anything", nil); err != nil {
		t.Fatal(err)
	}
	if err := g.SetOperator("node_2_p0", "ScEnsemble", nil); err != nil {
		t.Fatal(err)
	}
}

func TestSetPromptBelongsToNodeIDs(t *testing.T) {
	g := mustParse(t, "[Custom, Custom] -> Custom")
	for id, p := range map[string]string{"node_1_p0": "first sample", "node_1_p1": "second sample", "Node_2": "third"} {
		if err := g.SetPrompt(id, p); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"node_1_p0": "first sample", "node_1_p1": "second sample", "node_2": "third"}
	got := g.Prompts()
	if len(got) != len(want) {
		t.Fatalf("Prompts = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("Prompts = %v, want %v", got, want)
		}
	}
	if err := g.SetPrompt("node_2", ""); err != nil || len(g.Prompts()) != 2 {
		t.Fatalf("clearing a prompt: %v %v", err, g.Prompts())
	}
}

func TestNodeAndStageLookup(t *testing.T) {
	g := mustParse(t, editBase)
	tests := []struct {
		id, op, stage string
		ok            bool
	}{
		{"node_1", "Plan", "node_1", true},
		{"node_2_p1", "Custom", "node_2", true},
		{"node_3_false", "Format", "node_3", true},
		{"node_4_l0", "Test", "node_4", true},
		{"node_2", "", "", false},
		{"node_3_p0", "", "", false},
		{"node_9", "", "", false},
	}
	for _, tc := range tests {
		n, s, ok := g.Node(tc.id)
		if ok != tc.ok || ok && (n.Operator != tc.op || s.ID != tc.stage) {
			t.Errorf("Node(%s) = %v %v %v", tc.id, n, s, ok)
		}
	}
	if s, ok := g.Stage("node_2"); !ok || s.Kind != Parallel {
		t.Fatal("Stage(node_2)")
	}
	if _, ok := g.Stage("node_2_p0"); ok {
		t.Fatal("Stage found a child")
	}
}
