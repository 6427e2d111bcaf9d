package trainer

// Playing a step's episodes with a bounded pool, and playing again the
// episodes that lose their replica.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// play runs the episodes of groups with a bounded pool and fills recs.
// An episode that loses its replica is played again (playEpisode); when
// one runs out of retries play returns its EpisodeLostError and the other
// episodes are cancelled, so no partial group reaches an update.
func (t *Trainer) play(ctx context.Context, step int64, groups []*group, s policy.Sampling, actor func(context.Context) (rollout.Actor, error), onDone func(*rollout.Record)) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(t.cfg.Concurrency)
	var mu sync.Mutex
	for _, gr := range groups {
		gr.recs = make([]*rollout.Record, len(gr.tasks))
		gctx, gspan := obs.Start(ctx, "train.group", obs.GroupID.String(gr.id), obs.Step.Int64(step), obs.Episodes.Int(len(gr.tasks)))
		var left atomic.Int32 // the last episode of the group ends its span
		if left.Store(int32(len(gr.tasks))); len(gr.tasks) == 0 {
			gspan.End()
		}
		for i, tk := range gr.tasks {
			g.Go(func() error {
				defer func() {
					if left.Add(-1) == 0 {
						gspan.End()
					}
				}()
				sp := s
				if sp.Seed != nil {
					v := *sp.Seed + int64(i)*7919 + step*104729
					sp.Seed = &v
				}
				rec, err := t.playEpisode(gctx, gr.id, i, tk, sp, actor)
				if err != nil {
					return err
				}
				if ctx.Err() != nil {
					return ctx.Err() // the run is stopping: do not record half-played episodes
				}
				mu.Lock()
				gr.recs[i] = rec
				if onDone != nil {
					onDone(rec)
				}
				mu.Unlock()
				return nil
			})
		}
	}
	return g.Wait()
}

// EpisodeLostError is an episode that lost its replica on every attempt
// rollout.retries allowed: the step it belongs to fails.
type EpisodeLostError struct {
	Group    string
	Index    int // the episode's place in its group
	Task     string
	Attempts int
	// Replica is where the last attempt ran ("" when unknown); Err is
	// why it failed.
	Replica string
	Err     error
}

func (e *EpisodeLostError) Error() string {
	where := "an unknown replica"
	if e.Replica != "" {
		where = "canvas replica " + e.Replica
	}
	return fmt.Sprintf("episode %d of group %s (task %s) lost its replica on all %d attempts (rollout.retries %d); the last ran on %s: %v: "+
		"the step is abandoned without an update; check that enough replicas are up or raise rollout.retries",
		e.Index, e.Group, e.Task, e.Attempts, e.Attempts-1, where, e.Err)
}

func (e *EpisodeLostError) Unwrap() error { return e.Err }

// maxRetryWait caps the wait between attempts of an episode.
const maxRetryWait = 5 * time.Second

// playEpisode plays one episode of a group; when the attempt fails with a
// retryable error (its replica died or drained) it plays the episode again
// from the start, a new Open and a new actor with the same sampling seed,
// up to rollout.retries times. It returns an error only when that budget is
// spent; any other failure is a record with Err set.
func (t *Trainer) playEpisode(ctx context.Context, groupID string, i int, tk *pb.Task, s policy.Sampling, actor func(context.Context) (rollout.Actor, error)) (*rollout.Record, error) {
	budget := t.cfg.Rollout.Retries
	for attempt := 1; ; attempt++ {
		rec := t.attempt(ctx, tk, s, actor)
		rec.Attempts = attempt
		if rec.Err == nil || ctx.Err() != nil || t.env.Retryable == nil || !t.env.Retryable(rec.Err) {
			t.countEpisode(ctx, rec)
			return rec, nil
		}
		if attempt > budget {
			return nil, &EpisodeLostError{Group: groupID, Index: i, Task: tk.GetId(), Attempts: attempt, Replica: rec.Replica, Err: rec.Err}
		}
		t.retried.Add(1)
		t.metrics().retried(ctx, rec.Replica)
		where := "canvas replica " + rec.Replica
		if rec.Replica == "" {
			where = "an unknown canvas replica"
		}
		t.env.Observer.Log(fmt.Sprintf("episode %d of group %s (task %s) on %s lost its replica after %d turns: %v; playing it again from the start (retry %d of %d)",
			i, groupID, tk.GetId(), where, len(rec.Turns), rec.Err, attempt, budget))
		wait := t.cfg.Rollout.RetryBackoff // doubled per attempt, capped
		for k := 1; k < attempt && wait < maxRetryWait; k++ {
			wait *= 2
		}
		if wait = min(wait, maxRetryWait); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				t.countEpisode(ctx, rec)
				return rec, nil // the caller sees ctx.Err()
			case <-timer.C:
			}
		}
	}
}

// attempt plays an episode once, bounded by episode_timeout.
func (t *Trainer) attempt(ctx context.Context, tk *pb.Task, s policy.Sampling, actor func(context.Context) (rollout.Actor, error)) *rollout.Record {
	ectx, cancel := context.WithTimeout(ctx, t.cfg.EpisodeTimeout)
	defer cancel()
	a, err := actor(ectx)
	if err != nil {
		return &rollout.Record{Task: tk, Err: err}
	}
	r, _ := rollout.Play(ectx, t.env.Canvas, a, tk, t.episodeConfig(), s)
	return &r
}

func (t *Trainer) actorFor() func(context.Context) (rollout.Actor, error) {
	if t.env.NewActor != nil {
		return t.env.NewActor
	}
	return func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: t.env.Learner}, nil }
}
