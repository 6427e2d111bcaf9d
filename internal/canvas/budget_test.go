package canvas

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// heapAfterGC is the live heap.
func heapAfterGC() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// maxSizeTask is as large as services/canvas lets a task be.
func maxSizeTask() task.Task {
	t := mathTask()
	t.Question = strings.Repeat("q", 200<<10)
	t.Context = strings.Repeat("c", 56<<10)
	t.Answers = []string{strings.Repeat("a", 512<<10)}
	t.Distractors = []string{strings.Repeat("d", 512<<10)}
	return t
}

// playEpisodes opens n episodes on tk and plays rounds-1 turns of reply
// in each, returning them with the live heap they added.
func playEpisodes(t *testing.T, n int, tk task.Task, cfg Config, reply string) ([]*Episode, int64) {
	t.Helper()
	st, err := NewMemoryStore(StoreConfig{MaxEpisodes: 10000, IdleTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := New(WithExecutor(&fakeExec{Answer: "42", Output: "42"}), WithStore(st))
	before := heapAfterGC()
	eps := make([]*Episode, 0, n)
	for i := 0; i < n; i++ {
		// Fresh strings, as a server decodes each request into its own.
		own := tk
		own.Question, own.Context = strings.Clone(tk.Question), strings.Clone(tk.Context)
		own.Answers = []string{strings.Clone(tk.Answers[0])}
		own.Distractors = append([]string(nil), tk.Distractors...)
		for i := range own.Distractors {
			own.Distractors[i] = strings.Clone(own.Distractors[i])
		}
		e, _, err := c.Create(context.Background(), own, cfg, reward.Default())
		if err != nil {
			t.Fatal(err)
		}
		for r := 1; r < cfg.MaxRounds; r++ {
			if _, err := e.Step(context.Background(), Input{Text: strings.Clone(reply)}); err != nil {
				t.Fatal(err)
			}
		}
		eps = append(eps, e)
	}
	grown := heapAfterGC() - before
	runtime.KeepAlive(c)
	return eps, grown / int64(n)
}

// The reservation an episode makes when it opens must cover what it
// really comes to hold, measured on the live heap, for a typical episode
// and for one at every size limit (the figures in BENCHMARKS.md).
func TestEpisodeReservationCoversMeasuredMemory(t *testing.T) {
	cfg := DefaultConfig()
	typicalReply := "<reasoning>a checker next</reasoning><action>add</action><operator>Review</operator>"
	maxReply := "<action>add</action><operator>Custom</operator><prompt>" + strings.Repeat("p", MaxReplyBytes-64) + "</prompt>"
	for _, tc := range []struct {
		name  string
		task  task.Task
		reply string
		n     int
	}{
		{"typical (small task, short replies)", mathTask(), typicalReply, 50},
		{"maximum size (largest task, 64 KiB replies)", maxSizeTask(), maxReply, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eps, per := playEpisodes(t, tc.n, tc.task, cfg, tc.reply)
			reserve := EpisodeReservation(tc.task, cfg)
			t.Logf("%s: %d rounds: live heap %d KiB per episode; reserved at admission %d KiB; accounted after %d turns %d KiB",
				tc.name, cfg.MaxRounds, per>>10, reserve>>10, cfg.MaxRounds-1, eps[0].Cost()>>10)
			if per > reserve {
				t.Errorf("an episode holds %d bytes, more than the %d it reserved", per, reserve)
			}
			if c := eps[0].Cost(); c < per*9/10 {
				t.Errorf("an episode is accounted at %d bytes after its turns but holds %d", c, per)
			}
		})
	}
}

// ownedEpisode is a bare episode of owner with a cost; ended ones are not
// active (nothing left to resume).
func ownedEpisode(id, owner string, cost int64, ended bool) *Episode {
	e := &Episode{id: id, owner: owner, updated: time.Now()}
	e.cost.Store(cost)
	e.active.Store(!ended)
	return e
}

func TestStoreBudgetsPerTenantAndGlobal(t *testing.T) {
	s := newStore(t, StoreConfig{MaxEpisodes: 100, IdleTTL: time.Hour, MaxTenantEpisodes: 2, MaxTenantBytes: 1000, MaxBytes: 1500})
	put := func(e *Episode) error { return s.Put(e) }
	if err := put(ownedEpisode("a1", "alice", 400, false)); err != nil {
		t.Fatal(err)
	}
	if err := put(ownedEpisode("a2", "alice", 400, true)); err != nil {
		t.Fatal(err)
	}
	// A third episode of alice: her ended one expires to make room.
	if err := put(ownedEpisode("a3", "alice", 400, false)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get("a2")
	wantErrIs(t, err, ErrNotFound, "its tenant")
	// Over her count with only open episodes: refused, naming the flag.
	err = put(ownedEpisode("a4", "alice", 10, false))
	wantErrIs(t, err, ErrExhausted, "--max-client-episodes")
	// Bob is not affected by alice's count, but by his own bytes.
	err = put(ownedEpisode("b1", "bob", 1001, false))
	wantErrIs(t, err, ErrExhausted, "--client-episode-memory")
	if err := put(ownedEpisode("b1", "bob", 600, false)); err != nil {
		t.Fatal(err)
	}
	// 800 + 600 held; 200 more is over the global 1500 and nothing has
	// ended, but open episodes without a live stream may expire for room.
	if err := put(ownedEpisode("c1", "carol", 200, false)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 {
		t.Fatalf("Len %d, want 3 after one expired for room", s.Len())
	}
}
