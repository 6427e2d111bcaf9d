package workflow

import (
	"errors"
	"strings"
	"testing"
)

const specExample = "Plan -> [Programmer, AnswerGenerate, Custom] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format"

// roundTrips maps accepted text to its canonical print (under lib).
var roundTrips = []struct {
	name, in, want string
}{
	{"empty text is the empty graph", "", ""},
	{"blank text is the empty graph", "  \n\t ", ""},
	{"single operator", "Programmer", "Programmer"},
	{"chain", "Plan -> Programmer -> Format", "Plan -> Programmer -> Format"},
	{"spec example", specExample, specExample},
	{"parallel of two", "[Custom, Custom]", "[Custom, Custom]"},
	{"conditional with false branch", "Test ? Programmer : Format", "Test ? Programmer : Format"},
	{"conditional missing false reads as done", "Review ? Revise", "Review ? Revise : done"},
	{"done in any case", "Review ? Revise : DONE", "Review ? Revise : done"},
	{"loop with star", "(Review -> Revise) * 3", "(Review -> Revise) * 3"},
	{"loop with x", "(Review -> Revise) x 2", "(Review -> Revise) * 2"},
	{"loop with capital X", "(Review->Revise)X10", "(Review -> Revise) * 10"},
	{"loop with x glued to count", "(Programmer) x3", "(Programmer) * 3"},
	{"loop count with leading zero", "(Custom) * 01", "(Custom) * 1"},
	{"single-operator loop", "(Programmer)*1", "(Programmer) * 1"},
	{"spacing is canonicalised", "  Plan->[ Programmer ,Custom]   ->ScEnsemble->Review?Revise:done  ", "Plan -> [Programmer, Custom] -> ScEnsemble -> Review ? Revise : done"},
	{"newlines are whitespace", "Plan\n->\n[Custom,\n Custom]", "Plan -> [Custom, Custom]"},
	{"every structure", "Decompose -> [AnswerGenerate, Programmer, Custom] -> Aggregate -> Verify ? Revise : Format -> (Test -> Programmer) * 4 -> Format",
		"Decompose -> [AnswerGenerate, Programmer, Custom] -> Aggregate -> Verify ? Revise : Format -> (Test -> Programmer) * 4 -> Format"},
	{"combiner in a loop is allowed", "[Custom, Custom] -> (ScEnsemble -> Review) * 2", "[Custom, Custom] -> (ScEnsemble -> Review) * 2"},
	{"structures back to back", "[Custom, Programmer] -> [Custom, Programmer] -> Test ? Programmer : done -> Review ? Revise : done",
		"[Custom, Programmer] -> [Custom, Programmer] -> Test ? Programmer : done -> Review ? Revise : done"},
}

func TestParsePrintsCanonicalFormAndRoundTrips(t *testing.T) {
	for _, tc := range roundTrips {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Parse(tc.in, lib)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got := g.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			h, err := Parse(g.String(), lib)
			if err != nil {
				t.Fatalf("re-parse %q: %v", g.String(), err)
			}
			if !h.Equal(g) || h.String() != g.String() {
				t.Fatalf("round trip changed the graph: %q -> %q", g.String(), h.String())
			}
		})
	}
}

func TestParseResolvesNamesCaseInsensitively(t *testing.T) {
	g, err := Parse("plan -> [PROGRAMMER, custom] -> scensemble -> REVIEW ? revise : Done", lib)
	if err != nil {
		t.Fatal(err)
	}
	want := "Plan -> [Programmer, Custom] -> ScEnsemble -> Review ? Revise : done"
	if g.String() != want {
		t.Fatalf("got %q, want %q", g.String(), want)
	}
}

