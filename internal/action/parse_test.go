package action

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func mustParse(t *testing.T, reply string, opt Options) Action {
	t.Helper()
	a, err := Parse(reply, opt)
	if err != nil {
		t.Fatalf("Parse(%q): %v", reply, err)
	}
	return a
}

// same compares actions ignoring Reasoning, which the tests check apart.
func same(t *testing.T, got, want Action) {
	t.Helper()
	got.Reasoning = ""
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestParseReadsEveryActionForm(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  Action
	}{
		{"add operator (SPEC)", `<action>add</action><operator>Programmer</operator>`,
			Action{Kind: Add, Operator: "Programmer", Position: -1}},
		{"add operator at a position with a prompt",
			`<action>add</action><operator>Format</operator><position>2</position><prompt>Give only the number.</prompt>`,
			Action{Kind: Add, Operator: "Format", Position: 2, Prompt: "Give only the number."}},
		{"add operator at position 0", `<action>add</action><operator>Plan</operator><position>0</position>`,
			Action{Kind: Add, Operator: "Plan", Position: 0}},
		{"add parallel (SPEC)",
			`<action>add</action><structure>parallel</structure><operators>Programmer, Custom, AnswerGenerate</operators>`,
			Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom", "AnswerGenerate"}, Position: -1}},
		{"parallel separated by semicolons and blanks",
			"<action>add</action><structure>parallel</structure><operators>Programmer;Custom \n AnswerGenerate</operators>",
			Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom", "AnswerGenerate"}, Position: -1}},
		{"parallel written as a DSL list",
			`<action>add</action><structure>parallel</structure><operators>[Programmer, Custom]</operators>`,
			Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1}},
		{"parallel list in a lone operator tag",
			`<action>add</action><structure>parallel</structure><operator>Programmer, Custom</operator>`,
			Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1}},
		{"add conditional (SPEC)",
			`<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>`,
			Action{Kind: Add, Structure: Conditional, Condition: "Review", True: "Revise", False: "done", Position: -1}},
		{"conditional without false",
			`<action>add</action><structure>conditional</structure><condition>Test</condition><true>Programmer</true>`,
			Action{Kind: Add, Structure: Conditional, Condition: "Test", True: "Programmer", Position: -1}},
		{"conditional false none means done",
			`<action>add</action><structure>if</structure><condition>Verify</condition><true>Revise</true><false>None</false>`,
			Action{Kind: Add, Structure: Conditional, Condition: "Verify", True: "Revise", False: "done", Position: -1}},
		{"conditional false nothing means done",
			`<action>add</action><structure>condition</structure><condition>Verify</condition><true>Revise</true><false>nothing</false>`,
			Action{Kind: Add, Structure: Conditional, Condition: "Verify", True: "Revise", False: "done", Position: -1}},
		{"conditional with an operator on false",
			`<action>add</action><structure>Conditional</structure><condition>Review</condition><true>Revise</true><false>Format</false>`,
			Action{Kind: Add, Structure: Conditional, Condition: "Review", True: "Revise", False: "Format", Position: -1}},
		{"add loop (SPEC)",
			`<action>add</action><structure>loop</structure><operators>Review, Revise</operators><count>3</count>`,
			Action{Kind: Add, Structure: Loop, Operators: []string{"Review", "Revise"}, Count: 3, Position: -1}},
		{"loop with arrows and no count",
			`<action>add</action><structure>repeat</structure><operators>(Review -> Revise)</operators>`,
			Action{Kind: Add, Structure: Loop, Operators: []string{"Review", "Revise"}, Count: 3, Position: -1}},
		{"loop written in words",
			`<action>add</action><structure>loop</structure><operators>Review then Revise</operators><count>2</count>`,
			Action{Kind: Add, Structure: Loop, Operators: []string{"Review", "Revise"}, Count: 2, Position: -1}},
		{"parallel written in words",
			`<action>add</action><structure>parallel</structure><operators>Programmer and Custom</operators>`,
			Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1}},
		{"loop of one operator", `<action>add</action><structure>loop</structure><operators>Programmer</operators><count>2</count>`,
			Action{Kind: Add, Structure: Loop, Operators: []string{"Programmer"}, Count: 2, Position: -1}},
		{"block at a position",
			`<action>add</action><structure>parallel</structure><operators>Custom, Custom</operators><position>1</position>`,
			Action{Kind: Add, Structure: Parallel, Operators: []string{"Custom", "Custom"}, Position: 1}},
		{"delete (SPEC)", `<action>delete</action><target>node_3</target>`,
			Action{Kind: Delete, Target: "node_3", Position: -1}},
		{"modify (SPEC)", `<action>modify</action><target>node_3_p1</target><operator>Custom</operator>`,
			Action{Kind: Modify, Target: "node_3_p1", Operator: "Custom", Position: -1}},
		{"set_prompt (SPEC)", `<action>set_prompt</action><target>node_3</target><prompt>Compute the sum with Python.</prompt>`,
			Action{Kind: SetPrompt, Target: "node_3", Prompt: "Compute the sum with Python.", Position: -1}},
		{"set-prompt", `<action>set-prompt</action><target>node_1</target><prompt>Be brief.</prompt>`,
			Action{Kind: SetPrompt, Target: "node_1", Prompt: "Be brief.", Position: -1}},
		{"setprompt", `<action>SetPrompt</action><target>node_1</target><prompt>Be brief.</prompt>`,
			Action{Kind: SetPrompt, Target: "node_1", Prompt: "Be brief.", Position: -1}},
		{"set prompt", `<action>set prompt</action><target>node_1</target><prompt>Be brief.</prompt>`,
			Action{Kind: SetPrompt, Target: "node_1", Prompt: "Be brief.", Position: -1}},
		{"finish (SPEC)", `<action>finish</action>`, Action{Kind: Finish, Position: -1}},
		{"finish with an answer", `<action>finish</action><answer> 42 </answer>`,
			Action{Kind: Finish, Answer: "42", Position: -1}},
		{"empty optional tags are absent",
			`<action>add</action><operator>Test</operator><position> </position><prompt></prompt>`,
			Action{Kind: Add, Operator: "Test", Position: -1}},
		{"single operator in an operators tag",
			`<action>add</action><operators>Programmer</operators>`,
			Action{Kind: Add, Operator: "Programmer", Position: -1}},
		{"structure none is a single operator",
			`<action>add</action><structure>none</structure><operator>Custom</operator>`,
			Action{Kind: Add, Operator: "Custom", Position: -1}},
		{"tags nested in the action tag",
			`<action>add <operator>Programmer</operator></action>`,
			Action{Kind: Add, Operator: "Programmer", Position: -1}},
		{"tags written before the action tag",
			`<operator>Programmer</operator> <action>add</action>`,
			Action{Kind: Add, Operator: "Programmer", Position: -1}},
		{"tags on separate lines with prose",
			"I'll add a coder.\n<action>\n  add\n</action>\nOperator: <operator> Programmer </operator>\n",
			Action{Kind: Add, Operator: "Programmer", Position: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			same(t, mustParse(t, tt.reply, Options{}), tt.want)
		})
	}
}

