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
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/obs"
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
	// Obs is the observation the turn produced (exact replay digests it).
	Obs *pb.Observation
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
	// PolicyTime is the part of Duration the actor spent deciding.
	PolicyTime time.Duration
	// Err is set when the episode failed (canvas or policy error); such
	// episodes are excluded from their group.
	Err error
	// Replica is the address of the canvas replica that served the
	// episode (or refused to open it), when the canvas client knows it.
	Replica string
	// Attempts counts the plays of this episode: 1, or more when a caller
	// re-ran it from the start after losing its replica (the trainer does,
	// within rollout.retries).
	Attempts int
	// First is the observation the episode opened with.
	First *pb.Observation
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
//
// Play traces the episode as an "episode" span with one "turn" span per
// turn (each holding "policy.act" and "canvas.step"). The episode span is
// current when the canvas stream opens, so the canvas's spans of this
// episode (server side, per turn "canvas.apply") land in the same trace.
func Play(ctx context.Context, c Canvas, actor Actor, t *pb.Task, cfg *pb.EpisodeConfig, s policy.Sampling) (rec Record, err error) {
	start := time.Now()
	rec.Task = t
	ctx, span := obs.Start(ctx, "episode", obs.TaskID.String(t.GetId()), obs.TaskFamily.String(t.GetFamily().String()))
	defer func() {
		rec.Duration = time.Since(start)
		if err != nil {
			rec.Err = err
		}
		endEpisode(span, &rec, err)
		// The episode is complete or failed already; a failed close only
		// loses the policy stream.
		_ = actor.Close()
	}()
	ep, err := c.Open(ctx, t, cfg)
	if err != nil {
		rec.Replica = ReplicaOf(err)
		return rec, fmt.Errorf("open episode: %w", err)
	}
	defer ep.Close()
	if p, ok := ep.(peerer); ok {
		rec.Replica = p.Peer()
	}
	rec.EpisodeID = ep.ID()
	span.SetAttributes(obs.EpisodeID.String(rec.EpisodeID))
	o := ep.First()
	rec.First = o
	limit := int(o.GetMaxRounds()) + 5
	for i := 0; !o.GetDone(); i++ {
		if i >= limit {
			return rec, fmt.Errorf("episode %s did not end after %d turns (max_rounds %d)", rec.EpisodeID, i, o.GetMaxRounds())
		}
		next, d, err := turn(ctx, ep, timed{actor, &rec.PolicyTime}, o, s, rec.EpisodeID)
		if err != nil {
			return rec, err
		}
		rec.Decisions = append(rec.Decisions, d)
		if !next.GetValid() {
			rec.Invalid++
		}
		rec.Turns = append(rec.Turns, Turn{
			Number: int(next.GetTurn()), Action: ActionText(d), Kind: next.GetLastActionKind(), Valid: next.GetValid(),
			Feedback: next.GetFeedback(), DSL: next.GetWorkflow().GetDsl(), State: next.GetState(), Obs: next,
		})
		o = next
	}
	rec.Final = o
	return rec, nil
}

// timed adds the time an actor's Act took to *total.
type timed struct {
	Actor
	total *time.Duration
}

func (a timed) Act(ctx context.Context, o *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	start := time.Now()
	d, err := a.Actor.Act(ctx, o, s)
	*a.total += time.Since(start)
	return d, err
}

// peerer is an episode, or an error, that knows the canvas replica it
// came from (the Go client's Episode and its open errors do).
type peerer interface{ Peer() string }

// ReplicaOf returns the canvas replica named by err, "" when none is.
func ReplicaOf(err error) string {
	var p peerer
	if errors.As(err, &p) {
		return p.Peer()
	}
	return ""
}

