package canvas

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flowsteer/flowsteer/internal/action"
)

func TestMaxRoundsEndsTheEpisodeCountingPromptReplies(t *testing.T) {
	sc := &fakeScorer{Value: 1}
	x := &fakeExec{Answer: "42"}
	c := New(WithExecutor(x), WithScorer(sc))
	cfg := DefaultConfig()
	cfg.MaxRounds = 4
	e, o := newEpisode(t, c, mathTask(), cfg)
	if o.RoundsLeft != 4 || o.MaxRounds != 4 {
		t.Fatalf("rounds left %d max %d", o.RoundsLeft, o.MaxRounds)
	}
	steps := []struct {
		reply string
		state State
	}{
		{addOp("Programmer"), AwaitingPrompt},
		{"Compute the total with Python.", Building},
		{"no action here", Building},
		{addPar("Custom, AnswerGenerate"), Done}, // the 4th round ends it while awaiting
	}
	for i, s := range steps {
		o = say(t, e, s.reply)
		if o.Turn != i+1 || o.RoundsLeft != 4-(i+1) || o.State != s.state {
			t.Fatalf("step %d: turn %d rounds left %d state %s, want %d %d %s", i, o.Turn, o.RoundsLeft, o.State, i+1, 4-(i+1), s.state)
		}
		if i < 3 && (o.Done || o.Result != nil) {
			t.Fatalf("step %d: ended early", i)
		}
	}
	if !o.Done || o.EndReason != MaxRounds || o.Awaiting != nil || o.Result == nil || o.Prompt != nil {
		t.Fatalf("end: done=%v end=%q awaiting=%+v result=%v prompt=%v", o.Done, o.EndReason, o.Awaiting, o.Result, o.Prompt)
	}
	mustContain(t, "feedback", o.Feedback, "Added parallel [Custom, AnswerGenerate] as node_2.", "\nThe episode reached max_rounds (4) and ended.",
		"The last edit never ran (node_2_p0, node_2_p1 still awaited a prompt) and is not part of the final workflow.")
	// The parallel block never ran: the final workflow is the one executed.
	if o.DSL != "Programmer" || o.Result.Reward.Structure != 0 {
		t.Errorf("final DSL %q structure %v, want the executed Programmer without structure", o.DSL, o.Result.Reward.Structure)
	}
	// Scored on the final answer of the last execution.
	if got := sc.Answers(); len(got) != 1 || got[0] != "42" {
		t.Errorf("scorer saw %v", got)
	}
	_, err := e.Step(context.Background(), Input{Text: addOp("Format")})
	wantErrIs(t, err, ErrDone, e.ID()+" ended (max_rounds) after 4 turns; open a new episode")
	_, err = c.Step(context.Background(), e.ID(), Input{Text: addOp("Format")})
	wantErrIs(t, err, ErrDone)
	if !IsClientError(err) {
		t.Errorf("ErrDone should be a client error")
	}
	if got := e.Observe(); got.Turn != 4 || got.DSL != "Programmer" {
		t.Errorf("a refused step changed the episode: turn %d dsl %q", got.Turn, got.DSL)
	}
}

func TestMaxRoundsOfOne(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxRounds = 1
	e, _ := newEpisode(t, New(), mathTask(), cfg)
	o := say(t, e, "garbage")
	if !o.Done || o.EndReason != MaxRounds || o.Valid {
		t.Fatalf("done=%v end=%q valid=%v", o.Done, o.EndReason, o.Valid)
	}
}

