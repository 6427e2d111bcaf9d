package canvas

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Store holds open episodes. Implementations must be safe for concurrent use.
type Store interface {
	// Put adds an episode, expiring the least recently used one when full.
	Put(e *Episode) error
	// Get returns an episode or an error wrapping ErrNotFound.
	Get(id string) (*Episode, error)
	Delete(id string)
	Len() int
}

// StreamTracker is a Store that knows which episodes a live stream drives,
// so that it keeps them while the stream is open and gives a disconnected
// client a grace period to resume (MemoryStore is one; see StoreConfig).
type StreamTracker interface {
	// Attach marks the episode as driven by a stream; it fails like Get
	// when the episode is gone. detach ends the attachment (once; later
	// calls do nothing): unfinished tells whether the episode still
	// awaits turns, which starts its resume grace.
	Attach(id string) (detach func(unfinished bool), err error)
}

// MemoryStore keeps episodes in memory, bounded in number; when full the
// least recently used one without a live stream expires first. Episodes
// expire as StoreConfig describes (idle TTL, resume grace). It remembers
// recently expired ids so a late caller learns why its episode is gone.
type MemoryStore struct {
	cfg StoreConfig
	now func() time.Time

	mu      sync.Mutex
	byID    map[string]*list.Element // of *Episode, front = most recently used
	lru     *list.List
	streams map[string]*streamState // episodes attached to a stream now or before
	expired map[string]string       // id -> reason, bounded
	expRing []string
}

// streamState is what the store knows of an episode's streams.
type streamState struct {
	attached int // live streams
	// detached is when the last stream ended while the episode was
	// unfinished (zero when it was finished, or never detached).
	detached time.Time
}

const expiredMemory = 4096

// NewMemoryStore returns an empty store.
func NewMemoryStore(cfg StoreConfig) (*MemoryStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("episode store: %w", err)
	}
	return &MemoryStore{cfg: cfg, now: time.Now, byID: map[string]*list.Element{}, lru: list.New(),
		streams: map[string]*streamState{}, expired: map[string]string{}}, nil
}

func (s *MemoryStore) Put(e *Episode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[e.id]; dup {
		return fmt.Errorf("episode %s already exists", e.id)
	}
	if err := s.admitLocked(e); err != nil {
		return err
	}
	s.byID[e.id] = s.lru.PushFront(e)
	return nil
}

// admitLocked makes room for e within the store's budgets (count, bytes;
// global and per tenant) or refuses it with ErrExhausted naming the
// limit. Room comes from expiring, least recently used first: for a
// tenant's own limits, that tenant's ended episodes; for the global
// limits, any without a live stream. An episode with a live stream never
// expires to make room: the new one is refused.
func (s *MemoryStore) admitLocked(e *Episode) error {
	cost := e.Cost()
	who := "the anonymous tenant"
	if e.owner != "" {
		who = "client " + e.owner
	}
	for {
		var n, tn int
		var total, tbytes int64
		for el := s.lru.Front(); el != nil; el = el.Next() {
			x := el.Value.(*Episode)
			c := x.Cost()
			n++
			total += c
			if x.owner == e.owner {
				tn++
				tbytes += c
			}
		}
		var victim *Episode
		var why, refuse string
		switch {
		case s.cfg.MaxTenantEpisodes > 0 && tn >= s.cfg.MaxTenantEpisodes:
			victim = s.victimLocked(e.owner, true)
			why = fmt.Sprintf("it expired to make room for a newer episode of its tenant (at most %d episodes each)", s.cfg.MaxTenantEpisodes)
			refuse = fmt.Sprintf("%s already holds %d episodes, the most this server allows per client (--max-client-episodes %d; every stored episode counts, however it was opened): close or finish one first",
				who, tn, s.cfg.MaxTenantEpisodes)
		case s.cfg.MaxTenantBytes > 0 && tbytes+cost > s.cfg.MaxTenantBytes:
			victim = s.victimLocked(e.owner, true)
			why = "it expired to make room within its tenant's episode memory budget"
			refuse = fmt.Sprintf("%s's episodes hold or may grow to %d bytes; this one reserves %d more, over the per-client episode memory budget of %d bytes (--client-episode-memory): close episodes, lower max_rounds or send a smaller task",
				who, tbytes, cost, s.cfg.MaxTenantBytes)
		case n >= s.cfg.MaxEpisodes:
			victim = s.victimLocked(anyOwner, false)
			why = fmt.Sprintf("it expired to make room (the canvas holds at most %d episodes)", s.cfg.MaxEpisodes)
			refuse = fmt.Sprintf("the canvas holds %d episodes, its limit (--max-episodes), and every one has a live stream: retry later", n)
		case s.cfg.MaxBytes > 0 && total+cost > s.cfg.MaxBytes:
			victim = s.victimLocked(anyOwner, false)
			why = "it expired to make room within the canvas's episode memory budget"
			refuse = fmt.Sprintf("the canvas's episodes hold or may grow to %d bytes; this one reserves %d more, over the episode memory budget of %d bytes (--episode-memory): retry later, lower max_rounds or send a smaller task",
				total, cost, s.cfg.MaxBytes)
		default:
			return nil
		}
		if victim == nil {
			return fmt.Errorf("%w: %s", ErrExhausted, refuse)
		}
		s.removeLocked(victim.id, why)
	}
}

// anyOwner makes victimLocked consider every tenant's episodes.
const anyOwner = "\x00any"