func TestParseWithoutCatalogKeepsNamesAndSkipsRoles(t *testing.T) {
	in := "foo -> [ScEnsemble, bar_2] -> Custom ? x : y -> (x -> X) x 2"
	g, err := Parse(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "foo -> [ScEnsemble, bar_2] -> Custom ? x : y -> (x -> X) * 2"
	if g.String() != want {
		t.Fatalf("got %q, want %q", g.String(), want)
	}
}

func TestParseAssignsIDsInOrder(t *testing.T) {
	g, err := Parse(specExample, lib)
	if err != nil {
		t.Fatal(err)
	}
	want := "node_1 node_2_p0 node_2_p1 node_2_p2 node_3 node_4_cond node_4_true node_5 node_6"
	if got := strings.Join(g.NodeIDs(), " "); got != want {
		t.Fatalf("NodeIDs = %s, want %s", got, want)
	}
	if g.NextID() != "node_7" {
		t.Fatalf("NextID = %s, want node_7", g.NextID())
	}
	s, err := g.Insert(-1, StageSpec{Kind: Operator, Operators: []string{"Custom"}}, lib)
	if err != nil || s.ID != "node_7" {
		t.Fatalf("insert after parse: %v, %v", s, err)
	}
}

func TestParseRejectsMalformedTextWithColumnAndReason(t *testing.T) {
	checkers := "the condition of a conditional must be a checker (Test, Review, Verify), not "
	tests := []struct {
		name, in string
		cat      Catalog
		col      int
		reason   string
	}{
		{"stray closing bracket", "Plan -> Custom]", lib, 15, "expected '->' or end of text, found ']'"},
		{"two operators without arrow", "Plan Custom", lib, 6, "expected '->' or end of text, found Custom"},
		{"trailing arrow", "Plan ->", lib, 8, "expected an operator, '[' or '(' after '->', found end of text"},
		{"leading arrow", "-> Plan", lib, 1, "expected an operator, '[' or '(', found '->'"},
		{"double arrow", "Plan -> -> Custom", lib, 9, "expected an operator, '[' or '(', found '->'"},
		{"lone dash", "Plan - Custom", lib, 6, "expected '->', found '-'"},
		{"unexpected character", "Plan -> Cust#om", lib, 13, "unexpected character '#'"},
		{"column counts runes not bytes", "Plan -> é", lib, 9, "unexpected character 'é'"},
		{"invalid utf-8", "Plan \xff", lib, 6, "invalid UTF-8"},
		{"unknown operator lists the known ones", "Plan -> Foo", lib, 9, "unknown operator Foo: known are " + knownList},
		{"unknown operator without a name list", "Plan -> Foo", bare, 9, "unknown operator Foo"},
		{"done as a stage", "Plan -> done", lib, 9, doneMsg},
		{"done without catalog", "Done", nil, 1, doneMsg},
		{"unclosed bracket", "Plan -> [Custom, Programmer", lib, 9, "unclosed '['"},
		{"unclosed bracket after comma", "[Custom,", lib, 1, "unclosed '['"},
		{"empty parallel", "[]", lib, 1, "a parallel block needs at least 2 operators"},
		{"one-branch parallel", "Plan -> [Custom]", lib, 9, "a parallel block needs at least 2 operators"},
		{"trailing comma", "[Custom, Custom,]", lib, 17, "expected an operator after ',', found ']'"},
		{"arrow inside parallel", "[Custom -> Custom]", lib, 9, "expected ',' or ']', found '->': the operators of a parallel block are separated by ','"},
		{"combiner inside parallel", "[Custom, ScEnsemble]", lib, 10, "ScEnsemble cannot be inside a parallel block: add it after the block"},
		{"aggregate inside parallel any case", "[aggregate, Custom]", lib, 2, "Aggregate cannot be inside a parallel block: add it after the block"},
		{"loop inside parallel", "[Custom, (Programmer) * 2]", lib, 10, nestedParallel},
		{"parallel inside parallel", "[[Custom, Custom], Custom]", lib, 2, nestedParallel},
		{"conditional inside parallel", "[Review ? Revise, Custom]", lib, 9, nestedParallel},
		{"missing separator in parallel", "[Custom Custom]", lib, 9, "expected ',' or ']', found Custom"},
		{"condition not a checker", "Custom ? Revise : done", lib, 1, checkers + "Custom"},
		{"condition not a checker lowercase", "plan ? Revise", lib, 1, checkers + "Plan"},
		{"condition without names", "Custom ? Revise", bare, 1, "the condition of a conditional must be a checker, not Custom"},
		{"true branch done", "Review ? done : Revise", lib, 10, "the true branch may not be done"},
		{"missing true branch", "Review ?", lib, 9, "expected the true branch (an operator) after '?', found end of text"},
		{"missing false branch after colon", "Review ? Revise :", lib, 18, "expected the false branch (an operator or done) after ':', found end of text"},
		{"structure as true branch", "Review ? [Custom, Custom]", lib, 10, nestedCond},
		{"structure as false branch", "Review ? Revise : (Custom) * 2", lib, 19, nestedCond},
		{"chained conditional", "Review ? Revise ? Custom", lib, 17, nestedCond},
		{"conditional as false branch", "Review ? Revise : Verify ? Custom", lib, 26, nestedCond},
		{"unknown true branch", "Review ? Fix", lib, 10, "unknown operator Fix: known are " + knownList},
		{"structure as condition", "[Custom, Custom] ? Revise", lib, 18, "expected '->' or end of text, found '?'"},
		{"unclosed paren", "(Review -> Revise", lib, 1, "unclosed '('"},
		{"empty loop", "() * 2", lib, 2, "a loop needs at least 1 operator in its body"},
		{"loop without count", "(Review -> Revise)", lib, 19, "expected '* N' after ')' (N = 1..10 repetitions), found end of text"},
		{"loop with word count", "(Review) times 3", lib, 10, "expected '* N' after ')' (N = 1..10 repetitions), found times"},
		{"loop star without number", "(Review) * ->", lib, 12, "expected a repetition count (1..10) after '*', found '->'"},
		{"loop x without number", "(Review) x", lib, 11, "expected a repetition count (1..10) after 'x', found end of text"},
		{"loop count zero", "(Review) * 0", lib, 12, "loops hold 1..10 repetitions, found 0"},
		{"loop count eleven", "Plan -> (Review -> Revise) * 11", lib, 30, "loops hold 1..10 repetitions, found 11"},
		{"loop count huge", "(Review) x99999999999999999999999", lib, 11, "loops hold 1..10 repetitions, found 99999999999999999999999"},
		{"loop count glued to letters", "(Review) * 3x", lib, 13, "unexpected character 'x' after a number"},
		{"parallel inside loop", "([Custom, Custom]) * 2", lib, 2, nestedLoop},
		{"conditional inside loop", "(Review ? Revise : done) * 3", lib, 9, nestedLoop},
		{"comma inside loop", "(Review, Revise) * 3", lib, 8, "expected '->' or ')', found ',': the operators of a loop body are separated by '->'"},
		{"trailing arrow in loop", "(Review ->) * 3", lib, 11, "expected an operator after '->', found ')'"},
		{"number as stage", "3", lib, 1, "expected an operator, '[' or '(', found 3"},
		{"colon without conditional", "Custom : Format", lib, 8, "expected '->' or end of text, found ':'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Parse(tc.in, tc.cat)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tc.in, g)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Pos != tc.col || pe.Reason != tc.reason {
				t.Fatalf("Parse(%q) error = col %d %q\nwant col %d %q", tc.in, pe.Pos, pe.Reason, tc.col, tc.reason)
			}
		})
	}
}

