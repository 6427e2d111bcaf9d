package canvas

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/flowsteer/flowsteer/internal/task"
)

func TestFirstObservation(t *testing.T) {
	e, o := newEpisode(t, New(), mathTask(), DefaultConfig())
	if o.EpisodeID != e.ID() || o.Turn != 0 || o.MaxRounds != 20 || o.RoundsLeft != 20 || o.State != Building || !o.Valid || o.Done || o.Awaiting != nil || o.Result != nil || o.DSL != "" || len(o.History) != 0 || o.Hint != "" {
		t.Fatalf("first observation = %+v", o)
	}
	if o.Feedback != "New episode: the workflow is empty. Add the first operator or structure." {
		t.Errorf("feedback = %q", o.Feedback)
	}
	if len(o.Operators) != 12 || o.Operators[0].Name != "Plan" || o.Operators[0].Library != "default" || !o.Operators[4].Enabled {
		t.Errorf("operators = %+v", o.Operators)
	}
	p := o.Prompt
	if p == nil || p.Kind != PromptAction || p.MaxNewTokens != 512 {
		t.Fatalf("prompt = %+v", p)
	}
	mustContain(t, "user prompt", p.User, "Problem: "+mathTask().Question, "The workflow is empty. Choose the first action.")
}

func TestObservationTracksNodesRoundsAndHistory(t *testing.T) {
	cfg := oneStepCfg()
	cfg.HistoryLimit = 3
	cfg.MaxRounds = 10
	e, _ := newEpisode(t, New(), mathTask(), cfg)
	replies := []string{addOp("Plan"), addPar("Programmer, Custom"), "junk", addCond("Review", "Revise", ""), addOp("Format")}
	var o Observation
	for i, r := range replies {
		o = say(t, e, r)
		if o.Turn != i+1 || o.RoundsLeft != 10-(i+1) {
			t.Fatalf("reply %d: turn %d rounds left %d", i, o.Turn, o.RoundsLeft)
		}
		wantHist := min(i+1, 3)
		if len(o.History) != wantHist || o.History[len(o.History)-1].Turn != i+1 {
			t.Fatalf("reply %d: history %+v", i, o.History)
		}
	}
	want := []string{"node_1", "node_2_p0", "node_2_p1", "node_3_cond", "node_3_true", "node_4"}
	if got := nodeIDs(o); !slices.Equal(got, want) {
		t.Errorf("node ids = %v, want %v", got, want)
	}
	if o.Stats.TotalOperators != 6 || o.Stats.Stages != 4 || o.Stats.Parallel != 1 || o.Stats.Conditional != 1 {
		t.Errorf("stats = %+v", o.Stats)
	}
	h := o.History
	if h[0].Turn != 3 || h[0].Valid || !strings.Contains(h[0].Error, "no <action> tag found") ||
		h[1].Turn != 4 || !h[1].Valid || h[1].Error != "" || h[1].Action != "add conditional Review ? Revise : done" ||
		h[2].Turn != 5 || h[2].Action != "add Format" || o.LastAction != "add Format" {
		t.Errorf("history = %+v", h)
	}
	mustContain(t, "user prompt", o.Prompt.User,
		"Round 6/10.",
		"Current workflow: Plan -> [Programmer, Custom] -> Review ? Revise : done -> Format",
		"Nodes: node_1=Plan, node_2_p0=Programmer, node_2_p1=Custom, node_3_cond=Review, node_3_true=Revise, node_4=Format",
		"Statistics: 6 operators, 6 types, 4 stages, structures: parallel 1, conditional 1, loop 0.",
		"Last feedback: Added Format as node_4.")
	// The observation's graph is a copy.
	o.Graph.Stages = nil
	if e.Observe().DSL == "" {
		t.Error("mutating an observation's graph reached the episode")
	}
	// Turns are all kept in the snapshot even though History is bounded.
	if s := e.Snapshot(true); len(s.Turns) != 5 || s.Turns[2].Valid || s.Turns[2].Kind != "" || s.Turns[2].Summary != "unparsable reply" {
		t.Errorf("snapshot turns = %+v", s.Turns)
	}
}

func TestHistoryLimitZeroKeepsNoHistory(t *testing.T) {
	cfg := oneStepCfg()
	cfg.HistoryLimit = 0
	e, _ := newEpisode(t, New(), mathTask(), cfg)
	if o := say(t, e, addOp("Plan")); len(o.History) != 0 {
		t.Errorf("history = %+v", o.History)
	}
}

