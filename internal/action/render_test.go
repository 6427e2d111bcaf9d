package action

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRenderWritesTheCanonicalForm(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Action{Kind: Add, Operator: "Programmer", Position: -1},
			"<action>add</action><operator>Programmer</operator>"},
		{Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1},
			"<action>add</action><structure>parallel</structure><operators>Programmer, Custom</operators>"},
		{Action{Kind: Add, Structure: Conditional, Condition: "Review", True: "Revise", False: "done", Position: 2},
			"<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false><position>2</position>"},
		{Action{Kind: Add, Structure: Loop, Operators: []string{"Review", "Revise"}, Count: 3, Position: -1},
			"<action>add</action><structure>loop</structure><operators>Review, Revise</operators><count>3</count>"},
		{Action{Kind: Delete, Target: "node_3", Position: -1}, "<action>delete</action><target>node_3</target>"},
		{Action{Kind: Modify, Target: "node_3_p1", Operator: "Custom", Position: -1},
			"<action>modify</action><target>node_3_p1</target><operator>Custom</operator>"},
		{Action{Kind: SetPrompt, Target: "node_3", Prompt: "Be exact.", Position: -1},
			"<action>set_prompt</action><target>node_3</target><prompt>Be exact.</prompt>"},
		{Action{Kind: Finish, Answer: "42", Reasoning: "done", Position: -1},
			"<reasoning>done</reasoning>\n<action>finish</action><answer>42</answer>"},
	}
	for _, tt := range tests {
		if got := Render(tt.a); got != tt.want {
			t.Errorf("Render(%v)\n got %q\nwant %q", tt.a, got, tt.want)
		}
	}
}

func TestRenderRoundTrips(t *testing.T) {
	for _, a := range []Action{
		{Kind: Add, Operator: "Programmer", Position: -1},
		{Kind: Add, Operator: "Plan", Position: 0, Prompt: "Outline the steps first."},
		{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "AnswerGenerate", "Custom"}, Position: -1},
		{Kind: Add, Structure: Parallel, Operators: []string{"Custom", "Custom"}, Position: 4},
		{Kind: Add, Structure: Conditional, Condition: "Review", True: "Revise", False: "done", Position: -1},
		{Kind: Add, Structure: Conditional, Condition: "Test", True: "Programmer", Position: 1},
		{Kind: Add, Structure: Conditional, Condition: "Verify", True: "Revise", False: "Format", Position: -1},
		{Kind: Add, Structure: Loop, Operators: []string{"Review", "Revise"}, Count: 3, Position: -1},
		{Kind: Add, Structure: Loop, Operators: []string{"Programmer"}, Count: 10, Position: 0},
		{Kind: Delete, Target: "node_3", Position: -1},
		{Kind: Modify, Target: "node_3_p1", Operator: "Custom", Position: -1},
		{Kind: Modify, Target: "node_2", Operator: "Custom", Prompt: "Reason step by step.", Position: -1},
		{Kind: SetPrompt, Target: "node_3_cond", Prompt: "Check every unit conversion.", Position: -1},
		{Kind: SetPrompt, Target: "node_1", Position: -1,
			Prompt: "Use this:\n```python\nprint('<action>finish</action></prompt>')\n```\nand `<operator>` literally."},
		{Kind: SetPrompt, Target: "node_1", Prompt: "Unbalanced ``` fence and ~~~ too", Position: -1},
		{Kind: Finish, Position: -1},
		{Kind: Finish, Answer: "x = 3 <prompt>", Position: -1},
		{Kind: Finish, Position: -1, Reasoning: "```\nLet me <action>delete</action> [target]node_1[/target] </reasoning> <think>"},
	} {
		r := Render(a)
		b, err := Parse(r, Options{})
		if err != nil {
			t.Errorf("Parse(Render(%v)) = %v\nrendered %q", a, err, r)
			continue
		}
		want := a
		want.Reasoning, b.Reasoning = "", ""
		same(t, b, want)
	}
}

func TestRenderDefusesTheReasoning(t *testing.T) {
	a := Action{Kind: Finish, Position: -1, Reasoning: "Maybe ```<action>delete</action>``` or [target]x[/target]"}
	r := Render(a)
	if !strings.Contains(r, "‹action>delete‹/action>") || !strings.Contains(r, "⟦target]") || strings.Contains(r, "```") {
		t.Errorf("Render = %q", r)
	}
	if got := mustParse(t, r, Options{}); got.Kind != Finish || !strings.HasPrefix(got.Reasoning, "Maybe") {
		t.Errorf("parsed back %+v", got)
	}
}

func TestRenderShortensReasoningToFitTheLimit(t *testing.T) {
	a := Action{Kind: Finish, Position: -1, Reasoning: strings.Repeat("é", MaxReplyBytes)}
	r := Render(a)
	if len(r) > MaxReplyBytes || !utf8.ValidString(r) || !strings.Contains(r, "…</reasoning>") {
		t.Errorf("Render gave %d bytes, valid UTF-8 %v", len(r), utf8.ValidString(r))
	}
	mustParse(t, r, Options{})
}

func TestStringSummarisesInDSLNotation(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Action{Kind: Add, Operator: "Programmer", Position: -1}, "add Programmer"},
		{Action{Kind: Add, Operator: "Plan", Position: 0}, "add Plan at 0"},
		{Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1},
			"add parallel [Programmer, Custom]"},
		{Action{Kind: Add, Structure: Conditional, Condition: "Review", True: "Revise", Position: -1},
			"add conditional Review ? Revise : done"},
		{Action{Kind: Add, Structure: Loop, Operators: []string{"Review", "Revise"}, Count: 4, Position: 1},
			"add loop (Review -> Revise) * 4 at 1"},
		{Action{Kind: Delete, Target: "node_3"}, "delete node_3"},
		{Action{Kind: Modify, Target: "node_3_p1", Operator: "Custom"}, "modify node_3_p1 -> Custom"},
		{Action{Kind: SetPrompt, Target: "node_2", Prompt: "whatever"}, "set_prompt node_2"},
		{Action{Kind: Finish}, "finish"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}