func TestParseErrorMessageNamesColumn(t *testing.T) {
	_, err := Parse("Plan -> [Custom, ScEnsemble]", lib)
	want := "dsl: col 18: ScEnsemble cannot be inside a parallel block: add it after the block"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestParseRejectsHugeInput(t *testing.T) {
	t.Run("text over 64 KiB", func(t *testing.T) {
		in := strings.Repeat(" ", MaxTextBytes) + "Plan"
		_, err := Parse(in, lib)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Pos != MaxTextBytes+1 || !strings.Contains(pe.Reason, "the limit is 65536") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("exactly the operator limit is accepted", func(t *testing.T) {
		in := strings.TrimSuffix(strings.Repeat("Custom -> ", MaxOperators), " -> ")
		g, err := Parse(in, lib)
		if err != nil || g.Stats().TotalOperators != MaxOperators {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("one operator over the limit", func(t *testing.T) {
		in := strings.Repeat("Custom -> ", MaxOperators) + "Format"
		_, err := Parse(in, lib)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Pos != len("Custom -> ")*MaxOperators+1 ||
			pe.Reason != "the workflow holds more than 1000 operators" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestParseErrorIsNilInterfaceOnSuccess(t *testing.T) {
	if _, err := Parse("Plan", lib); err != nil {
		t.Fatalf("err = %#v, want a nil interface", err)
	}
}

// One set of structural limits on every path: the parser refuses the
// blocks the canvas's actions refuse (issue #21: 999 branches parsed).
func TestParseRefusesBlocksOverTheOperatorLimit(t *testing.T) {
	wide := func(n int) string { return strings.TrimSuffix(strings.Repeat("Custom, ", n), ", ") }
	if _, err := Parse("["+wide(MaxBlockOperators)+"]", nil); err != nil {
		t.Fatalf("a parallel block of %d: %v", MaxBlockOperators, err)
	}
	for _, in := range []string{"[" + wide(MaxBlockOperators+1) + "]", "[" + wide(999) + "]", "(" + strings.ReplaceAll(wide(MaxBlockOperators+1), ", ", " -> ") + ") * 2"} {
		_, err := Parse(in, nil)
		if err == nil || !strings.Contains(err.Error(), "at most 32 operators") {
			t.Errorf("Parse(%.30q...) = %v; want a refusal naming the limit", in, err)
		}
	}
}
