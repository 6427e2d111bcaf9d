package workflow

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Sentinels for edit errors; test them with errors.Is. ErrUnknownOperator
// also matches ErrInvalid, so a caller that only cares whether an edit was
// refused needs one check.
var (
	ErrNotFound        = errors.New("workflow: no such node")
	ErrInvalid         = errors.New("workflow: invalid edit")
	ErrUnknownOperator = fmt.Errorf("%w: unknown operator", ErrInvalid)
)

// EditError is a refused edit. Msg is written for the policy and carries no
// package prefix, because the canvas shows it verbatim as feedback.
type EditError struct {
	Err error // one of the sentinels
	Msg string
}

func (e *EditError) Error() string { return e.Msg }
func (e *EditError) Unwrap() error { return e.Err }

func invalid(msg string) error { return &EditError{Err: ErrInvalid, Msg: msg} }

func invalidf(format string, args ...any) error { return invalid(fmt.Sprintf(format, args...)) }

// StageSpec describes a stage to insert. Fields that do not apply to Kind
// are ignored.
type StageSpec struct {
	Kind      Kind
	Operators []string // Operator: exactly 1; Parallel: 2 or more; Loop: the body, 1 or more
	Condition string   // Conditional: a checker
	True      string   // Conditional: the repair branch, run when the condition fails; never done
	False     string   // Conditional: run when the condition passes; "" or "done" means nothing
	Count     int      // Loop: MinLoopCount..MaxLoopCount
}

func resolveErr(name string, cat Catalog) (string, error) {
	canon, msg, known := resolve(strings.TrimSpace(name), cat)
	switch {
	case msg == "":
		return canon, nil
	case !known:
		return "", &EditError{Err: ErrUnknownOperator, Msg: msg}
	default:
		return "", invalid(msg)
	}
}

func build(spec StageSpec, cat Catalog) (*Stage, error) {
	s := &Stage{Kind: spec.Kind}
	switch spec.Kind {
	case Operator:
		if len(spec.Operators) != 1 {
			return nil, invalidf("an operator stage needs exactly 1 operator, got %d", len(spec.Operators))
		}
		op, err := resolveErr(spec.Operators[0], cat)
		if err != nil {
			return nil, err
		}
		s.Op = &Node{Operator: op}
	case Parallel:
		if len(spec.Operators) < 2 {
			return nil, invalid("a parallel block needs at least 2 operators")
		}
		if len(spec.Operators) > MaxBlockOperators {
			return nil, invalidf("a parallel block holds at most %d operators, got %d", MaxBlockOperators, len(spec.Operators))
		}
		for _, name := range spec.Operators {
			op, err := resolveErr(name, cat)
			if err != nil {
				return nil, err
			}
			if cat != nil && cat.IsCombiner(op) {
				return nil, invalid(combinerMsg(op))
			}
			s.Branches = append(s.Branches, &Node{Operator: op})
		}
	case Conditional:
		if strings.TrimSpace(spec.Condition) == "" {
			return nil, invalid("a conditional needs a condition (a checker operator)")
		}
		cond, err := resolveErr(spec.Condition, cat)
		if err != nil {
			return nil, err
		}
		if cat != nil && !cat.IsChecker(cond) {
			return nil, invalid(checkerMsg(cond, cat))
		}
		t := strings.TrimSpace(spec.True)
		if t == "" {
			return nil, invalid("a conditional needs a true branch: the repair operator that runs when the condition fails")
		}
		if isDone(t) {
			return nil, invalid("the true branch may not be done")
		}
		tr, err := resolveErr(t, cat)
		if err != nil {
			return nil, err
		}
		s.Cond, s.True = &Node{Operator: cond}, &Node{Operator: tr}
		if f := strings.TrimSpace(spec.False); f != "" && !isDone(f) {
			fa, err := resolveErr(f, cat)
			if err != nil {
				return nil, err
			}
			s.False = &Node{Operator: fa}
		}
	case Loop:
		if len(spec.Operators) < 1 {
			return nil, invalid("a loop needs at least 1 operator in its body")
		}
		if len(spec.Operators) > MaxBlockOperators {
			return nil, invalidf("a loop body holds at most %d operators, got %d", MaxBlockOperators, len(spec.Operators))
		}
		if spec.Count < MinLoopCount || spec.Count > MaxLoopCount {
			return nil, invalidf("loops hold %d..%d repetitions, got %d", MinLoopCount, MaxLoopCount, spec.Count)
		}
		for _, name := range spec.Operators {
			op, err := resolveErr(name, cat)
			if err != nil {
				return nil, err
			}
			s.Body = append(s.Body, &Node{Operator: op})
		}
		s.Count = spec.Count
	default:
		return nil, invalidf("unknown stage kind %v", spec.Kind)
	}
	return s, nil
}

