package canvas

import (
	"context"
	"errors"

	"github.com/flowsteer/flowsteer/internal/task"
)

// Memory accounting of open episodes. A store bounded by count alone lets
// one client fill the server's memory with a few huge episodes (a
// maximum-size task, a thousand turns of 64 KiB replies), so stores also
// bound the bytes episodes may hold, globally and per tenant, and check
// both when an episode is admitted. What an episode may still grow to is
// reserved up front: an unfinished episode costs its current size plus
// TurnReserve for every round it has left, an ended or closed one only
// its size, so the budget bounds memory however the episodes are played.
const (
	// MaxReplyBytes is the most text one turn may carry (a reply's text,
	// or a structured action's fields together); services refuse more.
	MaxReplyBytes = 64 << 10
	// TurnReserve is the most one turn adds to an episode: the reply as
	// stored in the history (text or structured fields), a node prompt it
	// sets (the same bytes again), feedback, the DSL after it, and the
	// latest execution's bounded node outputs that replace the last ones.
	TurnReserve = 2*MaxReplyBytes + 16<<10
	// episodeBase is an empty episode's fixed cost (graph, observation,
	// bookkeeping), measured with the maximum-size benchmark.
	episodeBase = 16 << 10
)

// ErrExhausted: admitting the episode would exceed a store's count or
// byte budget; the message names the limit.
var ErrExhausted = errors.New("episode budget exhausted")

type ownerKey struct{}

// WithOwner returns ctx carrying the tenant that episodes created with it
// belong to (services put the authenticated identity here).
func WithOwner(ctx context.Context, owner string) context.Context {
	return context.WithValue(ctx, ownerKey{}, owner)
}

// OwnerFrom is the tenant in ctx, "" (the anonymous tenant) when none.
func OwnerFrom(ctx context.Context) string {
	s, _ := ctx.Value(ownerKey{}).(string)
	return s
}

// Owner is the tenant that created the episode ("" for the anonymous one).
func (e *Episode) Owner() string { return e.owner }

// Cost is the bytes the episode holds or may still grow to (see above).
func (e *Episode) Cost() int64 { return e.cost.Load() }

// taskBytes approximates a task's memory: its text fields and lists.
func taskBytes(t task.Task) int64 {
	n := len(t.ID) + len(t.Question) + len(t.Context) + len(t.Prompt) + len(t.Reference) + len(t.EntryPoint) + len(t.Source)
	for _, l := range [][]string{t.Answers, t.Choices, t.Distractors} {
		for _, s := range l {
			n += len(s) + 16
		}
	}
	for _, ts := range []task.Tests{t.PublicTests, t.HiddenTests} {
		n += len(ts.Code)
		for _, c := range ts.Cases {
			n += len(c.Input) + len(c.Output) + 32
		}
	}
	return int64(n)
}

// turnBytes is what a stored turn holds.
func turnBytes(tr Turn) int64 {
	n := len(tr.Input.Text) + len(tr.Summary) + len(tr.Feedback) + len(tr.DSL) + 128
	if a := tr.Input.Structured; a != nil {
		n += len(a.Operator) + len(a.Condition) + len(a.True) + len(a.False) + len(a.Target) + len(a.Prompt) + len(a.Answer) + len(a.Reasoning)
		for _, op := range a.Operators {
			n += len(op) + 16
		}
	}
	return int64(n)
}

// reserveLocked recomputes the episode's cost; e.mu is held. A turn's
// prompt lands in the graph as well as the history, hence the prompt
// bytes of the turns taken count twice through size.
func (e *Episode) reserveLocked() {
	c := e.size
	if e.state != Done && !e.closed {
		c += int64(e.cfg.MaxRounds-e.turn) * TurnReserve
	}
	e.cost.Store(c)
}

// EpisodeReservation is what admitting a fresh episode on t with cfg
// reserves (for capacity planning: budget / reservation = episodes).
func EpisodeReservation(t task.Task, cfg Config) int64 {
	return episodeBase + taskBytes(t) + int64(cfg.MaxRounds)*TurnReserve
}
