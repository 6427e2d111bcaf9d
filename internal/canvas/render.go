package canvas

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
)

// Rendered is an observation as text for a language-model policy.
type Rendered struct {
	Kind         PromptKind
	System       string
	User         string
	MaxNewTokens int
	// Append: User is one message to append after the policy's last
	// reply, System is empty (incremental observation mode).
	Append bool
}

// PromptKind is what the rendered prompt asks for.
type PromptKind string

const (
	PromptAction PromptKind = "action"
	PromptNode   PromptKind = "node_prompt"
	PromptRepair PromptKind = "repair"
)

// Reply caps of SPEC section 5.
const (
	ActionMaxTokens = 512
	PromptMaxTokens = 256
	RepairMaxTokens = 128
)

func render(e *Episode, o Observation) Rendered {
	if e.cfg.Observation == ObservationIncremental && o.Turn > 0 {
		return renderIncremental(e, o)
	}
	if o.Awaiting != nil {
		return renderNodePrompt(e, o)
	}
	return Rendered{Kind: PromptAction, System: e.view.systemPrompt(e), User: userPrompt(e, o), MaxNewTokens: ActionMaxTokens}
}

// systemPrompt depends only on the library, the task's family, whether the
// task has public tests (Test is enabled only then), the finish rules and
// max_rounds, all fixed at creation: it is rendered once per
// such combination and process (systemPrompts), not per turn or episode.
func (v *viewCache) systemPrompt(e *Episode) string {
	if v.system == "" {
		v.system = systemPrompts.get(e)
	}
	return v.system
}

// systemKey is everything systemPrompt reads. Libraries are immutable
// (WithImpls makes a new one), so the pointer names the content.
type systemKey struct {
	lib       *operator.Library
	family    task.Family
	tests     bool // the task has public tests: Test is listed as enabled
	finish    FinishRules
	maxRounds int
}

// promptCache holds rendered system prompts. It is bounded because
// libraries served by other processes may come and go: when full it
// starts over, which costs one rendering per key.
type promptCache struct {
	mu sync.Mutex
	m  map[systemKey]string
}

const maxSystemPrompts = 256

var systemPrompts promptCache

func (c *promptCache) get(e *Episode) string {
	k := systemKey{lib: e.lib, family: e.task.Family, tests: !e.task.PublicTests.Empty(), finish: e.cfg.Finish, maxRounds: e.cfg.MaxRounds}
	c.mu.Lock()
	s, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return s
	}
	s = systemPrompt(e)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxSystemPrompts {
		c.m = make(map[systemKey]string)
	}
	c.m[k] = s
	c.mu.Unlock()
	return s
}

// textBuf is a pooled byte buffer for the prompts rendered on every turn:
// the text is built in a reused buffer and copied out once, so a turn's
// prompt costs one allocation of its own size.
type textBuf struct{ b []byte }

var textBufs = sync.Pool{New: func() any { return &textBuf{b: make([]byte, 0, 4096)} }}

func getBuf() *textBuf { t := textBufs.Get().(*textBuf); t.b = t.b[:0]; return t }

// done returns the text and gives the buffer back (a very large one is
// dropped rather than kept alive by the pool).
func (t *textBuf) done() string {
	s := string(t.b)
	if cap(t.b) <= 64<<10 {
		textBufs.Put(t)
	}
	return s
}

func (t *textBuf) Write(p []byte) (int, error)       { t.b = append(t.b, p...); return len(p), nil }
func (t *textBuf) WriteString(s string) (int, error) { t.b = append(t.b, s...); return len(s), nil }
func (t *textBuf) WriteByte(c byte) error            { t.b = append(t.b, c); return nil }
func (t *textBuf) int(n int)                         { t.b = strconv.AppendInt(t.b, int64(n), 10) }

// str writes its parts in order, a Fprintf without boxing its arguments.
func (t *textBuf) str(parts ...string) {
	for _, p := range parts {
		t.b = append(t.b, p...)
	}
}

// RepairPrompt is the one bounded follow-up a language-model policy sends
// when its reply held no parsable action.
func RepairPrompt(feedback string) Rendered {
	return Rendered{
		Kind:         PromptRepair,
		System:       "You edit a workflow with exactly one action in tags.",
		User:         "Your last reply had no valid action (" + excerpt(feedback, 300) + "). Reply with exactly one action, e.g. <action>add</action><operator>Programmer</operator>",
		MaxNewTokens: RepairMaxTokens,
	}
}

