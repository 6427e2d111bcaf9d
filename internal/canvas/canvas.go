// Package canvas holds episodes: one task and the workflow a policy builds
// for it, one edit per turn. The canvas parses each reply into an action
// (internal/action), applies it to the graph (internal/workflow) after
// checking it against the operator library (internal/operator), runs the
// workflow through an Executor, and answers with an Observation whose
// feedback names any problem and its fix. When an episode ends it is
// scored and rewarded (internal/reward).
//
// Data path: policy reply -> action -> canvas -> executor -> feedback ->
// reward. The gRPC service (services/canvas) wraps this package.
package canvas

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Canvas creates and runs episodes.
type Canvas struct {
	libs   *operator.Registry
	store  Store
	exec   Executor
	scorer Scorer
	now    func() time.Time
}

// Option configures a Canvas.
type Option func(*Canvas)

// WithExecutor sets the executor that runs workflows after each edit.
func WithExecutor(x Executor) Option { return func(c *Canvas) { c.exec = x } }

// WithScorer sets the scorer applied to the final answer of ended episodes.
func WithScorer(s Scorer) Option { return func(c *Canvas) { c.scorer = s } }

// WithStore replaces the default in-memory store.
func WithStore(s Store) Option { return func(c *Canvas) { c.store = s } }

// WithLibraries replaces the default operator registry.
func WithLibraries(r *operator.Registry) Option { return func(c *Canvas) { c.libs = r } }

// New returns a canvas with an in-memory store of default size, the default
// operator library and no executor unless options say otherwise.
func New(opts ...Option) *Canvas {
	c := &Canvas{libs: operator.NewRegistry(), now: time.Now}
	for _, o := range opts {
		o(c)
	}
	if c.store == nil {
		s, _ := NewMemoryStore(DefaultStoreConfig())
		c.store = s
	}
	return c
}

// Libraries returns the operator registry.
func (c *Canvas) Libraries() *operator.Registry { return c.libs }

// Store returns the episode store.
func (c *Canvas) Store() Store { return c.store }

// Scorer returns the configured scorer, possibly nil.
func (c *Canvas) Scorer() Scorer { return c.scorer }

// Executor returns the configured executor, possibly nil.
func (c *Canvas) Executor() Executor { return c.exec }

// ValidateTask checks what the canvas needs of a task.
func ValidateTask(t task.Task) error {
	if strings.TrimSpace(t.Question) == "" && strings.TrimSpace(t.Prompt) == "" {
		return fmt.Errorf("%w: task.question is empty: an episode needs a problem", ErrInvalid)
	}
	if !t.Family.Valid() {
		return fmt.Errorf("%w: task.family %q is not one of math, qa, code, mc", ErrInvalid, t.Family)
	}
	if !(t.Difficulty >= 0 && t.Difficulty <= 1) { // NaN fails too
		return fmt.Errorf("%w: task.difficulty must be in [0, 1], got %v", ErrInvalid, t.Difficulty)
	}
	return nil
}

// Create opens an episode on t and returns it with its first observation.
func (c *Canvas) Create(ctx context.Context, t task.Task, cfg Config, rw reward.Spec) (*Episode, Observation, error) {
	if err := ValidateTask(t); err != nil {
		return nil, Observation{}, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, Observation{}, fmt.Errorf("%w: config.%w", ErrInvalid, err)
	}
	if err := rw.Validate(); err != nil {
		return nil, Observation{}, fmt.Errorf("%w: config.%w", ErrInvalid, err)
	}
	lib, err := c.libs.Get(cfg.Library)
	if err != nil {
		return nil, Observation{}, fmt.Errorf("%w: config.library: %w", ErrInvalid, err)
	}
	if t.ID == "" {
		t.ID = "task-" + randomID()
	}
	now := c.now()
	e := &Episode{
		id: "ep_" + randomID(), task: t, cfg: cfg, lib: lib, rewards: rw,
		exec: c.exec, scorer: c.scorer, graph: workflow.New(), state: Building,
		created: now, updated: now, owner: OwnerFrom(ctx),
	}
	e.size = episodeBase + taskBytes(t)
	e.reserveLocked()
	if cfg.Hints {
		e.hint = adviseNext(e) // the first observation advises too
	}
	// Live before the store sees it: a tenant's limit makes room only by
	// expiring its ended episodes, and an open racing this one must not
	// take the new episode for an ended one.
	e.opened(ctx)
	if err := c.store.Put(e); err != nil {
		e.dropped()
		return nil, Observation{}, err
	}
	return e, e.Observe(), nil
}

// Get returns an open or closed episode still held by the store.
func (c *Canvas) Get(id string) (*Episode, error) {
	if strings.TrimSpace(id) == "" {
		return nil, fmt.Errorf("%w: episode_id is empty", ErrInvalid)
	}
	return c.store.Get(id)
}

// Step applies one reply to the episode id.
func (c *Canvas) Step(ctx context.Context, id string, in Input) (Observation, error) {
	e, err := c.Get(id)
	if err != nil {
		return Observation{}, err
	}
	return e.Step(ctx, in)
}

// Close ends an episode (if still running) and returns its final record.
// The record stays readable until the store expires it.
func (c *Canvas) Close(ctx context.Context, id string) (Snapshot, error) {
	e, err := c.Get(id)
	if err != nil {
		return Snapshot{}, err
	}
	// Checking and closing in one locked step: two concurrent Closes must
	// not both succeed.
	if !e.close(ctx) {
		return Snapshot{}, fmt.Errorf("%w: %s was already closed", ErrClosed, id)
	}
	return e.Snapshot(true), nil
}

// IsClientError reports errors caused by the request rather than the canvas.
func IsClientError(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) || errors.Is(err, ErrDone)
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
