package action

import "strings"

// StripThink removes a model's own <think>...</think> blocks from a reply and
// returns their content (trimmed, blocks joined by a blank line) and the rest
// of the reply (trimmed when anything was removed).
//
// Reasoning models emit these blocks before their answer; they are not the
// policy's reflection and tags inside them must not be read as the action.
// Forms handled, case-insensitively and only with angle brackets:
//   - closed blocks, anywhere and any number of them;
//   - a reply that starts without <think> but holds </think> (chat templates
//     that put <think> in the prompt): everything before </think> is reasoning;
//   - a reply that starts with <think> and never closes it: the block runs to
//     the first <action> tag, or to the end when there is none;
//   - any other lone <think> or </think> is dropped.
//
// Unlike action tags, think tags are found even inside fenced code: a model's
// thinking often holds unbalanced fences, which must not hide its end.
func StripThink(reply string) (reasoning, rest string) {
	reasoning, rest, _ = stripThink(reply)
	return reasoning, rest
}

// stripThink also reports whether an unclosed leading block ran to the end of
// the reply, so that Parse can tell the policy to close it.
func stripThink(s string) (reasoning, rest string, runaway bool) {
	var toks []token
	for _, t := range lexTags(s, thinkTags) {
		if s[t.start] == '<' { // models write <think>; [think] is someone's text
			toks = append(toks, t)
		}
	}
	if len(toks) == 0 {
		return "", s, false
	}
	// nextClose[i] is the first closing tag at or after i.
	nextClose := make([]int, len(toks)+1)
	nextClose[len(toks)] = -1
	for i := len(toks) - 1; i >= 0; i-- {
		nextClose[i] = nextClose[i+1]
		if toks[i].close {
			nextClose[i] = i
		}
	}
	var parts []string
	var b strings.Builder
	pos := 0
	// Removed text is replaced by a space: tags hold no spaces, so no new
	// tag can form where two pieces meet.
	keep := func(upTo int) {
		b.WriteString(s[pos:upTo])
		b.WriteByte(' ')
	}
	i := 0
	if toks[0].close {
		parts = append(parts, s[:toks[0].start])
		pos = toks[0].end
		i = 1
	}
	for i < len(toks) {
		t := toks[i]
		if t.close {
			keep(t.start)
			pos = t.end
			i++
			continue
		}
		if j := nextClose[i]; j >= 0 {
			keep(t.start)
			parts = append(parts, s[t.end:toks[j].start])
			pos = toks[j].end
			i = j + 1
			continue
		}
		// Unclosed: no closing tag follows, so every later tag opens.
		if pos == 0 && strings.TrimSpace(s[:t.start]) == "" {
			end := len(s)
			if at := firstActionOpen(s, t.end); at >= 0 {
				end = at
			} else {
				runaway = true
			}
			parts = append(parts, s[t.end:end])
			pos = end
			for i < len(toks) && toks[i].start < end {
				i++
			}
			continue
		}
		keep(t.start)
		pos = t.end
		i++
	}
	b.WriteString(s[pos:])
	var rs []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			rs = append(rs, p)
		}
	}
	return strings.Join(rs, "\n\n"), strings.TrimSpace(b.String()), runaway
}

// firstActionOpen returns the offset of the first opening action tag at or
// after from, or -1.
func firstActionOpen(s string, from int) int {
	for _, t := range lexTags(s[from:], actionOnly) {
		if !t.close {
			return from + t.start
		}
	}
	return -1
}

var actionOnly = nameSet("action")
