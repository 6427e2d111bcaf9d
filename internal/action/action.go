package action

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Kind is what an action does to the canvas.
type Kind string

const (
	Add       Kind = "add"
	Delete    Kind = "delete"
	Modify    Kind = "modify"
	SetPrompt Kind = "set_prompt"
	Finish    Kind = "finish"
)

// Structure is the kind of block an add inserts; NoStructure is a single
// operator stage.
type Structure string

const (
	NoStructure Structure = ""
	Parallel    Structure = "parallel"
	Conditional Structure = "conditional"
	Loop        Structure = "loop"
)

// Limits of the action grammar (SPEC sections 3 and 4).
const (
	// MaxReplyBytes bounds what Parse reads: longer replies are refused unread.
	MaxReplyBytes = 64 << 10
	// MinPromptChars is the shortest custom prompt set_prompt accepts.
	MinPromptChars = 5
	// DefaultLoopCount is a loop's count when <count> is absent.
	DefaultLoopCount = 3
	// MinLoopCount and MaxLoopCount bound a loop's count; Parse clamps to them.
	MinLoopCount = 1
	MaxLoopCount = 10
	// MaxBlockOperators bounds the operators of one parallel block or loop
	// body: the graph's own limit, so actions, the DSL parser, RunWorkflow
	// and the CLI refuse the same blocks.
	MaxBlockOperators = workflow.MaxBlockOperators
	// Done is the "nothing" branch of a conditional.
	Done = "done"
)

// Action is one edit of the workflow, as the policy wrote it. Operator names
// are not checked against any library here; the canvas does that.
type Action struct {
	Kind      Kind
	Operator  string    // add of a single operator; modify's new operator
	Structure Structure // add of a block
	Operators []string  // parallel branches or loop body, as written
	Condition string    // conditional: the checker
	True      string    // conditional: the repair branch, run when the check fails
	False     string    // conditional: run when the check passes; "" when absent, Done for nothing
	Count     int       // loop: repetitions, 1..10
	Position  int       // add: 0-based top-level index; -1 appends
	Target    string    // delete, modify, set_prompt: a node id such as node_3
	Prompt    string    // set_prompt (required); add and modify (optional)
	Answer    string    // finish: recorded, never scored
	Reasoning string    // the policy's reflection, trimmed
	Lenient   bool      // read by the lenient fallback rather than from tags
}

// String is a one-line summary in the workflow DSL's notation, for logs and
// action histories.
func (a Action) String() string {
	switch a.Kind {
	case Add:
		var s string
		switch a.Structure {
		case NoStructure:
			s = "add " + a.Operator
		case Parallel:
			s = "add parallel [" + strings.Join(a.Operators, ", ") + "]"
		case Conditional:
			f := a.False
			if f == "" {
				f = Done
			}
			s = "add conditional " + a.Condition + " ? " + a.True + " : " + f
		case Loop:
			s = "add loop (" + strings.Join(a.Operators, " -> ") + ") * " + strconv.Itoa(a.Count)
		default:
			s = "add " + string(a.Structure)
		}
		if a.Position >= 0 {
			s += " at " + strconv.Itoa(a.Position)
		}
		return s
	case Delete:
		return "delete " + a.Target
	case Modify:
		return "modify " + a.Target + " -> " + a.Operator
	case SetPrompt:
		return "set_prompt " + a.Target
	case Finish:
		return "finish"
	}
	return string(a.Kind)
}

// Validate checks the shape of an action without any operator library:
// required fields are present, names are single words, counts and positions
// are in range. Fields that do not belong to the action's kind are ignored.
// Every action Parse returns passes Validate, and Render of a valid action
// parses back to it.
func (a Action) Validate() error {
	if e := a.validate(); e != nil {
		return e
	}
	return nil
}

