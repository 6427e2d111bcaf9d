package canvas

import (
	"testing"
	"time"
)

// clock is a settable store clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func storeWithClock(t *testing.T, cfg StoreConfig) (*MemoryStore, *clock) {
	t.Helper()
	s := newStore(t, cfg)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.now = c.now
	return s, c
}

// openEpisode is a bare episode that has not ended (an opened one).
func openEpisode(id string, updated time.Time) *Episode {
	e := bareEpisode(id, updated)
	e.active.Store(true)
	return e
}

func attach(t *testing.T, s *MemoryStore, id string) func(bool) {
	t.Helper()
	detach, err := s.Attach(id)
	if err != nil {
		t.Fatalf("Attach(%s): %v", id, err)
	}
	return detach
}

func TestAttachedEpisodeOutlivesTheIdleTTL(t *testing.T) {
	s, clk := storeWithClock(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Minute, ResumeGrace: 30 * time.Second})
	if err := s.Put(openEpisode("live", clk.t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(bareEpisode("idle", clk.t)); err != nil {
		t.Fatal(err)
	}
	detach := attach(t, s, "live")
	// A slow policy thinks for an hour: the stream keeps its episode.
	clk.advance(time.Hour)
	if n := s.Sweep(); n != 1 {
		t.Fatalf("Sweep = %d, want 1 (only the episode without a stream)", n)
	}
	if _, err := s.Get("live"); err != nil {
		t.Fatalf("episode with a live stream expired: %v", err)
	}
	_, err := s.Get("idle")
	wantErrIs(t, err, ErrNotFound, "idle: it expired after being idle for 1m0s")

	// The stream ends with the episode unfinished: the grace starts now.
	detach(true)
	detach(true) // a second call is a no-op
	clk.advance(30 * time.Second)
	if n := s.Sweep(); n != 0 {
		t.Fatalf("swept %d within the grace", n)
	}
	if _, err := s.Get("live"); err != nil {
		t.Fatalf("resume within the grace: %v", err)
	}
	clk.advance(time.Nanosecond)
	_, err = s.Get("live")
	wantErrIs(t, err, ErrNotFound, "live: it expired: its stream ended at 2026-01-02T04:04:05Z",
		"no client resumed it within the resume grace period of 30s")
	// Attaching an expired episode fails the same way.
	_, err = s.Attach("live")
	wantErrIs(t, err, ErrNotFound, "resume grace period")
}

func TestResumeWithinGraceRestartsTheClockOnTheNextDisconnect(t *testing.T) {
	s, clk := storeWithClock(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Hour, ResumeGrace: 10 * time.Second})
	if err := s.Put(openEpisode("e", clk.t)); err != nil {
		t.Fatal(err)
	}
	attach(t, s, "e")(true)
	clk.advance(9 * time.Second)
	second := attach(t, s, "e") // resumed in time
	clk.advance(time.Minute)    // attached again: the grace does not run
	if n := s.Sweep(); n != 0 {
		t.Fatalf("swept %d while a stream was attached", n)
	}
	second(true)
	clk.advance(10 * time.Second)
	if _, err := s.Get("e"); err != nil {
		t.Fatalf("grace counted from the first disconnect: %v", err)
	}
	clk.advance(time.Second)
	if n := s.Sweep(); n != 1 {
		t.Fatalf("Sweep = %d after the grace, want 1", n)
	}
	_, err := s.Get("e")
	wantErrIs(t, err, ErrNotFound, "resume grace period of 10s")
}

func TestFinishedEpisodeKeepsItsRecordForTheIdleTTL(t *testing.T) {
	s, clk := storeWithClock(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Minute, ResumeGrace: time.Second})
	e := bareEpisode("done", clk.t)
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	attach(t, s, "done")(false) // the stream ended after the episode did
	clk.advance(30 * time.Second)
	if n := s.Sweep(); n != 0 {
		t.Fatalf("a finished episode expired with the resume grace (%d swept)", n)
	}
	if _, err := s.Get("done"); err != nil {
		t.Fatal(err)
	}
	// Its idle TTL counts from its last turn (real time in bare episodes).
	e.updated = clk.t.Add(-2 * time.Minute)
	if n := s.Sweep(); n != 1 {
		t.Fatalf("Sweep = %d, want the finished episode expired after the idle TTL", n)
	}
}

