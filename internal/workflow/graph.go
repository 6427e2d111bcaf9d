package workflow

import (
	"strconv"
	"strings"
)

// Kind is the shape of a top-level stage.
type Kind int

const (
	Operator Kind = iota
	Parallel
	Conditional
	Loop
)

var kindNames = [...]string{"operator", "parallel", "conditional", "loop"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind maps "operator", "parallel", "conditional" or "loop" (any case,
// surrounding space ignored) to its Kind, so the canvas can read the
// <structure> tag of an add action without its own table.
func ParseKind(s string) (Kind, bool) {
	s = strings.TrimSpace(s)
	for i, n := range kindNames {
		if strings.EqualFold(s, n) {
			return Kind(i), true
		}
	}
	return 0, false
}

// Limits and defaults of the graph. They are constants rather than options
// because the DSL is stored in runs and must parse the same everywhere.
const (
	MaxTextBytes     = 64 << 10 // longest DSL text Parse accepts
	MaxOperators     = 1000     // most operator occurrences in one graph
	MinLoopCount     = 1
	MaxLoopCount     = 10
	DefaultLoopCount = 3 // what the canvas uses when an add loop action gives no count
	// Done is the reserved word for an empty false branch. It is reserved in
	// any case, everywhere, so that no operator name can be read back as it.
	Done = "done"
	// MaxBlockOperators bounds the operators of one parallel block or loop
	// body, on every path (the DSL parser, so RunWorkflow and the CLI, and
	// the canvas's actions): the SPEC sets no bound, and this one keeps a
	// workflow from fanning out into hundreds of concurrent executor calls.
	MaxBlockOperators = 32
)

// Node is one operator occurrence. Prompts belong to node ids, never to
// operator names, so two Programmer nodes can carry different instructions.
type Node struct {
	ID       string
	Operator string
	Prompt   string
}

// Stage is one top-level element. Only the fields of its Kind are set.
type Stage struct {
	ID   string // node_N
	Kind Kind

	Op *Node // Operator; Op.ID == ID

	Branches []*Node // Parallel: node_N_p0, node_N_p1, ...

	Cond, True, False *Node // Conditional: node_N_cond, node_N_true, node_N_false; False == nil means done

	Body  []*Node // Loop: node_N_l0, node_N_l1, ...
	Count int     // Loop repetitions, MinLoopCount..MaxLoopCount
}

// Graph is a workflow: stages run in order, each fed by the previous one.
type Graph struct {
	Stages []*Stage
	// next is the number of the next top-level id. It only grows, so an id
	// the policy has seen is never given to a different stage later, which
	// would silently retarget its stale references.
	next int
	// version counts the edits made through Graph's methods, so a caller can
	// keep what it derived from the graph (its DSL, a snapshot) until the
	// next edit instead of rebuilding it on every read.
	version uint64
}

// Version changes after every edit made through the Graph's methods
// (Insert, Delete, SetOperator, SetPrompt). Code that assigns Stages
// directly must not rely on it.
func (g *Graph) Version() uint64 {
	if g == nil {
		return 0
	}
	return g.version
}

// New returns an empty graph whose first stage will be node_1.
func New() *Graph { return &Graph{next: 1} }

// Empty reports whether the graph has no stages.
func (g *Graph) Empty() bool { return g == nil || len(g.Stages) == 0 }

// NextID is the id the next Insert will give its stage.
func (g *Graph) NextID() string { return stageID(g.nextNum()) }

// nextNum also looks past the ids already present, so that a graph built by
// hand (with a zero counter) still never hands out a used id.
func (g *Graph) nextNum() int {
	n := max(g.next, 1)
	for _, s := range g.Stages {
		if v, ok := stageNum(s.ID); ok && v >= n {
			n = v + 1
		}
	}
	return n
}

func stageID(n int) string { return "node_" + strconv.Itoa(n) }

func stageNum(id string) (int, bool) {
	rest, ok := strings.CutPrefix(id, "node_")
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(rest)
	return v, err == nil
}

// setIDs derives every child id from the stage id, so children follow their
// parent and need no counter of their own.
func (s *Stage) setIDs(id string) {
	s.ID = id
	switch s.Kind {
	case Operator:
		if s.Op != nil {
			s.Op.ID = id
		}
	case Parallel:
		for i, n := range s.Branches {
			n.ID = id + "_p" + strconv.Itoa(i)
		}
	case Conditional:
		if s.Cond != nil {
			s.Cond.ID = id + "_cond"
		}
		if s.True != nil {
			s.True.ID = id + "_true"
		}
		if s.False != nil {
			s.False.ID = id + "_false"
		}
	case Loop:
		for i, n := range s.Body {
			n.ID = id + "_l" + strconv.Itoa(i)
		}
	}
}

// Nodes returns the stage's operator nodes in execution order (condition,
// true branch, false branch for a conditional; a loop body once).
func (s *Stage) Nodes() []*Node {
	c := s.nodeCount()
	if c == 0 {
		return nil
	}
	out := make([]*Node, 0, c)
	s.eachNode(func(n *Node) { out = append(out, n) })
	return out
}

// nodeCount is len(s.Nodes()) without building the slice.
func (s *Stage) nodeCount() int {
	n := 0
	s.eachNode(func(*Node) { n++ })
	return n
}

// eachNode calls f on the stage's operator nodes in the order of Nodes,
// without allocating: the hot paths (statistics, lookups) walk every node
// of the graph on every canvas turn.
func (s *Stage) eachNode(f func(*Node)) {
	switch s.Kind {
	case Operator:
		if s.Op != nil {
			f(s.Op)
		}
	case Parallel:
		for _, n := range s.Branches {
			if n != nil {
				f(n)
			}
		}
	case Conditional:
		for _, n := range [3]*Node{s.Cond, s.True, s.False} {
			if n != nil {
				f(n)
			}
		}
	case Loop:
		for _, n := range s.Body {
			if n != nil {
				f(n)
			}
		}
	}
}

// EachNode calls f on every operator node in execution order, the order of
// NodeIDs, without allocating.
func (g *Graph) EachNode(f func(*Node)) {
	if g == nil {
		return
	}
	for _, s := range g.Stages {
		s.eachNode(f)
	}
}

// String is the stage's canonical DSL.
func (s *Stage) String() string {
	var buf [128]byte
	return string(s.appendTo(buf[:0]))
}

func opName(n *Node) string {
	if n == nil {
		return "?"
	}
	return n.Operator
}

// appendTo appends the stage's DSL to b: the DSL is printed on every canvas
// turn, so it is built in one buffer instead of a growing Builder.
func (s *Stage) appendTo(b []byte) []byte {
	switch s.Kind {
	case Operator:
		b = append(b, opName(s.Op)...)
	case Parallel:
		b = append(b, '[')
		for i, n := range s.Branches {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, opName(n)...)
		}
		b = append(b, ']')
	case Conditional:
		b = append(b, opName(s.Cond)...)
		b = append(b, " ? "...)
		b = append(b, opName(s.True)...)
		b = append(b, " : "...)
		if s.False == nil {
			b = append(b, Done...)
		} else {
			b = append(b, s.False.Operator...)
		}
	case Loop:
		b = append(b, '(')
		for i, n := range s.Body {
			if i > 0 {
				b = append(b, " -> "...)
			}
			b = append(b, opName(n)...)
		}
		b = append(b, ") * "...)
		b = strconv.AppendInt(b, int64(s.Count), 10)
	default:
		b = append(b, '?')
	}
	return b
}

// String is the canonical DSL: single spaces around "->", "?" and ":",
// ", " inside parallel blocks, "* N" for loops and ": done" always written.
// The empty graph prints as "".
func (g *Graph) String() string {
	if g == nil || len(g.Stages) == 0 {
		return ""
	}
	var buf [512]byte
	b := buf[:0]
	for i, s := range g.Stages {
		if i > 0 {
			b = append(b, " -> "...)
		}
		b = s.appendTo(b)
	}
	return string(b)
}

func (n *Node) clone() *Node {
	if n == nil {
		return nil
	}
	c := *n
	return &c
}

// Clone returns a deep copy that keeps the id counter, so that an edit tried
// on the copy assigns the same ids it would on the original. A snapshot is
// taken on every canvas turn that changed the graph, so the copy is made
// of few allocations: the graph with its stages (one block for a small
// graph), all nodes, all node lists. Edits on the copy work as on any graph.
func (g *Graph) Clone() *Graph {
	if g == nil {
		return nil
	}
	nodes, lists := 0, 0
	for _, s := range g.Stages {
		nodes += s.nodeCount()
		lists += len(s.Branches) + len(s.Body)
	}
	c, stages := newGraphBlock(len(g.Stages))
	c.next, c.version = g.next, g.version
	nodeSlab := make([]Node, 0, nodes)
	listSlab := make([]*Node, 0, lists)
	one := func(n *Node) *Node {
		if n == nil {
			return nil
		}
		nodeSlab = append(nodeSlab, *n)
		return &nodeSlab[len(nodeSlab)-1]
	}
	list := func(ns []*Node) []*Node {
		if ns == nil {
			return nil
		}
		start := len(listSlab)
		for _, n := range ns {
			listSlab = append(listSlab, one(n))
		}
		// The full slice expression keeps an append on one list from
		// overwriting the next one in the shared slab.
		return listSlab[start:len(listSlab):len(listSlab)]
	}
	for i, s := range g.Stages {
		st := &stages[i]
		*st = *s
		st.Op = one(s.Op)
		st.Branches = list(s.Branches)
		st.Cond, st.True, st.False = one(s.Cond), one(s.True), one(s.False)
		st.Body = list(s.Body)
		c.Stages[i] = st
	}
	return c
}

// Small graphs (what a policy builds) get the graph, its stage list and
// its stages in one allocation.
type (
	graphBlock4 struct {
		g      Graph
		ptrs   [4]*Stage
		stages [4]Stage
	}
	graphBlock8 struct {
		g      Graph
		ptrs   [8]*Stage
		stages [8]Stage
	}
)

// newGraphBlock returns an empty graph whose Stages has length n (capacity
// n, so an append on it reallocates) and the n stages to fill it with.
func newGraphBlock(n int) (*Graph, []Stage) {
	switch {
	case n == 0:
		return &Graph{Stages: []*Stage{}}, nil
	case n <= 4:
		b := &graphBlock4{}
		b.g.Stages = b.ptrs[:n:n]
		return &b.g, b.stages[:n]
	case n <= 8:
		b := &graphBlock8{}
		b.g.Stages = b.ptrs[:n:n]
		return &b.g, b.stages[:n]
	}
	return &Graph{Stages: make([]*Stage, n)}, make([]Stage, n)
}

func sameOp(a, b *Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Operator == b.Operator
}

func sameOps(a, b []*Node) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameOp(a[i], b[i]) {
			return false
		}
	}
	return true
}

