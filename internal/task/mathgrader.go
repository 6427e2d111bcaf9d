package task

import (
	"context"
	"fmt"
)

// Math graders. The default math grader of a run is an external reference
// grader (math-verify, see internal/task/mathverify), the one published
// math results are computed with; the Go scorer of score_math.go is the
// offline fallback. Result.Grader says which one scored.

// Grader names reported in Result.Grader.
const (
	GraderGo = "flowsteer-go" // score_math.go, this package
)

// MethodMathVerify is Result.Method for answers a MathGrader scored.
const MethodMathVerify = "math-verify"

// MathItem is one answer to grade: the gold answers, the final-answer
// fragment flowsteer's extraction found, and the whole text.
type MathItem struct {
	Gold []string `json:"gold"`
	Pred string   `json:"pred"`
	Text string   `json:"text,omitempty"`
}

// MathVerdict is a grader's verdict on one MathItem: what it parsed from
// the gold and the prediction, and an error when it could parse nothing.
type MathVerdict struct {
	Correct bool   `json:"correct"`
	Gold    string `json:"gold,omitempty"`
	Pred    string `json:"pred,omitempty"`
	Error   string `json:"error,omitempty"`
}

// MathGrader grades math answers with an external grader. GradeMath
// returns one verdict per item, or an error when the grader cannot run (the
// Scorer then falls back to the Go scorer and says so).
type MathGrader interface {
	Name() string // with the version, e.g. "math-verify 0.9.0"
	GradeMath(ctx context.Context, items []MathItem) ([]MathVerdict, error)
}

// scoreMathWith grades with g; ok is false when g failed, with the error.
func scoreMathWith(ctx context.Context, g MathGrader, t Task, answer string) (Result, error) {
	c := mathCandidate(answer)
	vs, err := g.GradeMath(ctx, []MathItem{{Gold: t.Answers, Pred: c.text, Text: answer}})
	if err != nil {
		return Result{}, err
	}
	if len(vs) != 1 {
		return Result{}, fmt.Errorf("%s returned %d verdicts for 1 answer", g.Name(), len(vs))
	}
	v := vs[0]
	r := Result{Method: MethodMathVerify, Grader: g.Name()}
	got := v.Pred
	if got == "" {
		got = "no answer"
	}
	if v.Correct {
		r.Score, r.Correct = 1, true
		r.Explanation = fmt.Sprintf("expected %s, got %s: %s match", clip(t.Answers[0], 40), clip(got, 40), g.Name())
		return r, nil
	}
	r.Explanation = fmt.Sprintf("expected %s, got %s: %s mismatch", clip(t.Answers[0], 40), clip(got, 40), g.Name())
	if v.Error != "" {
		r.Explanation += " (" + clip(v.Error, 60) + ")"
	}
	return r, nil
}