// victimLocked is the least recently used episode of owner (anyOwner:
// of anyone) without a live stream; with endedOnly, the least recently
// used ended one. nil when there is none.
//
// For the global limits an ended episode is not preferred over an older
// unfinished one: under pressure the few ended episodes would then expire
// within moments of ending (before their client reads the result), while
// abandoned unfinished ones held the room until their idle TTL.
func (s *MemoryStore) victimLocked(owner string, endedOnly bool) *Episode {
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		e := el.Value.(*Episode)
		if owner != anyOwner && e.owner != owner {
			continue
		}
		if st := s.streams[e.id]; st != nil && st.attached > 0 {
			continue
		}
		if endedOnly && e.active.Load() { // unfinished: still resumable
			continue
		}
		return e
	}
	return nil
}

func (s *MemoryStore) Get(id string) (*Episode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getLocked(id)
}

func (s *MemoryStore) getLocked(id string) (*Episode, error) {
	el, ok := s.byID[id]
	if ok {
		if why, over := s.graceOverLocked(id, s.now()); over {
			s.removeLocked(id, why)
			ok = false
		}
	}
	if !ok {
		if why, gone := s.expired[id]; gone {
			return nil, fmt.Errorf("%w: %s: %s", ErrNotFound, id, why)
		}
		return nil, fmt.Errorf("%w: no episode %q on this canvas", ErrNotFound, clipID(id))
	}
	s.lru.MoveToFront(el)
	return el.Value.(*Episode), nil
}

// graceOverLocked tells whether id is an unfinished episode whose stream
// ended more than the resume grace before now, and says so. An episode
// that ended after its stream did (a CloseEpisode once the stream was gone:
// how a client that stops early ends one) has nothing left to resume: it
// keeps its record for the idle TTL like any ended episode.
func (s *MemoryStore) graceOverLocked(id string, now time.Time) (string, bool) {
	st := s.streams[id]
	if st == nil || st.attached > 0 || st.detached.IsZero() || s.cfg.ResumeGrace <= 0 {
		return "", false
	}
	if el, ok := s.byID[id]; ok && !el.Value.(*Episode).active.Load() {
		return "", false
	}
	if now.Sub(st.detached) <= s.cfg.ResumeGrace {
		return "", false
	}
	return fmt.Sprintf("it expired: its stream ended at %s and no client resumed it within the resume grace period of %s; open a new episode",
		st.detached.UTC().Format(time.RFC3339), s.cfg.ResumeGrace), true
}

// Attach implements StreamTracker.
func (s *MemoryStore) Attach(id string) (func(unfinished bool), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.getLocked(id); err != nil {
		return nil, err
	}
	st := s.streams[id]
	if st == nil {
		st = &streamState{}
		s.streams[id] = st
	}
	st.attached++
	st.detached = time.Time{}
	var once sync.Once
	return func(unfinished bool) {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.streams[id] != st {
				return // expired (evicted for room) while attached
			}
			st.attached--
			if st.attached == 0 && unfinished {
				st.detached = s.now()
			}
		})
	}, nil
}

func (s *MemoryStore) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(id, "it was deleted")
}

func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

func (s *MemoryStore) removeLocked(id, why string) {
	el, ok := s.byID[id]
	if !ok {
		return
	}
	s.lru.Remove(el)
	delete(s.byID, id)
	delete(s.streams, id)
	el.Value.(*Episode).dropped()
	if len(s.expRing) >= expiredMemory {
		delete(s.expired, s.expRing[0])
		s.expRing = s.expRing[1:]
	}
	s.expired[id] = why
	s.expRing = append(s.expRing, id)
}

// Sweep expires the episodes due (StoreConfig: idle TTL, resume grace;
// never one with a live stream) and returns how many.
func (s *MemoryStore) Sweep() int {
	now := s.now()
	cutoff := now.Add(-s.cfg.IdleTTL)
	n := 0
	s.mu.Lock()
	var idle []*Episode
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		e := el.Value.(*Episode)
		if why, over := s.graceOverLocked(e.id, now); over {
			s.removeLocked(e.id, why)
			n++
			continue
		}
		if st := s.streams[e.id]; st != nil && (st.attached > 0 || (!st.detached.IsZero() && s.cfg.ResumeGrace > 0)) {
			continue // a live stream, or a disconnected one still in its grace
		}
		idle = append(idle, e)
	}
	s.mu.Unlock()
	for _, e := range idle {
		// lastUsed takes the episode's lock, so it is read outside the
		// store's lock to keep lock order store -> never episode.
		if !e.lastUsed().Before(cutoff) {
			continue
		}
		s.mu.Lock()
		// A stream may have attached meanwhile; then the episode stays.
		if st := s.streams[e.id]; (st == nil || st.attached == 0) && s.byID[e.id] != nil {
			s.removeLocked(e.id, fmt.Sprintf("it expired after being idle for %s", s.cfg.IdleTTL))
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// Run sweeps until ctx is done; the caller owns it. It sweeps every
// interval, or every quarter of the resume grace when that is shorter.
func (s *MemoryStore) Run(ctx context.Context, interval time.Duration) {
	if g := s.cfg.ResumeGrace / 4; g > 0 && g < interval {
		interval = g
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// clipID bounds an episode id echoed into an error (ids are short; a
// client may send a megabyte).
func clipID(id string) string {
	if len(id) <= MaxIDBytes {
		return id
	}
	return strings.ToValidUTF8(id[:MaxIDBytes], "") + fmt.Sprintf("...(%d bytes)", len(id))
}

// MaxIDBytes is the longest episode id a canvas accepts; the ids it makes
// ("ep_" and 16 hex digits) are far shorter.
const MaxIDBytes = 64