func TestRenderedPrompts(t *testing.T) {
	t.Run("system states the conditional semantics", func(t *testing.T) {
		_, o := newEpisode(t, New(), mathTask(), DefaultConfig())
		mustContain(t, "system prompt", o.Prompt.System,
			"T is the repair branch and runs when C judges the solution WRONG; F runs when C passes (done = nothing).",
			"- Programmer (solving): ",
			"<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>",
			"<action>finish</action>",
			"Finish is accepted only with: at least 5 operators, at least one structure, a solver, a checker, Format when the answer is verbose.",
			"You have 20 rounds in all; prompt replies count as rounds.",
			"Task kind: math.")
		mustNotContain(t, "system prompt", o.Prompt.System, "runs when C passes the solution; F", "Programmer: disabled for this task")
		// Test has no tests to run on a math task.
		mustContain(t, "system prompt", o.Prompt.System, "- Test: disabled for this task.")
	})
	t.Run("multiple choice marks Programmer disabled", func(t *testing.T) {
		_, o := newEpisode(t, New(), mcTask(), DefaultConfig())
		mustContain(t, "system prompt", o.Prompt.System, "- Programmer: disabled for this task.", "Task kind: multiple choice")
		mustContain(t, "user prompt", o.Prompt.User, "(a) 3\n(b) 4\n(c) 5\n")
	})
	t.Run("node prompt while awaiting", func(t *testing.T) {
		e, _ := newEpisode(t, New(), codeTask(true), DefaultConfig())
		say(t, e, addPar("Programmer, Custom, AnswerGenerate"))
		o := say(t, e, "<prompt>Write the add function in Python.</prompt>")
		p := o.Prompt
		if p == nil || p.Kind != PromptNode || p.MaxNewTokens != 256 {
			t.Fatalf("prompt = %+v", p)
		}
		mustContain(t, "node prompt", p.User,
			"Problem: "+codeTask(true).Question,
			"Entry point: add",
			"Public tests:\nassert add(1, 2) == 3",
			"Write the instruction for node node_1_p1 (Custom): General reasoning text generation guided by the node's prompt.",
			"It is branch 2 of 3 of parallel node_1.",
			"Workflow: [Programmer, Custom, AnswerGenerate]",
			"Rules: 1 to 3 sentences, specific to this problem, no tags, no code.")
		mustNotContain(t, "node prompt", p.User, "HIDDEN_SECRET")
		mustContain(t, "node system", p.System, "short, specific instructions for one operator")
	})
	t.Run("render off and done carry no prompt", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.RenderPrompt = false
		_, o := newEpisode(t, New(), mathTask(), cfg)
		if o.Prompt != nil {
			t.Errorf("prompt rendered with RenderPrompt off")
		}
		cfg = oneStepCfg()
		cfg.Finish = noFinish()
		e, _ := newEpisode(t, New(), mathTask(), cfg)
		if o := say(t, e, "<action>finish</action>"); o.Prompt != nil {
			t.Errorf("a done episode rendered a prompt")
		}
	})
	t.Run("feedback is bounded in the user prompt", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.FeedbackLimit = 100
		e, _ := newEpisode(t, New(), mathTask(), cfg)
		o := say(t, e, addOp("Foo"))
		if utf8.RuneCountInString(o.Feedback) <= 100 {
			t.Fatalf("feedback too short for this test: %q", o.Feedback)
		}
		line := ""
		for _, l := range strings.Split(o.Prompt.User, "\n") {
			if s, ok := strings.CutPrefix(l, "Last feedback: "); ok {
				line = s
			}
		}
		if n := utf8.RuneCountInString(line); n > 100 || !strings.HasPrefix(line, "Cannot add: unknown operator Foo") || !strings.Contains(line, "more]") {
			t.Errorf("feedback line (%d runes) = %q", n, line)
		}
	})
	t.Run("repair prompt", func(t *testing.T) {
		r := RepairPrompt("no <action> tag found")
		if r.Kind != PromptRepair || r.MaxNewTokens != 128 {
			t.Errorf("repair = %+v", r)
		}
		mustContain(t, "repair", r.User, "no <action> tag found", "<action>add</action><operator>Programmer</operator>")
	})
}

func TestExecutionExcerptsAreBounded(t *testing.T) {
	long := strings.Repeat("abcdefghij", 50) // 500 runes
	x := &fakeExec{Answer: strings.Repeat("é", 1000), Output: long}
	cfg := oneStepCfg()
	cfg.ExcerptLimit = 40
	e, _ := newEpisode(t, New(WithExecutor(x)), mathTask(), cfg)
	o := say(t, e, addPar("Programmer, Custom"))
	if len(o.Execution.Nodes) != 2 {
		t.Fatalf("nodes = %+v", o.Execution.Nodes)
	}
	for _, n := range o.Execution.Nodes {
		if c := utf8.RuneCountInString(n.Output); c > 40 || !strings.HasPrefix(n.Output, "abcdefghij") || !strings.HasSuffix(n.Output, fmt.Sprintf("[%d more]", 500-25)) {
			t.Errorf("node output (%d runes) = %q", c, n.Output)
		}
	}
	if c := utf8.RuneCountInString(o.Execution.FinalAnswer); c > 160 || !strings.Contains(o.Execution.FinalAnswer, "more]") {
		t.Errorf("final answer excerpt has %d runes", c)
	}
	// The feedback quotes at most 200 runes of the answer.
	if _, ans, ok := strings.Cut(o.Feedback, "current answer: "); !ok || utf8.RuneCountInString(ans) > 200 {
		t.Errorf("feedback answer = %q", ans)
	}
	// The episode keeps the full output (scoring reads it).
	if got := e.lastExec.Nodes[0].Output; got != long {
		t.Errorf("episode output was cut to %d bytes", len(got))
	}
	if got := e.lastExec.FinalAnswer; utf8.RuneCountInString(got) != 1000 {
		t.Errorf("episode final answer was cut")
	}
}

