package workflow

import "testing"

func TestCloneIsIndependentOfOriginalAndOfItsNeighbours(t *testing.T) {
	for _, dsl := range []string{
		"Plan",
		"Plan -> [Programmer, Custom] -> (Review -> Revise) * 2 -> Format",
		"Plan -> [Programmer, Custom, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format -> [Custom, Custom] -> Format -> Custom",
	} {
		g, err := Parse(dsl, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := g.Clone()
		if c.String() != g.String() || !c.Equal(g) || c.Version() != g.Version() {
			t.Fatalf("clone of %q prints %q", dsl, c.String())
		}
		// Grow every list of the clone: the shared slab must not let one
		// list's append overwrite the next list or the original.
		for _, s := range c.Stages {
			s.Branches = append(s.Branches, &Node{Operator: "X"})
			s.Body = append(s.Body, &Node{Operator: "Y"})
		}
		c2 := g.Clone()
		for _, n := range c2.NodeIDs() {
			if err := c2.SetPrompt(n, "changed"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c2.Insert(0, StageSpec{Kind: Operator, Operators: []string{"Custom"}}, nil); err != nil {
			t.Fatal(err)
		}
		if g.String() != dsl {
			t.Fatalf("editing clones changed the original: %q", g.String())
		}
		if p := g.Prompts(); len(p) != 0 {
			t.Fatalf("original got prompts %v", p)
		}
		fresh := g.Clone()
		if fresh.String() != dsl {
			t.Fatalf("a later clone prints %q", fresh.String())
		}
	}
}

func TestVersionChangesOnEveryEdit(t *testing.T) {
	g := New()
	v := g.Version()
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if g.Version() == v {
			t.Fatalf("%s did not change the version", what)
		}
		v = g.Version()
	}
	_, err := g.Insert(-1, StageSpec{Kind: Operator, Operators: []string{"Custom"}}, nil)
	step("Insert", err)
	step("SetPrompt", g.SetPrompt("node_1", "do it"))
	step("SetOperator", g.SetOperator("node_1", "Programmer", nil))
	step("Delete", g.Delete("node_1"))
	if err := g.Delete("node_1"); err == nil || g.Version() != v {
		t.Fatal("a failed edit changed the version")
	}
}
