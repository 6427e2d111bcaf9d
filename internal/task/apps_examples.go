package task

import (
	"regexp"
	"strings"
)

// APPS keeps no separate public tests: the examples a problem shows are in
// its question text. These readers take them from there, so the public
// tests are what the problem statement itself gives (never a hidden case).

var (
	appsExampleHead = regexp.MustCompile(`(?m)^-{3,}\s*(?:Examples?|Sample Input[^-]*)\s*-{3,}\s*$`)
	appsSectionHead = regexp.MustCompile(`(?m)^-{3,}\s*[A-Za-z][^-\n]*-{3,}\s*$`)
)

// appsStdinExamples reads Codeforces-style example blocks:
//
//	-----Examples-----
//	Input
//	3
//	1 2 3
//
//	Output
//	6
func appsStdinExamples(question string) []IOCase {
	q := crlf(question)
	loc := appsExampleHead.FindStringIndex(q)
	if loc == nil {
		return nil
	}
	body := q[loc[1]:]
	if next := appsSectionHead.FindStringIndex(body); next != nil {
		body = body[:next[0]]
	}
	var cases []IOCase
	var in, out []string
	mode := ""
	flush := func() {
		if mode == "output" && len(in) > 0 {
			cases = append(cases, IOCase{Input: trimBlock(in) + "\n", Output: trimBlock(out) + "\n"})
		}
		in, out = nil, nil
	}
	for _, l := range strings.Split(body, "\n") {
		switch strings.TrimSpace(l) {
		case "Input", "input", "Sample Input":
			flush()
			mode = "input"
			continue
		case "Output", "output", "Sample Output":
			mode = "output"
			continue
		}
		switch mode {
		case "input":
			in = append(in, l)
		case "output":
			out = append(out, l)
		}
	}
	flush()
	for _, c := range cases {
		if strings.TrimSpace(c.Output) == "" {
			return nil
		}
	}
	return cases
}

func trimBlock(lines []string) string {
	return strings.Trim(strings.Join(lines, "\n"), "\n ")
}

var (
	leetInputRe  = regexp.MustCompile(`(?m)^\s*Input:\s*(.+)$`)
	leetOutputRe = regexp.MustCompile(`(?m)^\s*Output:\s*(.+)$`)
	leetArgRe    = regexp.MustCompile(`^\s*[A-Za-z_]\w*\s*=\s*`)
)

// appsCallExamples reads LeetCode-style examples ("Input: nums = [1,2],
// k = 3" then "Output: 4") as Python argument lists and results; it gives
// up (nil) on any example it cannot read as literals.
func appsCallExamples(question string) (args, wants []string) {
	q := crlf(question)
	ins := leetInputRe.FindAllStringSubmatchIndex(q, -1)
	for _, m := range ins {
		rest := q[m[1]:]
		om := leetOutputRe.FindStringSubmatch(rest)
		if om == nil {
			return nil, nil
		}
		parts, ok := splitTopLevel(strings.TrimSpace(q[m[2]:m[3]]))
		if !ok {
			return nil, nil
		}
		var vals []string
		for _, p := range parts {
			v := strings.TrimSpace(leetArgRe.ReplaceAllString(p, ""))
			if n, ok := scanLiteral(v); !ok || n != len(v) {
				return nil, nil
			}
			vals = append(vals, v)
		}
		want := strings.TrimSpace(om[1])
		if n, ok := scanLiteral(want); !ok || n != len(want) {
			switch want {
			case "true", "false", "null":
			default:
				return nil, nil
			}
		}
		args = append(args, "["+strings.Join(vals, ", ")+"]")
		wants = append(wants, want)
	}
	return args, wants
}

// splitTopLevel splits "a = [1,2], b = 3" at commas outside brackets and
// strings.
func splitTopLevel(s string) ([]string, bool) {
	var parts []string
	start := 0
	depth, inString := scanCode(s, 0, func(i int, c byte, d int) bool {
		if c == ',' && d == 0 {
			parts = append(parts, s[start:i])
			start = i + 1
		}
		return true
	})
	if depth != 0 || inString {
		return nil, false
	}
	return append(parts, s[start:]), true
}