// Insert adds a stage built from spec before the stage at index pos; a pos
// outside 0..len-1 appends. The stage gets the next node_N id and its
// children derive theirs from it. Names are resolved through cat and the
// canonical spelling is stored.
func (g *Graph) Insert(pos int, spec StageSpec, cat Catalog) (*Stage, error) {
	s, err := build(spec, cat)
	if err != nil {
		return nil, err
	}
	total := s.nodeCount()
	g.EachNode(func(*Node) { total++ })
	if total > MaxOperators {
		return nil, invalidf("the workflow would hold %d operators; the limit is %d", total, MaxOperators)
	}
	n := g.nextNum()
	s.setIDs(stageID(n))
	g.next = n + 1
	if pos < 0 || pos >= len(g.Stages) {
		g.Stages = append(g.Stages, s)
	} else {
		g.Stages = slices.Insert(g.Stages, pos, s)
	}
	g.version++
	return s, nil
}

// notFound lists the ids the policy could have meant, bounded so that a big
// graph does not flood the feedback.
func (g *Graph) notFound(id string) error {
	id = clip(strings.TrimSpace(id))
	if id == "" {
		id = "an empty id"
	}
	ids := g.allIDs()
	if len(ids) == 0 {
		return &EditError{Err: ErrNotFound, Msg: id + " does not exist; the workflow is empty"}
	}
	const show = 40
	list := strings.Join(ids[:min(len(ids), show)], ", ")
	if len(ids) > show {
		list += ", ... (" + strconv.Itoa(len(ids)-show) + " more)"
	}
	return &EditError{Err: ErrNotFound, Msg: id + " does not exist; existing nodes: " + list}
}

func structureName(k Kind) string {
	switch k {
	case Parallel:
		return "a parallel block"
	case Conditional:
		return "a conditional"
	case Loop:
		return "a loop"
	}
	return "an operator"
}

// Delete removes a top-level stage with all its children. A child cannot be
// removed alone: that could leave a structure breaking its own rules (a
// one-branch parallel block, a conditional without a condition).
func (g *Graph) Delete(id string) error {
	key := normID(id)
	for i, s := range g.Stages {
		if s.ID == key {
			g.Stages = slices.Delete(g.Stages, i, i+1)
			g.version++
			return nil
		}
	}
	if n, s, ok := g.Node(key); ok {
		return invalidf("%s is part of %s (%s); delete %s to remove the whole structure, or modify %s to change it",
			n.ID, s.ID, structureName(s.Kind), s.ID, n.ID)
	}
	return g.notFound(id)
}

// operatorNode finds the target of modify and set_prompt, steering the
// policy from a structure id to one of its operator nodes.
func (g *Graph) operatorNode(id, verb string) (*Node, *Stage, error) {
	if n, s, ok := g.Node(id); ok {
		return n, s, nil
	}
	s, ok := g.Stage(id)
	if !ok {
		return nil, nil, g.notFound(id)
	}
	nodes := s.Nodes()
	example := ""
	if len(nodes) > 0 {
		example = ", e.g. " + nodes[0].ID
	}
	switch s.Kind {
	case Parallel:
		return nil, nil, invalidf("%s is a parallel block; %s one of its branches%s", s.ID, verb, example)
	case Conditional:
		return nil, nil, invalidf("%s is a conditional; %s its condition or a branch%s", s.ID, verb, example)
	case Loop:
		return nil, nil, invalidf("%s is a loop; %s one of its body operators%s", s.ID, verb, example)
	}
	return nil, nil, invalidf("%s holds no operator node", s.ID)
}

// SetOperator changes the operator of one operator node, re-checking the
// rule of its place (a parallel branch may not be a combiner, a condition
// must stay a checker). The node keeps its id and prompt.
func (g *Graph) SetOperator(id, op string, cat Catalog) error {
	n, s, err := g.operatorNode(id, "modify")
	if err != nil {
		return err
	}
	canon, err := resolveErr(op, cat)
	if err != nil {
		return err
	}
	if cat != nil {
		switch {
		case s.Kind == Parallel && cat.IsCombiner(canon):
			return invalid(combinerMsg(canon))
		case s.Kind == Conditional && n == s.Cond && !cat.IsChecker(canon):
			return invalid(checkerMsg(canon, cat))
		}
	}
	n.Operator = canon
	g.version++
	return nil
}

// SetPrompt sets the custom prompt of one operator node. The minimum length
// rule of set_prompt is the canvas's: the graph stores what it is given, and
// an empty prompt clears it.
func (g *Graph) SetPrompt(id, prompt string) error {
	n, _, err := g.operatorNode(id, "set the prompt of")
	if err != nil {
		return err
	}
	n.Prompt = prompt
	g.version++
	return nil
}
