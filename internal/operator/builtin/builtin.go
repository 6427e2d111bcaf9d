// Package builtin implements the twelve operators of the default library
// (SPEC section 2): each builds its prompt from its instruction, the node's
// custom prompt and its inputs, calls the executor backend, and parses the
// reply tolerantly. Programmer and Test run code in the sandbox;
// ScEnsemble votes in code over normalised answers.
//
// Data path: engine -> operator (here) -> executor backend / sandbox ->
// Output -> engine's data flow.
package builtin

import (
	"context"
	"fmt"
	"strings"

	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
)

// Library returns the default library with these implementations.
func Library() *operator.Library {
	l, err := operator.Default().WithImpls(Impls())
	if err != nil {
		panic(err) // every default operator is implemented below; tests check it
	}
	return l
}

// Impls maps operator names to implementations.
func Impls() map[string]operator.Impl {
	return map[string]operator.Impl{
		"Plan":           operator.ImplFunc(plan),
		"Decompose":      operator.ImplFunc(decompose),
		"Custom":         operator.ImplFunc(custom),
		"AnswerGenerate": operator.ImplFunc(answerGenerate),
		"Programmer":     operator.ImplFunc(programmer),
		"Test":           operator.ImplFunc(testOp),
		"Review":         operator.ImplFunc(review),
		"Verify":         operator.ImplFunc(verify),
		"Revise":         operator.ImplFunc(revise),
		"ScEnsemble":     operator.ImplFunc(scEnsemble),
		"Aggregate":      operator.ImplFunc(aggregate),
		"Format":         operator.ImplFunc(format),
	}
}

// Instructions are the operators' own prompts. The node's custom prompt is
// appended to them.
const (
	planInstr = "You plan how to solve a problem. Do not solve it. Reply with <plan>numbered steps</plan> and <approach>one sentence naming the method</approach>."

	decomposeInstr = "You split a problem into 2 to 4 smaller sub-problems that together solve it. Reply with <sub_problems>a numbered list</sub_problems> and <reasoning>why this split</reasoning>."

	customInstr = "You solve the task below following the instruction. Be correct and concise."

	answerGenerateInstr = "Think step by step, then give the final answer. Reply with <thought>your reasoning</thought> and <answer>the final answer only</answer>."

	programmerInstr = "You write a complete Python 3 program that solves the problem and prints the final answer on the last line. Use only the standard library. Reply with one ```python code block```."

	programmerCodeInstr = "You write the requested Python 3 function. Use only the standard library; do not read input or print unless the task says so. Reply with one ```python code block``` holding the complete function (and any helpers)."

	testFixInstr = "The code below fails its tests. Fix it. Reply with one ```python code block``` holding the complete corrected code."

	reviewInstr = "You review a proposed solution to a problem. Check it carefully. Reply with <review_result>true</review_result> if it is correct or <review_result>false</review_result> if it is wrong, then <feedback>what is wrong and how to fix it, or why it is right</feedback>."

	verifyInstr = "You verify an answer by re-deriving it independently. Reply with <is_correct>true or false</is_correct>, <confidence>a number from 0 to 1</confidence> and <answer>the correct final answer</answer>."

	reviseInstr = "You revise a solution using the reviewer's feedback. Reply with <solution>the corrected solution, ending with the final answer</solution>."

	aggregateInstr = "You combine answers to sub-problems (or several candidate answers) into one final answer to the problem. Reply with <aggregated_answer>the final answer</aggregated_answer>."

	formatInstr = "You extract the final answer from a solution, in the shortest form the question expects (a number, a name, an option letter), with no explanation. Reply with <answer>the final answer only</answer>."

	formatCodeInstr = "You return the final code of a solution, nothing else. Reply with one ```python code block```."
)

// call is one backend call made on behalf of an invocation.
func call(ctx context.Context, env operator.Env, c operator.Call, op, instr, user string, attempt int, out *operator.Output) (string, error) {
	sys := instr
	if p := strings.TrimSpace(c.Prompt); p != "" {
		sys += "\n\nInstruction for this step: " + p
	}
	meta := executor.Meta{
		Operator: op, NodeID: c.NodeID, TaskID: c.Task.ID, Variant: c.Variant, Attempt: attempt, Sim: c.Sim,
		Inputs: map[string]string{}, Lists: map[string][]string{},
	}
	for k, v := range c.Inputs {
		if len(v.List) > 0 {
			meta.Lists[k] = v.List
		} else {
			meta.Inputs[k] = v.Text
		}
	}
	resp, err := env.Complete(ctx, executor.Request{
		Messages: []executor.Message{{Role: "system", Content: sys}, {Role: "user", Content: user}},
		Meta:     meta,
	})
	if err != nil {
		return "", fmt.Errorf("%s: backend call failed: %w", op, err)
	}
	out.Usage.Add(resp)
	return resp.Text, nil
}

