package builtin

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/flowsteer/flowsteer/internal/task"
)

// Real models wrap the fields we ask for in many ways: the tags we asked
// for, other cases, JSON objects, "Field: value" lines, markdown bold.
// field tries them in that order.

var (
	thinkRE      = regexp.MustCompile(`(?is)<think>.*?</think>`)
	thinkCloseRE = regexp.MustCompile(`(?i)</think>`)
)

// Tag searches are case-insensitive on the reply itself: indexes found in
// strings.ToLower(reply) do not map back onto reply, since lower-casing
// changes the byte length of some letters (Ⱥ, İ, ...).

// stripThink removes a reasoning model's think block.
func stripThink(s string) string {
	s = thinkRE.ReplaceAllString(s, "")
	if loc := thinkCloseRE.FindStringIndex(s); loc != nil {
		s = s[loc[1]:]
	}
	return strings.TrimSpace(s)
}

// fieldPatterns are the compiled patterns of one field name.
type fieldPatterns struct {
	open, close, label, rawLabel *regexp.Regexp // rawLabel: nil without "_"
}

var fieldCache sync.Map // name -> *fieldPatterns

func patternsOf(name string) *fieldPatterns {
	if p, ok := fieldCache.Load(name); ok {
		return p.(*fieldPatterns)
	}
	q := regexp.QuoteMeta(name)
	p := &fieldPatterns{
		open:  regexp.MustCompile(`(?i)<` + q + `>`),
		close: regexp.MustCompile(`(?i)</` + q + `>`),
		label: regexp.MustCompile(`(?im)^\s*(?:\*\*)?` + regexp.QuoteMeta(strings.ReplaceAll(name, "_", " ")) + `(?:\*\*)?\s*:\s*(?:\*\*)?\s*(.+)$`),
	}
	if strings.Contains(name, "_") {
		p.rawLabel = regexp.MustCompile(`(?im)^\s*(?:\*\*)?` + q + `(?:\*\*)?\s*:\s*(.+)$`)
	}
	v, _ := fieldCache.LoadOrStore(name, p)
	return v.(*fieldPatterns)
}

// field extracts a named field from a reply; ok is false when absent.
func field(reply, name string) (string, bool) {
	reply = stripThink(reply)
	p := patternsOf(name)
	if locs := p.open.FindAllStringIndex(reply, -1); locs != nil {
		rest := reply[locs[len(locs)-1][1]:]
		if loc := p.close.FindStringIndex(rest); loc != nil {
			return strings.TrimSpace(rest[:loc[0]]), true
		}
		return strings.TrimSpace(rest), true
	}
	if v, ok := jsonField(reply, name); ok {
		return v, true
	}
	if m := p.label.FindAllStringSubmatch(reply, -1); len(m) > 0 {
		return strings.TrimSpace(strings.TrimSuffix(m[len(m)-1][1], "**")), true
	}
	if p.rawLabel != nil {
		if m := p.rawLabel.FindAllStringSubmatch(reply, -1); len(m) > 0 {
			return strings.TrimSpace(m[len(m)-1][1]), true
		}
	}
	return "", false
}

// jsonField reads name from the first JSON object in s (fenced or bare).
func jsonField(s, name string) (string, bool) {
	start := strings.Index(s, "{")
	end := strings.LastIndex(s, "}")
	if start < 0 || end <= start {
		return "", false
	}
	var m map[string]any
	if json.Unmarshal([]byte(s[start:end+1]), &m) != nil {
		return "", false
	}
	for k, v := range m {
		if !strings.EqualFold(k, name) {
			continue
		}
		switch x := v.(type) {
		case string:
			return strings.TrimSpace(x), true
		case bool:
			return strconv.FormatBool(x), true
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), true
		case nil:
			return "", false
		default:
			b, _ := json.Marshal(x)
			return string(b), true
		}
	}
	return "", false
}

// verdict reads a yes/no judgement.
func verdict(s string) (bool, bool) {
	w := strings.ToLower(strings.Trim(strings.TrimSpace(s), "*.`'\" "))
	if f := strings.Fields(w); len(f) > 0 {
		w = strings.Trim(f[0], ".,;:!")
	}
	switch w {
	case "true", "yes", "pass", "passed", "correct", "right", "valid", "ok", "1":
		return true, true
	case "false", "no", "fail", "failed", "incorrect", "wrong", "invalid", "0":
		return false, true
	}
	return false, false
}

var numberedRE = regexp.MustCompile(`^\s*(?:\d+[.)]|[-*•])\s+`)

// items splits a numbered or bulleted list into its entries.
func items(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if numberedRE.MatchString(line) {
			out = append(out, strings.TrimSpace(numberedRE.ReplaceAllString(line, "")))
		} else if len(out) > 0 {
			out[len(out)-1] += " " + line
		} else {
			out = append(out, line)
		}
	}
	return out
}

var (
	fenceRE    = regexp.MustCompile("```")
	codeTagRE  = regexp.MustCompile(`(?i)</?code>`)
	codeLineRE = regexp.MustCompile(`^(?:(?:async\s+)?def\s+\w+\s*\(|class\s+\w+\s*[(:]|import\s+\w|from\s+[\w.]+\s+import\s|(?:for|while|if|with)\s.*:$|try\s*:|return\b|print\s*\(|@\w)|^[A-Za-z_][A-Za-z0-9_.]*(?:\[[^\]]*\])?\s*(?:[-+*/%]?=[^=]|\()`)
)

// codeIn returns the Python program in a reply, or "" when the reply holds
// none. task.ExtractCode falls back to the whole text, which is right for
// scoring a final answer but would run a model's prose ("I cannot help
// with that") as a program: here a reply without a fenced block or <code>
// tag counts as code only when it starts like a Python statement.
func codeIn(reply string) string {
	reply = stripThink(reply)
	if fenceRE.MatchString(reply) || codeTagRE.MatchString(reply) {
		// TrimCode, not TrimSpace: the first line's indent is code.
		code := task.TrimCode(task.ExtractCode(reply))
		if fenceRE.MatchString(code) {
			return "" // only empty blocks: ExtractCode gave the text back
		}
		return code
	}
	for _, line := range strings.Split(reply, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue // comments (or markdown headings) decide nothing
		}
		if codeLineRE.MatchString(line) {
			return task.TrimCode(task.ExtractCode(reply))
		}
		return ""
	}
	return ""
}