// turn plays one turn in a "turn" span: the actor decides ("policy.act"),
// the canvas applies the action ("canvas.step").
func turn(ctx context.Context, ep Episode, actor Actor, o *pb.Observation, s policy.Sampling, episodeID string) (next *pb.Observation, d *pb.Decision, err error) {
	n := int(o.GetTurn()) + 1
	ctx, span := obs.Start(ctx, "turn", obs.EpisodeID.String(episodeID), obs.TaskID.String(o.GetTask().GetId()), obs.Turn.Int(n))
	defer func() {
		if next != nil {
			span.SetAttributes(obs.ActionKind.String(kindName(next.GetLastActionKind())), obs.ActionValid.Bool(next.GetValid()),
				obs.Text(obs.DSL, next.GetWorkflow().GetDsl()), obs.State.String(next.GetState().String()))
		}
		obs.End(span, err)
	}()

	actx, aspan := obs.Start(ctx, "policy.act", obs.Turn.Int(n))
	d, err = actor.Act(actx, o, s)
	if err == nil && d.GetAction() == nil {
		err = fmt.Errorf("policy returned a decision without an action on turn %d", n)
	} else if err != nil {
		err = fmt.Errorf("policy act on turn %d: %w", n, err)
	}
	if d != nil {
		aspan.SetAttributes(obs.PolicyModel.String(d.GetModel()), obs.PromptTokens.Int(int(d.GetPromptTokens())),
			obs.ReplyTokens.Int(int(d.GetCompletionTokens())), obs.ActionKind.String(decisionKind(o, d)),
			attribute.String("flowsteer.policy.version", d.GetPolicyVersion()))
		obs.SetContent(aspan, obs.Prompt, d.GetPromptText())
		obs.SetContent(aspan, obs.Reply, ActionText(d))
	}
	obs.End(aspan, err)
	if err != nil {
		return nil, d, err
	}

	sctx, sspan := obs.Start(ctx, "canvas.step", obs.EpisodeID.String(episodeID), obs.Turn.Int(n))
	next, err = ep.Step(sctx, d.GetAction())
	if err != nil {
		err = fmt.Errorf("canvas step %d: %w", n, err)
	} else {
		sspan.SetAttributes(obs.ActionKind.String(kindName(next.GetLastActionKind())), obs.ActionValid.Bool(next.GetValid()))
		if !next.GetValid() {
			sspan.SetAttributes(obs.Text(obs.ActionError, next.GetFeedback()))
		}
	}
	obs.End(sspan, err)
	return next, d, err
}

// endEpisode records the episode's outcome on its span.
func endEpisode(span trace.Span, rec *Record, err error) {
	if f := rec.Final; f != nil {
		r := f.GetReward()
		span.SetAttributes(obs.Turns.Int(int(f.GetTurn())), obs.Invalid.Int(rec.Invalid), obs.Text(obs.DSL, f.GetWorkflow().GetDsl()),
			obs.EndReason.String(strings.ToLower(strings.TrimPrefix(f.GetEndReason().String(), "END_REASON_"))),
			obs.Reward.Float64(r.GetReward()), obs.Released.Bool(r.GetReleased()), obs.Correctness.Float64(r.GetCorrectness()))
	}
	obs.End(span, err)
}

func kindName(k pb.ActionKind) string {
	if k == pb.ActionKind_ACTION_KIND_UNSPECIFIED {
		return "unparsed"
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "ACTION_KIND_"))
}

// decisionKind is the kind of action a decision asks for, as far as the
// client can tell before the canvas parses it.
func decisionKind(o *pb.Observation, d *pb.Decision) string {
	if st := d.GetAction().GetStructured(); st != nil {
		return kindName(st.GetKind())
	}
	if o.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT {
		return "prompt"
	}
	a, err := action.Parse(d.GetAction().GetText(), action.Options{Lenient: true})
	if err != nil || a.Kind == "" {
		return "unparsed"
	}
	return string(a.Kind)
}

// InProcess adapts an in-process policy to an Actor.
type InProcess struct{ P policy.Policy }

func (a InProcess) Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	return a.P.Act(ctx, obs, s)
}
func (InProcess) Close() error { return nil }

// SessionPolicy is a policy that plays each episode over a session of its
// own (a remote policy's ActStream, so an episode stays on one replica).
type SessionPolicy interface {
	policy.Policy
	NewActor(ctx context.Context) (Actor, error)
}

// ActorFor returns the actor of one episode of p: a new session where p
// has them, else p itself in process.
func ActorFor(ctx context.Context, p policy.Policy) (Actor, error) {
	if sp, ok := p.(SessionPolicy); ok {
		return sp.NewActor(ctx)
	}
	return InProcess{P: p}, nil
}
