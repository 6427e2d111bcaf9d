package task

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// GSM8K: {"question", "answer": "...reasoning...\n#### 72"}.
func convGSM8K(r rec) (Task, error) {
	q, err := r.nonEmpty("question")
	if err != nil {
		return Task{}, err
	}
	a, err := r.str("answer")
	if err != nil {
		return Task{}, err
	}
	i := strings.LastIndex(a, "####")
	if i < 0 {
		return Task{}, r.bad("answer", `has no "#### <number>" final line`)
	}
	gold := strings.TrimSpace(a[i+4:])
	if gold == "" {
		return Task{}, r.bad("answer", `has nothing after "####"`)
	}
	gold = stripThousands(gold)
	id, err := r.id(FormatGSM8K, "id")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: Math, Source: FormatGSM8K, Question: q, Answers: []string{gold}}, nil
}

// MATH: {"problem", "solution" with \boxed{...}, "level": "Level 3", "type"}.
// MATH-500 style exports add "answer", "subject", "unique_id" and an integer
// level; those are used when present.
func convMATH(r rec) (Task, error) {
	q, err := r.nonEmpty("problem")
	if err != nil {
		return Task{}, err
	}
	var gold string
	if r.has("answer") {
		if gold, err = r.scalar("answer"); err != nil {
			return Task{}, err
		}
	} else {
		sol, err := r.str("solution")
		if err != nil {
			return Task{}, err
		}
		var ok bool
		if gold, ok = lastBoxed(sol); !ok {
			return Task{}, r.bad("solution", `has no \boxed{...} answer`)
		}
	}
	if strings.TrimSpace(gold) == "" {
		return Task{}, r.bad(r.first("answer", "solution"), "gives an empty answer")
	}
	diff := 0.0
	if r.has("level") {
		lv, err := r.scalar("level")
		if err != nil {
			return Task{}, err
		}
		// "Level ?" exists in the released files: unknown, not an error.
		if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(lv, "Level"))); err == nil && n >= 1 && n <= 5 {
			diff = 0.2 * float64(n)
		}
	}
	id, err := r.id(FormatMATH, "unique_id", "id")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: Math, Source: FormatMATH, Question: q, Answers: []string{strings.TrimSpace(gold)}, Difficulty: diff}, nil
}

// MathQA: {"Problem", "Rationale", "options": "a ) 12 , b ) 16 , ...",
// "correct": "b"}; a multiple-choice task whose gold is the option letter.
func convMathQA(r rec) (Task, error) {
	q, err := r.nonEmpty("Problem", "problem")
	if err != nil {
		return Task{}, err
	}
	name := r.first("options", "Options")
	if name == "" {
		return Task{}, r.missing("options")
	}
	var choices []string
	switch jsonKind(r.f[name]) {
	case "string":
		choices = parseMathQAOptions(rawString(r.f[name]))
	case "array":
		items, err := r.strList(name)
		if err != nil {
			return Task{}, err
		}
		choices = parseMathQAOptionList(items)
	default:
		return Task{}, r.wrongType(name, `a string like "a ) 12 , b ) 16"`)
	}
	if len(choices) < 2 {
		return Task{}, r.bad(name, `cannot be read as options "a ) ... , b ) ..."`)
	}
	c, err := r.nonEmpty("correct", "Correct")
	if err != nil {
		return Task{}, err
	}
	letter := strings.ToLower(strings.TrimSpace(c))
	if len(letter) != 1 || letter[0] < 'a' || int(letter[0]-'a') >= len(choices) {
		return Task{}, r.bad(r.first("correct", "Correct"), "is %q, want a letter a-%c", c, 'a'+len(choices)-1)
	}
	id, err := r.id(FormatMathQA, "id")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: MultipleChoice, Source: FormatMathQA, Question: q, Choices: choices, Answers: []string{letter}}, nil
}

var mathQAMarker = regexp.MustCompile(`(?:^|,)\s*\[?\s*'?\s*([a-e])\s*\)\s*`)

// parseMathQAOptions splits "a ) 38 , b ) 27.675 , c ) 30". A marker counts
// only when it is the next letter in order, so a ")" inside an option's text
// cannot start a new option.
func parseMathQAOptions(s string) []string {
	locs := mathQAMarker.FindAllStringSubmatchIndex(s, -1)
	type mark struct{ start, end int }
	var marks []mark
	want := byte('a')
	for _, l := range locs {
		if s[l[2]] == want {
			marks = append(marks, mark{l[0], l[1]})
			want++
		}
	}
	out := make([]string, len(marks))
	for i, m := range marks {
		end := len(s)
		if i+1 < len(marks) {
			end = marks[i+1].start
		}
		out[i] = cleanOption(s[m.end:end])
	}
	return out
}

// parseMathQAOptionList reads the list form ["a ) 12", "b ) 16"].
func parseMathQAOptionList(items []string) []string {
	out := make([]string, 0, len(items))
	for i, it := range items {
		want := string(rune('a' + i))
		t := strings.TrimSpace(it)
		if strings.HasPrefix(strings.ToLower(t), want) {
			rest := strings.TrimSpace(t[1:])
			if strings.HasPrefix(rest, ")") {
				t = rest[1:]
			}
		}
		out = append(out, cleanOption(t))
	}
	return out
}

func cleanOption(s string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(s), ",[]'"))
}

// AIME 2025: {"problem" or "question", "answer", "id"?}.
func convAIME(r rec) (Task, error) {
	q, err := r.nonEmpty("problem", "question")
	if err != nil {
		return Task{}, err
	}
	a, err := r.scalar("answer")
	if err != nil {
		return Task{}, err
	}
	if strings.TrimSpace(a) == "" {
		return Task{}, r.bad("answer", "is empty")
	}
	id, err := r.id(FormatAIME2025, "id")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: Math, Source: FormatAIME2025, Question: q, Answers: []string{strings.TrimSpace(a)}}, nil
}

// convFlowsteer reads the Task JSON itself; a missing id gets the stable
// default so hand-written files need not number their lines.
func convFlowsteer(r rec) (Task, error) {
	var t Task
	if err := json.Unmarshal(r.raw, &t); err != nil {
		return Task{}, fmt.Errorf("flowsteer record: %w", err)
	}
	if t.ID == "" {
		t.ID = r.defID
	}
	if err := t.Validate(); err != nil {
		return Task{}, err
	}
	return t, nil
}

// stripThousands removes grouping commas from a lone number ("1,234");
// anything else is returned as it is.
func stripThousands(s string) string {
	if leadNumberRe.FindString(s) == s {
		return strings.ReplaceAll(s, ",", "")
	}
	return s
}
