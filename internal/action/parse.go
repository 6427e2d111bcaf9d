package action

import (
	"fmt"
	"strconv"
	"strings"
)

// Options tunes Parse.
type Options struct {
	// Lenient reads replies without an <action> tag by the fallback rules in
	// lenient.go. The canvas turns it on by default (SPEC section 4).
	Lenient bool
	// Operators are the known operator names, which the lenient fallback
	// looks for in the text. Parse does not check tagged names against them.
	Operators []string
}

// Parse reads the one action in a policy's reply. The error, when not nil, is
// an *Error to show the policy.
func Parse(reply string, opt Options) (Action, error) {
	a, e := parse(reply, opt)
	if e != nil {
		return Action{}, e
	}
	return a, nil
}

func parse(reply string, opt Options) (Action, *Error) {
	if len(reply) > MaxReplyBytes {
		return Action{}, errorf(fmt.Sprintf("reply too long: %d bytes, the limit is %d", len(reply), MaxReplyBytes),
			"write a short reflection and one action")
	}
	if strings.TrimSpace(reply) == "" {
		return Action{}, errorf("empty reply", "write a short reflection and one action, e.g. "+tagExample["action"])
	}
	reply = strings.ToValidUTF8(reply, "\uFFFD")
	if !opt.Lenient && plain(reply) {
		// No tag of any form can be in it: what noAction would say,
		// without scanning (the canvas asks this of every prompt reply).
		return Action{}, errNoActionTag()
	}
	think, rest, runaway := stripThink(reply)
	d := scan(rest)

	sec, ok := d.section()
	if !ok {
		a, e := noAction(d, opt, runaway)
		if e != nil {
			return Action{}, e
		}
		a.Reasoning = reflection(d, len(d.text), think)
		return a, nil
	}
	a, e := sec.action()
	if e != nil {
		return Action{}, e
	}
	if e := a.validate(); e != nil {
		return Action{}, e
	}
	a.Reasoning = reflection(d, sec.act.open.start, think)
	return a, nil
}

// noActionFix is built once: the canvas meets this error on every
// prompt-writing reply.
var noActionFix = "write exactly one action, e.g. " + tagExample["action"]

func errNoActionTag() *Error { return errorf("no <action> tag found", noActionFix) }

// plain reports that s holds neither '<' nor '[', so no tag of either form.
func plain(s string) bool {
	return strings.IndexByte(s, '<') < 0 && strings.IndexByte(s, '[') < 0
}

func noAction(d *doc, opt Options, runaway bool) (Action, *Error) {
	for _, t := range d.strays {
		if t.name == "action" {
			return Action{}, errorf("unclosed <action> tag", "close it: "+tagExample["action"])
		}
	}
	if d.hiddenAct {
		return Action{}, errorf("no <action> tag found outside code blocks",
			"write the action tags as plain text, not inside ``` fences, e.g. "+tagExample["action"])
	}
	if runaway {
		return Action{}, errorf("no <action> tag found: the <think> block is never closed",
			"end your thinking with </think>, then write one action, e.g. "+tagExample["action"])
	}
	if !opt.Lenient {
		return Action{}, errNoActionTag()
	}
	return lenient(lenientText(d), opt.Operators)
}

// lenientText is the reply without fenced code and tags.
func lenientText(d *doc) string {
	var b strings.Builder
	pos := 0
	skip := func(a, z int) {
		if a > pos {
			b.WriteString(d.text[pos:a])
		}
		b.WriteByte(' ')
		pos = max(pos, z)
	}
	toks := lexTags(d.text, actionTags)
	fi, ti := 0, 0
	for fi < len(d.fenced) || ti < len(toks) {
		if ti == len(toks) || (fi < len(d.fenced) && d.fenced[fi][0] < toks[ti].start) {
			skip(d.fenced[fi][0], d.fenced[fi][1])
			fi++
			continue
		}
		if toks[ti].start >= pos {
			skip(toks[ti].start, toks[ti].end)
		}
		ti++
	}
	b.WriteString(d.text[pos:])
	return b.String()
}