func TestStepsAfterFinishReturnErrDone(t *testing.T) {
	cfg := oneStepCfg()
	cfg.Finish = noFinish()
	c := New()
	e, _ := newEpisode(t, c, mathTask(), cfg)
	say(t, e, "<action>finish</action>")
	for _, in := range []Input{{Text: addOp("Programmer")}, {Text: "<prompt>Compute it well.</prompt>"}, {Structured: &action.Action{Kind: action.Finish}}} {
		_, err := c.Step(context.Background(), e.ID(), in)
		wantErrIs(t, err, ErrDone, "ended (finished) after 1 turns")
	}
	snap, err := c.Close(context.Background(), e.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Closed || snap.Observation.EndReason != Finished || len(snap.Turns) != 1 {
		t.Errorf("closing a finished episode: closed=%v end=%q turns=%d", snap.Closed, snap.Observation.EndReason, len(snap.Turns))
	}
}

func TestCloseThenStepAndCloseTwice(t *testing.T) {
	sc := &fakeScorer{Value: 1}
	c := New(WithExecutor(&fakeExec{Answer: "42"}), WithScorer(sc))
	e, _ := newEpisode(t, c, mathTask(), DefaultConfig())
	say(t, e, addOp("Programmer"))
	snap, err := c.Close(context.Background(), e.ID())
	if err != nil {
		t.Fatal(err)
	}
	o := snap.Observation
	if !snap.Closed || !o.Done || o.EndReason != Closed || o.State != Done || o.Awaiting != nil || o.Result == nil {
		t.Fatalf("snapshot: closed=%v done=%v end=%q state=%s awaiting=%+v result=%v", snap.Closed, o.Done, o.EndReason, o.State, o.Awaiting, o.Result)
	}
	if len(snap.Turns) != 1 || snap.Turns[0].Kind != action.Add || snap.Turns[0].State != AwaitingPrompt || snap.Turns[0].DSL != "Programmer" {
		t.Errorf("turns = %+v", snap.Turns)
	}
	// Never executed (awaiting its prompt) so there is nothing to score.
	if o.Result.Score.Method != "none" || len(sc.Answers()) != 0 {
		t.Errorf("score = %+v, scorer saw %v", o.Result.Score, sc.Answers())
	}
	_, err = c.Step(context.Background(), e.ID(), Input{Text: "Compute it with Python."})
	wantErrIs(t, err, ErrClosed, e.ID()+" was closed; open a new episode")
	_, err = e.Step(context.Background(), Input{Text: "Compute it with Python."})
	wantErrIs(t, err, ErrClosed)
	_, err = c.Close(context.Background(), e.ID())
	wantErrIs(t, err, ErrClosed, e.ID()+" was already closed")
	if !IsClientError(err) {
		t.Error("ErrClosed should be a client error")
	}
	// Still readable until the store expires it.
	if got, err := c.Get(e.ID()); err != nil || got != e {
		t.Errorf("Get after close: %v", err)
	}
}

func TestConcurrentClosesSucceedExactlyOnce(t *testing.T) {
	c := New()
	const episodes, closers = 50, 8
	for n := 0; n < episodes; n++ {
		e, _ := newEpisode(t, c, mathTask(), DefaultConfig())
		var ok, closed atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < closers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := c.Close(context.Background(), e.ID())
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrClosed):
					closed.Add(1)
				default:
					t.Errorf("Close: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || closed.Load() != closers-1 {
			t.Fatalf("episode %d: %d closes succeeded and %d were ErrClosed, want 1 and %d", n, ok.Load(), closed.Load(), closers-1)
		}
	}
}

func TestUnknownAndEmptyEpisodeIDs(t *testing.T) {
	c := New()
	_, err := c.Step(context.Background(), "ep_nope", Input{Text: addOp("Programmer")})
	wantErrIs(t, err, ErrNotFound, `no episode "ep_nope" on this canvas`)
	if !IsClientError(err) {
		t.Error("ErrNotFound should be a client error")
	}
	_, err = c.Close(context.Background(), "ep_nope")
	wantErrIs(t, err, ErrNotFound)
	_, err = c.Step(context.Background(), " ", Input{})
	wantErrIs(t, err, ErrInvalid, "episode_id is empty")
	if IsClientError(errors.New("boom")) {
		t.Error("an arbitrary error is not a client error")
	}
}

func TestCanvasStepRoutesToTheEpisode(t *testing.T) {
	c := New()
	a, _ := newEpisode(t, c, mathTask(), oneStepCfg())
	b, _ := newEpisode(t, c, mathTask(), oneStepCfg())
	if a.ID() == b.ID() || a.ID()[:3] != "ep_" {
		t.Fatalf("ids %q %q", a.ID(), b.ID())
	}
	o, err := c.Step(context.Background(), b.ID(), Input{Text: addOp("Custom")})
	if err != nil || o.EpisodeID != b.ID() || o.DSL != "Custom" {
		t.Fatalf("step b: %v %+v", err, o)
	}
	if a.Observe().DSL != "" || a.Observe().Turn != 0 {
		t.Errorf("episode a changed")
	}
}
