package action

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The lenient fallback reads replies that hold no <action> tag at all (SPEC
// section 4; on by default in the canvas, off with Options.Lenient = false).
// In order:
//
//  1. A clear finishing phrase is a finish. The phrases are finishPhrases,
//     matched case-insensitively on word boundaries; an occurrence does not
//     count when its sentence is a question or when, within the few words
//     before it in the same sentence, a negation or condition appears
//     (notWords, or any word ending in n't): "I will not finish the workflow
//     yet" and "once Test passes the workflow is complete" are not finishes.
//  2. Otherwise, exactly one distinct operator name from Options.Operators,
//     matched case-insensitively on word boundaries, is an add of that
//     operator, spelt as in Options.Operators.
//  3. Anything else is an error.
//
// Fenced code and tags are not part of the text read here. The fallback is
// not tried for a reply with an unclosed <action>, with an <action> only
// inside fenced code, or with a <think> that never closes: the policy tried
// to write an action there, and an error naming the slip teaches more than a
// guess. The fallback errs toward refusing: a refused reply costs one turn,
// while a wrong finish ends the episode.

var finishPhrases = []string{
	"let's finish",
	"let us finish",
	"i will finish",
	"i'll finish",
	"we can finish",
	"ready to finish",
	"finish the workflow",
	"finish now",
	"workflow is complete",
	"workflow is now complete",
	"workflow is done",
	"workflow is finished",
}

var notWords = nameSet("not", "never", "cannot", "before", "until", "unless", "if", "once", "when",
	"after", "yet", "whether")

// lookBehind bounds how far before a phrase negations are looked for, which
// also keeps the fallback linear on replies that repeat a phrase.
const lookBehind = 60

func lenient(text string, operators []string) (Action, *Error) {
	t := normalise(text)
	if finishes(t) {
		return Action{Kind: Finish, Position: -1, Lenient: true}, nil
	}
	found := map[string]string{} // lower-case name -> canonical spelling
	for _, op := range operators {
		low := strings.ToLower(strings.TrimSpace(op))
		if low == "" {
			continue
		}
		if _, seen := found[low]; seen {
			continue
		}
		if containsWord(t, low) {
			found[low] = strings.TrimSpace(op)
		}
	}
	if len(found) == 1 {
		for _, op := range found {
			return Action{Kind: Add, Operator: op, Position: -1, Lenient: true}, nil
		}
	}
	reason := "no <action> tag found"
	if len(found) > 1 {
		names := make([]string, 0, len(found))
		for _, op := range found {
			names = append(names, op)
		}
		sort.Strings(names)
		reason += " and the text names several operators (" + strings.Join(names, ", ") + ")"
	}
	return Action{}, errorf(reason, "write exactly one action, e.g. "+tagExample["action"])
}

// curlyQuotes is built once; a Replacer is safe for concurrent use.
var curlyQuotes = strings.NewReplacer("’", "'", "‘", "'")

// normalise lower-cases text, straightens apostrophes and collapses blanks, so
// that phrases match however they were typed. Line breaks survive as
// sentence ends.
func normalise(s string) string {
	s = strings.ToLower(s)
	s = curlyQuotes.Replace(s)
	var b strings.Builder
	b.Grow(len(s))
	blank, newline := false, false
	for _, r := range s {
		if unicode.IsSpace(r) {
			blank = true
			newline = newline || r == '\n'
			continue
		}
		if blank && b.Len() > 0 {
			if newline {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		blank, newline = false, false
		b.WriteRune(r)
	}
	return b.String()
}

func finishes(t string) bool {
	for _, p := range finishPhrases {
		for from := 0; ; {
			i := strings.Index(t[from:], p)
			if i < 0 {
				break
			}
			i += from
			from = i + len(p)
			if wordAt(t, i, len(p)) && !hedged(t, i, from) {
				return true
			}
		}
	}
	return false
}

const sentenceEnds = ".!?;\n"

// hedged reports whether the phrase t[i:j] is negated, conditional or asked.
func hedged(t string, i, j int) bool {
	lo := max(0, i-lookBehind)
	before := t[lo:i]
	if k := strings.LastIndexAny(before, sentenceEnds); k >= 0 {
		before = before[k+1:]
	}
	for _, w := range strings.FieldsFunc(before, func(r rune) bool {
		return !unicode.IsLetter(r) && r != '\''
	}) {
		if notWords[w] != "" || strings.HasSuffix(w, "n't") {
			return true
		}
	}
	after := t[j:min(len(t), j+lookBehind)]
	if k := strings.IndexAny(after, sentenceEnds); k >= 0 && after[k] == '?' {
		return true
	}
	return false
}

func containsWord(t, w string) bool {
	for from := 0; ; {
		i := strings.Index(t[from:], w)
		if i < 0 {
			return false
		}
		i += from
		if wordAt(t, i, len(w)) {
			return true
		}
		from = i + 1
	}
}

// wordAt reports whether t[i:i+n] stands on word boundaries.
func wordAt(t string, i, n int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(t[:i])
		if isWordRune(r) {
			return false
		}
	}
	if i+n < len(t) {
		r, _ := utf8.DecodeRuneInString(t[i+n:])
		if isWordRune(r) {
			return false
		}
	}
	return true
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