func TestParseAcceptsCaseAndBracketVariants(t *testing.T) {
	want := Action{Kind: Add, Structure: Parallel, Operators: []string{"Programmer", "Custom"}, Position: -1}
	for _, reply := range []string{
		`<Action>ADD</ACTION><Structure>Parallel</Structure><OPERATORS>Programmer, Custom</OPERATORS>`,
		`[action]add[/action][structure]parallel[/structure][operators]Programmer, Custom[/operators]`,
		`[ACTION]Add[/Action]<structure>PARALLEL[/structure][operators]Programmer, Custom</operators>`,
		"<action>  add\t</action><structure> parallel </structure><operators>  Programmer ,Custom  </operators>",
		"<action>`add`</action><structure>\"parallel\"</structure><operators>**Programmer**, `Custom`</operators>",
	} {
		same(t, mustParse(t, reply, Options{}), want)
	}
}

func TestParseIgnoresTagsInFencedCode(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  Action
	}{
		{"an example in backticks before the action",
			"For example:\n```xml\n<action>delete</action><target>node_1</target>\n```\n<action>add</action><operator>Test</operator>",
			Action{Kind: Add, Operator: "Test", Position: -1}},
		{"an example in tildes after the action",
			"<action>add</action><operator>Test</operator>\n~~~\n<operator>Programmer</operator>\n~~~",
			Action{Kind: Add, Operator: "Test", Position: -1}},
		{"a fence opened and closed mid-line",
			"See ```<action>finish</action>``` but <action>delete</action><target>node_2</target>",
			Action{Kind: Delete, Target: "node_2", Position: -1}},
		{"an unclosed fence hides nothing",
			"```python\n<action>delete</action><target>node_2</target>",
			Action{Kind: Delete, Target: "node_2", Position: -1}},
		{"a prompt keeps its code block, tags inside included",
			"<action>set_prompt</action><target>node_2</target><prompt>Start from:\n```python\nprint('</prompt>')\n```\nthen print the result.</prompt>",
			Action{Kind: SetPrompt, Target: "node_2", Position: -1,
				Prompt: "Start from:\n```python\nprint('</prompt>')\n```\nthen print the result."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			same(t, mustParse(t, tt.reply, Options{}), tt.want)
		})
	}
}