// A client that stops early closes its stream, then the episode
// (CloseEpisode): the episode ended after its stream did, so the resume
// grace no longer applies and its record stays for the idle TTL (issue #25:
// TRL's get_reward read the rewards of such episodes back from the store).
func TestEpisodeClosedAfterItsStreamEndedKeepsItsRecord(t *testing.T) {
	s, clk := storeWithClock(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Hour, ResumeGrace: time.Second})
	e := openEpisode("closed", clk.t)
	if err := s.Put(e); err != nil {
		t.Fatal(err)
	}
	attach(t, s, "closed")(true) // the stream ends with the episode unfinished
	e.active.Store(false)        // then CloseEpisode ends it
	clk.advance(time.Minute)
	if n := s.Sweep(); n != 0 {
		t.Fatalf("an ended episode expired with the resume grace (%d swept)", n)
	}
	if _, err := s.Get("closed"); err != nil {
		t.Fatal(err)
	}
}

func TestZeroGraceLeavesDisconnectedEpisodesToTheIdleTTL(t *testing.T) {
	s, clk := storeWithClock(t, StoreConfig{MaxEpisodes: 10, IdleTTL: time.Minute})
	if err := s.Put(bareEpisode("e", clk.t)); err != nil {
		t.Fatal(err)
	}
	attach(t, s, "e")(true)
	clk.advance(59 * time.Second)
	if n := s.Sweep(); n != 0 {
		t.Fatalf("Sweep = %d before the idle TTL", n)
	}
	clk.advance(2 * time.Second)
	if n := s.Sweep(); n != 1 {
		t.Fatalf("Sweep = %d after the idle TTL, want 1", n)
	}
}

func TestFullStoreEvictsEpisodesWithoutAStreamFirst(t *testing.T) {
	s, clk := storeWithClock(t, StoreConfig{MaxEpisodes: 2, IdleTTL: time.Hour, ResumeGrace: time.Minute})
	for _, id := range []string{"live", "plain"} {
		if err := s.Put(bareEpisode(id, clk.t)); err != nil {
			t.Fatal(err)
		}
	}
	detach := attach(t, s, "live")
	if _, err := s.Get("plain"); err != nil { // plain becomes the most recently used
		t.Fatal(err)
	}
	if err := s.Put(bareEpisode("new", clk.t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("live"); err != nil {
		t.Fatalf("the streamed episode was evicted before one without a stream: %v", err)
	}
	_, err := s.Get("plain")
	wantErrIs(t, err, ErrNotFound, "expired to make room")
	// With every episode streamed, none is evicted: the new one is
	// refused, naming the limit.
	attach(t, s, "new")
	err = s.Put(bareEpisode("third", clk.t))
	wantErrIs(t, err, ErrExhausted, "--max-episodes")
	if _, err := s.Get("live"); err != nil {
		t.Fatalf("an episode with a live stream was evicted: %v", err)
	}
	detach(true)
	if err := s.Put(bareEpisode("third", clk.t)); err != nil {
		t.Fatalf("after a stream ended its episode should make room: %v", err)
	}
	if s.Len() != 2 || len(s.streams) != 1 {
		t.Fatalf("Len %d, %d stream records; want 2 and 1", s.Len(), len(s.streams))
	}
}

func TestStoreConfigRejectsNegativeGrace(t *testing.T) {
	err := StoreConfig{MaxEpisodes: 1, IdleTTL: time.Minute, ResumeGrace: -time.Second}.Validate()
	if err == nil {
		t.Fatal("negative resume grace accepted")
	}
	mustContain(t, "error", err.Error(), "resume_grace")
	if d := DefaultStoreConfig().ResumeGrace; d != 2*time.Minute {
		t.Errorf("default resume grace %s, want 2m", d)
	}
}
