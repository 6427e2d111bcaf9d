package workflow

import (
	"errors"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// checkRoundTrip asserts the DSL contract for any text: a rejection is a
// *ParseError pointing inside the text (or just past it), and an accepted
// graph prints to a fixed point that parses back Equal.
func checkRoundTrip(t *testing.T, text string, cat Catalog) {
	g, err := Parse(text, cat)
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("Parse(%q): error %T is not a *ParseError", text, err)
		}
		if pe.Pos < 1 || pe.Pos > utf8.RuneCountInString(text)+1 || pe.Reason == "" {
			t.Fatalf("Parse(%q): bad error %v", text, pe)
		}
		return
	}
	s := g.String()
	h, err := Parse(s, cat)
	if err != nil {
		t.Fatalf("Parse(%q) printed %q, which does not parse: %v", text, s, err)
	}
	if !h.Equal(g) || h.String() != s {
		t.Fatalf("Parse(%q): %q re-parses as %q", text, s, h.String())
	}
	if len(g.NodeIDs()) != g.Stats().TotalOperators {
		t.Fatalf("Parse(%q): ids and operator count disagree", text)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range roundTrips {
		f.Add(tc.in)
	}
	for _, s := range []string{
		"[Custom, ScEnsemble]", "(Review ? Revise : done) * 3", "Review ? [A, B]", "(A) x3", "(A)X 10",
		"(A) * 11", "done", "Review ? done", "a ? b ? c", "[A,]", "((A) * 2) * 2", "A -> -> B", "é", "\xff",
		"x -> (x) x 2", "Done ? A", "Custom : Format", "[A, B] ? C",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkRoundTrip(t, text, nil)
		checkRoundTrip(t, text, lib)
	})
}

// TestEveryBuiltGraphRoundTrips covers "for every graph g" from the other
// side: graphs built by edits, not by parsing, print to text that parses
// back to the same graph.
func TestEveryBuiltGraphRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return lib.names[r.IntN(len(lib.names))] }
	for range 500 {
		g := New()
		for range r.IntN(8) {
			var spec StageSpec
			switch Kind(r.IntN(4)) {
			case Operator:
				spec = op(pick())
			case Parallel:
				spec = StageSpec{Kind: Parallel}
				for range 2 + r.IntN(3) {
					spec.Operators = append(spec.Operators, pick())
				}
			case Conditional:
				spec = StageSpec{Kind: Conditional, Condition: []string{"Review", "Verify", "Test"}[r.IntN(3)], True: pick()}
				if r.IntN(2) == 0 {
					spec.False = pick()
				}
			case Loop:
				spec = StageSpec{Kind: Loop, Count: 1 + r.IntN(MaxLoopCount)}
				for range 1 + r.IntN(3) {
					spec.Operators = append(spec.Operators, pick())
				}
			}
			g.Insert(r.IntN(len(g.Stages)+2)-1, spec, lib) // refusals (a combiner in a parallel) are fine
			if r.IntN(5) == 0 && !g.Empty() {
				g.Delete(g.Stages[r.IntN(len(g.Stages))].ID)
			}
		}
		h, err := Parse(g.String(), lib)
		if err != nil || !h.Equal(g) || h.String() != g.String() {
			t.Fatalf("graph %q does not round-trip: %v", g, err)
		}
	}
}
