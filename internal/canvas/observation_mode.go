package canvas

import (
	"fmt"
	"strings"
)

// ObservationMode is how an episode's rendered prompts relate turn to turn.
//
// In full mode (the default) every turn renders the whole system and user
// prompt afresh, so a policy that keeps a chat must rebuild it each turn
// and re-tokenise text it did not sample. In incremental mode the first
// turn renders the full prompt and every later turn renders only what is
// new (the feedback on the last reply and the state it led to) as one
// message marked Append: a policy appends its reply and that message to
// the chat, which then grows append-only, so the token ids a trainer
// optimises are exactly the ones it sampled (TRL's rollout_func, verl's
// agent loop, OpenEnv clients).
type ObservationMode string

const (
	ObservationFull        ObservationMode = "full"
	ObservationIncremental ObservationMode = "incremental"
)

func (m ObservationMode) valid() bool {
	return m == ObservationFull || m == ObservationIncremental
}

// renderIncremental renders turn o.Turn > 0 as the message to append.
func renderIncremental(e *Episode, o Observation) Rendered {
	var b strings.Builder
	b.WriteString("Feedback: " + excerpt(o.Feedback, e.cfg.FeedbackLimit) + "\n")
	fmt.Fprintf(&b, "Round %d/%d. Workflow: %s\n", o.Turn+1, o.MaxRounds, emptyAs(o.DSL, "(empty)"))
	if a := o.Awaiting; a != nil {
		fmt.Fprintf(&b, "Write the instruction for node %s (%s): %s\n", a.NodeID, a.Operator, a.Description)
		if a.Context != "" {
			b.WriteString("It is " + a.Context + ".\n")
		}
		b.WriteString("Rules: 1 to 3 sentences, specific to this problem, no tags, no code.")
		return Rendered{Kind: PromptNode, User: b.String(), MaxNewTokens: PromptMaxTokens, Append: true}
	}
	st := o.Stats
	fmt.Fprintf(&b, "Statistics: %d operators, %d types, %d stages, structures: parallel %d, conditional %d, loop %d.\n",
		st.TotalOperators, st.UniqueOperators, st.Stages, st.Parallel, st.Conditional, st.Loop)
	if nb := getBuf(); writeNodeIDs(nb, o.Graph) {
		b.WriteString("Nodes: " + nb.done() + "\n")
	} else {
		nb.done()
	}
	if o.Execution.Executed {
		b.WriteString("Current answer: " + excerpt(o.Execution.FinalAnswer, 300) + "\n")
	}
	if o.Hint != "" {
		b.WriteString("Hint (advisory): " + o.Hint + "\n")
	}
	b.WriteString("Write your reasoning and exactly one action.")
	return Rendered{Kind: PromptAction, User: b.String(), MaxNewTokens: ActionMaxTokens, Append: true}
}