func TestParseOnlyFirstActionCounts(t *testing.T) {
	reply := `<action>add</action><operator>Programmer</operator>
<action>delete</action><target>node_1</target>
<action>add</action><operator>Custom</operator><position>3</position>`
	same(t, mustParse(t, reply, Options{}), Action{Kind: Add, Operator: "Programmer", Position: -1})
}

func TestParseDoesNotTakeTagsFromLaterActions(t *testing.T) {
	_, err := Parse(`<action>add</action><action>add</action><operator>Custom</operator>`, Options{})
	wantReason(t, err, "no <operator> tag in add")
}

func TestParsePrefersTagsAfterTheActionOverTagsBefore(t *testing.T) {
	reply := `Last turn I used <operator>Custom</operator>. <action>add</action><operator>Programmer</operator>`
	same(t, mustParse(t, reply, Options{}), Action{Kind: Add, Operator: "Programmer", Position: -1})
}

func TestParseTreatsTagsInsideFreeTextTagsAsText(t *testing.T) {
	reply := `<reasoning>Maybe <action>finish</action>? No.</reasoning>
<action>set_prompt</action><target>node_4</target><prompt>Answer in the form <answer>X</answer>.</prompt>`
	a := mustParse(t, reply, Options{})
	same(t, a, Action{Kind: SetPrompt, Target: "node_4", Prompt: "Answer in the form <answer>X</answer>.", Position: -1})
	if a.Reasoning != "Maybe <action>finish</action>? No." {
		t.Errorf("Reasoning = %q", a.Reasoning)
	}
}

func TestParseTreatsALoneOpeningTagAsText(t *testing.T) {
	reply := `I will add an <operator> now. <action>add</action><operator>Verify</operator>`
	same(t, mustParse(t, reply, Options{}), Action{Kind: Add, Operator: "Verify", Position: -1})
	reply = `My last <action> failed. <action>delete</action><target>node_5</target>`
	same(t, mustParse(t, reply, Options{}), Action{Kind: Delete, Target: "node_5", Position: -1})
}

