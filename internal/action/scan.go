package action

import (
	"sort"
	"strings"
)

// actionTags are the tags an action reply may hold; any other <word> is text.
var actionTags = nameSet("action", "operator", "operators", "structure", "condition", "true", "false",
	"count", "position", "target", "prompt", "answer", "reasoning", "thought")

var thinkTags = nameSet("think")

// allTags is every tag the package gives meaning to; Render neutralises all of
// them in free text.
var allTags = nameSet("action", "operator", "operators", "structure", "condition", "true", "false",
	"count", "position", "target", "prompt", "answer", "reasoning", "thought", "think")

const maxTagName = 9 // len("reasoning"), the longest name in allTags

// nameSet maps each name to itself, so that a lexed tag takes the set's
// string instead of allocating its own.
func nameSet(names ...string) map[string]string {
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[n] = n
	}
	return m
}

// token is one tag occurrence; start and end are byte offsets.
type token struct {
	name       string // lower case
	close      bool
	start, end int
}

// lexTags returns the tags of s whose names are in names, in order. A tag is
// <name>, </name>, [name] or [/name], with the name in any case and nothing
// else inside the brackets.
func lexTags(s string, names map[string]string) []token {
	var toks []token
	if n := strings.Count(s, "<") + strings.Count(s, "["); n > 0 {
		toks = make([]token, 0, min(n, 64)) // at most one tag per bracket
	}
	for i := 0; i < len(s); {
		j := strings.IndexAny(s[i:], "<[")
		if j < 0 {
			break
		}
		p := i + j
		if t, ok := tagAt(s, p, names); ok {
			toks = append(toks, t)
			i = t.end
			continue
		}
		i = p + 1
	}
	return toks
}

func tagAt(s string, p int, names map[string]string) (token, bool) {
	closer := byte('>')
	if s[p] == '[' {
		closer = ']'
	}
	q := p + 1
	t := token{start: p}
	if q < len(s) && s[q] == '/' {
		t.close = true
		q++
	}
	var buf [maxTagName]byte
	n := 0
	for q < len(s) && n <= maxTagName {
		c := s[q]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c < 'a' || c > 'z' {
			break
		}
		if n == maxTagName {
			return token{}, false
		}
		buf[n] = c
		n++
		q++
	}
	if n == 0 || q >= len(s) || s[q] != closer {
		return token{}, false
	}
	name, ok := names[string(buf[:n])]
	if !ok {
		return token{}, false
	}
	t.name = name
	t.end = q + 1
	return t, true
}

// fences returns the byte ranges [start, end) of fenced code in s, in order.
// A fence opens at a run of three or more backticks or tildes and closes at
// the next such run of the same character; an opening run with no closing
// run is plain text.
func fences(s string) [][2]int {
	var out [][2]int
	for p := 0; p < len(s); {
		c := s[p]
		if c != '`' && c != '~' {
			p++
			continue
		}
		r := runLen(s, p)
		if r < 3 {
			p += r
			continue
		}
		k := strings.Index(s[p+r:], strings.Repeat(string(c), 3))
		if k < 0 {
			// Nothing can close it, and no later run of c can open a fence
			// either, so this costs one scan per character at most.
			p += r
			continue
		}
		closeAt := p + r + k
		end := closeAt + runLen(s, closeAt)
		out = append(out, [2]int{p, end})
		p = end
	}
	return out
}

func runLen(s string, p int) int {
	n := 1
	for p+n < len(s) && s[p+n] == s[p] {
		n++
	}
	return n
}

func inRanges(rs [][2]int, pos int) bool {
	i := sort.Search(len(rs), func(i int) bool { return rs[i][1] > pos })
	return i < len(rs) && rs[i][0] <= pos
}

// element is a tag with its closing tag; its content lies between them.
type element struct {
	name        string
	open, close token
}

func (e element) content(s string) string { return s[e.open.end:e.close.start] }

// doc is a reply after tag scanning: the top-level elements and the opening
// tags that found no closing tag, both in order.
type doc struct {
	text        string
	fenced      [][2]int
	elems       []element
	strays      []token
	actionOpens []int // starts of every top-level opening <action>, paired or not
	hiddenAct   bool  // an opening <action> lies inside fenced code
}

