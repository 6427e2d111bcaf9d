package executor

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Registry holds the backends a process knows, by name. Safe for
// concurrent use.
type Registry struct {
	mu       sync.RWMutex
	backends map[string]Backend
	def      string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{backends: make(map[string]Backend)}
}

// Register adds a backend under its Name; the first one registered becomes
// the default. Registering a name twice is an error.
func (r *Registry) Register(b Backend) error {
	if b == nil {
		return errors.New("executor: cannot register a nil backend")
	}
	name := b.Name()
	if name == "" {
		return errors.New("executor: cannot register a backend with an empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.backends == nil {
		r.backends = make(map[string]Backend)
	}
	if _, dup := r.backends[name]; dup {
		return fmt.Errorf("executor backend %q is already registered", name)
	}
	r.backends[name] = b
	if r.def == "" {
		r.def = name
	}
	return nil
}

// SetDefault makes the named, already registered backend the one Get("")
// returns.
func (r *Registry) SetDefault(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.backends[name]; !ok {
		return r.unknownLocked(name)
	}
	r.def = name
	return nil
}

// Default returns the default backend's name, "" when none is registered.
func (r *Registry) Default() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.def
}

// Get returns the named backend; "" is the default one.
func (r *Registry) Get(name string) (Backend, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if name == "" {
		if r.def == "" {
			return nil, errors.New("executor: no backend is registered")
		}
		name = r.def
	}
	b, ok := r.backends[name]
	if !ok {
		return nil, r.unknownLocked(name)
	}
	return b, nil
}

// Names lists the registered backends, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

func (r *Registry) namesLocked() []string {
	out := make([]string, 0, len(r.backends))
	for n := range r.backends {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (r *Registry) unknownLocked(name string) error {
	known := r.namesLocked()
	if len(known) == 0 {
		return fmt.Errorf("unknown executor backend %q: none is registered", name)
	}
	return fmt.Errorf("unknown executor backend %q: known are %s", name, strings.Join(known, ", "))
}