func TestHintsOnlyWhenConfigured(t *testing.T) {
	replies := []string{addOp("Programmer"), addPar("Custom, AnswerGenerate"), addCond("Review", "Revise", ""), addOp("Format")}
	wantHints := []string{
		"start with Plan, or a solver such as Programmer or AnswerGenerate",
		"add a parallel block of solvers followed by ScEnsemble, or a conditional Review ? Revise : done",
		"add a checker: a conditional Review ? Revise : done repairs wrong solutions",
		"add Format at the end so the final answer is concise",
		"the workflow meets the finish rules: finish when satisfied",
	}
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("hints=%v", on), func(t *testing.T) {
			cfg := oneStepCfg()
			cfg.Hints = on
			e, o := newEpisode(t, New(), mathTask(), cfg)
			obs := []Observation{o}
			for _, r := range replies {
				obs = append(obs, say(t, e, r))
			}
			for i, o := range obs {
				want := ""
				if on {
					want = wantHints[i]
				}
				if o.Hint != want {
					t.Errorf("observation %d hint = %q, want %q", i, o.Hint, want)
				}
			}
			if on {
				mustContain(t, "user prompt", obs[1].Prompt.User, "Hint (advisory): "+wantHints[1])
			} else {
				mustNotContain(t, "user prompt", obs[1].Prompt.User, "Hint (advisory)")
			}
		})
	}
	t.Run("no hint while awaiting or when done", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Hints = true
		cfg.MaxRounds = 2
		e, _ := newEpisode(t, New(), mathTask(), cfg)
		if o := say(t, e, addOp("Programmer")); o.Hint != "" || o.State != AwaitingPrompt {
			t.Errorf("awaiting hint = %q", o.Hint)
		}
		if o := say(t, e, "Compute it in Python."); o.Hint != "" || !o.Done {
			t.Errorf("done hint = %q", o.Hint)
		}
	})
	t.Run("code tasks", func(t *testing.T) {
		cfg := oneStepCfg()
		cfg.Hints = true
		e, _ := newEpisode(t, New(), codeTask(true), cfg)
		if o := say(t, e, addOp("Custom")); o.Hint != "add Programmer: code tasks need it" {
			t.Errorf("hint = %q", o.Hint)
		}
		if o := say(t, e, addOp("Programmer")); o.Hint != "add Test: this code task has public tests" {
			t.Errorf("hint = %q", o.Hint)
		}
	})
}

func TestRenderedPromptNamesTheTaskKind(t *testing.T) {
	qa := task.Task{ID: "qa-1", Family: task.QA, Question: "Who wrote the note?", Context: "The note was written by Ada.", Answers: []string{"Ada"}}
	apps := codeTask(false)
	apps.PublicTests = task.Tests{Style: task.IOStyle, Cases: []task.IOCase{{Input: "1 2", Output: "3"}}}
	cases := []struct {
		tk         task.Task
		system     string
		user       []string
		notInUser  string
		finishRule string
	}{
		{mathTask(), "Task kind: math. Programmer computes reliably", []string{"Problem: Tom has"}, "Entry point", ""},
		{qa, "Task kind: question answering over a passage.", []string{"Context: The note was written by Ada."}, "Ada\n", ""},
		{codeTask(true), "Task kind: code. Programmer writes the function", []string{"Entry point: add", "Public tests:\nassert add(1, 2) == 3"}, "HIDDEN_SECRET", "Test for a code task with tests"},
		{apps, "Task kind: code.", []string{"Example input:\n1 2\nExpected output:\n3"}, "HIDDEN_SECRET", "Test for a code task with tests"},
		{mcTask(), "Task kind: multiple choice: answer with the option letter. Programmer is disabled", []string{"(b) 4"}, "Entry point", ""},
	}
	for _, tc := range cases {
		t.Run(tc.tk.ID, func(t *testing.T) {
			_, o := newEpisode(t, New(), tc.tk, DefaultConfig())
			mustContain(t, "system", o.Prompt.System, tc.system, tc.finishRule)
			mustContain(t, "user", o.Prompt.User, tc.user...)
			mustNotContain(t, "user", o.Prompt.User, tc.notInUser)
			if tc.finishRule == "" {
				mustNotContain(t, "system", o.Prompt.System, "Test for a code task")
			}
		})
	}
}