func systemPrompt(e *Episode) string {
	b := getBuf()
	b.WriteString("You are the Flow-Director. You build an agentic workflow that another model will execute to solve the problem. " +
		"Each turn, write a brief reflection in <reasoning>...</reasoning> and then exactly ONE action in tags. " +
		"The canvas applies it, runs the workflow and shows you the feedback.\n\n")
	b.WriteString("Operators:\n")
	for _, v := range operatorViews(e.lib, e.task) {
		if !v.Enabled {
			b.str("- ", v.Name, ": disabled for this task.\n")
			continue
		}
		b.str("- ", v.Name, " (", string(v.Group), "): ", v.Description, " When: ", v.WhenToUse, "\n")
	}
	b.WriteString(`
Actions (one per reply):
- add an operator: <action>add</action><operator>Programmer</operator> (optional <position>0</position>)
- add a parallel block: <action>add</action><structure>parallel</structure><operators>Programmer, Custom, AnswerGenerate</operators>
- add a conditional: <action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>
- add a loop: <action>add</action><structure>loop</structure><operators>Review, Revise</operators><count>3</count>
- delete a stage: <action>delete</action><target>node_3</target>
- change a node's operator: <action>modify</action><target>node_3_p1</target><operator>Custom</operator>
- set a node's prompt: <action>set_prompt</action><target>node_3</target><prompt>Compute the total step by step.</prompt>
- finish: <action>finish</action>

Structures: a parallel block runs 2+ operators on the same input and passes their outputs as a list (put ScEnsemble or Aggregate after it, never inside). ` +
		"In a conditional `C ? T : F`, C must be a checker (Review, Verify, Test); T is the repair branch and runs when C judges the solution WRONG; F runs when C passes (done = nothing). " +
		"A loop `(A -> B) * N` repeats its body up to N times and stops early when a checker in it passes. Structures cannot be nested.\n")
	b.WriteString("After an add or modify, the canvas asks you for each new node's prompt, one reply per node.\n\n")
	r := e.cfg.Finish
	var rules []string
	if r.MinOperators > 0 {
		rules = append(rules, fmt.Sprintf("at least %d operators", r.MinOperators))
	}
	if r.RequireStructure {
		rules = append(rules, "at least one structure")
	}
	if r.RequireSolver {
		rules = append(rules, "a solver")
	}
	if r.RequireChecker {
		rules = append(rules, "a checker")
	}
	if e.task.Family == task.Code && r.RequireTestForCode {
		rules = append(rules, "Test for a code task with tests")
	}
	if r.RequireFormatWhenVerbose {
		rules = append(rules, "Format when the answer is verbose")
	}
	if len(rules) > 0 {
		b.WriteString("Finish is accepted only with: " + strings.Join(rules, ", ") + ".\n")
	}
	b.str("You have ")
	b.int(e.cfg.MaxRounds)
	b.str(" rounds in all; prompt replies count as rounds.\n\nTask kind: ", familyHint(e.task.Family))
	return b.done()
}

func familyHint(f task.Family) string {
	switch f {
	case task.Math:
		return "math. Programmer computes reliably; several solvers in parallel with ScEnsemble, a Review ? Revise : done repair and a final Format work well."
	case task.QA:
		return "question answering over a passage. Custom and AnswerGenerate read the passage; vote with ScEnsemble and end with Format for a short answer."
	case task.Code:
		return "code. Programmer writes the function; Test runs the public tests and repairs failures; Review can check edge cases."
	case task.MultipleChoice:
		return "multiple choice: answer with the option letter. Programmer is disabled; use AnswerGenerate or Custom, vote, verify and Format the letter."
	}
	return "general."
}

func userPrompt(e *Episode, o Observation) string {
	b := getBuf()
	writeProblem(b, e.task)
	if o.Turn == 0 {
		b.str("\nThe workflow is empty. Choose the first action.")
		return b.done()
	}
	b.str("\nRound ")
	b.int(o.Turn + 1)
	b.WriteByte('/')
	b.int(o.MaxRounds)
	b.str(".\nCurrent workflow: ", emptyAs(o.DSL, "(empty)"), "\n")
	st := o.Stats
	b.str("Statistics: ")
	b.int(st.TotalOperators)
	b.str(" operators, ")
	b.int(st.UniqueOperators)
	b.str(" types, ")
	b.int(st.Stages)
	b.str(" stages, structures: parallel ")
	b.int(st.Parallel)
	b.str(", conditional ")
	b.int(st.Conditional)
	b.str(", loop ")
	b.int(st.Loop)
	b.str(".\n")
	mark := len(b.b)
	b.str("Nodes: ")
	if writeNodeIDs(b, o.Graph) {
		b.WriteByte('\n')
	} else {
		b.b = b.b[:mark] // no nodes, no line
	}
	b.str("Last feedback: ", excerpt(o.Feedback, e.cfg.FeedbackLimit), "\n")
	if o.Execution.Executed {
		b.str("Current answer: ", excerpt(o.Execution.FinalAnswer, 300), "\n")
	}
	if o.Hint != "" {
		b.str("Hint (advisory): ", o.Hint, "\n")
	}
	b.str("Write your reasoning and exactly one action.")
	return b.done()
}

func renderNodePrompt(e *Episode, o Observation) Rendered {
	a := o.Awaiting
	b := getBuf()
	writeProblem(b, e.task)
	b.str("\nWrite the instruction for node ", a.NodeID, " (", a.Operator, "): ", a.Description, "\n")
	if a.Context != "" {
		b.str("It is ", a.Context, ".\n")
	}
	b.str("Workflow: ", emptyAs(o.DSL, "(empty)"), "\n")
	b.str("Rules: 1 to 3 sentences, specific to this problem, no tags, no code.")
	return Rendered{
		Kind:         PromptNode,
		System:       "You write short, specific instructions for one operator of a workflow.",
		User:         b.done(),
		MaxNewTokens: PromptMaxTokens,
	}
}

func writeProblem(b *textBuf, t task.Task) {
	b.str("Problem: ", t.Question, "\n")
	if t.Context != "" {
		b.str("Context: ", excerpt(t.Context, 2000), "\n")
	}
	for i, c := range t.Choices {
		fmt.Fprintf(b, "(%c) %s\n", 'a'+i, c)
	}
	if t.Family == task.Code {
		if t.EntryPoint != "" {
			b.str("Entry point: ", t.EntryPoint, "\n")
		}
		if t.Prompt != "" {
			b.str("Signature:\n", excerpt(t.Prompt, 1500), "\n")
		}
		if t.PublicTests.Code != "" {
			b.str("Public tests:\n", excerpt(t.PublicTests.Code, 1000), "\n")
		}
		for i, c := range t.PublicTests.Cases {
			if i == 3 {
				break
			}
			b.str("Example input:\n", excerpt(c.Input, 300), "\nExpected output:\n", excerpt(c.Output, 300), "\n")
		}
	}
}

func emptyAs(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