func scan(s string) *doc {
	d := &doc{text: s, fenced: fences(s)}
	toks := lexTags(s, actionTags)
	vis := toks[:0] // filtered in place: toks is this call's own
	for _, t := range toks {
		if inRanges(d.fenced, t.start) {
			if t.name == "action" && !t.close {
				d.hiddenAct = true
			}
			continue
		}
		vis = append(vis, t)
	}
	// next[i] is the next token with vis[i]'s name; computing it up front
	// keeps pairing linear however many stray tags a reply holds.
	var nextBuf [32]int
	next := nextBuf[:0]
	if len(vis) > len(nextBuf) {
		next = make([]int, 0, len(vis))
	}
	next = next[:len(vis)]
	// last holds each name's latest index; the names are the few of
	// actionTags, so a list beats a map.
	type seen struct {
		name string
		at   int
	}
	var lastBuf [16]seen
	last := lastBuf[:0]
	for i := len(vis) - 1; i >= 0; i-- {
		next[i] = -1
		k := 0
		for k < len(last) && last[k].name != vis[i].name {
			k++
		}
		if k < len(last) {
			next[i] = last[k].at
			last[k].at = i
		} else {
			last = append(last, seen{vis[i].name, i})
		}
	}
	d.elems = make([]element, 0, len(vis)/2+1)
	for i := 0; i < len(vis); {
		t := vis[i]
		if t.close {
			i++
			continue
		}
		if t.name == "action" {
			d.actionOpens = append(d.actionOpens, t.start)
		}
		j := next[i]
		if j < 0 || !vis[j].close {
			d.strays = append(d.strays, t)
			i++
			continue
		}
		d.elems = append(d.elems, element{name: t.name, open: t, close: vis[j]})
		if t.name == "action" {
			// <action> is transparent so that <action>add<operator>X</operator></action> works.
			i++
			continue
		}
		i = j + 1
	}
	return d
}

// first returns the first element with one of the names.
func (d *doc) first(names ...string) (element, bool) {
	for _, e := range d.elems {
		for _, n := range names {
			if e.name == n {
				return e, true
			}
		}
	}
	return element{}, false
}

// section is the text that belongs to the first action.
type section struct {
	d      *doc
	act    element
	segEnd int // the next top-level <action>, or the end of the text
}

func (d *doc) section() (section, bool) {
	act, ok := d.first("action")
	if !ok {
		return section{}, false
	}
	end := len(d.text)
	for _, p := range d.actionOpens {
		if p > act.open.start {
			end = p
			break
		}
	}
	return section{d: d, act: act, segEnd: end}, true
}

// kindText is the action tag's content without any tags nested in it.
func (s section) kindText() string {
	from, to := s.act.open.end, s.act.close.start
	var cuts [][2]int
	for _, e := range s.d.elems {
		if e.open.start >= from && e.open.start < to {
			cuts = append(cuts, [2]int{e.open.start, e.close.end})
		}
	}
	for _, t := range s.d.strays {
		if t.start >= from && t.start < to {
			cuts = append(cuts, [2]int{t.start, t.end})
		}
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i][0] < cuts[j][0] })
	var b strings.Builder
	for _, c := range cuts {
		if c[0] > from {
			b.WriteString(s.d.text[from:c[0]])
		}
		from = max(from, c[1])
	}
	if from < to {
		b.WriteString(s.d.text[from:to])
	}
	return strings.TrimSpace(b.String())
}

// get returns the trimmed content of tag name for the action: after the
// action first, then before it.
func (s section) get(name string) (string, bool) {
	start := s.act.open.start
	for _, e := range s.d.elems {
		if e.name == name && e.open.start > start && e.open.start < s.segEnd {
			return strings.TrimSpace(e.content(s.d.text)), true
		}
	}
	for _, e := range s.d.elems {
		if e.open.start >= start {
			break
		}
		if e.name == name {
			return strings.TrimSpace(e.content(s.d.text)), true
		}
	}
	return "", false
}

// missing is the error for a required tag that is absent, telling an
// unclosed tag apart from one never written.
func (s section) missing(name, in, fix string) *Error {
	if fix == "" {
		fix = "add " + tagExample[name]
	}
	for _, t := range s.d.strays {
		if t.name == name && t.start < s.segEnd {
			return errorf("unclosed <"+name+"> tag", "close it: "+tagExample[name])
		}
	}
	return errorf("no <"+name+"> tag in "+in, fix)
}
