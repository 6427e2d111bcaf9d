package canvas

import (
	"container/list"
	"context"
	"fmt"
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

// MemoryStore keeps episodes in memory, bounded in number; idle episodes
// expire after a TTL, and when full the least recently used one expires
// first. It remembers recently expired ids so a late caller learns why its
// episode is gone.
type MemoryStore struct {
	cfg StoreConfig
	now func() time.Time

	mu      sync.Mutex
	byID    map[string]*list.Element // of *Episode, front = most recently used
	lru     *list.List
	expired map[string]string // id -> reason, bounded
	expRing []string
}

const expiredMemory = 4096

// NewMemoryStore returns an empty store.
func NewMemoryStore(cfg StoreConfig) (*MemoryStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("episode store: %w", err)
	}
	return &MemoryStore{cfg: cfg, now: time.Now, byID: map[string]*list.Element{}, lru: list.New(), expired: map[string]string{}}, nil
}

func (s *MemoryStore) Put(e *Episode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[e.id]; dup {
		return fmt.Errorf("episode %s already exists", e.id)
	}
	for s.lru.Len() >= s.cfg.MaxEpisodes {
		old := s.lru.Back().Value.(*Episode)
		s.removeLocked(old.id, fmt.Sprintf("it expired to make room (the canvas holds at most %d episodes)", s.cfg.MaxEpisodes))
	}
	s.byID[e.id] = s.lru.PushFront(e)
	return nil
}

func (s *MemoryStore) Get(id string) (*Episode, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[id]
	if !ok {
		if why, gone := s.expired[id]; gone {
			return nil, fmt.Errorf("%w: %s: %s", ErrNotFound, id, why)
		}
		return nil, fmt.Errorf("%w: no episode %q on this canvas", ErrNotFound, id)
	}
	s.lru.MoveToFront(el)
	return el.Value.(*Episode), nil
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
	el.Value.(*Episode).dropped()
	if len(s.expRing) >= expiredMemory {
		delete(s.expired, s.expRing[0])
		s.expRing = s.expRing[1:]
	}
	s.expired[id] = why
	s.expRing = append(s.expRing, id)
}

// Sweep expires episodes idle longer than the TTL and returns how many.
func (s *MemoryStore) Sweep() int {
	cutoff := s.now().Add(-s.cfg.IdleTTL)
	s.mu.Lock()
	var victims []*Episode
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		victims = append(victims, el.Value.(*Episode))
	}
	s.mu.Unlock()
	n := 0
	for _, e := range victims {
		// lastUsed takes the episode's lock, so it is read outside the
		// store's lock to keep lock order store -> never episode.
		if e.lastUsed().Before(cutoff) {
			s.mu.Lock()
			s.removeLocked(e.id, fmt.Sprintf("it expired after being idle for %s", s.cfg.IdleTTL))
			s.mu.Unlock()
			n++
		}
	}
	return n
}

// Run sweeps every interval until ctx is done; the caller owns it.
func (s *MemoryStore) Run(ctx context.Context, interval time.Duration) {
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