// Equal compares structure only: stage kinds, operators and loop counts.
// Ids and prompts are ignored because a parsed graph renumbers its stages
// and the DSL does not carry prompts. A nil graph equals an empty one.
func (g *Graph) Equal(o *Graph) bool {
	if g.Empty() || o.Empty() {
		return g.Empty() && o.Empty()
	}
	if len(g.Stages) != len(o.Stages) {
		return false
	}
	for i, a := range g.Stages {
		b := o.Stages[i]
		if a.Kind != b.Kind {
			return false
		}
		var same bool
		switch a.Kind {
		case Operator:
			same = sameOp(a.Op, b.Op)
		case Parallel:
			same = sameOps(a.Branches, b.Branches)
		case Conditional:
			same = sameOp(a.Cond, b.Cond) && sameOp(a.True, b.True) && sameOp(a.False, b.False)
		case Loop:
			same = a.Count == b.Count && sameOps(a.Body, b.Body)
		}
		if !same {
			return false
		}
	}
	return true
}

// Stats summarises a graph for the observation, the finish rules and the
// reward.
type Stats struct {
	TotalOperators  int // every occurrence, branches and condition included; a loop body counted once
	UniqueOperators int // distinct operator types
	Stages          int // top-level stages
	Parallel        int // number of parallel blocks
	Conditional     int // number of conditionals
	Loop            int // number of loops
	OperatorCounts  map[string]int
}

