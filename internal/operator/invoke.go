package operator

import (
	"context"
	"sort"
	"strings"

	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/sandbox"
	"github.com/flowsteer/flowsteer/internal/task"
)

// Value is one named operator field: text, a list (the outputs of a
// parallel block) or a verdict.
type Value struct {
	Text string
	List []string
	Bool *bool
}

// Fields are an operator's named inputs or outputs.
type Fields map[string]Value

// Text returns a field's text, or its list joined, "" when absent.
func (f Fields) Text(name string) string {
	v, ok := f[name]
	if !ok {
		return ""
	}
	if v.Text == "" && len(v.List) > 0 {
		return strings.Join(v.List, "\n\n")
	}
	return v.Text
}

// List returns a field's list, or its text as a one-element list.
func (f Fields) List(name string) []string {
	v := f[name]
	if len(v.List) > 0 {
		return v.List
	}
	if v.Text != "" {
		return []string{v.Text}
	}
	return nil
}

// Call is one invocation of an operator at a node.
type Call struct {
	Task    task.Task // public view: no gold answers
	NodeID  string
	Prompt  string // the node's custom prompt, added to the operator's instruction
	Inputs  Fields
	Variant int
	// Sim is passed through to executor.Meta.Sim for the simulated backend.
	Sim any
}

// Usage counts the work one invocation did.
type Usage struct {
	Calls        int
	CacheHits    int
	InputTokens  int64
	OutputTokens int64
	SavedTokens  int64
	SandboxRuns  int
	Simulated    bool
	Model        string
}

// Add accumulates a backend response.
func (u *Usage) Add(r executor.Response) {
	u.Calls++
	if r.CacheHit {
		u.CacheHits++
		u.SavedTokens += r.InputTokens + r.OutputTokens
	} else {
		u.InputTokens += r.InputTokens
		u.OutputTokens += r.OutputTokens
	}
	u.Simulated = u.Simulated || r.Simulated
	if r.Model != "" {
		u.Model = r.Model
	}
}

// Merge adds o to u.
func (u *Usage) Merge(o Usage) {
	u.Calls += o.Calls
	u.CacheHits += o.CacheHits
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.SavedTokens += o.SavedTokens
	u.SandboxRuns += o.SandboxRuns
	u.Simulated = u.Simulated || o.Simulated
	if o.Model != "" {
		u.Model = o.Model
	}
}

// Output is what an invocation produced.
type Output struct {
	Fields Fields
	// Forward is what flows to the next stage (the answer, the solution,
	// the code for code tasks).
	Forward string
	// Verdict is a checker's judgement: true when the solution passed.
	Verdict *bool
	// Feedback is a checker's explanation, read by a later Revise.
	Feedback string
	// Code is the program Programmer wrote or Test repaired.
	Code  string
	Usage Usage
	// Note reports something the user should know (reduced sandbox isolation).
	Note string
}

// Env is what an operator may use: the executor backend (chosen by the
// engine for this operator) and the sandbox.
type Env interface {
	Complete(ctx context.Context, req executor.Request) (executor.Response, error)
	RunPython(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)
}

// Impl runs an operator.
type Impl interface {
	Invoke(ctx context.Context, env Env, c Call) (Output, error)
}

// ImplFunc adapts a function to Impl.
type ImplFunc func(ctx context.Context, env Env, c Call) (Output, error)

// Invoke calls f.
func (f ImplFunc) Invoke(ctx context.Context, env Env, c Call) (Output, error) { return f(ctx, env, c) }

// WithImpls returns a copy of l whose operators run with the given
// implementations; every operator must have one.
func (l *Library) WithImpls(impls map[string]Impl) (*Library, error) {
	defs := l.Defs()
	var missing []string
	for i := range defs {
		im, ok := impls[defs[i].Name]
		if !ok {
			missing = append(missing, defs[i].Name)
			continue
		}
		defs[i].Impl = im
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &MissingImplError{Library: l.name, Operators: missing}
	}
	return NewLibrary(l.name, defs)
}

// MissingImplError names operators without an implementation.
type MissingImplError struct {
	Library   string
	Operators []string
}

func (e *MissingImplError) Error() string {
	return "operator library " + e.Library + ": no implementation for " + strings.Join(e.Operators, ", ")
}
