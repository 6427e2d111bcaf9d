package canvas

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func newStore(t *testing.T, cfg StoreConfig) *MemoryStore {
	t.Helper()
	s, err := NewMemoryStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bareEpisode(id string, updated time.Time) *Episode {
	return &Episode{id: id, updated: updated}
}

func TestMemoryStoreEvictsLeastRecentlyUsed(t *testing.T) {
	s := newStore(t, StoreConfig{MaxEpisodes: 3, IdleTTL: time.Hour})
	now := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Put(bareEpisode(id, now)); err != nil {
			t.Fatal(err)
		}
	}
	// A Get refreshes recency: a becomes the most recently used, b the least.
	if _, err := s.Get("a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(bareEpisode("d", now)); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 {
		t.Fatalf("Len = %d, want 3", s.Len())
	}
	_, err := s.Get("b")
	wantErrIs(t, err, ErrNotFound, "b: it expired to make room (the canvas holds at most 3 episodes)")
	for _, id := range []string{"a", "c", "d"} {
		if _, err := s.Get(id); err != nil {
			t.Errorf("Get(%s): %v", id, err)
		}
	}
	// Read last in the order a, c, d: a is now the least recently used.
	if err := s.Put(bareEpisode("e", now)); err != nil {
		t.Fatal(err)
	}
	_, err = s.Get("a")
	wantErrIs(t, err, ErrNotFound, "expired to make room")
}

func TestMemoryStoreSweepsIdleEpisodesWithInjectedClock(t *testing.T) {
	s := newStore(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Minute})
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return base }
	cases := []struct {
		id      string
		idle    time.Duration
		expired bool
	}{
		{"old", 2 * time.Minute, true},
		{"just-over", time.Minute + time.Nanosecond, true},
		{"exactly-ttl", time.Minute, false},
		{"fresh", time.Second, false},
	}
	for _, c := range cases {
		if err := s.Put(bareEpisode(c.id, base.Add(-c.idle))); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Sweep(); n != 2 {
		t.Fatalf("Sweep = %d, want 2", n)
	}
	for _, c := range cases {
		_, err := s.Get(c.id)
		if c.expired {
			wantErrIs(t, err, ErrNotFound, c.id+": it expired after being idle for 1m0s")
		} else if err != nil {
			t.Errorf("Get(%s): %v", c.id, err)
		}
	}
	if s.Len() != 2 {
		t.Errorf("Len = %d", s.Len())
	}
	// Advancing the clock expires the rest.
	s.now = func() time.Time { return base.Add(time.Hour) }
	if n := s.Sweep(); n != 2 || s.Len() != 0 {
		t.Errorf("second sweep = %d, Len %d", n, s.Len())
	}
}

func TestMemoryStoreSweepKeepsEpisodesStepped(t *testing.T) {
	st := newStore(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Minute})
	c := New(WithStore(st))
	e, _ := newEpisode(t, c, mathTask(), DefaultConfig())
	idle, _ := newEpisode(t, c, mathTask(), DefaultConfig())
	st.now = func() time.Time { return time.Now().Add(50 * time.Second) }
	say(t, e, addOp("Programmer"))
	if n := st.Sweep(); n != 0 {
		t.Fatalf("swept %d before the TTL", n)
	}
	// Backdate the untouched episode: only it has been idle over the TTL.
	idle.mu.Lock()
	idle.updated = idle.updated.Add(-30 * time.Second)
	idle.mu.Unlock()
	st.now = func() time.Time { return time.Now().Add(40 * time.Second) }
	if n := st.Sweep(); n != 1 {
		t.Fatalf("swept %d, want 1", n)
	}
	_, err := c.Step(context.Background(), idle.ID(), Input{Text: addOp("Plan")})
	wantErrIs(t, err, ErrNotFound, idle.ID()+": it expired after being idle for 1m0s")
	if _, err := c.Step(context.Background(), e.ID(), Input{Text: "Compute it in Python."}); err != nil {
		t.Errorf("stepped episode was swept: %v", err)
	}
}

func TestMemoryStoreNotFoundMessages(t *testing.T) {
	s := newStore(t, StoreConfig{MaxEpisodes: 2, IdleTTL: time.Hour})
	if err := s.Put(bareEpisode("a", time.Now())); err != nil {
		t.Fatal(err)
	}
	err := s.Put(bareEpisode("a", time.Now()))
	if err == nil || err.Error() != "episode a already exists" {
		t.Fatalf("duplicate Put = %v", err)
	}
	if s.Len() != 1 {
		t.Errorf("duplicate Put changed Len to %d", s.Len())
	}
	s.Delete("a")
	_, err = s.Get("a")
	wantErrIs(t, err, ErrNotFound, "a: it was deleted")
	_, err = s.Get("never")
	wantErrIs(t, err, ErrNotFound, `no episode "never" on this canvas`)
	s.Delete("never") // deleting a missing id is a no-op
	_, err = s.Get("never")
	wantErrIs(t, err, ErrNotFound, `no episode "never"`)
}

