package canvas

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// State is where an episode stands.
type State string

const (
	Building       State = "building"
	AwaitingPrompt State = "awaiting_prompt"
	Done           State = "done"
)

// EndReason says why an episode ended.
type EndReason string

const (
	NotEnded  EndReason = ""
	Finished  EndReason = "finished"
	MaxRounds EndReason = "max_rounds"
	Closed    EndReason = "closed"
)

// Input is one policy reply: raw text, or an already structured action
// (then Text is kept for the record only). A structured add's Position is
// a 0-based index; set it to -1 to append.
type Input struct {
	Text       string
	Structured *action.Action
}

// Turn is one recorded turn.
type Turn struct {
	Number   int
	Input    Input
	Kind     action.Kind // "" when the reply could not be parsed
	Summary  string
	Valid    bool
	Feedback string
	DSL      string
	State    State
	Time     time.Time
}

// Episode is one task and the workflow built for it. Its methods are safe
// for concurrent use; turns are applied one at a time.
type Episode struct {
	mu sync.Mutex

	id      string
	task    task.Task
	cfg     Config
	lib     *operator.Library
	rewards reward.Spec
	exec    Executor
	scorer  Scorer

	graph *workflow.Graph
	// scored is the workflow as last executed (as last completed where
	// execution is off): the W the reward scores, which never holds nodes
	// still awaiting their prompts (nil = the empty workflow).
	scored   *workflow.Graph
	state    State
	turn     int
	awaiting []pendingPrompt
	end      EndReason
	answer   string // finish answer, recorded never scored
	invalid  int

	lastExec     Execution
	usage        ExecStats // every execution of the episode, summed (its executor cost)
	lastFeedback string
	lastValid    bool
	lastSummary  string
	lastKind     action.Kind
	hint         string
	result       *Result

	turns   []Turn
	view    viewCache // what observations share between turns (observation.go)
	created time.Time
	updated time.Time
	closed  bool
	active  atomic.Bool // counted in the active-episodes metric

	// owner is the tenant that created the episode; size the bytes it
	// holds and cost what it holds or may still grow to (budget.go).
	owner string
	size  int64
	cost  atomic.Int64
}

// Result is an ended episode's score and reward.
type Result struct {
	Score  Score
	Reward reward.Breakdown
}

// Score is a scorer's verdict on the final answer.
type Score struct {
	Value       float64
	Correct     bool
	Method      string
	Explanation string
}

// Scorer scores a final answer against a task's gold answer (the task
// package provides the real one). A nil Scorer gives no reward.
type Scorer interface {
	Score(ctx context.Context, t task.Task, answer string) Score
}

// ID returns the episode id.
func (e *Episode) ID() string { return e.id }

// Task returns the episode's task (with gold fields).
func (e *Episode) Task() task.Task { return e.task }

// Config returns the episode's configuration.
func (e *Episode) Config() Config { return e.cfg }

// Errors callers tell apart (the service maps them to status codes).
var (
	ErrNotFound = errors.New("episode not found")
	ErrClosed   = errors.New("episode is closed")
	ErrDone     = errors.New("episode is done")
	ErrInvalid  = errors.New("invalid request")
)

// Step applies one policy reply and returns the next observation. A reply
// that cannot be parsed or applied still counts as a turn and becomes
// feedback; only a closed or ended episode is an error.
func (e *Episode) Step(ctx context.Context, in Input) (Observation, error) {
	ctx, span := e.startApply(ctx)
	o, err := e.step(ctx, in)
	e.endApply(ctx, span, o, err)
	return o, err
}

func (e *Episode) step(ctx context.Context, in Input) (Observation, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Observation{}, fmt.Errorf("%w: %s was closed; open a new episode", ErrClosed, e.id)
	}
	if e.state == Done {
		return Observation{}, fmt.Errorf("%w: %s ended (%s) after %d turns; open a new episode", ErrDone, e.id, e.end, e.turn)
	}
	e.turn++
	e.hint = ""
	var t turnOutcome
	if i := strings.IndexByte(in.Text, 0); i >= 0 && in.Structured == nil {
		// A NUL byte is no part of a reply a model writes: the turn is
		// invalid (feedback, as every bad reply is) and nothing of it
		// reaches a node prompt, an executor or a log; the record keeps the
		// reply with each NUL shown as U+FFFD.
		t = invalid("", "", fmt.Sprintf("Invalid reply: it holds a NUL byte at offset %d. Reply with text: a brief reflection and exactly one action in tags. Nothing was changed.", i))
		in.Text = strings.ReplaceAll(in.Text, "\x00", "\uFFFD")
	} else if e.state == AwaitingPrompt {
		t = e.takePrompt(ctx, in)
	} else {
		t = e.applyAction(ctx, in)
	}
	if !t.valid {
		e.invalid++
	}
	e.lastFeedback, e.lastValid, e.lastSummary, e.lastKind = t.feedback, t.valid, t.summary, t.kind
	if e.state != Done && e.turn >= e.cfg.MaxRounds {
		e.end = MaxRounds
		e.state = Done
		e.lastFeedback += fmt.Sprintf("\nThe episode reached max_rounds (%d) and ended.", e.cfg.MaxRounds)
		e.lastFeedback += e.dropPending()
	}
	if e.state == Done {
		e.finalise(ctx)
	} else if e.cfg.Hints {
		e.hint = adviseNext(e)
	}
	e.updated = time.Now()
	if in.Structured != nil {
		a := *in.Structured // the record must not change if the caller reuses its action
		a.Operators = append([]string(nil), a.Operators...)
		in.Structured = &a
	}
	if e.turns == nil {
		e.turns = make([]Turn, 0, min(e.cfg.MaxRounds, 32)) // one allocation for a typical episode
	}
	tr := Turn{
		Number: e.turn, Input: in, Kind: t.kind, Summary: t.summary, Valid: t.valid,
		Feedback: e.lastFeedback, DSL: e.dsl(), State: e.state, Time: e.updated,
	}
	e.turns = append(e.turns, tr)
	e.size += turnBytes(tr)
	e.reserveLocked()
	return e.observe(), nil
}

type turnOutcome struct {
	valid    bool
	kind     action.Kind
	summary  string
	feedback string
}

func invalid(kind action.Kind, summary, feedback string) turnOutcome {
	return turnOutcome{kind: kind, summary: summary, feedback: feedback}
}

// close marks the episode closed; an open episode ends with EndReason Closed.
// It reports false when the episode was already closed.
func (e *Episode) close(ctx context.Context) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.closed = true
	if e.state != Done {
		e.state = Done
		e.end = Closed
		e.dropPending()
		e.finalise(ctx)
		e.traceEnd(ctx, trace.SpanFromContext(ctx), e.observe())
	}
	e.updated = time.Now()
	e.reserveLocked()
	return true
}

// Snapshot is an episode's full record.
type Snapshot struct {
	ID          string
	Task        task.Task
	Config      Config
	Observation Observation
	Turns       []Turn
	Created     time.Time
	Updated     time.Time
	Closed      bool
}

// Snapshot returns the record; turns only when asked.
func (e *Episode) Snapshot(withTurns bool) Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Snapshot{ID: e.id, Task: e.task, Config: e.cfg, Observation: e.observe(), Created: e.created, Updated: e.updated, Closed: e.closed}
	if withTurns {
		s.Turns = append([]Turn(nil), e.turns...)
	}
	return s
}

// Observe returns the current observation without taking a turn.
func (e *Episode) Observe() Observation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.observe()
}

func (e *Episode) lastUsed() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.updated
}
