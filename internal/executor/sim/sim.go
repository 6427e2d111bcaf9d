// Package sim is the offline simulated executor backend (SPEC section 10).
// Operators build their prompts and parse its replies exactly as with a
// real model; the sim answers in each operator's output format, deciding
// what a model would get right with the seeded probability model of its
// config (default.yaml documents every parameter). Answers are looked up
// by operator name: the default library's are in answers below, and
// WithAnswer adds one for any other operator. It reads the task and
// its gold answer from the call's metadata (Context), which the execution
// engine supplies only to simulated backends.
//
// Everything it returns is marked Simulated; reports and logs built on it
// say so. It makes workflow design matter, so a policy has something real
// to learn, and is never a result about real models.
package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/task"
)

// ModelName is what the sim reports as its model everywhere.
const ModelName = "sim (simulated executor)"

// Context is what the sim knows about a call beyond its prompt: the task
// with its gold answer, and where the node stands in the workflow.
type Context struct {
	Task task.Task
	// AfterPlan: a Plan stage precedes this node.
	AfterPlan bool
	// InDecompose: the node stands between a Decompose and an Aggregate.
	InDecompose bool
}

// Backend is the simulated executor.
type Backend struct {
	name string
	cfg  Config
	// cfgKey fingerprints the whole config for the cache key: two sims of
	// one name and seed but other probabilities must not share answers.
	cfgKey string
	// answers are the operators this backend answers beyond the built-in
	// ones (WithAnswer); they take precedence.
	answers map[string]Answer
}

// Option configures a Backend.
type Option func(*Backend)

// WithAnswer makes the backend answer operator op with a: how an operator
// of another library (or a test's throwaway one) gets its simulated answer
// without editing this package. The executor cache cannot fingerprint a
// function: two sims that share a cache and a name must answer op alike.
func WithAnswer(op string, a Answer) Option {
	return func(b *Backend) {
		if b.answers == nil {
			b.answers = map[string]Answer{}
		}
		b.answers[op] = a
	}
}

// New returns a sim backend named name.
func New(name string, cfg Config, opts ...Option) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sim config: %w", err)
	}
	if name == "" {
		name = "sim"
	}
	// %+v prints maps with sorted keys, so equal configs print equally.
	sum := sha256.Sum256([]byte(fmt.Sprintf("%+v", cfg)))
	b := &Backend{name: name, cfg: cfg, cfgKey: fmt.Sprintf("%x", sum[:8])}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

func (b *Backend) Name() string                        { return b.name }
func (b *Backend) Model() string                       { return ModelName }
func (b *Backend) Deterministic(executor.Request) bool { return true }
func (b *Backend) VariesByVariant() bool               { return true }
func (b *Backend) Simulated() bool                     { return true }
func (b *Backend) Config() Config                      { return b.cfg }

// ErrNoContext is returned for calls that lack the sim's Context.
var ErrNoContext = errors.New("the simulated backend needs the task in the call's metadata: it serves flowsteer's operators only")

// Complete answers one call in the calling operator's format.
func (b *Backend) Complete(ctx context.Context, req executor.Request) (executor.Response, error) {
	sc, ok := req.Meta.Sim.(*Context)
	if !ok || sc == nil {
		return executor.Response{}, ErrNoContext
	}
	d := &draw{seed: b.seed(req)}
	c := &Call{b: b, cfg: &b.cfg, t: sc.Task, sc: sc, meta: req.Meta, d: d}
	text, err := b.answer(c)
	if err != nil {
		return executor.Response{}, err
	}
	in := 0
	for _, m := range req.Messages {
		in += len(m.Content)
	}
	resp := executor.Response{
		Text: text, Model: ModelName, Simulated: true, FinishReason: "stop",
		InputTokens:  int64(math.Ceil(float64(in) / b.cfg.Tokens.CharsPerToken)),
		OutputTokens: int64(math.Ceil(float64(len(text)) / b.cfg.Tokens.CharsPerToken)),
	}
	resp.Latency = b.cfg.Latency.PerCall + time.Duration(resp.OutputTokens)*b.cfg.Latency.PerOutputToken
	if resp.Latency > 0 {
		t := time.NewTimer(resp.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return executor.Response{}, ctx.Err()
		case <-t.C:
		}
	}
	return resp, nil
}

