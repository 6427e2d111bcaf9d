package action

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Render writes an action in the canonical tag form that the policy prompt
// teaches, e.g.
//
//	<action>add</action><structure>parallel</structure><operators>Programmer, Custom</operators>
//
// A non-empty Reasoning comes first as <reasoning>, with fences and tags in it
// defused and, if needed, shortened to keep the whole within MaxReplyBytes;
// free text such as a prompt or answer comes last, where whatever it holds
// cannot hide the tags before it. For a valid action whose free text holds no
// tag of its own name (which Parse never returns), Parse(Render(a)) gives back
// a apart from Reasoning and Lenient, as long as the result without the
// reasoning fits in MaxReplyBytes.
func Render(a Action) string {
	var b strings.Builder
	tag := func(name, v string) {
		b.WriteString("<" + name + ">")
		b.WriteString(v)
		b.WriteString("</" + name + ">")
	}
	tag("action", string(a.Kind))
	switch a.Kind {
	case Add:
		switch a.Structure {
		case NoStructure:
			tag("operator", a.Operator)
		case Parallel:
			tag("structure", string(a.Structure))
			tag("operators", strings.Join(a.Operators, ", "))
		case Loop:
			tag("structure", string(a.Structure))
			tag("operators", strings.Join(a.Operators, ", "))
			tag("count", strconv.Itoa(a.Count))
		case Conditional:
			tag("structure", string(a.Structure))
			tag("condition", a.Condition)
			tag("true", a.True)
			if a.False != "" {
				tag("false", a.False)
			}
		default:
			tag("structure", string(a.Structure))
		}
		if a.Position >= 0 {
			tag("position", strconv.Itoa(a.Position))
		}
		if a.Prompt != "" {
			tag("prompt", a.Prompt)
		}
	case Delete:
		tag("target", a.Target)
	case Modify:
		tag("target", a.Target)
		tag("operator", a.Operator)
		if a.Prompt != "" {
			tag("prompt", a.Prompt)
		}
	case SetPrompt:
		tag("target", a.Target)
		tag("prompt", a.Prompt)
	case Finish:
		if a.Answer != "" {
			tag("answer", a.Answer)
		}
	}
	body := b.String()
	if strings.TrimSpace(a.Reasoning) == "" {
		return body
	}
	const open, close = "<reasoning>", "</reasoning>\n"
	const ellipsis = "…"
	room := MaxReplyBytes - len(body) - len(open) - len(close)
	if room <= len(ellipsis) {
		return body
	}
	r := defuse(strings.TrimSpace(a.Reasoning))
	if len(r) > room {
		r = cutRunes(r, room-len(ellipsis)) + ellipsis
	}
	return open + r + close + body
}

// fenceDefuser is built once; a Replacer is safe for concurrent use.
var fenceDefuser = strings.NewReplacer("```", "'''", "~~~", "---")

// defuse makes free text safe to embed: no fence can open in it and no tag
// of this package can be read from it.
func defuse(s string) string {
	s = fenceDefuser.Replace(s)
	toks := lexTags(s, allTags)
	if len(toks) == 0 {
		return s
	}
	var b strings.Builder
	pos := 0
	for _, t := range toks {
		b.WriteString(s[pos:t.start])
		if s[t.start] == '<' {
			b.WriteString("‹")
		} else {
			b.WriteString("⟦")
		}
		pos = t.start + 1
	}
	b.WriteString(s[pos:])
	return b.String()
}

// cutRunes returns the longest prefix of s, shorter than len(s), within n
// bytes that ends on a rune boundary.
func cutRunes(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// PromptText is the prompt carried by a prompt-writing reply (SPEC section 4,
// two-step editing): the content of its first <prompt> tag if it has one,
// else its text without think blocks, without <reasoning>, <thought> and
// <action> tags and their content, and without any other tags, trimmed.
// Fenced code is kept as written.
func PromptText(reply string) string {
	reply = strings.ToValidUTF8(reply, "\uFFFD")
	if plain(reply) {
		return strings.TrimSpace(reply) // nothing to strip, no scan needed
	}
	_, rest, _ := stripThink(reply)
	d := scan(rest)
	if e, ok := d.first("prompt"); ok {
		return strings.TrimSpace(e.content(d.text))
	}
	var cuts [][2]int
	for _, e := range d.elems {
		switch e.name {
		case "reasoning", "thought", "action":
			cuts = append(cuts, [2]int{e.open.start, e.close.end})
		}
	}
	for _, t := range lexTags(rest, actionTags) {
		cuts = append(cuts, [2]int{t.start, t.end})
	}
	cuts = append(cuts, markupTags(rest)...)
	sort.Slice(cuts, func(i, j int) bool { return cuts[i][0] < cuts[j][0] })
	var b strings.Builder
	pos := 0
	for _, c := range cuts {
		if c[0] < pos { // inside a span already removed
			pos = max(pos, c[1])
			continue
		}
		if inRanges(d.fenced, c[0]) { // tags in code are code
			continue
		}
		b.WriteString(rest[pos:c[0]])
		pos = c[1]
	}
	b.WriteString(rest[pos:])
	return strings.TrimSpace(b.String())
}

// markupTags finds other markup a model may wrap its prompt in, such as
// <response> or </p>: a letter, then letters, digits, '_' or '-', and
// nothing else inside the angle brackets, so that "a < b" survives.
func markupTags(s string) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			break
		}
		p := i + j
		q := p + 1
		if q < len(s) && s[q] == '/' {
			q++
		}
		n := q
		for n < len(s) && (isASCIILetter(s[n]) || n > q && (s[n] >= '0' && s[n] <= '9' || s[n] == '_' || s[n] == '-')) {
			n++
		}
		if n > q && n < len(s) && s[n] == '>' {
			out = append(out, [2]int{p, n + 1})
			i = n + 1
			continue
		}
		i = p + 1
	}
	return out
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
