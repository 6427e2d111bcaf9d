package action

import (
	"strings"
	"testing"
)

func TestValidateAcceptsWellFormedActions(t *testing.T) {
	for _, a := range []Action{
		{Kind: Add, Operator: "Programmer", Position: -1},
		{Kind: Add, Operator: "ext.Search", Position: 3},
		{Kind: Add, Structure: Parallel, Operators: []string{"A", "B"}, Position: -1},
		{Kind: Add, Structure: Loop, Operators: []string{"A"}, Count: 1, Position: -1},
		{Kind: Add, Structure: Conditional, Condition: "Review", True: "Revise", Position: -1},
		{Kind: Delete, Target: "node_1"},
		{Kind: Modify, Target: "node_1", Operator: "Custom"},
		{Kind: SetPrompt, Target: "node_1", Prompt: "12345"},
		{Kind: SetPrompt, Target: "node_1", Prompt: "ééééé"},
		{Kind: Finish},
	} {
		if err := a.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v", a, err)
		}
	}
}

func TestValidateRefusesMalformedActions(t *testing.T) {
	tests := []struct {
		a      Action
		reason string
	}{
		{Action{}, "empty <action> tag"},
		{Action{Kind: "remove"}, "unknown action 'remove'"},
		{Action{Kind: Add, Position: -1}, "empty <operator> in add"},
		{Action{Kind: Add, Operator: "Test", Position: -2}, "position must be a 0-based stage index or -1"},
		{Action{Kind: Add, Structure: "tree", Position: -1}, "unknown structure 'tree'"},
		{Action{Kind: Add, Structure: Parallel, Operators: []string{"A"}, Position: -1}, "at least 2 operators, got 1"},
		{Action{Kind: Add, Structure: Parallel, Operators: []string{"A", "B C"}, Position: -1}, "invalid operator name 'B C'"},
		{Action{Kind: Add, Structure: Parallel, Operators: []string{"A", "B→C"}, Position: -1}, "invalid operator name"},
		{Action{Kind: Add, Structure: Loop, Count: 3, Position: -1}, "a loop needs at least 1 operator"},
		{Action{Kind: Add, Structure: Loop, Operators: []string{"A"}, Count: 0, Position: -1}, "loop count must be 1..10, got 0"},
		{Action{Kind: Add, Structure: Loop, Operators: []string{"A"}, Count: 11, Position: -1}, "loop count must be 1..10, got 11"},
		{Action{Kind: Add, Structure: Conditional, True: "Revise", Position: -1}, "empty <condition> in add conditional"},
		{Action{Kind: Add, Structure: Conditional, Condition: "Review", Position: -1}, "empty <true> in add conditional"},
		{Action{Kind: Add, Structure: Conditional, Condition: "Review", True: Done, Position: -1}, "<true> may not be done"},
		{Action{Kind: Add, Structure: Conditional, Condition: "Review", True: "A", False: "x<y", Position: -1}, "invalid operator name 'x<y'"},
		{Action{Kind: Add, Operator: "Pro```", Position: -1}, "invalid operator name"},
		{Action{Kind: Delete}, "empty <target> in delete"},
		{Action{Kind: Modify, Target: "node_1"}, "empty <operator> in modify"},
		{Action{Kind: SetPrompt, Target: "node_1", Prompt: " abcd "}, "prompt too short: 4 characters"},
		{Action{Kind: SetPrompt, Prompt: "long enough"}, "empty <target> in set_prompt"},
	}
	for _, tt := range tests {
		err := tt.a.Validate()
		if err == nil {
			t.Errorf("Validate(%#v) accepted it", tt.a)
			continue
		}
		e := wantReason(t, err, tt.reason)
		if strings.TrimSpace(e.Fix) == "" {
			t.Errorf("no fix for %q", e.Reason)
		}
	}
}
