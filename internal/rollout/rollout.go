// Package rollout plays episodes: a canvas episode (normally an Interact
// stream) paired with a policy actor (in-process, or an ActStream to a
// remote policy), turn by turn until the canvas ends the episode. The
// trainer, `flowsteer play` and evaluation all play through here.
//
// Data path: observation -> actor decision -> canvas step -> next
// observation ... -> final observation with the reward breakdown.
package rollout

import (
	"context"
	"fmt"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// Episode is one open canvas episode.
type Episode interface {
	ID() string
	First() *pb.Observation
	Step(ctx context.Context, a *pb.Action) (*pb.Observation, error)
	Close() error
}

// Canvas opens episodes.
type Canvas interface {
	Open(ctx context.Context, t *pb.Task, cfg *pb.EpisodeConfig) (Episode, error)
}

// Actor decides for one episode.
type Actor interface {
	Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error)
	Close() error
}

// Turn is one played turn.
type Turn struct {
	Number   int
	Action   string // the reply text or the structured action's summary
	Kind     pb.ActionKind
	Valid    bool
	Feedback string
	DSL      string
	State    pb.EpisodeState
}

// Record is a played episode.
type Record struct {
	EpisodeID string
	Task      *pb.Task
	Decisions []*pb.Decision
	Turns     []Turn
	Final     *pb.Observation
	Invalid   int
	Duration  time.Duration
	// Err is set when the episode failed (canvas or policy error); such
	// episodes are excluded from their group.
	Err error
}

// Reward is the final reward, 0 when the episode failed or never ended.
func (r *Record) Reward() float64 { return r.Final.GetReward().GetReward() }

// Finished reports an accepted finish.
func (r *Record) Finished() bool {
	return r.Final.GetEndReason() == pb.EndReason_END_REASON_FINISHED
}

// ActionText is what the canvas recorded of a decision.
func ActionText(d *pb.Decision) string {
	if s := d.GetAction().GetStructured(); s != nil && d.GetAction().GetText() == "" {
		return policy.Describe(s)
	}
	return d.GetAction().GetText()
}

// Play runs one episode to its end. The returned Record has Err set (and
// the error is returned) when the canvas or the actor failed; a bad action
// is never an error, it is a turn with feedback.
func Play(ctx context.Context, c Canvas, actor Actor, t *pb.Task, cfg *pb.EpisodeConfig, s policy.Sampling) (rec Record, err error) {
	start := time.Now()
	rec.Task = t
	defer func() {
		rec.Duration = time.Since(start)
		if err != nil {
			rec.Err = err
		}
		// The episode is complete or failed already; a failed close only
		// loses the policy stream.
		_ = actor.Close()
	}()
	ep, err := c.Open(ctx, t, cfg)
	if err != nil {
		return rec, fmt.Errorf("open episode: %w", err)
	}
	defer ep.Close()
	rec.EpisodeID = ep.ID()
	obs := ep.First()
	limit := int(obs.GetMaxRounds()) + 5
	for i := 0; !obs.GetDone(); i++ {
		if i >= limit {
			return rec, fmt.Errorf("episode %s did not end after %d turns (max_rounds %d)", rec.EpisodeID, i, obs.GetMaxRounds())
		}
		d, err := actor.Act(ctx, obs, s)
		if err != nil {
			return rec, fmt.Errorf("policy act on turn %d: %w", obs.GetTurn()+1, err)
		}
		if d.GetAction() == nil {
			return rec, fmt.Errorf("policy returned a decision without an action on turn %d", obs.GetTurn()+1)
		}
		next, err := ep.Step(ctx, d.GetAction())
		if err != nil {
			return rec, fmt.Errorf("canvas step %d: %w", obs.GetTurn()+1, err)
		}
		rec.Decisions = append(rec.Decisions, d)
		if !next.GetValid() {
			rec.Invalid++
		}
		rec.Turns = append(rec.Turns, Turn{
			Number: int(next.GetTurn()), Action: ActionText(d), Kind: next.GetLastActionKind(), Valid: next.GetValid(),
			Feedback: next.GetFeedback(), DSL: next.GetWorkflow().GetDsl(), State: next.GetState(),
		})
		obs = next
	}
	rec.Final = obs
	return rec, nil
}

// InProcess adapts an in-process policy to an Actor.
type InProcess struct{ P policy.Policy }

func (a InProcess) Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	return a.P.Act(ctx, obs, s)
}
func (InProcess) Close() error { return nil }