// problemText renders the task for operator prompts.
func problemText(t task.Task) string {
	var b strings.Builder
	b.WriteString(t.Question)
	if t.Context != "" {
		b.WriteString("\n\nContext:\n" + t.Context)
	}
	for i, ch := range t.Choices {
		fmt.Fprintf(&b, "\n(%c) %s", 'a'+i, ch)
	}
	if t.Family == task.Code {
		if t.Prompt != "" && !strings.Contains(t.Question, t.Prompt) {
			b.WriteString("\n\n" + t.Prompt)
		}
		if t.EntryPoint != "" {
			b.WriteString("\n\nThe function must be named " + t.EntryPoint + ".")
		}
	}
	if t.Family == task.MultipleChoice {
		b.WriteString("\n\nAnswer with the option letter.")
	}
	return b.String()
}

func section(name, body string) string {
	if strings.TrimSpace(body) == "" {
		return ""
	}
	return "\n\n" + name + ":\n" + body
}

func plan(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	reply, err := call(ctx, env, c, "Plan", planInstr, "Problem:\n"+problemText(c.Task), 0, &out)
	if err != nil {
		return out, err
	}
	p := fieldOr(reply, "plan")
	a, _ := field(reply, "approach")
	out.Fields = operator.Fields{"plan": {Text: p}, "approach": {Text: a}}
	out.Forward = p
	return out, nil
}

func decompose(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	reply, err := call(ctx, env, c, "Decompose", decomposeInstr, "Problem:\n"+problemText(c.Task), 0, &out)
	if err != nil {
		return out, err
	}
	subs := fieldOr(reply, "sub_problems")
	why, _ := field(reply, "reasoning")
	out.Fields = operator.Fields{"sub_problems": {List: items(subs)}, "reasoning": {Text: why}}
	out.Forward = subs
	return out, nil
}

func custom(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	user := "Task:\n" + problemText(c.Task) + section("Input from the previous step", c.Inputs.Text("input"))
	reply, err := call(ctx, env, c, "Custom", customInstr, user, 0, &out)
	if err != nil {
		return out, err
	}
	r := stripThink(reply)
	out.Fields = operator.Fields{"response": {Text: r}}
	out.Forward = r
	return out, nil
}

func answerGenerate(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	user := "Problem:\n" + problemText(c.Task) + section("Input from the previous step", c.Inputs.Text("input"))
	reply, err := call(ctx, env, c, "AnswerGenerate", answerGenerateInstr, user, 0, &out)
	if err != nil {
		return out, err
	}
	th, _ := field(reply, "thought")
	// No answer tag: the reply is the answer, prose and all, and a later
	// Format has to extract it.
	ans := fieldOr(reply, "answer")
	out.Fields = operator.Fields{"thought": {Text: th}, "answer": {Text: ans}}
	out.Forward = ans
	return out, nil
}

func review(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	sol := c.Inputs.Text("solution")
	user := "Problem:\n" + problemText(c.Task) + section("Proposed solution", sol)
	reply, v, err := judge(ctx, env, c, "Review", reviewInstr, user, "review_result", &out)
	if err != nil {
		return out, err
	}
	fb, _ := field(reply, "feedback")
	out.Verdict, out.Feedback = &v, fb
	out.Fields = operator.Fields{"review_result": {Bool: &v}, "feedback": {Text: fb}}
	out.Forward = sol // a trailing Review passes the reviewed solution on
	return out, nil
}

func verify(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	ans := c.Inputs.Text("answer")
	user := "Problem:\n" + problemText(c.Task) + section("Answer to verify", ans)
	reply, v, err := judge(ctx, env, c, "Verify", verifyInstr, user, "is_correct", &out)
	if err != nil {
		return out, err
	}
	conf, _ := field(reply, "confidence")
	fixed, hasAnswer := field(reply, "answer")
	out.Verdict = &v
	out.Forward = ans
	if !v && hasAnswer && strings.TrimSpace(fixed) != "" {
		out.Forward = fixed
		out.Feedback = "the verifier re-derived " + excerpt(fixed, 200)
	} else if !v {
		out.Feedback = "the verifier judged the answer wrong"
	}
	out.Fields = operator.Fields{"is_correct": {Bool: &v}, "confidence": {Text: conf}, "answer": {Text: out.Forward}}
	return out, nil
}

