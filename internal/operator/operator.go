// Package operator holds operator libraries: the named, LLM-backed steps a
// workflow is built from, with the description a policy reads, their input
// and output fields and the roles the canvas rules depend on.
//
// A Def is all the system knows of an operator: besides its description
// and roles it says which inputs it takes from the data flowing between
// stages (Bind), what it changes there (Advance) and which node prompt
// the structure-learning policies give it (Prompt). So a new operator is
// one Def, one Impl (internal/operator/builtin holds the default
// library's) and one simulated answer (internal/executor/sim, or
// sim.WithAnswer for an operator of another library); the engine and the
// policies read the Def instead of switching on the operator's name.
//
// Data path: the canvas validates actions against a Library; the execution
// engine runs a Library's operators on an executor backend.
package operator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flowsteer/flowsteer/internal/task"
)

// Role is a part an operator plays in the canvas rules.
type Role string

const (
	Solver  Role = "solver"
	Checker Role = "checker"
	// Combiner operators consume a list (the outputs of a parallel block)
	// and so may not stand inside one.
	Combiner Role = "combiner"
)

// Def describes one operator.
type Def struct {
	Name        string
	Group       string // planning, solving, checking, refining, ensembling, formatting
	Description string // what it does, shown to the policy
	WhenToUse   string // guidance shown to language-model policies
	Inputs      []string
	Outputs     []string
	Roles       []Role
	// DisabledFor lists task families for which the operator may not be used.
	DisabledFor []task.Family
	// NeedsTests marks an operator that runs the task's public tests (Test):
	// it is enabled only on tasks that have them, since elsewhere it can
	// only fail (SPEC section 6: a checker counts only where it can run).
	NeedsTests bool
	// Bind picks the operator's inputs from the data flowing between
	// stages; nil binds the previous output under "input" and "solution".
	Bind Bind `json:"-"`
	// Advance records what a successful invocation changes in that flow
	// beyond what every operator changes (Flow.Step); nil adds nothing.
	Advance Advance `json:"-"`
	// Prompt is the default node prompt given by policies that do not
	// write their own; zero gives a generic one. Like Bind and Advance it
	// is the engine's and the policies' business, not part of the
	// operator's description in observations (hence json:"-").
	Prompt NodePrompt `json:"-"`
	// Impl runs the operator; nil in libraries used only to validate graphs.
	Impl Impl
}

// Has reports whether d plays role r.
func (d Def) Has(r Role) bool {
	for _, x := range d.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// EnabledFor reports whether d may be used on tasks of family f.
func (d Def) EnabledFor(f task.Family) bool {
	for _, x := range d.DisabledFor {
		if x == f {
			return false
		}
	}
	return true
}

// EnabledForTask reports whether d may be used on task t: its family's
// rule, and for an operator that runs tests, that t has public tests.
func (d Def) EnabledForTask(t task.Task) bool {
	if !d.EnabledFor(t.Family) {
		return false
	}
	return !d.NeedsTests || !t.PublicTests.Empty()
}

// Library is a set of operator definitions. It satisfies
// workflow.Catalog, so the graph can check names and roles.
type Library struct {
	name  string
	defs  []Def
	index map[string]int // lower-case name -> position in defs
}

// NewLibrary builds a library; names must be unique case-insensitively and
// valid identifiers.
func NewLibrary(name string, defs []Def) (*Library, error) {
	if name == "" {
		return nil, fmt.Errorf("operator library: empty name")
	}
	l := &Library{name: name, index: make(map[string]int, len(defs))}
	for _, d := range defs {
		if !validIdent(d.Name) {
			return nil, fmt.Errorf("operator library %q: invalid operator name %q: use letters, digits and _", name, d.Name)
		}
		k := strings.ToLower(d.Name)
		if k == "done" {
			return nil, fmt.Errorf("operator library %q: %q is reserved", name, d.Name)
		}
		if _, dup := l.index[k]; dup {
			return nil, fmt.Errorf("operator library %q: operator %q defined twice", name, d.Name)
		}
		l.index[k] = len(l.defs)
		l.defs = append(l.defs, d)
	}
	return l, nil
}

func validIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// Name is the library's name.
func (l *Library) Name() string { return l.name }

// Defs returns the definitions in library order.
func (l *Library) Defs() []Def { return append([]Def(nil), l.defs...) }

// Lookup finds an operator case-insensitively.
func (l *Library) Lookup(name string) (Def, bool) {
	name = strings.TrimSpace(name)
	var buf [64]byte
	var i int
	var ok bool
	if b, fits := lowerASCII(buf[:0], name); fits {
		i, ok = l.index[string(b)] // converted in the index expression: no allocation
	} else {
		i, ok = l.index[strings.ToLower(name)]
	}
	if !ok {
		return Def{}, false
	}
	return l.defs[i], true
}

// lowerASCII appends s lower-cased to b when s is ASCII and fits b's
// capacity, so that Lookup (on every canvas turn) needs no allocation.
func lowerASCII(b []byte, s string) ([]byte, bool) {
	if len(s) > cap(b) {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return nil, false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b, true
}

// Names lists the canonical operator names in library order.
func (l *Library) Names() []string {
	out := make([]string, len(l.defs))
	for i, d := range l.defs {
		out[i] = d.Name
	}
	return out
}

// NamesWith lists the canonical names of operators with role r.
func (l *Library) NamesWith(r Role) []string {
	var out []string
	for _, d := range l.defs {
		if d.Has(r) {
			out = append(out, d.Name)
		}
	}
	return out
}

// Canonical implements workflow.Catalog.
func (l *Library) Canonical(name string) (string, bool) {
	d, ok := l.Lookup(name)
	return d.Name, ok
}

// IsChecker implements workflow.Catalog.
func (l *Library) IsChecker(name string) bool {
	d, ok := l.Lookup(name)
	return ok && d.Has(Checker)
}

// IsCombiner implements workflow.Catalog.
func (l *Library) IsCombiner(name string) bool {
	d, ok := l.Lookup(name)
	return ok && d.Has(Combiner)
}

// IsSolver reports whether name is a solver.
func (l *Library) IsSolver(name string) bool {
	d, ok := l.Lookup(name)
	return ok && d.Has(Solver)
}

// Registry holds the libraries a process knows, by name.
type Registry struct {
	libs map[string]*Library
	def  string
}

// NewRegistry returns a registry holding the default library, which is
// also the one used when a caller names none.
func NewRegistry() *Registry {
	d := Default()
	return &Registry{libs: map[string]*Library{d.Name(): d}, def: d.Name()}
}

// NewRegistryWith returns a registry whose default library is l.
func NewRegistryWith(l *Library) *Registry {
	return &Registry{libs: map[string]*Library{l.Name(): l}, def: l.Name()}
}

// Register adds a library; registering a name twice is an error.
func (r *Registry) Register(l *Library) error {
	if _, dup := r.libs[l.Name()]; dup {
		return fmt.Errorf("operator library %q is already registered", l.Name())
	}
	r.libs[l.Name()] = l
	return nil
}

// Get returns the named library; "" is the default one.
func (r *Registry) Get(name string) (*Library, error) {
	if name == "" {
		name = r.def
	}
	l, ok := r.libs[name]
	if !ok {
		return nil, fmt.Errorf("unknown operator library %q: known are %s", name, strings.Join(r.Names(), ", "))
	}
	return l, nil
}

// Names lists the registered libraries, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.libs))
	for n := range r.libs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