// seed hashes everything that makes a call distinct, so identical calls
// draw identically and a changed prompt or branch draws anew.
func (b *Backend) seed(req executor.Request) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%d\x00%d\x00", b.cfg.Seed, req.Meta.TaskID, req.Meta.Operator, req.Meta.Variant, req.Meta.Attempt)
	for _, m := range req.Messages {
		fmt.Fprintf(h, "%s\x00%s\x00", m.Role, m.Content)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// draw gives independent uniform numbers for named decisions of one call.
type draw struct{ seed [32]byte }

func (d *draw) u(label string) float64 {
	h := sha256.New()
	h.Write(d.seed[:])
	h.Write([]byte(label))
	return float64(binary.BigEndian.Uint64(h.Sum(nil)[:8])>>11) / (1 << 53)
}

func (d *draw) pick(label string, n int) int {
	if n <= 1 {
		return 0
	}
	return int(d.u(label) * float64(n))
}

// Call is one call the sim answers: the task with its gold answer, the
// operator's inputs and the seeded draws of the probability model.
type Call struct {
	b    *Backend
	cfg  *Config
	t    task.Task
	sc   *Context
	meta executor.Meta
	d    *draw
}

// Answer writes the sim's reply to one call of an operator, in the format
// that operator's implementation parses.
type Answer func(c *Call) (string, error)

// answers are the simulated answers of the default library's operators,
// by operator name: a new built-in operator adds its own here.
var answers = map[string]Answer{
	"Plan":      func(c *Call) (string, error) { return c.plan(), nil },
	"Decompose": func(c *Call) (string, error) { return c.decompose(), nil },
	"Custom":    func(c *Call) (string, error) { return c.solverText("Custom"), nil },
	"AnswerGenerate": func(c *Call) (string, error) {
		a := c.solverText("AnswerGenerate")
		return "<thought>" + c.thought() + "</thought>\n<answer>" + a + "</answer>", nil
	},
	"Aggregate": func(c *Call) (string, error) {
		return "<aggregated_answer>" + c.solverText("Aggregate") + "</aggregated_answer>", nil
	},
	"Programmer": func(c *Call) (string, error) { return c.programmer(), nil },
	"Test":       func(c *Call) (string, error) { return c.testFix(), nil },
	"Review": func(c *Call) (string, error) {
		ok, fb := c.check()
		return fmt.Sprintf("<review_result>%v</review_result>\n<feedback>%s</feedback>", ok, fb), nil
	},
	"Verify": func(c *Call) (string, error) { return c.verify(), nil },
	"Revise": func(c *Call) (string, error) { return "<solution>" + c.revise() + "</solution>", nil },
	"Format": func(c *Call) (string, error) { return c.format(), nil },
}

// answer answers c with the answer registered for its operator.
func (b *Backend) answer(c *Call) (string, error) {
	a, ok := b.answers[c.meta.Operator]
	if !ok {
		a, ok = answers[c.meta.Operator]
	}
	if !ok {
		return "", fmt.Errorf("the simulated backend does not know operator %q", c.meta.Operator)
	}
	return a(c)
}

// Task is the task of the call, gold answer included.
func (c *Call) Task() task.Task { return c.t }

// Input is the operator's text input name ("" when absent).
func (c *Call) Input(name string) string { return c.meta.Inputs[name] }

// Solver is a solver's answer under the probability model: right with the
// probability of base[family][op] and the bonuses, else a distractor, and
// sometimes wrapped in prose (verbose[op]).
func (c *Call) Solver(op string) string { return c.solverText(op) }

// Check is a checker's noisy verdict on the "solution" (else "answer")
// input, with feedback that depends on the verdict only.
func (c *Call) Check() (bool, string) { return c.check() }

// Holds reports whether text carries the right answer.
func (c *Call) Holds(text string) bool { return c.holds(text) }

// difficulty is the task's, or one derived from a hash of its id.
func (c *Call) difficulty() float64 {
	if c.t.Difficulty > 0 {
		return c.t.Difficulty
	}
	h := fnv.New64a()
	h.Write([]byte(c.t.ID))
	return float64(h.Sum64()%1000) / 1000
}

// solverP is SPEC section 10's probability that a solver is right.
func (c *Call) solverP(op string) float64 {
	d := c.difficulty()
	p := c.cfg.Base[familyKey(c.t.Family)][op] * (1 - c.cfg.DifficultyFactor*d)
	if c.sc.AfterPlan {
		p += c.cfg.PlanBonus
	}
	if c.sc.InDecompose && d >= c.cfg.HardThreshold {
		p += c.cfg.DecomposeBonus
	}
	return clamp01(p)
}

func familyKey(f task.Family) string {
	if f == "" {
		return "math"
	}
	return string(f)
}

func clamp01(p float64) float64 { return math.Max(0, math.Min(1, p)) }

// inputsHoldGold reports whether what the operator was given already holds
// the right answer.
func (c *Call) inputsHoldGold() bool {
	for k, v := range c.meta.Inputs {
		if k != "problem" && k != "instruction" && c.holds(v) {
			return true
		}
	}
	for _, l := range c.meta.Lists {
		n := 0
		for _, v := range l {
			if c.holds(v) {
				n++
			}
		}
		if n*2 > len(l) {
			return true
		}
	}
	return false
}

// solverRight decides whether a solver call answers correctly.
func (c *Call) solverRight(op string) bool {
	if c.inputsHoldGold() && c.d.u("carry") < c.cfg.Carry {
		return true
	}
	return c.d.u("right") < c.solverP(op)
}

// solverText is a solver's answer, right or a distractor, concise or verbose.
func (c *Call) solverText(op string) string {
	ans := c.wrong("wrong")
	if c.solverRight(op) {
		ans = c.gold()
	}
	if c.d.u("verbose") < c.cfg.Verbose[op] {
		return c.verbose(ans)
	}
	return ans
}

// gold is the right answer in the form a concise model would write.
func (c *Call) gold() string {
	switch {
	case c.t.Family == task.QA && (c.t.Unanswerable || len(c.t.Answers) == 0):
		return "unanswerable"
	case len(c.t.Answers) > 0:
		return c.t.Answers[0]
	case c.t.Family == task.Code:
		return c.t.Reference
	}
	return ""
}

// wrong picks one of a few plausible distractors, so independent wrong
// samples can agree and voting is no free win.
func (c *Call) wrong(label string) string {
	ds := c.distractors()
	if len(ds) == 0 {
		return "I am not sure."
	}
	return ds[c.d.pick(label, len(ds))]
}

var numRE = regexp.MustCompile(`-?\d+(?:\.\d+)?`)

func (c *Call) distractors() []string {
	var out []string
	for _, d := range c.t.Distractors {
		if strings.TrimSpace(d) != "" && !c.holds(d) {
			out = append(out, d)
		}
	}
	if len(out) > 0 {
		return out
	}
	g := c.gold()
	switch c.t.Family {
	case task.Math:
		if v, err := strconv.ParseFloat(strings.ReplaceAll(g, ",", ""), 64); err == nil {
			return []string{fmtNum(v + 1), fmtNum(v * 2), fmtNum(v - 10), fmtNum(v / 2)}
		}
		return []string{"0", "1"}
	case task.MultipleChoice:
		for i := range max(len(c.t.Choices), 4) {
			l := string(rune('a' + i))
			if !c.holds(l) {
				out = append(out, l)
			}
		}
		return out
	case task.QA:
		seen := map[string]bool{}
		for _, w := range strings.Fields(c.t.Context) {
			w = strings.Trim(w, ".,;:!?\"'()")
			if len(w) > 2 && w[0] >= 'A' && w[0] <= 'Z' && !seen[w] && !c.holds(w) {
				seen[w] = true
				out = append(out, w)
				if len(out) == 4 {
					break
				}
			}
		}
		if len(out) == 0 {
			out = []string{"unknown"}
		}
		return out
	case task.Code:
		name := c.t.EntryPoint
		if name == "" {
			name = "solution"
		}
		return []string{"def " + name + "(*args, **kwargs):\n    return None\n"}
	}
	return nil
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// holds reports whether text carries the right answer, as a careful reader
// (a checker, Format) would see it, even inside prose.
func (c *Call) holds(text string) bool {
	if strings.TrimSpace(text) == "" {
		return false
	}
	switch c.t.Family {
	case task.Code:
		return c.t.Reference != "" && task.AnswerKey(c.t, text) == task.AnswerKey(c.t, c.t.Reference)
	case task.Math:
		if task.Score(context.Background(), c.t, text, nil).Correct {
			return true
		}
		g, err := strconv.ParseFloat(strings.ReplaceAll(c.gold(), ",", ""), 64)
		if err != nil {
			return false
		}
		for _, m := range numRE.FindAllString(strings.ReplaceAll(text, ",", ""), -1) {
			if v, err := strconv.ParseFloat(m, 64); err == nil && math.Abs(v-g) < 1e-6 {
				return true
			}
		}
		return false
	case task.QA:
		if task.Score(context.Background(), c.t, text, nil).Correct {
			return true
		}
		if c.t.Unanswerable || len(c.t.Answers) == 0 {
			return false
		}
		n := " " + task.NormalizeQA(text) + " "
		for _, a := range c.t.Answers {
			if na := task.NormalizeQA(a); na != "" && strings.Contains(n, " "+na+" ") {
				return true
			}
		}
		return false
	}
	return task.Score(context.Background(), c.t, text, nil).Correct
}

// verbose wraps an answer in step-by-step prose that a scorer often
// misreads: the answer is not the last number, and no "the answer is".
func (c *Call) verbose(ans string) string {
	steps := 2 + c.d.pick("steps", 3)
	switch c.t.Family {
	case task.Math:
		return fmt.Sprintf("Let's work through it step by step. First we collect the given quantities and combine them; this gives %s in the end, after checking all %d steps.", ans, steps)
	case task.QA:
		return fmt.Sprintf("Reading the passage carefully, the relevant sentence points to %s, which fits the question once we compare the %d candidate mentions.", ans, steps)
	case task.MultipleChoice:
		return fmt.Sprintf("Comparing the options one by one, (%s) fits the conditions while the other %d options fail one of them.", ans, steps+1)
	}
	return ans
}

func (c *Call) thought() string {
	return "I read the problem, identify what is asked, and work it out step by step."
}

func (c *Call) plan() string {
	switch c.t.Family {
	case task.Code:
		return "<plan>1. Read the required function signature.\n2. Handle the edge cases.\n3. Implement the main loop.\n4. Check against the examples.</plan>\n<approach>Direct implementation with edge cases first.</approach>"
	case task.QA:
		return "<plan>1. Find the sentences that mention the asked entity.\n2. Extract the exact span.\n3. Check that the passage really answers it.</plan>\n<approach>Extractive reading.</approach>"
	}
	return "<plan>1. List the given quantities.\n2. Write the operations in order.\n3. Compute and check the result.</plan>\n<approach>Step-by-step arithmetic.</approach>"
}

func (c *Call) decompose() string {
	return "<sub_problems>1. Identify the quantities or facts the question depends on.\n2. Work out the intermediate result.\n3. Combine the intermediate results into the final answer.</sub_problems>\n<reasoning>Each part can be checked on its own.</reasoning>"
}

func (c *Call) programmer() string {
	if c.d.u("error") < c.cfg.Programmer.ErrorRate {
		return "```python\nresult = compute_total(values)\nprint(result)\n```"
	}
	right := c.solverRight("Programmer")
	switch c.t.Family {
	case task.Code:
		code := c.wrong("wrong")
		if right && c.t.Reference != "" {
			code = c.t.Reference
		}
		return "```python\n" + strings.TrimRight(code, "\n") + "\n```"
	case task.Math:
		ans := c.wrong("wrong")
		if right {
			ans = c.gold()
		}
		if _, err := strconv.ParseFloat(strings.ReplaceAll(ans, ",", ""), 64); err == nil {
			return fmt.Sprintf("```python\nvalues = [%s]\nresult = sum(values)\nprint(result)\n```", strings.ReplaceAll(ans, ",", ""))
		}
		return fmt.Sprintf("```python\nprint(%s)\n```", task.PythonString(ans))
	}
	ans := c.wrong("wrong")
	if right {
		ans = c.gold()
	}
	return fmt.Sprintf("```python\nprint(%s)\n```", task.PythonString(ans))
}

func (c *Call) testFix() string {
	code := c.wrong("wrong")
	if c.t.Reference != "" && c.d.u("fix") < c.cfg.TestFix.Repair {
		code = c.t.Reference
	}
	return "```python\n" + strings.TrimRight(code, "\n") + "\n```"
}

// check is a checker's verdict on the solution it was given.
func (c *Call) check() (bool, string) {
	sol := c.meta.Inputs["solution"]
	if sol == "" {
		sol = c.meta.Inputs["answer"]
	}
	ok := true
	if c.holds(sol) {
		ok = c.d.u("alarm") >= c.cfg.Checker.FalseAlarm
	} else {
		ok = c.d.u("catch") >= c.cfg.Checker.Catch
	}
	// The feedback depends on the verdict only, never on whether the
	// solution was right: a policy reading it (or re-drawing the call with
	// new prompts until it reads a telling phrase) must learn no more than
	// the noisy verdict a real checker gives.
	if ok {
		return true, passFeedback[c.d.pick("feedback", len(passFeedback))]
	}
	return false, failFeedback[c.d.pick("feedback", len(failFeedback))]
}

var (
	passFeedback = []string{
		"The reasoning matches the question and the result is consistent.",
		"The solution looks plausible.",
	}
	failFeedback = []string{
		"The final step looks inconsistent with the question; recheck the last operation.",
		"The result does not satisfy the question: one of the steps uses the wrong quantity.",
	}
)

func (c *Call) repairP() float64 {
	return clamp01(c.cfg.Revise.Repair * (1 - c.cfg.Revise.RepairDifficulty*c.difficulty()))
}

func (c *Call) verify() string {
	ok, _ := c.check()
	ans := c.meta.Inputs["answer"]
	if !ok {
		if c.d.u("rederive") < c.repairP() {
			ans = c.gold()
		} else {
			ans = c.wrong("rederived")
		}
	}
	conf := 0.9
	if !ok {
		conf = 0.4
	}
	return fmt.Sprintf("<is_correct>%v</is_correct>\n<confidence>%.1f</confidence>\n<answer>%s</answer>", ok, conf, ans)
}

func (c *Call) revise() string {
	sol := c.meta.Inputs["solution"]
	right := c.holds(sol)
	switch {
	case right && c.d.u("break") < c.cfg.Revise.Break:
		right = false
	case !right && c.d.u("repair") < c.repairP():
		right = true
	}
	if c.t.Family == task.Code {
		if right && c.t.Reference != "" {
			return "```python\n" + c.t.Reference + "\n```"
		}
		if !right && !c.holds(sol) && strings.TrimSpace(sol) != "" {
			return sol
		}
		return "```python\n" + c.wrong("wrong") + "\n```"
	}
	ans := c.wrong("wrong")
	if right {
		ans = c.gold()
	}
	if c.d.u("verbose") < c.cfg.Verbose["Revise"] {
		return c.verbose(ans)
	}
	return ans
}

func (c *Call) format() string {
	sol := c.meta.Inputs["solution"]
	if c.t.Family == task.Code {
		code := task.ExtractCode(sol)
		if code == "" {
			code = sol
		}
		return "```python\n" + strings.TrimRight(code, "\n") + "\n```"
	}
	if c.holds(sol) && c.d.u("format") < c.cfg.Format.Accuracy {
		return "<answer>" + c.gold() + "</answer>"
	}
	if k := task.AnswerKey(c.t, sol); k != "" && !c.holds(sol) {
		return "<answer>" + k + "</answer>"
	}
	return "<answer>" + c.wrong("wrong") + "</answer>"
}

// CacheKeyExtra adds to the executor cache key what the sim's answer
// depends on beyond the prompt: its seed, the task, the attempt and the
// node's place in the workflow.
func (b *Backend) CacheKeyExtra(req executor.Request) string {
	extra := fmt.Sprintf("seed=%d config=%s task=%s attempt=%d", b.cfg.Seed, b.cfgKey, req.Meta.TaskID, req.Meta.Attempt)
	if sc, ok := req.Meta.Sim.(*Context); ok && sc != nil {
		extra += fmt.Sprintf(" plan=%v decompose=%v", sc.AfterPlan, sc.InDecompose)
	}
	return extra
}
