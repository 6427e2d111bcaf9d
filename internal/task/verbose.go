package task

import "strings"

// VerboseAnswer is SPEC's test for an answer that needs Format: over 60
// characters, several lines, or step-by-step prose. The canvas's finish
// rule and the embedded policy's features share it.
func VerboseAnswer(s string) bool {
	s = strings.TrimSpace(s)
	if len([]rune(s)) > 60 || strings.Contains(s, "\n") {
		return true
	}
	l := strings.ToLower(s)
	for _, w := range []string{"step 1", "first,", "therefore", "let's", "we have", "so the answer"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}