// reflection is the policy's reasoning: a <reasoning> or <thought> tag, else
// an unclosed one up to the action, else the model's <think> content.
func reflection(d *doc, actionAt int, think string) string {
	if e, ok := d.first("reasoning", "thought"); ok {
		return strings.TrimSpace(e.content(d.text))
	}
	for _, t := range d.strays {
		if t.start >= actionAt {
			break
		}
		if t.name == "reasoning" || t.name == "thought" {
			return strings.TrimSpace(d.text[t.end:actionAt])
		}
	}
	return think
}

func (s section) action() (Action, *Error) {
	raw := s.kindText()
	a := Action{Kind: parseKind(raw), Position: -1}
	switch a.Kind {
	case Add:
		return s.add(a)
	case Delete:
		var e *Error
		a.Target, e = s.name("target", "delete")
		return a, e
	case Modify:
		var e *Error
		if a.Target, e = s.name("target", "modify"); e != nil {
			return a, e
		}
		if a.Operator, e = s.name("operator", "modify"); e != nil {
			return a, e
		}
		a.Prompt, _ = s.get("prompt")
		return a, nil
	case SetPrompt:
		var e *Error
		if a.Target, e = s.name("target", "set_prompt"); e != nil {
			return a, e
		}
		p, ok := s.get("prompt")
		if !ok {
			return a, s.missing("prompt", "set_prompt", "")
		}
		a.Prompt = p
		return a, nil
	case Finish:
		a.Answer, _ = s.get("answer")
		return a, nil
	}
	if raw == "" {
		return a, errorf("empty <action> tag", kindsFix)
	}
	return a, errorf(fmt.Sprintf("unknown action %s", quote(raw)), kindsFix)
}

// name reads a required single-name tag.
func (s section) name(tag, in string) (string, *Error) {
	v, ok := s.get(tag)
	if !ok {
		return "", s.missing(tag, in, "")
	}
	return cleanName(v), nil
}

const addFix = "name one operator, e.g. " + "<action>add</action><operator>Programmer</operator>" +
	", or a block, e.g. <action>add</action><structure>parallel</structure><operators>Programmer, Custom</operators>"

func (s section) add(a Action) (Action, *Error) {
	if v, ok := s.get("position"); ok && v != "" {
		n, e := parsePosition(v)
		if e != nil {
			return a, e
		}
		a.Position = n
	}
	a.Prompt, _ = s.get("prompt")

	if v, ok := s.get("structure"); ok {
		st, known := parseStructure(v)
		if !known {
			return a, errorf(fmt.Sprintf("unknown structure %s", quote(v)),
				"use parallel, conditional or loop, e.g. "+tagExample["structure"])
		}
		a.Structure = st
	}
	switch a.Structure {
	case NoStructure:
		if v, ok := s.get("operator"); ok {
			a.Operator = cleanName(v)
			return a, nil
		}
		if v, ok := s.get("operators"); ok {
			ops := splitOperators(v)
			if len(ops) == 1 {
				a.Operator = ops[0]
				return a, nil
			}
			if len(ops) > 1 {
				return a, errorf("several <operators> in add without a <structure>",
					"add <structure>parallel</structure> or <structure>loop</structure>, or name one <operator>")
			}
		}
		return a, s.missing("operator", "add", addFix)
	case Parallel, Loop:
		v, ok := s.get("operators")
		if !ok {
			// A lone <operator> holding a list is what the policy meant.
			if v, ok = s.get("operator"); !ok {
				return a, s.missing("operators", "add "+string(a.Structure), "")
			}
		}
		a.Operators = splitOperators(v)
		if a.Structure == Loop {
			a.Count = DefaultLoopCount
			if v, ok := s.get("count"); ok && v != "" {
				n, e := parseCount(v)
				if e != nil {
					return a, e
				}
				a.Count = n
			}
		}
		return a, nil
	}
	// Conditional.
	var e *Error
	if a.Condition, e = s.name("condition", "add conditional"); e != nil {
		return a, e
	}
	if a.True, e = s.name("true", "add conditional"); e != nil {
		return a, e
	}
	a.Condition, a.True = doneOr(a.Condition), doneOr(a.True)
	if v, ok := s.get("false"); ok && v != "" {
		a.False = doneOr(cleanName(v))
	}
	return a, nil
}

