package task

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	articlesRe = regexp.MustCompile(`\b(a|an|the)\b`)
	qaAnswerRe = regexp.MustCompile(`(?i)\b(?:the\s+)?(?:final\s+)?answer\s*\**\s*(?:is\s*:?|:)`)
)

// asciiPunct is Python's string.punctuation, which the SQuAD script strips.
const asciiPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// NormalizeQA is the SQuAD answer normalisation: lower case, ASCII
// punctuation removed, the articles a/an/the removed, whitespace collapsed.
func NormalizeQA(s string) string {
	s = strings.ToLower(s)
	s = strings.Map(func(r rune) rune {
		if r < 128 && strings.ContainsRune(asciiPunct, r) {
			return -1
		}
		return r
	}, s)
	s = articlesRe.ReplaceAllString(s, " ")
	return strings.Join(strings.Fields(s), " ")
}

// tokenF1 is SQuAD's token F1 over multisets of normalised tokens; when
// either side is empty it is 1 only if both are.
func tokenF1(pred, gold string) float64 {
	p := strings.Fields(NormalizeQA(pred))
	g := strings.Fields(NormalizeQA(gold))
	if len(p) == 0 || len(g) == 0 {
		if len(p) == len(g) {
			return 1
		}
		return 0
	}
	counts := map[string]int{}
	for _, t := range g {
		counts[t]++
	}
	same := 0
	for _, t := range p {
		if counts[t] > 0 {
			counts[t]--
			same++
		}
	}
	if same == 0 {
		return 0
	}
	prec := float64(same) / float64(len(p))
	rec := float64(same) / float64(len(g))
	return 2 * prec * rec / (prec + rec)
}

// extractQA takes the marked answer (<answer> tag, "the answer is ...",
// "Answer: ...") when there is one, else the whole text.
func extractQA(text string) string {
	if inner, ok := lastAnswerTag(text); ok {
		if !qaAnswerRe.MatchString(inner) {
			return inner
		}
		text = inner // "<answer>The answer is Paris</answer>"
	}
	if locs := qaAnswerRe.FindAllStringIndex(text, -1); locs != nil {
		rest := strings.TrimLeft(text[locs[len(locs)-1][1]:], " \t*_:")
		if strings.HasPrefix(rest, "\n") {
			rest = strings.TrimLeft(rest, " \t\n")
		}
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		return cleanFragment(strings.TrimSuffix(strings.TrimSpace(rest), "."))
	}
	return strings.TrimSpace(text)
}

// noAnswerPhrases are the explicit "no answer" replies accepted for an
// unanswerable question, compared after NormalizeQA. Unlike SQuAD v2's own
// script, the empty answer is not one: abstaining must be explicit (SPEC
// section 6), or a workflow that failed and output nothing would score 1.
var noAnswerPhrases = []string{
	"no answer", "noanswer", "none", "unanswerable", "not answerable", "unknown", "na", "n a",
	"cannot be answered", "can not be answered", "cannot answer", "cant be answered", "cannot be determined",
	"not in passage", "not in context", "not in text", "not in paragraph", "not mentioned", "not stated", "not given", "not provided",
	"no information", "insufficient information", "not enough information", "no answer in passage", "no answer in context",
	"impossible to answer", "question is unanswerable", "question cannot be answered", "this question cannot be answered",
}

// noAnswerStems are sentence openings that state the passage lacks the
// answer ("The passage does not mention when ..."); accepted when the reply
// is short (at most 25 words), so a long answer cannot hedge its way in.
var noAnswerStems = []string{
	"passage does not", "context does not", "text does not", "paragraph does not", "document does not", "article does not",
	"passage doesnt", "context doesnt", "text doesnt", "paragraph doesnt",
	"there is no answer", "no answer", "question cannot be answered", "this question cannot be answered", "cannot be answered",
	"unanswerable", "not mentioned in", "not in passage", "not in context", "information is not", "it is not mentioned", "it is not stated",
}

func isNoAnswer(a string) bool {
	n := NormalizeQA(a)
	for _, p := range noAnswerPhrases {
		if n == p {
			return true
		}
	}
	if len(strings.Fields(n)) > 25 {
		return false
	}
	for _, p := range noAnswerStems {
		if strings.HasPrefix(n, p+" ") || n == p {
			return true
		}
	}
	return false
}

func scoreQA(t Task, answer string) Result {
	pred := extractQA(answer)
	if t.Unanswerable || len(t.Answers) == 0 {
		if isNoAnswer(pred) {
			return Result{Score: 1, Correct: true, Method: MethodEM, Explanation: fmt.Sprintf("unanswerable, got %q: no-answer match", clip(pred, 40))}
		}
		return Result{Method: MethodEM, Explanation: fmt.Sprintf("unanswerable, got an answer %q", clip(pred, 40))}
	}
	best, bestGold, em := -1.0, "", false
	for _, g := range t.Answers {
		f := tokenF1(pred, g)
		e := NormalizeQA(pred) == NormalizeQA(g)
		if e && !em || (e == em && f > best) {
			best, bestGold, em = f, g, e
		}
	}
	if em {
		return Result{Score: 1, Correct: true, Method: MethodEM, Explanation: fmt.Sprintf("expected %q, got %q: exact match", clip(bestGold, 40), clip(pred, 40))}
	}
	return Result{Score: best, Method: MethodF1,
		Explanation: fmt.Sprintf("expected %q, got %q: EM 0, F1 %.2f", clip(bestGold, 40), clip(pred, 40), best)}
}