func TestParseReadsTheReflection(t *testing.T) {
	tests := []struct {
		name, reply, want string
	}{
		{"reasoning tag", "<reasoning>\n Need a checker. \n</reasoning><action>finish</action>", "Need a checker."},
		{"thought tag", "<thought>Need a checker.</thought><action>finish</action>", "Need a checker."},
		{"bracket reasoning", "[Reasoning]Need a checker.[/Reasoning]<action>finish</action>", "Need a checker."},
		{"reasoning after the action", "<action>finish</action><reasoning>All set.</reasoning>", "All set."},
		{"unclosed reasoning runs to the action", "<reasoning>Need a checker.\n<action>finish</action>", "Need a checker."},
		{"think block when no reasoning tag", "<think>hmm, done</think><action>finish</action>", "hmm, done"},
		{"reasoning tag wins over think", "<think>hmm</think><reasoning>done</reasoning><action>finish</action>", "done"},
		{"none", "<action>finish</action>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustParse(t, tt.reply, Options{}).Reasoning; got != tt.want {
				t.Errorf("Reasoning = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseStripsThinkBlocksBeforeReadingTags(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  Action
	}{
		{"tags inside think are ignored",
			"<think>maybe <action>delete</action><target>node_1</target></think>\n<action>add</action><operator>Test</operator>",
			Action{Kind: Add, Operator: "Test", Position: -1}},
		{"template-opened think",
			"I could <action>finish</action> but no.</think><action>add</action><operator>Review</operator>",
			Action{Kind: Add, Operator: "Review", Position: -1}},
		{"unclosed think ends at the action",
			"<THINK>long thoughts <operator>Custom</operator>\n<action>add</action><operator>Format</operator>",
			Action{Kind: Add, Operator: "Format", Position: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			same(t, mustParse(t, tt.reply, Options{}), tt.want)
		})
	}
}

func TestParseClampsLoopCount(t *testing.T) {
	for in, want := range map[string]int{
		"0": 1, "1": 1, "3": 3, "10": 10, "11": 10, "-4": 1, "+7": 7, "999999999999999999999": 10,
		"* 5": 5, "x4": 4, " 007 ": 7, "": 3,
	} {
		reply := `<action>add</action><structure>loop</structure><operators>Review, Revise</operators><count>` + in + `</count>`
		if got := mustParse(t, reply, Options{}).Count; got != want {
			t.Errorf("count %q: got %d, want %d", in, got, want)
		}
	}
}

func wantReason(t *testing.T, err error, reason string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if !strings.Contains(e.Reason, reason) {
		t.Errorf("Reason %q does not contain %q", e.Reason, reason)
	}
	if e.Fix == "" {
		t.Errorf("error %q has no Fix", e.Reason)
	}
	if e.Error() != e.Reason+": "+e.Fix {
		t.Errorf("Error() = %q", e.Error())
	}
	return e
}

func TestParseExplainsEveryError(t *testing.T) {
	long := "<action>finish</action>" + strings.Repeat(" ", MaxReplyBytes)
	tests := []struct {
		name, reply, reason, fix string
	}{
		{"empty", "", "empty reply", "<action>"},
		{"blank", " \n\t", "empty reply", ""},
		{"too long", long, "reply too long", ""},
		{"no action", "I think Programmer is next.", "no <action> tag found", "<action>add</action><operator>Programmer</operator>"},
		{"action only in code", "```\n<action>finish</action>\n```", "no <action> tag found outside code blocks", "fences"},
		{"runaway think", "<think>I will finish", "the <think> block is never closed", "</think>"},
		{"unclosed action", "<action>add <operator>Test</operator>", "unclosed <action> tag", "<action>add</action>"},
		{"empty action", "<action> </action>", "empty <action> tag", "add, delete, modify, set_prompt, finish"},
		{"unknown action", "<action>remove</action><target>node_1</target>", "unknown action 'remove'",
			"add, delete, modify, set_prompt, finish"},
		{"add without operator", "<action>add</action>", "no <operator> tag in add", "<structure>parallel</structure>"},
		{"unclosed operator", "<action>add</action><operator>Test", "unclosed <operator> tag", "<operator>Programmer</operator>"},
		{"empty operator", "<action>add</action><operator> </operator>", "empty <operator> in add", ""},
		{"two-word operator", "<action>add</action><operator>Answer Generate</operator>",
			"invalid operator name 'Answer Generate'", ""},
		{"operators without structure", "<action>add</action><operators>Custom, Test</operators>",
			"several <operators> in add without a <structure>", "<structure>parallel</structure>"},
		{"unknown structure", "<action>add</action><structure>tree</structure><operators>A, B</operators>",
			"unknown structure 'tree'", "parallel, conditional or loop"},
		{"parallel without operators", "<action>add</action><structure>parallel</structure>",
			"no <operators> tag in add parallel", ""},
		{"parallel of one", "<action>add</action><structure>parallel</structure><operators>Custom</operators>",
			"a parallel block needs at least 2 operators, got 1", ""},
		{"parallel too wide", "<action>add</action><structure>parallel</structure><operators>" +
			strings.Repeat("Custom ", MaxBlockOperators+1) + "</operators>", "at most 32 operators, got 33", ""},
		{"empty loop", "<action>add</action><structure>loop</structure><operators> </operators>",
			"a loop needs at least 1 operator, got 0", ""},
		{"count not an integer", "<action>add</action><structure>loop</structure><operators>Review</operators><count>three</count>",
			"<count> must be an integer, got 'three'", "<count>3</count>"},
		{"count a fraction", "<action>add</action><structure>loop</structure><operators>Review</operators><count>2.5</count>",
			"<count> must be an integer, got '2.5'", ""},
		{"negative position", "<action>add</action><operator>Test</operator><position>-1</position>",
			"<position> must be a non-negative integer, got '-1'", ""},
		{"word position", "<action>add</action><operator>Test</operator><position>end</position>",
			"<position> must be a non-negative integer, got 'end'", ""},
		{"huge position", "<action>add</action><operator>Test</operator><position>123456789012</position>",
			"<position> out of range", ""},
		{"conditional without condition", "<action>add</action><structure>conditional</structure><true>Revise</true>",
			"no <condition> tag in add conditional", ""},
		{"conditional without true", "<action>add</action><structure>conditional</structure><condition>Review</condition>",
			"no <true> tag in add conditional", ""},
		{"true is done", "<action>add</action><structure>conditional</structure><condition>Review</condition><true>done</true>",
			"<true> may not be done", "repair branch"},
		{"condition is done", "<action>add</action><structure>conditional</structure><condition>none</condition><true>Revise</true>",
			"<condition> may not be done", ""},
		{"delete without target", "<action>delete</action>", "no <target> tag in delete", "<target>node_3</target>"},
		{"node id with blanks", "<action>delete</action><target>node 3</target>", "invalid node id 'node 3'", ""},
		{"modify without target", "<action>modify</action><operator>Custom</operator>", "no <target> tag in modify", ""},
		{"modify without operator", "<action>modify</action><target>node_2</target>", "no <operator> tag in modify", ""},
		{"set_prompt without target", "<action>set_prompt</action><prompt>Be careful here.</prompt>",
			"no <target> tag in set_prompt", ""},
		{"set_prompt without prompt", "<action>set_prompt</action><target>node_2</target>",
			"no <prompt> tag in set_prompt", ""},
		{"set_prompt with unclosed prompt", "<action>set_prompt</action><target>node_2</target><prompt>Be careful",
			"unclosed <prompt> tag", ""},
		{"short prompt", "<action>set_prompt</action><target>node_2</target><prompt> abc </prompt>",
			"prompt too short: 3 characters, need at least 5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Parse(tt.reply, Options{})
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", a)
			}
			if !reflect.DeepEqual(a, Action{}) {
				t.Errorf("a failed Parse returned %+v, want the zero Action", a)
			}
			e := wantReason(t, err, tt.reason)
			if tt.fix != "" && !strings.Contains(e.Fix, tt.fix) {
				t.Errorf("Fix %q does not contain %q", e.Fix, tt.fix)
			}
		})
	}
}