func parseKind(v string) Kind {
	v = strings.ToLower(cleanName(v))
	switch strings.Join(strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '-' || r == '_' }), "_") {
	case "add":
		return Add
	case "delete":
		return Delete
	case "modify":
		return Modify
	case "set_prompt", "setprompt":
		return SetPrompt
	case "finish":
		return Finish
	}
	return Kind(v)
}

func parseStructure(v string) (Structure, bool) {
	switch strings.ToLower(cleanName(v)) {
	case "", "none", "single", "operator":
		return NoStructure, true
	case "parallel":
		return Parallel, true
	case "conditional", "condition", "if":
		return Conditional, true
	case "loop", "repeat":
		return Loop, true
	}
	return "", false
}

// arrowsToCommas is built once (a Replacer is safe for concurrent use):
// operator lists are split on every add.
var arrowsToCommas = strings.NewReplacer("->", ",", "→", ",")

// splitOperators splits a list written with commas, semicolons, blanks,
// arrows or the words "and" and "then"; enclosing brackets or parentheses
// are dropped.
func splitOperators(v string) []string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '[' && v[len(v)-1] == ']' || v[0] == '(' && v[len(v)-1] == ')') {
		v = v[1 : len(v)-1]
	}
	v = arrowsToCommas.Replace(v)
	var out []string
	for _, f := range strings.FieldsFunc(v, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	}) {
		f = cleanName(f)
		switch strings.ToLower(f) {
		case "", "and", "then":
			continue // "Review then Revise" is a list, not three names
		}
		out = append(out, f)
	}
	return out
}

// cleanName drops blanks and the quotes, backticks and markdown emphasis
// that models put around names.
func cleanName(v string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(v), "\"'`*"))
}

// doneOr maps the words for "nothing" to Done.
func doneOr(v string) string {
	switch strings.ToLower(v) {
	case "done", "none", "nothing":
		return Done
	}
	return v
}

// parseCount reads a loop count, clamped to MinLoopCount..MaxLoopCount. The
// DSL's "* 3" and "x 3" spellings are accepted.
func parseCount(v string) (int, *Error) {
	s := strings.TrimSpace(strings.TrimLeft(v, "*xX"))
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if !allDigits(s) {
		return 0, errorf(fmt.Sprintf("<count> must be an integer, got %s", quote(v)), "write "+tagExample["count"])
	}
	switch {
	case neg:
		return MinLoopCount, nil
	case len(strings.TrimLeft(s, "0")) > 2:
		return MaxLoopCount, nil
	}
	n, _ := strconv.Atoi(s)
	return min(max(n, MinLoopCount), MaxLoopCount), nil
}

// maxPosition bounds <position>; the canvas decides what an index past the
// end means.
const maxPosition = 1 << 20

func parsePosition(v string) (int, *Error) {
	s := strings.TrimPrefix(v, "+")
	if !allDigits(s) {
		return 0, errorf(fmt.Sprintf("<position> must be a non-negative integer, got %s", quote(v)),
			"write a 0-based stage index, e.g. "+tagExample["position"]+", or leave <position> out to append")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxPosition {
		return 0, errorf(fmt.Sprintf("<position> out of range, got %s", quote(v)),
			"write a 0-based stage index, e.g. "+tagExample["position"])
	}
	return n, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
