package canvas

import (
	"slices"
	"testing"
)

// Every bad reply counts as a turn, yields feedback that names the problem
// and the fix, and leaves the workflow exactly as it was.
func TestBadActionsAreFeedbackAndNeverCorruptTheEpisode(t *testing.T) {
	par := addPar("Programmer, Custom")
	cases := []struct {
		name    string
		lenient bool
		setup   []string
		reply   string
		want    []string
	}{
		{"no action tag", false, nil, "I think we should plan first.",
			[]string{"Invalid action: no <action> tag found: write exactly one action, e.g. <action>add</action><operator>Programmer</operator>"}},
		{"no action tag, lenient, no operator named", true, nil, "Hmm, let me think about this problem.",
			[]string{"Invalid action: no <action> tag found: write exactly one action"}},
		{"empty reply", true, nil, "   ", []string{"Invalid action: empty reply: write a short reflection and one action"}},
		{"action only inside a code fence", true, nil, "```\n<action>add</action><operator>Programmer</operator>\n```",
			[]string{"no <action> tag found outside code blocks", "not inside ``` fences"}},
		{"add without operator", true, nil, "<action>add</action>",
			[]string{"Invalid action: no <operator> tag in add: name one operator, e.g. <action>add</action><operator>Programmer</operator>"}},
		{"unknown action", true, nil, "<action>explode</action>",
			[]string{"Invalid action: unknown action 'explode': use one of add, delete, modify, set_prompt, finish"}},
		{"unknown operator", true, nil, addOp("Foo"),
			[]string{"Cannot add: unknown operator Foo: known are " + mathNames}},
		{"unknown structure", true, nil, "<action>add</action><structure>tree</structure><operators>Custom, Plan</operators>",
			[]string{"Invalid action: unknown structure 'tree': use parallel, conditional or loop"}},
		{"parallel of one", true, nil, addPar("Custom"),
			[]string{"a parallel block needs at least 2 operators, got 1: list two or more"}},
		{"delete of a missing node", true, []string{addOp("Programmer")}, "<action>delete</action><target>node_9</target>",
			[]string{"Cannot delete: node_9 does not exist; existing nodes: node_1"}},
		{"delete on an empty workflow", true, nil, "<action>delete</action><target>node_1</target>",
			[]string{"Cannot delete: node_1 does not exist; the workflow is empty"}},
		{"modify of a missing node", true, []string{addOp("Programmer")}, "<action>modify</action><target>node_9</target><operator>Custom</operator>",
			[]string{"Cannot modify: node_9 does not exist; existing nodes: node_1"}},
		{"set_prompt of a missing node", true, []string{addOp("Programmer")}, "<action>set_prompt</action><target>node_9</target><prompt>Compute it exactly.</prompt>",
			[]string{"Cannot set the prompt: node_9 does not exist; existing nodes: node_1"}},
		{"ScEnsemble inside a parallel", true, nil, addPar("Programmer, ScEnsemble"),
			[]string{"Cannot add: ScEnsemble cannot be inside a parallel block: add it after the block"}},
		{"Aggregate inside a parallel", true, nil, addPar("Aggregate, Custom"),
			[]string{"Cannot add: Aggregate cannot be inside a parallel block: add it after the block"}},
		{"condition not a checker", true, nil, addCond("Custom", "Revise", ""),
			[]string{"Cannot add: the condition of a conditional must be a checker (Test, Review, Verify), not Custom"}},
		{"true branch done", true, nil, addCond("Review", "done", ""),
			[]string{"Invalid action: <true> may not be done", "<true> is the repair branch"}},
		{"position past the end", true, []string{addOp("Programmer")}, addOp("Format") + "<position>4</position>",
			[]string{"Cannot add: position 4 is past the end (the workflow has 1 stages; positions are 0..1, or omit it to append)."}},
		{"position not a number", true, nil, addOp("Format") + "<position>last</position>",
			[]string{"Invalid action: <position> must be a non-negative integer, got 'last'"}},
		{"deleting a child id", true, []string{par}, "<action>delete</action><target>node_1_p0</target>",
			[]string{"Cannot delete: node_1_p0 is part of node_1 (a parallel block); delete node_1 to remove the whole structure, or modify node_1_p0 to change it"}},
		{"modify of a structure id", true, []string{par}, "<action>modify</action><target>node_1</target><operator>Custom</operator>",
			[]string{"Cannot modify: node_1 is a parallel block; modify one of its branches, e.g. node_1_p0"}},
		{"modify of a conditional id", true, []string{addCond("Review", "Revise", "")}, "<action>modify</action><target>node_1</target><operator>Verify</operator>",
			[]string{"Cannot modify: node_1 is a conditional; modify its condition or a branch, e.g. node_1_cond"}},
		{"modify a branch into a combiner", true, []string{par}, "<action>modify</action><target>node_1_p1</target><operator>ScEnsemble</operator>",
			[]string{"Cannot modify: ScEnsemble cannot be inside a parallel block: add it after the block"}},
		{"modify a condition into a non-checker", true, []string{addCond("Review", "Revise", "")}, "<action>modify</action><target>node_1_cond</target><operator>Custom</operator>",
			[]string{"Cannot modify: the condition of a conditional must be a checker (Test, Review, Verify), not Custom"}},
		{"set_prompt of a loop id", true, []string{addLoop("Review, Revise", "2")}, "<action>set_prompt</action><target>node_1</target><prompt>Check it twice.</prompt>",
			[]string{"Cannot set the prompt: node_1 is a loop; set the prompt of one of its body operators, e.g. node_1_l0"}},
		{"set_prompt too short", true, []string{addOp("Programmer")}, "<action>set_prompt</action><target>node_1</target><prompt>abc</prompt>",
			[]string{"Invalid action: prompt too short: 3 characters, need at least 5: write one to three specific sentences"}},
		{"set_prompt without prompt", true, []string{addOp("Programmer")}, "<action>set_prompt</action><target>node_1</target>",
			[]string{"Invalid action: no <prompt> tag in set_prompt: add <prompt>"}},
		{"delete without target", true, []string{addOp("Programmer")}, "<action>delete</action>",
			[]string{"Invalid action: no <target> tag in delete: add <target>node_3</target>"}},
		{"loop count not a number", true, nil, addLoop("Review, Revise", "many"),
			[]string{"Invalid action: <count> must be an integer, got 'many'"}},
		{"lenient with several operator names", true, nil, "Maybe Programmer, maybe Custom.",
			[]string{"no <action> tag found and the text names several operators (Custom, Programmer)"}},
		{"refused finish", true, []string{addOp("Programmer")}, "<action>finish</action>",
			[]string{"Finish refused: the workflow has 1 operators, at least 5 are needed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := &fakeExec{Answer: "42"}
			cfg := oneStepCfg()
			cfg.Lenient = tc.lenient
			e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), cfg)
			for _, s := range tc.setup {
				if o := say(t, e, s); !o.Valid {
					t.Fatalf("setup %q refused: %s", s, o.Feedback)
				}
			}
			before := e.Observe()
			o := say(t, e, tc.reply)
			if o.Valid {
				t.Fatalf("accepted %q: %s", tc.reply, o.Feedback)
			}
			mustContain(t, "feedback", o.Feedback, tc.want...)
			if o.Turn != before.Turn+1 || o.RoundsLeft != before.RoundsLeft-1 {
				t.Errorf("turn %d rounds left %d, want %d and %d: a bad reply counts as a turn", o.Turn, o.RoundsLeft, before.Turn+1, before.RoundsLeft-1)
			}
			if o.DSL != before.DSL || !o.Graph.Equal(before.Graph) || !slices.Equal(nodeIDs(o), nodeIDs(before)) {
				t.Errorf("workflow changed: %q -> %q", before.DSL, o.DSL)
			}
			if o.Graph.NextID() != before.Graph.NextID() {
				t.Errorf("a refused add consumed an id: next %s -> %s", before.Graph.NextID(), o.Graph.NextID())
			}
			if o.Done || o.State != Building || o.Awaiting != nil || o.EndReason != NotEnded || o.Result != nil {
				t.Errorf("episode state changed: done=%v state=%s awaiting=%+v end=%q", o.Done, o.State, o.Awaiting, o.EndReason)
			}
			if x.N() != len(tc.setup) {
				t.Errorf("executor calls = %d, want %d (none for a bad reply)", x.N(), len(tc.setup))
			}
			last := o.History[len(o.History)-1]
			if last.Valid || last.Turn != o.Turn || last.Error == "" || last.Error != excerpt(o.Feedback, 300) {
				t.Errorf("history entry = %+v, want the invalid turn with its error", last)
			}
			// The episode goes on: a good action is applied next.
			if o = say(t, e, addOp("Format")); !o.Valid || o.Turn != before.Turn+2 {
				t.Errorf("next action: valid=%v turn=%d feedback=%q", o.Valid, o.Turn, o.Feedback)
			}
		})
	}
}

