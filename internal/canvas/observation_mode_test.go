package canvas

import (
	"strings"
	"testing"
)

func TestIncrementalObservationAppendsOnlyWhatIsNew(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Observation = ObservationIncremental
	e, first := newEpisode(t, New(), mathTask(), cfg)
	if first.Prompt == nil || first.Prompt.Append || first.Prompt.System == "" {
		t.Fatalf("first turn must render the full prompt, got %+v", first.Prompt)
	}
	mustContain(t, "first user", first.Prompt.User, "Problem: "+mathTask().Question)

	// An add asks for the node's prompt: one appended message, no system part,
	// no repeat of the problem or the operator list.
	o := say(t, e, addOp("Programmer"))
	p := o.Prompt
	if p == nil || !p.Append || p.System != "" || p.Kind != PromptNode || p.MaxNewTokens != PromptMaxTokens {
		t.Fatalf("awaiting prompt = %+v", p)
	}
	mustContain(t, "awaiting message", p.User, "Feedback: ", "Round 2/20. Workflow: Programmer",
		"Write the instruction for node node_1 (Programmer)", "Rules: 1 to 3 sentences")
	mustNotContain(t, "awaiting message", p.User, "Problem: ", "Operators:")

	o = say(t, e, "Compute 6*7 in Python and print the result.")
	p = o.Prompt
	if !p.Append || p.System != "" || p.Kind != PromptAction || p.MaxNewTokens != ActionMaxTokens {
		t.Fatalf("building prompt = %+v", p)
	}
	mustContain(t, "building message", p.User, "Feedback: "+excerpt(o.Feedback, cfg.FeedbackLimit),
		"Round 3/20. Workflow: Programmer", "Statistics: 1 operators", "Nodes: node_1",
		"Write your reasoning and exactly one action.")
	mustNotContain(t, "building message", p.User, "Problem: ", "Last feedback")

	// An invalid reply is answered with its feedback, still appended.
	o = say(t, e, addOp("Foo"))
	if !o.Prompt.Append || !strings.HasPrefix(o.Prompt.User, "Feedback: Cannot add: unknown operator Foo") {
		t.Errorf("invalid reply message = %q", o.Prompt.User)
	}
}

func TestFullObservationIsTheDefault(t *testing.T) {
	e, _ := newEpisode(t, New(), mathTask(), oneStepCfg())
	o := say(t, e, addOp("Programmer"))
	if o.Prompt.Append || o.Prompt.System == "" {
		t.Errorf("full mode rendered an incremental prompt: %+v", o.Prompt)
	}
	mustContain(t, "user", o.Prompt.User, "Problem: ", "Last feedback: ")
}

func TestObservationModeValidated(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Observation = "diff"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "observation") {
		t.Errorf("Validate() = %v, want an error naming observation", err)
	}
}
