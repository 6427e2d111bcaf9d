package canvas

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/reward"
)

// mixedReplies cycles through every kind of reply, good and bad, so that
// concurrent steps exercise adds, prompts, deletes and refusals.
var mixedReplies = []string{
	addPar("Programmer, Custom"),
	"Compute the product with Python.",
	"<prompt>Explain the count in words.</prompt>",
	addOpPrompt("ScEnsemble", "Pick the majority answer."),
	addOp("Nope"),
	addCond("Review", "Revise", ""),
	"Check the arithmetic.",
	"Fix the mistakes found.",
	"<action>delete</action><target>node_1</target>",
	"<action>finish</action>",
	"garbage",
	addLoop("Verify, Revise", "2"),
}

func TestConcurrentStepsOnDifferentEpisodes(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	c := New(WithExecutor(x), WithScorer(&fakeScorer{Value: 1}))
	cfg := DefaultConfig()
	cfg.MaxRounds = 1000
	cfg.Finish.MinOperators = 1000 // every finish is refused, so the episode runs on
	cfg.Hints = true
	const workers, steps = 16, 40
	var wg sync.WaitGroup
	ids := make([]string, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			e, _, err := c.Create(context.Background(), mathTask(), cfg, reward.Default())
			if err != nil {
				t.Error(err)
				return
			}
			ids[w] = e.ID()
			for i := 0; i < steps; i++ {
				o, err := c.Step(context.Background(), e.ID(), Input{Text: mixedReplies[(i+w)%len(mixedReplies)]})
				if err != nil {
					t.Errorf("worker %d step %d: %v", w, i, err)
					return
				}
				if o.Turn != i+1 || o.EpisodeID != e.ID() {
					t.Errorf("worker %d step %d: turn %d episode %s", w, i, o.Turn, o.EpisodeID)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for _, id := range ids {
		e, err := c.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		if s := e.Snapshot(true); s.Observation.Turn != steps || len(s.Turns) != steps {
			t.Errorf("%s: turn %d, %d turns recorded, want %d", id, s.Observation.Turn, len(s.Turns), steps)
		}
	}
}

func TestConcurrentStepsOnTheSameEpisode(t *testing.T) {
	x := &fakeExec{Answer: "42"}
	st, err := NewMemoryStore(StoreConfig{MaxEpisodes: 100, IdleTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := New(WithExecutor(x), WithScorer(&fakeScorer{Value: 1}), WithStore(st))
	cfg := DefaultConfig()
	cfg.MaxRounds = 1000
	cfg.Finish.MinOperators = 1000 // every finish is refused, so the episode runs on
	e, _ := newEpisode(t, c, mathTask(), cfg)
	const workers, steps = 16, 25
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Readers run alongside the writers.
	var readers sync.WaitGroup
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func(r int) {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch r {
				case 0:
					o := e.Observe()
					if o.Prompt == nil {
						t.Error("observation without a prompt")
						return
					}
				case 1:
					_ = e.Snapshot(true)
				case 2:
					st.Sweep()
					_ = st.Len()
				case 3:
					if _, err := c.Get(e.ID()); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(r)
	}
	seen := make([]atomic.Int32, workers*steps+1)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < steps; i++ {
				o, err := c.Step(context.Background(), e.ID(), Input{Text: mixedReplies[(i*workers+w)%len(mixedReplies)]})
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
				seen[o.Turn].Add(1)
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	s := e.Snapshot(true)
	if s.Observation.Turn != workers*steps || len(s.Turns) != workers*steps {
		t.Fatalf("turn %d with %d turns recorded, want %d", s.Observation.Turn, len(s.Turns), workers*steps)
	}
	for i, tr := range s.Turns {
		if tr.Number != i+1 {
			t.Fatalf("turn %d recorded as number %d", i+1, tr.Number)
		}
	}
	// Each turn number was returned to exactly one step.
	for n := 1; n <= workers*steps; n++ {
		if seen[n].Load() != 1 {
			t.Fatalf("turn %d was returned %d times", n, seen[n].Load())
		}
	}
}

func TestConcurrentStepsAndCloseOnTheSameEpisode(t *testing.T) {
	c := New(WithExecutor(&fakeExec{Answer: "42"}))
	cfg := DefaultConfig()
	cfg.MaxRounds = 1000
	cfg.Finish.MinOperators = 1000 // every finish is refused, so the episode runs on
	e, _ := newEpisode(t, c, mathTask(), cfg)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				if w == 0 && i == 10 {
					if _, err := c.Close(context.Background(), e.ID()); err != nil {
						t.Errorf("Close: %v", err)
					}
				}
				_, err := c.Step(context.Background(), e.ID(), Input{Text: mixedReplies[(i+w)%len(mixedReplies)]})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrClosed):
				default:
					t.Errorf("step: %v", err)
				}
			}
		}(w)
	}
	wg.Wait()
	s := e.Snapshot(true)
	if !s.Closed || s.Observation.EndReason != Closed {
		t.Fatalf("closed=%v end=%q", s.Closed, s.Observation.EndReason)
	}
	if int(ok.Load()) != s.Observation.Turn || len(s.Turns) != s.Observation.Turn {
		t.Fatalf("%d successful steps but turn %d and %d turns", ok.Load(), s.Observation.Turn, len(s.Turns))
	}
}
