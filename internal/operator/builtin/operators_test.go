package builtin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
)

func TestLibraryImplementsEveryDefaultOperator(t *testing.T) {
	lib := Library()
	if got, want := len(lib.Defs()), 12; got != want {
		t.Fatalf("library has %d operators, want %d", got, want)
	}
	for _, d := range lib.Defs() {
		if d.Impl == nil {
			t.Errorf("%s has no implementation", d.Name)
		}
	}
}

// TestOperatorParsesScriptedReplies runs each LLM-backed operator against
// a scripted OpenAI-compatible server, in the reply forms real models use.
func TestOperatorParsesScriptedReplies(t *testing.T) {
	type fieldWant map[string]string
	cases := []struct {
		name    string
		op      string
		task    task.Task
		inputs  operator.Fields
		reply   string
		status  int
		forward string
		fields  fieldWant
		verdict *bool
		errHas  []string
	}{
		// Plan and Decompose.
		{name: "plan tags", op: "Plan", task: mathTask, reply: "<plan>1. Multiply.\n2. Check.</plan>\n<approach>Arithmetic.</approach>",
			forward: "1. Multiply.\n2. Check.", fields: fieldWant{"approach": "Arithmetic."}},
		{name: "plan JSON", op: "Plan", task: mathTask, reply: `{"plan": "multiply the numbers", "approach": "direct"}`,
			forward: "multiply the numbers", fields: fieldWant{"approach": "direct"}},
		{name: "plan without tags falls back to the whole reply", op: "Plan", task: mathTask, reply: "<think>hm</think>\nJust multiply.",
			forward: "Just multiply.", fields: fieldWant{"approach": ""}},
		{name: "decompose tags", op: "Decompose", task: mathTask, reply: "<sub_problems>1. Find 6.\n2. Find 7.\n3. Multiply.</sub_problems><reasoning>parts</reasoning>",
			forward: "1. Find 6.\n2. Find 7.\n3. Multiply.", fields: fieldWant{"reasoning": "parts"}},
		{name: "decompose without tags", op: "Decompose", task: mathTask, reply: "- first part\n- second part",
			forward: "- first part\n- second part"},

		// Custom returns the reply, think block removed.
		{name: "custom plain", op: "Custom", task: qaTask, inputs: operator.Fields{"input": text("earlier")}, reply: "<think>reasoning</think>The answer is Paris.",
			forward: "The answer is Paris.", fields: fieldWant{"response": "The answer is Paris."}},

		// AnswerGenerate in every form.
		{name: "answer tags", op: "AnswerGenerate", task: mathTask, reply: "<thought>6*7</thought>\n<answer>42</answer>",
			forward: "42", fields: fieldWant{"thought": "6*7", "answer": "42"}},
		{name: "answer tags in other case", op: "AnswerGenerate", task: mathTask, reply: "<THOUGHT>x</THOUGHT><Answer> 42 </Answer>",
			forward: "42", fields: fieldWant{"thought": "x"}},
		{name: "answer JSON", op: "AnswerGenerate", task: mathTask, reply: "```json\n{\"thought\": \"6 times 7\", \"answer\": \"42\"}\n```",
			forward: "42", fields: fieldWant{"thought": "6 times 7"}},
		{name: "answer JSON number", op: "AnswerGenerate", task: mathTask, reply: `{"answer": 42}`, forward: "42"},
		{name: "answer label line", op: "AnswerGenerate", task: mathTask, reply: "Thought: six sevens\nAnswer: 42",
			forward: "42", fields: fieldWant{"thought": "six sevens"}},
		{name: "answer bold label", op: "AnswerGenerate", task: mathTask, reply: "Working...\n**Answer:** 42", forward: "42"},
		{name: "answer unclosed tag (cut reply)", op: "AnswerGenerate", task: mathTask, reply: "<thought>t</thought><answer>42", forward: "42"},
		{name: "answer after a think block holding a decoy", op: "AnswerGenerate", task: mathTask,
			reply: "<think><answer>41</answer></think><answer>42</answer>", forward: "42"},
		{name: "answer missing: the reply is the answer", op: "AnswerGenerate", task: mathTask, reply: "Six times seven is 42.",
			forward: "Six times seven is 42.", fields: fieldWant{"thought": ""}},
		// Letters whose lower case is longer in bytes must not shift the
		// tag positions (this used to cut the wrong text or panic).
		{name: "answer after letters that lengthen when lower-cased", op: "AnswerGenerate", task: mathTask,
			reply: strings.Repeat("Ⱥ", 20) + " <answer>42</answer>", forward: "42"},

		// Review: a verdict is required.
		{name: "review passes", op: "Review", task: mathTask, inputs: operator.Fields{"solution": text("42")},
			reply: "<review_result>true</review_result><feedback>correct</feedback>", forward: "42", verdict: ptr(true),
			fields: fieldWant{"feedback": "correct"}},
		{name: "review fails", op: "Review", task: mathTask, inputs: operator.Fields{"solution": text("41")},
			reply: "<review_result>False.</review_result>\n<feedback>6*7 is 42</feedback>", forward: "41", verdict: ptr(false)},
		{name: "review JSON bool", op: "Review", task: mathTask, inputs: operator.Fields{"solution": text("41")},
			reply: `{"review_result": false, "feedback": "off by one"}`, forward: "41", verdict: ptr(false), fields: fieldWant{"feedback": "off by one"}},
		{name: "review label", op: "Review", task: mathTask, inputs: operator.Fields{"solution": text("42")},
			reply: "Review result: yes\nFeedback: fine", forward: "42", verdict: ptr(true)},
		{name: "review without a verdict is a node error naming the field", op: "Review", task: mathTask, inputs: operator.Fields{"solution": text("42")},
			reply: "Looks good to me.", errHas: []string{"Review", "review_result"}},
		{name: "review with an unreadable verdict", op: "Review", task: mathTask, inputs: operator.Fields{"solution": text("42")},
			reply: "<review_result>maybe</review_result>", errHas: []string{"Review", "maybe"}},

		// Verify.
		{name: "verify passes", op: "Verify", task: mathTask, inputs: operator.Fields{"answer": text("42")},
			reply: "<is_correct>true</is_correct><confidence>0.9</confidence><answer>42</answer>", forward: "42", verdict: ptr(true),
			fields: fieldWant{"confidence": "0.9"}},
		{name: "verify re-derives a wrong answer", op: "Verify", task: mathTask, inputs: operator.Fields{"answer": text("41")},
			reply: "<is_correct>false</is_correct><confidence>0.3</confidence><answer>42</answer>", forward: "42", verdict: ptr(false)},
		{name: "verify rejects without a new answer keeps the answer", op: "Verify", task: mathTask, inputs: operator.Fields{"answer": text("41")},
			reply: "<is_correct>no</is_correct>", forward: "41", verdict: ptr(false)},
		{name: "verify JSON", op: "Verify", task: mathTask, inputs: operator.Fields{"answer": text("42")},
			reply: `{"is_correct": true, "confidence": 0.95, "answer": "42"}`, forward: "42", verdict: ptr(true), fields: fieldWant{"confidence": "0.95"}},
		{name: "verify without a verdict is a node error naming the field", op: "Verify", task: mathTask, inputs: operator.Fields{"answer": text("42")},
			reply: "<answer>42</answer>", errHas: []string{"Verify", "is_correct"}},

		// Revise.
		{name: "revise tags", op: "Revise", task: mathTask, inputs: operator.Fields{"solution": text("41"), "feedback": text("recheck")},
			reply: "<solution>The answer is 42.</solution>", forward: "The answer is 42."},
		{name: "revise without tags", op: "Revise", task: mathTask, inputs: operator.Fields{"solution": text("41")},
			reply: "It is 42.", forward: "It is 42."},
		{name: "revise code keeps only the code", op: "Revise", task: codeTask, inputs: operator.Fields{"solution": text("def add(a, b): return a - b")},
			reply: "<solution>Fixed:\n```python\ndef add(a, b):\n    return a + b\n```</solution>", forward: "def add(a, b):\n    return a + b"},

		// Aggregate.
		{name: "aggregate tags", op: "Aggregate", task: mathTask, inputs: operator.Fields{"sub_answers": {List: []string{"6", "7"}}},
			reply: "<aggregated_answer>42</aggregated_answer>", forward: "42"},
		{name: "aggregate JSON", op: "Aggregate", task: mathTask, inputs: operator.Fields{"sub_answers": {List: []string{"6", "7"}}},
			reply: `{"aggregated_answer": "42"}`, forward: "42"},
		{name: "aggregate without tags", op: "Aggregate", task: mathTask, inputs: operator.Fields{"sub_answers": {List: []string{"42"}}},
			reply: "42", forward: "42"},

		// Format.
		{name: "format tags", op: "Format", task: mathTask, inputs: operator.Fields{"solution": text("Step by step ... so 42.")},
			reply: "<answer>42</answer>", forward: "42"},
		{name: "format label", op: "Format", task: qaTask, inputs: operator.Fields{"solution": text("It is in Paris.")},
			reply: "Answer: Paris", forward: "Paris"},
		{name: "format JSON", op: "Format", task: mcTask, inputs: operator.Fields{"solution": text("Option (b) is even.")},
			reply: `{"answer": "b"}`, forward: "b"},
		{name: "format without tags", op: "Format", task: mathTask, inputs: operator.Fields{"solution": text("42")},
			reply: "42", forward: "42"},
		{name: "format code returns the fenced code", op: "Format", task: codeTask, inputs: operator.Fields{"solution": text("def add(a, b):\n    return a + b")},
			reply: "Here it is:\n```python\ndef add(a, b):\n    return a + b\n```", forward: "def add(a, b):\n    return a + b"},
		{name: "format code keeps the first line's indent", op: "Format", task: codeTask, inputs: operator.Fields{"solution": text("    result = sorted(a)")},
			reply: "```python\n    result = sorted(a)\n```", forward: "    result = sorted(a)"},
		{name: "format code reply without code keeps the solution", op: "Format", task: codeTask, inputs: operator.Fields{"solution": text("def add(a, b):\n    return a + b")},
			reply: "The code above is already final.", forward: "def add(a, b):\n    return a + b"},

		// Backend failures are node errors naming the operator and status.
		{name: "backend error", op: "AnswerGenerate", task: mathTask, status: http.StatusBadRequest,
			errHas: []string{"AnswerGenerate", "backend call failed", "400"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := newChatServer(t, func(op string, _ int, _ seen) reply {
				if op != tc.op {
					t.Errorf("request for %s, want only %s", op, tc.op)
				}
				return reply{Status: tc.status, Text: tc.reply}
			})
			out, err := invoke(t, testEnv{b: cs.backend(t)}, tc.op, operator.Call{Task: tc.task, NodeID: "node_1", Inputs: tc.inputs})
			if n := len(cs.requests()); n != 1 {
				t.Errorf("%s made %d requests, want 1", tc.op, n)
			}
			if len(tc.errHas) > 0 {
				if err == nil {
					t.Fatalf("want an error containing %q, got output %+v", tc.errHas, out)
				}
				for _, s := range tc.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if out.Forward != tc.forward {
				t.Errorf("forward = %q, want %q", out.Forward, tc.forward)
			}
			for k, want := range tc.fields {
				if got := out.Fields.Text(k); got != want {
					t.Errorf("field %s = %q, want %q", k, got, want)
				}
			}
			switch {
			case tc.verdict == nil && out.Verdict != nil:
				t.Errorf("verdict = %v, want none", *out.Verdict)
			case tc.verdict != nil && (out.Verdict == nil || *out.Verdict != *tc.verdict):
				t.Errorf("verdict = %v, want %v", out.Verdict, *tc.verdict)
			}
			if out.Usage.Calls != 1 || out.Usage.InputTokens == 0 {
				t.Errorf("usage = %+v, want one call with tokens", out.Usage)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPromptCarriesInstructionNodePromptAndInputs checks what each
// operator sends: its own instruction, the node's prompt appended, the
// problem and the inputs it was bound.
func TestPromptCarriesInstructionNodePromptAndInputs(t *testing.T) {
	cases := []struct {
		op      string
		task    task.Task
		inputs  operator.Fields
		reply   string
		instr   string
		userHas []string
		userNot []string
	}{
		{op: "Plan", task: mathTask, inputs: operator.Fields{"input": text("PREVIOUS")}, reply: "<plan>p</plan>", instr: planInstr,
			userHas: []string{"6 times 7"}, userNot: []string{"PREVIOUS"}},
		{op: "Decompose", task: mathTask, reply: "<sub_problems>1. a</sub_problems>", instr: decomposeInstr, userHas: []string{"6 times 7"}},
		{op: "Custom", task: qaTask, inputs: operator.Fields{"input": text("PREVIOUS")}, reply: "Paris", instr: customInstr,
			userHas: []string{"Where is the tower?", "The tower stands in Paris.", "PREVIOUS"}},
		{op: "AnswerGenerate", task: mcTask, inputs: operator.Fields{"input": text("PREVIOUS")}, reply: "<answer>b</answer>", instr: answerGenerateInstr,
			userHas: []string{"(a) 3", "(b) 4", "(c) 5", "option letter", "PREVIOUS"}},
		{op: "Review", task: mathTask, inputs: operator.Fields{"solution": text("SOLUTION-41")}, reply: "<review_result>false</review_result>", instr: reviewInstr,
			userHas: []string{"SOLUTION-41"}},
		{op: "Verify", task: mathTask, inputs: operator.Fields{"answer": text("ANSWER-41")}, reply: "<is_correct>true</is_correct>", instr: verifyInstr,
			userHas: []string{"ANSWER-41"}},
		{op: "Revise", task: mathTask, inputs: operator.Fields{"solution": text("SOLUTION-41"), "feedback": text("FEEDBACK-X")}, reply: "<solution>42</solution>", instr: reviseInstr,
			userHas: []string{"SOLUTION-41", "FEEDBACK-X"}},
		{op: "Aggregate", task: mathTask, inputs: operator.Fields{"sub_answers": {List: []string{"SUB-A", "SUB-B"}}}, reply: "<aggregated_answer>42</aggregated_answer>", instr: aggregateInstr,
			userHas: []string{"1. SUB-A", "2. SUB-B"}},
		{op: "Format", task: mathTask, inputs: operator.Fields{"solution": text("SOLUTION-42")}, reply: "<answer>42</answer>", instr: formatInstr,
			userHas: []string{"SOLUTION-42"}},
		{op: "Format", task: codeTask, inputs: operator.Fields{"solution": text("def add(a, b): return a + b")}, reply: "```python\ndef add(a, b): return a + b\n```", instr: formatCodeInstr,
			userHas: []string{"def add(a, b)", "must be named add"}},
	}
	for _, tc := range cases {
		t.Run(tc.op+"/"+string(tc.task.Family), func(t *testing.T) {
			cs := newChatServer(t, func(string, int, seen) reply { return reply{Text: tc.reply} })
			const nodePrompt = "Be especially careful with units here."
			if _, err := invoke(t, testEnv{b: cs.backend(t)}, tc.op, operator.Call{Task: tc.task, NodeID: "node_1", Prompt: nodePrompt, Inputs: tc.inputs}); err != nil {
				t.Fatal(err)
			}
			reqs := cs.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if !strings.HasPrefix(r.System, tc.instr) {
				t.Errorf("system prompt does not start with the operator's instruction: %q", r.System)
			}
			if !strings.Contains(r.System, "Instruction for this step: "+nodePrompt) {
				t.Errorf("system prompt lacks the node prompt: %q", r.System)
			}
			for _, s := range tc.userHas {
				if !strings.Contains(r.User, s) {
					t.Errorf("user prompt lacks %q:\n%s", s, r.User)
				}
			}
			for _, s := range tc.userNot {
				if strings.Contains(r.User, s) {
					t.Errorf("user prompt holds %q:\n%s", s, r.User)
				}
			}
		})
	}
}

func TestPromptWithoutNodePromptIsTheInstructionAlone(t *testing.T) {
	cs := newChatServer(t, func(string, int, seen) reply { return reply{Text: "<answer>42</answer>"} })
	if _, err := invoke(t, testEnv{b: cs.backend(t)}, "AnswerGenerate", operator.Call{Task: mathTask, Prompt: "   "}); err != nil {
		t.Fatal(err)
	}
	if got := cs.requests()[0].System; got != answerGenerateInstr {
		t.Errorf("system prompt = %q, want the bare instruction", got)
	}
}

// TestScEnsembleVotesOverNormalisedAnswers checks the vote, which needs
// no backend call: testEnv without a backend fails any call.
func TestScEnsembleVotesOverNormalisedAnswers(t *testing.T) {
	cases := []struct {
		name      string
		task      task.Task
		solutions []string
		want      string
		agree     string
	}{
		{"majority after normalising", mathTask, []string{"42", "The answer is 42.", "41"}, "42", "2 of 3"},
		{"majority in a later form wins with its first occurrence", mathTask, []string{"41", "The answer is 42.", "42.0", "<answer>42</answer>"}, "The answer is 42.", "3 of 4"},
		{"tie goes to the earliest", mathTask, []string{"41", "42"}, "41", "1 of 2"},
		{"two-way tie goes to the earliest pair", mathTask, []string{"7", "41", "41", "7.0"}, "7", "2 of 4"},
		{"thousands separators compare as numbers", mathTask, []string{"1000", "1,000", "999"}, "1000", "2 of 3"},
		{"qa answers compare normalised", qaTask, []string{"Paris", "the Louvre", "paris."}, "Paris", "2 of 3"},
		{"choice letters", mcTask, []string{"(c)", "b", "The answer is (b)"}, "b", "2 of 3"},
		{"empty answers do not vote", mathTask, []string{"", "  ", "12"}, "12", "1 of 3"},
		{"a single solution", mathTask, []string{"5"}, "5", "1 of 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := invoke(t, testEnv{}, "ScEnsemble", operator.Call{Task: tc.task, Inputs: operator.Fields{"solutions": {List: tc.solutions}}})
			if err != nil {
				t.Fatal(err)
			}
			if out.Forward != tc.want {
				t.Errorf("picked %q, want %q", out.Forward, tc.want)
			}
			if out.Fields.Text("response") != tc.want {
				t.Errorf("response field = %q", out.Fields.Text("response"))
			}
			if !strings.HasPrefix(out.Feedback, tc.agree) {
				t.Errorf("feedback %q, want it to start %q", out.Feedback, tc.agree)
			}
			if out.Usage.Calls != 0 {
				t.Errorf("ScEnsemble made %d backend calls", out.Usage.Calls)
			}
		})
	}
}

func TestScEnsembleWithoutSolutionsIsAnError(t *testing.T) {
	_, err := invoke(t, testEnv{}, "ScEnsemble", operator.Call{Task: mathTask})
	if err == nil || !strings.Contains(err.Error(), "no solutions") {
		t.Fatalf("err = %v, want a no-solutions error", err)
	}
}

func TestScEnsembleIsDeterministicOverRepeatedRuns(t *testing.T) {
	// Map iteration order must not decide between equal counts.
	sols := []string{"3", "5", "7", "9", "11", "13", "5", "9", "3", "13", "11", "7"}
	for range 50 {
		out, err := invoke(t, testEnv{}, "ScEnsemble", operator.Call{Task: mathTask, Inputs: operator.Fields{"solutions": {List: sols}}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Forward != "3" {
			t.Fatalf("picked %q, want the earliest of the tied answers, 3", out.Forward)
		}
	}
}