// HasStructure reports whether any parallel block, conditional or loop is
// present; it is read from the graph, not from the text, so loops count.
func (s Stats) HasStructure() bool { return s.Parallel+s.Conditional+s.Loop > 0 }

// Stats computes the statistics of the graph.
func (g *Graph) Stats() Stats {
	st := Stats{OperatorCounts: map[string]int{}}
	if g == nil {
		return st
	}
	st.Stages = len(g.Stages)
	for _, s := range g.Stages {
		switch s.Kind {
		case Parallel:
			st.Parallel++
		case Conditional:
			st.Conditional++
		case Loop:
			st.Loop++
		}
		s.eachNode(func(n *Node) {
			st.TotalOperators++
			st.OperatorCounts[n.Operator]++
		})
	}
	st.UniqueOperators = len(st.OperatorCounts)
	return st
}

// Has reports whether op occurs anywhere. Names are compared exactly: a
// graph built with a Catalog stores canonical spellings.
func (g *Graph) Has(op string) bool {
	if g == nil {
		return false
	}
	found := false
	g.EachNode(func(n *Node) { found = found || n.Operator == op })
	return found
}

func (g *Graph) nodeTotal() int {
	n := 0
	g.EachNode(func(*Node) { n++ })
	return n
}

// Operators lists every operator occurrence in execution order.
func (g *Graph) Operators() []string {
	var out []string
	if n := g.nodeTotal(); n > 0 {
		out = make([]string, 0, n)
	}
	g.EachNode(func(n *Node) { out = append(out, n.Operator) })
	return out
}

