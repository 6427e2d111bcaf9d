package workflow

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// ParseError is a rejected DSL text: where and why.
type ParseError struct {
	Pos    int // 1-based rune column in the whole text; len+1 for "end of text"
	Reason string
}

func (e *ParseError) Error() string { return fmt.Sprintf("dsl: col %d: %s", e.Pos, e.Reason) }

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tArrow
	tLBrack
	tRBrack
	tLParen
	tRParen
	tComma
	tQuest
	tColon
	tStar
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// describe names a token the way an error message quotes it.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of text"
	case tIdent, tNumber:
		return clip(t.text)
	}
	return "'" + t.text + "'"
}

var punct = map[rune]tokKind{
	'[': tLBrack, ']': tRBrack, '(': tLParen, ')': tRParen,
	',': tComma, '?': tQuest, ':': tColon, '*': tStar,
}

// lex splits the whole text up front: the text is bounded by MaxTextBytes,
// and whole-token lookahead keeps the parser simple.
func lex(text string) ([]token, *ParseError) {
	var toks []token
	col := 1
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return nil, &ParseError{col, "invalid UTF-8"}
		case unicode.IsSpace(r):
		case isIdentStart(r) || r >= '0' && r <= '9':
			// Identifiers and numbers are ASCII, so bytes equal runes here.
			j := i + 1
			for j < len(text) && isIdentPart(rune(text[j])) {
				j++
			}
			kind := tIdent
			if !isIdentStart(r) {
				kind = tNumber
				for k := i; k < j; k++ {
					if text[k] < '0' || text[k] > '9' {
						return nil, &ParseError{col + k - i, fmt.Sprintf("unexpected character %q after a number", text[k])}
					}
				}
			}
			toks = append(toks, token{kind, text[i:j], col})
			col += j - i
			i = j
			continue
		case r == '-':
			if i+1 < len(text) && text[i+1] == '>' {
				toks = append(toks, token{tArrow, "->", col})
				col += 2
				i += 2
				continue
			}
			return nil, &ParseError{col, "expected '->', found '-'"}
		default:
			k, ok := punct[r]
			if !ok {
				return nil, &ParseError{col, fmt.Sprintf("unexpected character %q", r)}
			}
			toks = append(toks, token{k, string(r), col})
		}
		col++
		i += size
	}
	return append(toks, token{tEOF, "", col}), nil
}

