package canvas

import (
	"fmt"
	"strings"

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
	return Rendered{Kind: PromptAction, System: systemPrompt(e), User: userPrompt(e, o), MaxNewTokens: ActionMaxTokens}
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
	var b strings.Builder
	b.WriteString("You are the Flow-Director. You build an agentic workflow that another model will execute to solve the problem. " +
		"Each turn, write a brief reflection in <reasoning>...</reasoning> and then exactly ONE action in tags. " +
		"The canvas applies it, runs the workflow and shows you the feedback.\n\n")
	b.WriteString("Operators:\n")
	for _, v := range operatorViews(e.lib, e.task.Family) {
		if !v.Enabled {
			fmt.Fprintf(&b, "- %s: disabled for this task.\n", v.Name)
			continue
		}
		fmt.Fprintf(&b, "- %s (%s): %s When: %s\n", v.Name, v.Group, v.Description, v.WhenToUse)
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
	fmt.Fprintf(&b, "You have %d rounds in all; prompt replies count as rounds.\n\n", e.cfg.MaxRounds)
	b.WriteString("Task kind: " + familyHint(e.task.Family))
	return b.String()
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
	var b strings.Builder
	writeProblem(&b, e.task)
	if o.Turn == 0 {
		b.WriteString("\nThe workflow is empty. Choose the first action.")
		return b.String()
	}
	fmt.Fprintf(&b, "\nRound %d/%d.\nCurrent workflow: %s\n", o.Turn+1, o.MaxRounds, emptyAs(o.DSL, "(empty)"))
	st := o.Stats
	fmt.Fprintf(&b, "Statistics: %d operators, %d types, %d stages, structures: parallel %d, conditional %d, loop %d.\n",
		st.TotalOperators, st.UniqueOperators, st.Stages, st.Parallel, st.Conditional, st.Loop)
	if ids := joinNodeIDs(o.Graph); ids != "" {
		b.WriteString("Nodes: " + ids + "\n")
	}
	b.WriteString("Last feedback: " + excerpt(o.Feedback, e.cfg.FeedbackLimit) + "\n")
	if o.Execution.Executed {
		b.WriteString("Current answer: " + excerpt(o.Execution.FinalAnswer, 300) + "\n")
	}
	if o.Hint != "" {
		b.WriteString("Hint (advisory): " + o.Hint + "\n")
	}
	b.WriteString("Write your reasoning and exactly one action.")
	return b.String()
}

func renderNodePrompt(e *Episode, o Observation) Rendered {
	a := o.Awaiting
	var b strings.Builder
	writeProblem(&b, e.task)
	fmt.Fprintf(&b, "\nWrite the instruction for node %s (%s): %s\n", a.NodeID, a.Operator, a.Description)
	if a.Context != "" {
		b.WriteString("It is " + a.Context + ".\n")
	}
	b.WriteString("Workflow: " + emptyAs(o.DSL, "(empty)") + "\n")
	b.WriteString("Rules: 1 to 3 sentences, specific to this problem, no tags, no code.")
	return Rendered{
		Kind:         PromptNode,
		System:       "You write short, specific instructions for one operator of a workflow.",
		User:         b.String(),
		MaxNewTokens: PromptMaxTokens,
	}
}

func writeProblem(b *strings.Builder, t task.Task) {
	b.WriteString("Problem: " + t.Question + "\n")
	if t.Context != "" {
		b.WriteString("Context: " + excerpt(t.Context, 2000) + "\n")
	}
	for i, c := range t.Choices {
		fmt.Fprintf(b, "(%c) %s\n", 'a'+i, c)
	}
	if t.Family == task.Code {
		if t.EntryPoint != "" {
			b.WriteString("Entry point: " + t.EntryPoint + "\n")
		}
		if t.Prompt != "" {
			b.WriteString("Signature:\n" + excerpt(t.Prompt, 1500) + "\n")
		}
		if t.PublicTests.Code != "" {
			b.WriteString("Public tests:\n" + excerpt(t.PublicTests.Code, 1000) + "\n")
		}
		for i, c := range t.PublicTests.Cases {
			if i == 3 {
				break
			}
			fmt.Fprintf(b, "Example input:\n%s\nExpected output:\n%s\n", excerpt(c.Input, 300), excerpt(c.Output, 300))
		}
	}
}

func emptyAs(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
