package workflow

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Catalog tells the graph which operator names exist and which roles they
// play. A nil Catalog accepts any identifier and enforces no role rules.
type Catalog interface {
	// Canonical looks a name up case-insensitively and returns its
	// canonical spelling, which is what the graph stores.
	Canonical(name string) (string, bool)
	// IsChecker reports a judging operator (Review, Verify, Test by
	// default): only these may be the condition of a conditional.
	IsChecker(name string) bool
	// IsCombiner reports an operator that consumes a list (ScEnsemble,
	// Aggregate): it may not stand inside a parallel block.
	IsCombiner(name string) bool
}

// NameLister is optionally implemented by a Catalog. When it is, error
// messages list the known operators ("unknown operator Foo: known are ...")
// and the checkers, so the policy can correct itself in one turn.
type NameLister interface {
	Names() []string // canonical names in display order
}

func isIdentStart(r rune) bool { return r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' }
func isIdentPart(r rune) bool  { return isIdentStart(r) || r >= '0' && r <= '9' }

// isIdent keeps stored names printable: anything the printer writes must be
// read back by the parser as the same name.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if i == 0 && !isIdentStart(r) || !isIdentPart(r) {
			return false
		}
	}
	return true
}

func isDone(s string) bool { return strings.EqualFold(s, Done) }

// clip bounds names quoted back in messages: they come from policy text.
func clip(s string) string {
	const n = 40
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "..."
}

func names(cat Catalog) []string {
	if l, ok := cat.(NameLister); ok {
		return l.Names()
	}
	return nil
}

func unknownMsg(name string, cat Catalog) string {
	if known := names(cat); len(known) > 0 {
		return fmt.Sprintf("unknown operator %s: known are %s", clip(name), strings.Join(known, ", "))
	}
	return "unknown operator " + clip(name)
}

func checkerMsg(op string, cat Catalog) string {
	var checkers []string
	for _, n := range names(cat) {
		if cat.IsChecker(n) {
			checkers = append(checkers, n)
		}
	}
	if len(checkers) > 0 {
		return fmt.Sprintf("the condition of a conditional must be a checker (%s), not %s", strings.Join(checkers, ", "), op)
	}
	return "the condition of a conditional must be a checker, not " + op
}

func combinerMsg(op string) string {
	return op + " cannot be inside a parallel block: add it after the block"
}

const doneMsg = "done is not an operator: it may only be the false branch of a conditional"

// resolve turns a name written by the policy into the stored one; the error
// text is shared by the parser and the edits so feedback reads the same.
// The bool is false for an unknown operator, so callers can pick the sentinel.
func resolve(name string, cat Catalog) (string, string, bool) {
	if name == "" {
		return "", "an operator name is empty", true
	}
	if isDone(name) {
		return "", doneMsg, true
	}
	if cat == nil {
		if !isIdent(name) {
			return "", fmt.Sprintf("%q is not a valid operator name (letters, digits and _, not starting with a digit)", clip(name)), true
		}
		return name, "", true
	}
	canon, ok := cat.Canonical(name)
	if !ok {
		return "", unknownMsg(name, cat), false
	}
	if !isIdent(canon) || isDone(canon) {
		return "", fmt.Sprintf("the catalog spells %s as %q, which the DSL cannot hold", clip(name), clip(canon)), true
	}
	return canon, "", true
}