func (a Action) validate() *Error {
	switch a.Kind {
	case Add:
		return a.validateAdd()
	case Delete:
		return checkName(a.Target, "target", "delete")
	case Modify:
		if e := checkName(a.Target, "target", "modify"); e != nil {
			return e
		}
		return checkName(a.Operator, "operator", "modify")
	case SetPrompt:
		if e := checkName(a.Target, "target", "set_prompt"); e != nil {
			return e
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(a.Prompt)); n < MinPromptChars {
			return errorf(fmt.Sprintf("prompt too short: %d characters, need at least %d", n, MinPromptChars),
				"write one to three specific sentences, e.g. "+tagExample["prompt"])
		}
		return nil
	case Finish:
		return nil
	case "":
		return errorf("empty <action> tag", kindsFix)
	}
	return errorf(fmt.Sprintf("unknown action %s", quote(string(a.Kind))), kindsFix)
}

func (a Action) validateAdd() *Error {
	if a.Position < -1 {
		return errorf(fmt.Sprintf("position must be a 0-based stage index or -1 to append, got %d", a.Position),
			"write "+tagExample["position"]+" or leave <position> out to append")
	}
	switch a.Structure {
	case NoStructure:
		return checkName(a.Operator, "operator", "add")
	case Parallel:
		if len(a.Operators) < 2 {
			return errorf(fmt.Sprintf("a parallel block needs at least 2 operators, got %d", len(a.Operators)),
				"list two or more, e.g. "+tagExample["operators"])
		}
		return checkList(a.Operators, "parallel block")
	case Loop:
		if len(a.Operators) < 1 {
			return errorf("a loop needs at least 1 operator, got 0",
				"list the loop body, e.g. <operators>Review, Revise</operators>")
		}
		if a.Count < MinLoopCount || a.Count > MaxLoopCount {
			return errorf(fmt.Sprintf("loop count must be %d..%d, got %d", MinLoopCount, MaxLoopCount, a.Count),
				"write "+tagExample["count"])
		}
		return checkList(a.Operators, "loop")
	case Conditional:
		if e := checkName(a.Condition, "condition", "add conditional"); e != nil {
			return e
		}
		if a.Condition == Done {
			return errorf("<condition> may not be done",
				"name a checker (Review, Verify or Test), e.g. "+tagExample["condition"])
		}
		if e := checkName(a.True, "true", "add conditional"); e != nil {
			return e
		}
		if a.True == Done {
			return errorf("<true> may not be done",
				"<true> is the repair branch that runs when the check fails: name an operator, e.g. "+tagExample["true"])
		}
		if a.False == "" {
			return nil
		}
		return checkName(a.False, "false", "add conditional")
	}
	return errorf(fmt.Sprintf("unknown structure %s", quote(string(a.Structure))),
		"use parallel, conditional or loop, e.g. "+tagExample["structure"])
}

func checkList(names []string, what string) *Error {
	if len(names) > MaxBlockOperators {
		return errorf(fmt.Sprintf("a %s holds at most %d operators, got %d", what, MaxBlockOperators, len(names)),
			"list fewer operators")
	}
	for _, n := range names {
		if e := checkName(n, "operators", "add "+what); e != nil {
			return e
		}
		if strings.Contains(n, "→") {
			return badName(n, "operators")
		}
	}
	return nil
}

// checkName accepts one word without tag, list or fence characters. Real
// operator names and node ids are identifiers; refusing the rest here keeps
// Render's output parseable and gives the policy a precise complaint.
func checkName(s, tag, in string) *Error {
	if s == "" {
		return errorf(fmt.Sprintf("empty <%s> in %s", tag, in), "write "+tagExample[tag])
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>[]`~,;\"'*", r) {
			return badName(s, tag)
		}
	}
	return nil
}

func badName(s, tag string) *Error {
	what := "operator name"
	if tag == "target" {
		what = "node id"
	}
	return errorf(fmt.Sprintf("invalid %s %s in <%s>", what, quote(s), tag),
		"write one word, e.g. "+tagExample[tag])
}

// quote shows a value in an error message, shortened so that feedback stays
// small whatever the policy wrote.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max]) + "…"
	}
	return "'" + s + "'"
}
