package action

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

var library = []string{"Plan", "Decompose", "Custom", "AnswerGenerate", "Programmer", "Test", "Review",
	"Verify", "Revise", "ScEnsemble", "Aggregate", "Format"}

var fuzzSeeds = []string{
	"<reasoning>need code</reasoning><action>add</action><operator>Programmer</operator><position>1</position>",
	"[action]add[/action][structure]parallel[/structure][operators]Programmer, Custom[/operators]",
	"<action>add</action><structure>if</structure><condition>Review</condition><true>Revise</true><false>none</false>",
	"<action>add</action><structure>loop</structure><operators>(Review -> Revise)</operators><count>x4</count>",
	"<action>set_prompt</action><target>node_3</target><prompt>Use ```python\nprint('</prompt>')\n``` here</prompt>",
	"<think>plan <action>delete</action>\n```\n</think><action>finish</action><answer>42</answer>",
	"reasoning</think><action>modify</action><target>node_2_p1</target><operator>Custom</operator>",
	"```\n<action>add</action>\n```\nLet's finish.",
	"<thought>x<action>add<operator>Test</operator></action><prompt>run the tests</prompt>",
	"<action>add</action><operator>A</operator><action>delete</action><target>node_1</target>",
	"I will not finish the workflow; add Programmer",
	"<action>add</action><operators>Programmer</operators><prompt><prompt>a</prompt>",
	"~~~\n<action>x</action>\n~~~<action>delete</action>[target]node_9[/target]",
	"<action>add</action>",
	"\xff<action>finish\xfe</action>",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		_, _ = StripThink(reply)
		_ = PromptText(reply)
		for _, lenient := range []bool{false, true} {
			a, err := Parse(reply, Options{Lenient: lenient, Operators: library})
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Reason == "" || e.Fix == "" {
					t.Fatalf("error %v is not an *Error with a reason and a fix", err)
				}
				continue
			}
			if err := a.Validate(); err != nil {
				t.Fatalf("Parse returned an invalid action %+v: %v", a, err)
			}
			_ = a.String()
			bare := a
			bare.Reasoning = ""
			if len(Render(bare)) > MaxReplyBytes {
				continue // only free text near the limit gets here
			}
			rendered := Render(a)
			b, err := Parse(rendered, Options{})
			if err != nil {
				t.Fatalf("Parse(Render(a)) failed: %v\nreply:    %q\nrendered: %q", err, reply, rendered)
			}
			if !sameAction(a, b) {
				t.Fatalf("round trip changed the action\nreply:    %q\nrendered: %q\nfirst:  %#v\nsecond: %#v",
					reply, rendered, a, b)
			}
		}
	})
}

// sameAction compares everything Render promises to keep.
func sameAction(a, b Action) bool {
	return a.Kind == b.Kind && a.Operator == b.Operator && a.Structure == b.Structure &&
		slices.Equal(a.Operators, b.Operators) && a.Condition == b.Condition && a.True == b.True &&
		a.False == b.False && a.Count == b.Count && a.Position == b.Position && a.Target == b.Target &&
		a.Prompt == b.Prompt && a.Answer == b.Answer
}

func TestFuzzSeedsParseWithoutPanic(t *testing.T) {
	for _, s := range fuzzSeeds {
		_, _ = Parse(s, Options{Lenient: true, Operators: library})
		_, _ = Parse(strings.Repeat(s, 50), Options{Lenient: true, Operators: library})
	}
}