func revise(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	sol := c.Inputs.Text("solution")
	user := "Problem:\n" + problemText(c.Task) + section("Solution", sol) + section("Reviewer feedback", c.Inputs.Text("feedback"))
	reply, err := call(ctx, env, c, "Revise", reviseInstr, user, 0, &out)
	if err != nil {
		return out, err
	}
	s := fieldOr(reply, "solution")
	if c.Task.Family == task.Code {
		if code := task.ExtractCode(s); code != "" {
			s = code
		}
	}
	out.Fields = operator.Fields{"solution": {Text: s}}
	out.Forward = s
	return out, nil
}

func aggregate(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	var b strings.Builder
	for i, s := range c.Inputs.List("sub_answers") {
		fmt.Fprintf(&b, "%d. %s\n", i+1, s)
	}
	user := "Problem:\n" + problemText(c.Task) + section("Answers to combine", b.String())
	reply, err := call(ctx, env, c, "Aggregate", aggregateInstr, user, 0, &out)
	if err != nil {
		return out, err
	}
	a := fieldOr(reply, "aggregated_answer")
	out.Fields = operator.Fields{"aggregated_answer": {Text: a}}
	out.Forward = a
	return out, nil
}

func format(ctx context.Context, env operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	sol := c.Inputs.Text("solution")
	instr := formatInstr
	if c.Task.Family == task.Code {
		instr = formatCodeInstr
	}
	user := "Problem:\n" + problemText(c.Task) + section("Solution", sol)
	reply, err := call(ctx, env, c, "Format", instr, user, 0, &out)
	if err != nil {
		return out, err
	}
	var a string
	if c.Task.Family == task.Code {
		// A reply without code keeps the solution's code: Format must not
		// replace a program with prose.
		if a = codeIn(reply); a == "" {
			a = sol
		}
	} else {
		a = fieldOr(reply, "answer")
	}
	out.Fields = operator.Fields{"solution": {Text: a}}
	out.Forward = a
	return out, nil
}

// scEnsemble votes: the answers of the solutions are normalised the way
// the task's scorer compares them and the most common one wins (ties go to
// the earliest), so agreeing samples beat a lone outlier without any
// model call.
func scEnsemble(_ context.Context, _ operator.Env, c operator.Call) (operator.Output, error) {
	var out operator.Output
	sols := c.Inputs.List("solutions")
	if len(sols) == 0 {
		return out, fmt.Errorf("ScEnsemble: no solutions to vote on: put it after a parallel block of solvers")
	}
	counts := map[string]int{}
	first := map[string]int{}
	for i, s := range sols {
		k := task.AnswerKey(c.Task, s)
		if k == "" {
			continue
		}
		if _, seen := first[k]; !seen {
			first[k] = i
		}
		counts[k]++
	}
	best, bestKey := 0, ""
	for k, n := range counts {
		if n > counts[bestKey] || (n == counts[bestKey] && first[k] < first[bestKey]) || bestKey == "" {
			bestKey = k
		}
	}
	if bestKey != "" {
		best = first[bestKey]
	}
	out.Fields = operator.Fields{"response": {Text: sols[best]}}
	out.Forward = sols[best]
	out.Feedback = fmt.Sprintf("%d of %d solutions agree", counts[bestKey], len(sols))
	return out, nil
}

func excerpt(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// fieldOr is the named field of a reply, or the whole reply (thinking
// removed) when the model left the tag out.
func fieldOr(reply, name string) string {
	if v, ok := field(reply, name); ok {
		return v
	}
	return stripThink(reply)
}

// judge asks a checker operator (Review, Verify) and reads its boolean
// verdict from the reply's <tag>.
func judge(ctx context.Context, env operator.Env, c operator.Call, op, instr, user, tag string, out *operator.Output) (reply string, verdict bool, err error) {
	if reply, err = call(ctx, env, c, op, instr, user, 0, out); err != nil {
		return reply, false, err
	}
	verdict, err = verdictIn(reply, op, tag)
	return reply, verdict, err
}

// verdictIn reads a checker's true/false verdict from the named field; a
// reply without one is op's error, since a checker without a verdict
// cannot steer a conditional.
func verdictIn(reply, op, name string) (bool, error) {
	raw, ok := field(reply, name)
	if !ok {
		return false, fmt.Errorf("%s: the reply has no <%s>: %q", op, name, excerpt(reply, 120))
	}
	v, ok := verdict(raw)
	if !ok {
		return false, fmt.Errorf("%s: cannot read %q as true or false", op, excerpt(raw, 60))
	}
	return v, nil
}