func TestParseShortensQuotedValuesInErrors(t *testing.T) {
	_, err := Parse("<action>"+strings.Repeat("x", 500)+"</action>", Options{})
	if e := wantReason(t, err, "unknown action"); len(e.Reason) > 80 {
		t.Errorf("Reason is %d bytes: %q", len(e.Reason), e.Reason)
	}
}

func TestParseAcceptsAReplyAtTheSizeLimit(t *testing.T) {
	reply := "<action>finish</action>"
	reply += strings.Repeat(" ", MaxReplyBytes-len(reply))
	mustParse(t, reply, Options{})
}

func TestParseReplacesInvalidUTF8(t *testing.T) {
	a := mustParse(t, "<action>finish</action><answer>4\xff2</answer>", Options{})
	if !utf8.ValidString(a.Answer) || a.Answer != "4\uFFFD2" {
		t.Errorf("Answer = %q", a.Answer)
	}
	a = mustParse(t, "<action>set_prompt</action><target>node_1</target><prompt>\xc3\x28 is bad \xed\xa0\x80</prompt>", Options{})
	if !utf8.ValidString(a.Prompt) {
		t.Errorf("Prompt = %q is not valid UTF-8", a.Prompt)
	}
}

func TestParseRefusesPositionsFarPastAnyWorkflow(t *testing.T) {
	for _, v := range []string{"2000000", "99999999999999999999"} {
		_, err := Parse("<action>add</action><operator>Test</operator><position>"+v+"</position>", Options{})
		wantReason(t, err, "<position> out of range")
	}
	a := mustParse(t, "<action>add</action><operator>Test</operator><position>+12</position>", Options{})
	if a.Position != 12 {
		t.Errorf("Position = %d", a.Position)
	}
}

func TestErrorWithoutFixIsJustTheReason(t *testing.T) {
	if got := (&Error{Reason: "bad"}).Error(); got != "bad" {
		t.Errorf("Error() = %q", got)
	}
}
