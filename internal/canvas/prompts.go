package canvas

// Prompt collection (two-step mode, SPEC section 4): after an add or a
// modify the canvas waits for a prompt for each new node, one per turn.

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// pendingPrompt is a node whose prompt the canvas waits for.
type pendingPrompt struct {
	nodeID   string
	operator string
	context  string
}

// dropPending ends an edit whose prompts never all arrived: the graph goes
// back to the workflow as last executed, since the pending nodes never ran
// and the reward scores only what ran (SPEC section 6). It returns the
// feedback to append ("" when nothing was pending).
func (e *Episode) dropPending() string {
	if len(e.awaiting) == 0 {
		return ""
	}
	ids := make([]string, len(e.awaiting))
	for i, p := range e.awaiting {
		ids[i] = p.nodeID
	}
	e.awaiting = nil
	e.graph = e.scoredGraph()
	return fmt.Sprintf(" The last edit never ran (%s still awaited a prompt) and is not part of the final workflow.", strings.Join(ids, ", "))
}

// scoredGraph is a copy of the workflow as last executed.
func (e *Episode) scoredGraph() *workflow.Graph {
	if e.scored == nil {
		return workflow.New()
	}
	return e.scored.Clone()
}

// takePrompt uses the reply as the awaited node's prompt.
func (e *Episode) takePrompt(ctx context.Context, in Input) turnOutcome {
	p := e.awaiting[0]
	var text string
	if in.Structured != nil {
		text = in.Structured.Prompt
	} else {
		text = action.PromptText(in.Text)
	}
	text = strings.TrimSpace(text)
	summary := "prompt for " + p.nodeID + " (" + p.operator + ")"
	if in.Structured == nil {
		// A well-formed action without a <prompt> is not a prompt: taking
		// its leftover text ("Review" from <operator>Review</operator>)
		// would store nonsense while the policy believes it edited.
		if a, err := action.Parse(in.Text, action.Options{}); err == nil && strings.TrimSpace(a.Prompt) == "" {
			return invalid(action.SetPrompt, summary, fmt.Sprintf(
				"Awaiting a prompt for %s (%s), not %s action: reply with 1 to 3 sentences telling this %s what to do for this problem; actions are taken again once every new node has its prompt.",
				p.nodeID, p.operator, article(string(a.Kind)), p.operator))
		}
	}
	if len([]rune(text)) < minPromptLen {
		return invalid(action.SetPrompt, summary, fmt.Sprintf(
			"The prompt for %s (%s) is too short (%d characters): write 1 to 3 sentences (at least %d characters) telling this %s what to do for this problem. "+
				"The canvas is still awaiting a prompt for %s (%s); it takes actions again once every new node has its prompt.",
			p.nodeID, p.operator, len([]rune(text)), minPromptLen, p.operator, p.nodeID, p.operator))
	}
	if len(text) > maxPromptLen {
		return invalid(action.SetPrompt, summary, fmt.Sprintf(
			"The prompt for %s (%s) is too long (%d bytes, at most %d): keep it to 1 to 3 sentences.", p.nodeID, p.operator, len(text), maxPromptLen))
	}
	if err := e.graph.SetPrompt(p.nodeID, text); err != nil {
		// The node was created by this canvas a turn ago; failing here is a
		// bug, but it must still not break the episode.
		e.awaiting = nil
		e.state = Building
		return invalid(action.SetPrompt, summary, "Could not set the prompt: "+err.Error())
	}
	e.awaiting = e.awaiting[1:]
	set := "Prompt set for " + p.nodeID + " (" + p.operator + ")."
	if len(e.awaiting) > 0 {
		return turnOutcome{valid: true, kind: action.SetPrompt, summary: summary, feedback: e.awaitingText(set + " ")}
	}
	e.state = Building
	return turnOutcome{valid: true, kind: action.SetPrompt, summary: summary, feedback: set + e.execute(ctx)}
}

const (
	minPromptLen = 5
	maxPromptLen = 4000
)

// awaitingText asks for the next awaited prompt, after prefix (built in
// one concatenation: this is feedback on most turns).
func (e *Episode) awaitingText(prefix string) string {
	p := e.awaiting[0]
	const rules = ": 1 to 3 sentences specific to this problem, no tags."
	if p.context != "" {
		return prefix + "Now write the prompt for " + p.nodeID + " (" + p.operator + "), " + p.context + rules
	}
	return prefix + "Now write the prompt for " + p.nodeID + " (" + p.operator + ")" + rules
}

func nodeContext(st *workflow.Stage, i, n int) string {
	switch st.Kind {
	case workflow.Parallel:
		return fmt.Sprintf("branch %d of %d of parallel %s", i+1, n, st.ID)
	case workflow.Conditional:
		switch i {
		case 0:
			return fmt.Sprintf("the checker of conditional %s", st.ID)
		case 1:
			return fmt.Sprintf("the repair branch of conditional %s (runs when the checker finds the solution wrong)", st.ID)
		default:
			return fmt.Sprintf("the pass branch of conditional %s (runs when the checker passes the solution)", st.ID)
		}
	case workflow.Loop:
		return fmt.Sprintf("step %d of %d of loop %s", i+1, n, st.ID)
	}
	return ""
}
