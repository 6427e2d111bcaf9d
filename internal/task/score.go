package task

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Result is a scored final answer. Score is the correctness in [0, 1] that
// the reward releases (internal/reward); Correct is the strict verdict
// (exact match for qa, where Score is the token F1).
type Result struct {
	Score       float64
	Correct     bool
	Method      string // "numeric", "expression", "choice", "em", "f1", "pass@1"
	Explanation string // short and human-readable, e.g. "expected 42, got 42.0: numeric match"
	// Grader names what scored a math answer: the MathGrader's name with
	// its version ("math-verify 0.9.0") or GraderGo; "" for other families.
	Grader string
}

// Scoring methods reported in Result.Method.
const (
	MethodNumeric    = "numeric"
	MethodExpression = "expression"
	MethodChoice     = "choice"
	MethodEM         = "em"
	MethodF1         = "f1"
	MethodPass1      = "pass@1"
)

// CodeRunner runs a Python program with stdin under a wall-clock timeout.
// It is declared here, where it is used, so the code scorers need only this
// much of the sandbox (internal/sandbox is adapted to it). err is for a
// failure to run at all; a program that fails is a non-zero exitCode.
type CodeRunner interface {
	RunPython(ctx context.Context, code, stdin string, timeout time.Duration) (stdout string, exitCode int, timedOut bool, err error)
}

// Default time limits of code scoring.
const (
	DefaultProgramTimeout = 10 * time.Second // one assert- or embed-style test program
	DefaultCaseTimeout    = 4 * time.Second  // one stdin/stdout case
)

// Scorer scores final answers; the zero value uses the defaults.
type Scorer struct {
	ProgramTimeout time.Duration // 0: DefaultProgramTimeout
	CaseTimeout    time.Duration // 0: DefaultCaseTimeout
	// MathRelTol is the relative tolerance for non-integer math answers;
	// 0 means DefaultMathRelTol, a negative value means none (integers
	// always compare exactly).
	MathRelTol float64
	// Math, when set, grades math answers (math-verify); the Go scorer is
	// the fallback when it fails, and the explanation says so.
	Math MathGrader
}

func (s Scorer) mathRelTol() float64 {
	if s.MathRelTol == 0 {
		return DefaultMathRelTol
	}
	return s.MathRelTol
}

// Score scores answer against t with the default Scorer.
func Score(ctx context.Context, t Task, answer string, runner CodeRunner) Result {
	return Scorer{}.Score(ctx, t, answer, runner)
}

// Score dispatches on the task's family: math answers compare as numbers or
// normalised expressions, multiple choice by option letter, qa by SQuAD
// exact match and token F1, code by running the hidden tests (runner is only
// used for code and may be nil otherwise).
func (s Scorer) Score(ctx context.Context, t Task, answer string, runner CodeRunner) Result {
	switch t.Family {
	case Math:
		if s.Math != nil && len(t.Answers) > 0 {
			r, err := scoreMathWith(ctx, s.Math, t, answer)
			if err == nil {
				return r
			}
			r = scoreMath(t, answer, s.mathRelTol())
			r.Grader = GraderGo
			r.Explanation += " (" + GraderGo + " fallback: " + clip(err.Error(), 80) + ")"
			return r
		}
		r := scoreMath(t, answer, s.mathRelTol())
		r.Grader = GraderGo
		return r
	case MultipleChoice:
		return scoreChoice(t, answer)
	case QA:
		return scoreQA(t, answer)
	case Code:
		return s.scoreCode(ctx, t, answer, runner)
	}
	return Result{Explanation: fmt.Sprintf("unknown task family %q: not scored", t.Family)}
}

// AnswerKey maps an answer to the form the scorer compares, so answers that
// score alike get the same key: ScEnsemble-style voting and the simulated
// backend group answers by it. "" means no answer could be read.
func AnswerKey(t Task, answer string) string {
	switch t.Family {
	case Math:
		c := mathCandidate(answer)
		if c.text == "" {
			return ""
		}
		n := normalizeMath(c.text)
		if v, ok := mathValue(n); ok {
			return strconv.FormatFloat(v, 'g', 10, 64)
		}
		return n
	case MultipleChoice:
		l, _ := choiceOf(t, answer)
		return l
	case QA:
		a := extractQA(answer)
		if isNoAnswer(a) {
			return "<no answer>"
		}
		return NormalizeQA(a)
	case Code:
		lines := strings.Split(ExtractCode(answer), "\n")
		kept := lines[:0]
		for _, l := range lines {
			if l = strings.TrimRight(l, " \t"); l != "" {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "\n")
	}
	return strings.TrimSpace(answer)
}

// clip shortens s for an explanation.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