type parser struct {
	toks []token
	i    int
	cat  Catalog
	ops  int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func errAt(pos int, format string, args ...any) *ParseError {
	return &ParseError{pos, fmt.Sprintf(format, args...)}
}

// Parse reads DSL text into a graph. Stages get node_1, node_2, ... in
// order and the id counter is set past them. With a Catalog, names are
// matched case-insensitively and stored canonically, and the role rules
// apply; with nil, any identifier is an operator. Errors are *ParseError.
func Parse(text string, cat Catalog) (*Graph, error) {
	g, perr := parse(text, cat)
	if perr != nil {
		return nil, perr
	}
	return g, nil
}

func parse(text string, cat Catalog) (*Graph, *ParseError) {
	if len(text) > MaxTextBytes {
		return nil, errAt(utf8.RuneCountInString(text[:MaxTextBytes])+1,
			"the text is %d bytes; the limit is %d", len(text), MaxTextBytes)
	}
	toks, perr := lex(text)
	if perr != nil {
		return nil, perr
	}
	p := &parser{toks: toks, cat: cat}
	g := New()
	if p.peek().kind == tEOF {
		return g, nil
	}
	for {
		s, perr := p.stage()
		if perr != nil {
			return nil, perr
		}
		g.Stages = append(g.Stages, s)
		t := p.next()
		if t.kind == tEOF {
			break
		}
		if t.kind != tArrow {
			return nil, errAt(t.pos, "expected '->' or end of text, found %s", t.describe())
		}
		if p.peek().kind == tEOF {
			return nil, errAt(p.peek().pos, "expected an operator, '[' or '(' after '->', found end of text")
		}
	}
	for i, s := range g.Stages {
		s.setIDs(stageID(i + 1))
	}
	g.next = len(g.Stages) + 1
	return g, nil
}

// operator resolves one identifier token and enforces the size limit, which
// is counted here because every occurrence passes through.
func (p *parser) operator(t token) (*Node, *ParseError) {
	if isDone(t.text) {
		return nil, errAt(t.pos, "%s", doneMsg)
	}
	p.ops++
	if p.ops > MaxOperators {
		return nil, errAt(t.pos, "the workflow holds more than %d operators", MaxOperators)
	}
	canon, msg, _ := resolve(t.text, p.cat)
	if msg != "" {
		return nil, errAt(t.pos, "%s", msg)
	}
	return &Node{Operator: canon}, nil
}

func (p *parser) stage() (*Stage, *ParseError) {
	t := p.peek()
	switch t.kind {
	case tLBrack:
		return p.parallel()
	case tLParen:
		return p.loop()
	case tIdent:
		p.next()
		if p.peek().kind == tQuest {
			return p.conditional(t)
		}
		n, perr := p.operator(t)
		if perr != nil {
			return nil, perr
		}
		return &Stage{Kind: Operator, Op: n}, nil
	}
	return nil, errAt(t.pos, "expected an operator, '[' or '(', found %s", t.describe())
}

const (
	nestedCond     = "a conditional branch must be a single operator: no structure inside another"
	nestedParallel = "a parallel block holds single operators only: no structure inside another"
	nestedLoop     = "a loop body holds operators only: no structure inside another"
)

func (p *parser) conditional(ct token) (*Stage, *ParseError) {
	cond, perr := p.operator(ct)
	if perr != nil {
		return nil, perr
	}
	if p.cat != nil && !p.cat.IsChecker(cond.Operator) {
		return nil, errAt(ct.pos, "%s", checkerMsg(cond.Operator, p.cat))
	}
	p.next() // '?'
	s := &Stage{Kind: Conditional, Cond: cond}
	tt := p.next()
	switch tt.kind {
	case tIdent:
		if isDone(tt.text) {
			return nil, errAt(tt.pos, "the true branch may not be done")
		}
	case tLBrack, tLParen:
		return nil, errAt(tt.pos, nestedCond)
	default:
		return nil, errAt(tt.pos, "expected the true branch (an operator) after '?', found %s", tt.describe())
	}
	if s.True, perr = p.operator(tt); perr != nil {
		return nil, perr
	}
	if t := p.peek(); t.kind == tQuest {
		return nil, errAt(t.pos, nestedCond)
	}
	if p.peek().kind != tColon {
		return s, nil // a missing ": F" reads as ": done"
	}
	p.next()
	ft := p.next()
	switch ft.kind {
	case tIdent:
		if !isDone(ft.text) {
			if s.False, perr = p.operator(ft); perr != nil {
				return nil, perr
			}
		}
	case tLBrack, tLParen:
		return nil, errAt(ft.pos, nestedCond)
	default:
		return nil, errAt(ft.pos, "expected the false branch (an operator or done) after ':', found %s", ft.describe())
	}
	if t := p.peek(); t.kind == tQuest {
		return nil, errAt(t.pos, nestedCond)
	}
	return s, nil
}

// listSyntax is what tells a parallel block "[A, B]" from a loop body
// "(A -> B)" when operatorList reads one.
type listSyntax struct {
	what                 string // "a parallel block", "a loop body"
	openText, closeText  string
	sep, close, wrongSep tokKind
	sepText, wrongText   string
	nested               string // the message for a structure inside
	// min is the fewest operators; tooFew the message when there are
	// fewer, at the opening token, or at the closing one when tooFewAtClose.
	min           int
	tooFew        string
	tooFewAtClose bool
}

var (
	parallelSyntax = listSyntax{what: "a parallel block", openText: "[", closeText: "]",
		sep: tComma, close: tRBrack, wrongSep: tArrow, sepText: ",", wrongText: "->", nested: nestedParallel,
		min: 2, tooFew: "a parallel block needs at least 2 operators"}
	loopSyntax = listSyntax{what: "a loop body", openText: "(", closeText: ")",
		sep: tArrow, close: tRParen, wrongSep: tComma, sepText: "->", wrongText: ",", nested: nestedLoop,
		min: 1, tooFew: "a loop needs at least 1 operator in its body", tooFewAtClose: true}
)

// operatorList reads the operators of a block after its opening token
// open, through the closing one. check, when set, vets each operator.
func (p *parser) operatorList(open token, ls listSyntax, check func(t token, n *Node) *ParseError) ([]*Node, *ParseError) {
	var ops []*Node
	tooFew := func(at token) *ParseError {
		if ls.tooFewAtClose {
			return errAt(at.pos, "%s", ls.tooFew)
		}
		return errAt(open.pos, "%s", ls.tooFew)
	}
	for {
		t := p.next()
		switch t.kind {
		case tIdent:
			n, perr := p.operator(t)
			if perr != nil {
				return nil, perr
			}
			if check != nil {
				if perr := check(t, n); perr != nil {
					return nil, perr
				}
			}
			ops = append(ops, n)
			if len(ops) > MaxBlockOperators {
				return nil, errAt(t.pos, "%s holds at most %d operators", ls.what, MaxBlockOperators)
			}
		case tLBrack, tLParen:
			return nil, errAt(t.pos, "%s", ls.nested)
		case tEOF:
			return nil, errAt(open.pos, "unclosed '%s'", ls.openText)
		default:
			if len(ops) == 0 {
				if t.kind == ls.close {
					return nil, tooFew(t)
				}
				return nil, errAt(t.pos, "expected an operator after '%s', found %s", ls.openText, t.describe())
			}
			return nil, errAt(t.pos, "expected an operator after '%s', found %s", ls.sepText, t.describe())
		}
		t = p.next()
		switch t.kind {
		case ls.sep:
		case ls.close:
			if len(ops) < ls.min {
				return nil, tooFew(t)
			}
			return ops, nil
		case tEOF:
			return nil, errAt(open.pos, "unclosed '%s'", ls.openText)
		case tQuest:
			return nil, errAt(t.pos, "%s", ls.nested)
		case ls.wrongSep:
			return nil, errAt(t.pos, "expected '%s' or '%s', found '%s': the operators of %s are separated by '%s'",
				ls.sepText, ls.closeText, ls.wrongText, ls.what, ls.sepText)
		default:
			return nil, errAt(t.pos, "expected '%s' or '%s', found %s", ls.sepText, ls.closeText, t.describe())
		}
	}
}

func (p *parser) parallel() (*Stage, *ParseError) {
	open := p.next()
	branches, perr := p.operatorList(open, parallelSyntax, func(t token, n *Node) *ParseError {
		if p.cat != nil && p.cat.IsCombiner(n.Operator) {
			return errAt(t.pos, "%s", combinerMsg(n.Operator))
		}
		return nil
	})
	if perr != nil {
		return nil, perr
	}
	return &Stage{Kind: Parallel, Branches: branches}, nil
}

func (p *parser) loop() (*Stage, *ParseError) {
	open := p.next()
	body, perr := p.operatorList(open, loopSyntax, nil)
	if perr != nil {
		return nil, perr
	}
	s := &Stage{Kind: Loop, Body: body}
	t := p.next()
	var num token
	switch {
	case t.kind == tStar || t.kind == tIdent && (t.text == "x" || t.text == "X"):
		num = p.next()
		if num.kind != tNumber {
			return nil, errAt(num.pos, "expected a repetition count (%d..%d) after '%s', found %s",
				MinLoopCount, MaxLoopCount, t.text, num.describe())
		}
	case t.kind == tIdent && (t.text[0] == 'x' || t.text[0] == 'X') && allDigits(t.text[1:]):
		num = token{tNumber, t.text[1:], t.pos + 1} // "x3" lexes as one identifier
	default:
		return nil, errAt(t.pos, "expected '* N' after ')' (N = %d..%d repetitions), found %s",
			MinLoopCount, MaxLoopCount, t.describe())
	}
	n := 0
	for _, c := range num.text {
		n = min(n*10+int(c-'0'), MaxLoopCount+1) // capped: a long digit run must not overflow
	}
	if n < MinLoopCount || n > MaxLoopCount {
		return nil, errAt(num.pos, "loops hold %d..%d repetitions, found %s", MinLoopCount, MaxLoopCount, clip(num.text))
	}
	s.Count = n
	return s, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