// NodeIDs lists every operator node id in execution order: the targets of
// modify and set_prompt.
func (g *Graph) NodeIDs() []string {
	var out []string
	if g == nil {
		return out
	}
	for _, s := range g.Stages {
		for _, n := range s.Nodes() {
			out = append(out, n.ID)
		}
	}
	return out
}

// allIDs lists stage ids and operator node ids, each once, in order: what a
// policy may name as a target.
func (g *Graph) allIDs() []string {
	var out []string
	for _, s := range g.Stages {
		out = append(out, s.ID)
		if s.Kind == Operator {
			continue
		}
		for _, n := range s.Nodes() {
			out = append(out, n.ID)
		}
	}
	return out
}

// Prompts maps each node id that has a non-empty prompt to it; the DSL does
// not carry prompts, so runs store this next to it.
func (g *Graph) Prompts() map[string]string {
	out := map[string]string{}
	if g == nil {
		return out
	}
	for _, s := range g.Stages {
		for _, n := range s.Nodes() {
			if n.Prompt != "" {
				out[n.ID] = n.Prompt
			}
		}
	}
	return out
}

// normID forgives what a policy commonly gets wrong about an id (spacing,
// case) without ever matching a different node.
func normID(id string) string { return strings.ToLower(strings.TrimSpace(id)) }

// Stage returns the top-level stage with the given id.
func (g *Graph) Stage(id string) (*Stage, bool) {
	if g == nil {
		return nil, false
	}
	key := normID(id)
	for _, s := range g.Stages {
		if s.ID == key {
			return s, true
		}
	}
	return nil, false
}

// Node finds an operator node by id, with the stage that holds it. The id
// of a structure stage (a parallel block, conditional or loop) names no
// operator node, so it is not found here; use Stage for it.
func (g *Graph) Node(id string) (*Node, *Stage, bool) {
	if g == nil {
		return nil, nil, false
	}
	key := normID(id)
	for _, s := range g.Stages {
		var hit *Node
		s.eachNode(func(n *Node) {
			if hit == nil && n.ID == key {
				hit = n
			}
		})
		if hit != nil {
			return hit, s, true
		}
	}
	return nil, nil, false
}