func TestLenientFallback(t *testing.T) {
	cases := []struct {
		name      string
		lenient   bool
		reply     string
		wantValid bool
		wantDone  bool
		wantDSL   string
		feedback  string
	}{
		{"finish phrase", true, "The workflow is complete. Let's finish.", true, true, "Programmer", "Finish accepted"},
		{"finish phrase off", false, "The workflow is complete. Let's finish.", false, false, "Programmer", "no <action> tag found"},
		{"negated finish phrase", true, "We should not finish the workflow yet; think more.", false, false, "Programmer", "no <action> tag found"},
		{"lone operator", true, "Next I would add a Format step.", true, false, "Programmer -> Format", "Added Format as node_2."},
		{"lone operator wrong case", true, "then format", true, false, "Programmer -> Format", "Added Format as node_2."},
		{"lone operator off", false, "Next I would add a Format step.", false, false, "Programmer", "no <action> tag found"},
		{"two operators", true, "Format or Review?", false, false, "Programmer", "names several operators (Format, Review)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := oneStepCfg()
			cfg.Lenient = tc.lenient
			cfg.Finish = noFinish()
			e, _ := newEpisode(t, New(), mathTask(), cfg)
			say(t, e, addOp("Programmer"))
			o := say(t, e, tc.reply)
			if o.Valid != tc.wantValid || o.Done != tc.wantDone || o.DSL != tc.wantDSL {
				t.Fatalf("valid=%v done=%v dsl=%q feedback=%q; want %v %v %q", o.Valid, o.Done, o.DSL, o.Feedback, tc.wantValid, tc.wantDone, tc.wantDSL)
			}
			mustContain(t, "feedback", o.Feedback, tc.feedback)
			if tc.wantDone && o.EndReason != Finished {
				t.Errorf("EndReason = %q", o.EndReason)
			}
		})
	}
	t.Run("lenient finish still obeys the finish rules", func(t *testing.T) {
		e, _ := newEpisode(t, New(), mathTask(), DefaultConfig())
		o := say(t, e, "let's finish")
		if o.Valid || o.Done {
			t.Fatalf("valid=%v done=%v", o.Valid, o.Done)
		}
		mustContain(t, "feedback", o.Feedback, "Finish refused: the workflow is empty: add operators first.")
	})
	t.Run("lenient lone operator still awaits its prompt", func(t *testing.T) {
		e, _ := newEpisode(t, New(), mathTask(), DefaultConfig())
		o := say(t, e, "I want a Programmer.")
		if !o.Valid || o.State != AwaitingPrompt || o.Awaiting.NodeID != "node_1" {
			t.Fatalf("valid=%v state=%s awaiting=%+v", o.Valid, o.State, o.Awaiting)
		}
	})
}
