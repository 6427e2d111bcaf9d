package workflow

import "strings"

// testCatalog mirrors the default library of SPEC section 2.
type testCatalog struct{ names []string }

var lib = testCatalog{names: []string{
	"Plan", "Decompose", "Custom", "AnswerGenerate", "Programmer", "Test",
	"Review", "Verify", "Revise", "ScEnsemble", "Aggregate", "Format",
}}

func (c testCatalog) Canonical(name string) (string, bool) {
	for _, n := range c.names {
		if strings.EqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}

func (c testCatalog) IsChecker(name string) bool {
	return name == "Review" || name == "Verify" || name == "Test"
}

func (c testCatalog) IsCombiner(name string) bool { return name == "ScEnsemble" || name == "Aggregate" }

func (c testCatalog) Names() []string { return c.names }

// bare hides Names (only the Catalog methods are promoted), so messages
// cannot list the known operators.
var bare = struct {
	Catalog
}{lib}

const knownList = "Plan, Decompose, Custom, AnswerGenerate, Programmer, Test, Review, Verify, Revise, ScEnsemble, Aggregate, Format"