func TestMemoryStoreForgetsOldExpiryReasonsBounded(t *testing.T) {
	s := newStore(t, StoreConfig{MaxEpisodes: 1, IdleTTL: time.Hour})
	for i := 0; i <= expiredMemory+1; i++ {
		if err := s.Put(bareEpisode(fmt.Sprint("e", i), time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.expired) > expiredMemory || len(s.expRing) > expiredMemory {
		t.Fatalf("expiry memory grew to %d/%d", len(s.expired), len(s.expRing))
	}
	_, err := s.Get("e0")
	wantErrIs(t, err, ErrNotFound, `no episode "e0"`)
	_, err = s.Get(fmt.Sprint("e", expiredMemory))
	wantErrIs(t, err, ErrNotFound, "expired to make room")
}

func TestCanvasWithFullStoreExpiresOldestEpisode(t *testing.T) {
	st := newStore(t, StoreConfig{MaxEpisodes: 1, IdleTTL: time.Hour})
	c := New(WithStore(st))
	if c.Store() != st {
		t.Fatal("WithStore ignored")
	}
	a, _ := newEpisode(t, c, mathTask(), DefaultConfig())
	b, _ := newEpisode(t, c, mathTask(), DefaultConfig())
	_, err := c.Step(context.Background(), a.ID(), Input{Text: addOp("Plan")})
	wantErrIs(t, err, ErrNotFound, a.ID()+": it expired to make room (the canvas holds at most 1 episodes)")
	if _, err := c.Step(context.Background(), b.ID(), Input{Text: addOp("Plan")}); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryStoreRunSweepsUntilCancelled(t *testing.T) {
	s := newStore(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Minute})
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	if err := s.Put(bareEpisode("a", time.Now())); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Millisecond); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if s.Len() != 0 {
		t.Fatal("Run never swept")
	}
	_, err := s.Get("a")
	if err == nil || !strings.Contains(err.Error(), "idle") {
		t.Errorf("Get = %v", err)
	}
}

// racingStore admits an episode into a MemoryStore and, before Put returns
// to the canvas, lets another episode in: what a concurrent open does in
// the moment between the canvas's Put and its caller's next step.
type racingStore struct {
	*MemoryStore
	rival    *Episode
	rivalErr error
}

func (r *racingStore) Put(e *Episode) error {
	if err := r.MemoryStore.Put(e); err != nil {
		return err
	}
	if rival := r.rival; rival != nil {
		r.rival = nil
		r.rivalErr = r.MemoryStore.Put(rival)
	}
	return nil
}

func TestCreatedEpisodeSurvivesAConcurrentOpen(t *testing.T) {
	// Regression: the canvas put a new episode in the store before marking
	// it live, so an open racing it took the new episode for an ended one
	// (the tenant limit expires only ended episodes; the global limits once
	// preferred them) and evicted it; its stream then failed at open with
	// NotFound (seen in TestLoad with 400 streams on a 2000-episode canvas).
	for _, tc := range []struct {
		name      string
		cfg       StoreConfig
		olderGone bool   // the older idle episode expires for the rival
		rivalErr  string // or the rival is refused
	}{
		{"global limit", StoreConfig{MaxEpisodes: 2, IdleTTL: time.Hour}, true, ""},
		{"tenant limit", StoreConfig{MaxEpisodes: 10, MaxTenantEpisodes: 2, IdleTTL: time.Hour}, false, "--max-client-episodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &racingStore{MemoryStore: newStore(t, tc.cfg)}
			c := New(WithStore(st))
			older, _ := newEpisode(t, c, mathTask(), DefaultConfig()) // unfinished, no stream
			st.rival = &Episode{id: "ep_rival", updated: time.Now()}
			st.rival.active.Store(true)
			e, _ := newEpisode(t, c, mathTask(), DefaultConfig())
			if _, err := c.Get(e.ID()); err != nil {
				t.Fatalf("the episode just created was evicted: %v", err)
			}
			if !e.active.Load() {
				t.Error("the created episode is not counted as active")
			}
			_, err := c.Get(older.ID())
			if tc.olderGone {
				wantErrIs(t, err, ErrNotFound, "expired to make room")
			} else if err != nil {
				t.Errorf("older episode: %v", err)
			}
			if tc.rivalErr == "" {
				if st.rivalErr != nil {
					t.Errorf("rival refused: %v", st.rivalErr)
				}
			} else {
				wantErrIs(t, st.rivalErr, ErrExhausted, tc.rivalErr)
			}
		})
	}
}

func TestFullStoreExpiresTheLeastRecentlyUsedEvenIfUnfinished(t *testing.T) {
	// An ended episode is not expired before older unfinished ones: under
	// load it would vanish before its client read the result (TestLoad's
	// resume-closed case saw NotFound within moments of CloseEpisode).
	s := newStore(t, StoreConfig{MaxEpisodes: 3, IdleTTL: time.Hour})
	for _, e := range []*Episode{ownedEpisode("idle1", "", 1, false), ownedEpisode("idle2", "", 1, false), ownedEpisode("ended", "", 1, true)} {
		if err := s.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"n1", "n2"} {
		if err := s.Put(ownedEpisode(id, "", 1, false)); err != nil {
			t.Fatal(err)
		}
	}
	for id, kept := range map[string]bool{"idle1": false, "idle2": false, "ended": true, "n1": true, "n2": true} {
		if _, err := s.Get(id); (err == nil) != kept {
			t.Errorf("%s: kept %v, want %v (%v)", id, err == nil, kept, err)
		}
	}
}
