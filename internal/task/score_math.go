package task

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Extraction of the final answer from a workflow's output, in the order of
// SPEC section 8: the last <answer>...</answer>, the last \boxed{...}, a
// "#### x" line, "the answer is x", and for math the last number.

// lastAnswerTag returns the content of the last <answer> tag; an unclosed
// last tag (a reply cut at the token limit) runs to the end of the text.
func lastAnswerTag(text string) (string, bool) {
	// Offsets are found in the text itself: lower-casing can change byte
	// lengths (İ, Ⱥ) and would make them point into the wrong place.
	locs := answerOpenRe.FindAllStringIndex(text, -1)
	if locs == nil {
		return "", false
	}
	rest := text[locs[len(locs)-1][1]:]
	if loc := answerCloseRe.FindStringIndex(rest); loc != nil {
		rest = rest[:loc[0]]
	}
	return strings.TrimSpace(rest), true
}

var (
	answerOpenRe  = regexp.MustCompile(`(?i)<answer>`)
	answerCloseRe = regexp.MustCompile(`(?i)</answer>`)
)

// lastBoxed returns the argument of the last \boxed (or \fbox), braces
// balanced; "\boxed 5" (no braces) takes the next token.
func lastBoxed(s string) (string, bool) {
	at, cmd := -1, ""
	for _, c := range []string{`\boxed`, `\fbox`} {
		if i := strings.LastIndex(s, c); i > at {
			at, cmd = i, c
		}
	}
	if at < 0 {
		return "", false
	}
	rest := s[at+len(cmd):]
	trimmed := strings.TrimLeft(rest, " ")
	if strings.HasPrefix(trimmed, "{") {
		depth := 0
		for i := 0; i < len(trimmed); i++ {
			switch trimmed[i] {
			case '{':
				depth++
			case '}':
				depth--
				if depth == 0 {
					return strings.TrimSpace(trimmed[1:i]), true
				}
			case '\\':
				i++ // \{ and \} are literal braces
			}
		}
		return "", false
	}
	if len(rest) == len(trimmed) { // "\boxedfoo" is another command
		return "", false
	}
	end := strings.IndexAny(trimmed, " $\n")
	if end < 0 {
		end = len(trimmed)
	}
	return strings.TrimSpace(trimmed[:end]), end > 0
}

var (
	answerIsRe   = regexp.MustCompile(`(?i)\b(?:the\s+)?(?:final\s+)?answer\s*\**\s*(?:is\s*:?|:|=)`)
	choiceIsRe   = regexp.MustCompile(`(?i)\b(?:the\s+)?(?:final\s+|correct\s+|best\s+)?(?:answer|option|choice)\s*\**\s*(?:is\s*:?|:|=)`)
	hashAnswerRe = regexp.MustCompile(`####\s*([^\n]*)`)
)

// fragment is a candidate final answer and how it was found.
type fragment struct {
	text string
	how  string // "<answer>", `\boxed`, "####", "the answer is", "whole text", "last number"
}

// finalFragment finds the marked final answer; how is "" when the text has
// no marker.
func finalFragment(text string, answerIs *regexp.Regexp) fragment {
	if inner, ok := lastAnswerTag(text); ok {
		// "<answer>The answer is 42</answer>": the markers still apply inside.
		if f := finalFragment(inner, answerIs); f.how != "" && f.text != "" {
			return fragment{f.text, "<answer>"}
		}
		return fragment{inner, "<answer>"}
	}
	if b, ok := lastBoxed(text); ok {
		return fragment{b, `\boxed`}
	}
	if m := hashAnswerRe.FindAllStringSubmatch(text, -1); m != nil {
		return fragment{cleanFragment(m[len(m)-1][1]), "####"}
	}
	if locs := answerIs.FindAllStringIndex(text, -1); locs != nil {
		rest := text[locs[len(locs)-1][1]:]
		rest = strings.TrimLeft(rest, " \t*_:")
		// The answer may sit on the next line ("Final answer:\n42").
		if strings.HasPrefix(rest, "\n") {
			rest = strings.TrimLeft(rest, " \t\n")
		}
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			rest = rest[:i]
		}
		return fragment{cleanFragment(cutSentence(rest)), "the answer is"}
	}
	return fragment{}
}

// cutSentence ends a fragment at the first full stop that ends a sentence
// (a period followed by a space or the end), so "3.5" stays whole.
func cutSentence(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t') {
			return s[:i]
		}
	}
	return s
}

func cleanFragment(s string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "*_`"))
}

var lastNumberRe = regexp.MustCompile(`-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+`)

// mathCandidate picks the text to compare for a math answer: a marked final
// answer, else the whole text when it is a bare formula, else the last
// number in the text.
func mathCandidate(text string) fragment {
	if f := finalFragment(text, answerIsRe); f.how != "" {
		return f
	}
	whole := strings.TrimSpace(text)
	if whole == "" {
		return fragment{}
	}
	if isBareFormula(whole) {
		return fragment{whole, "whole text"}
	}
	locs := lastNumberRe.FindAllStringIndex(whole, -1)
	if locs == nil {
		return fragment{whole, "whole text"}
	}
	l := locs[len(locs)-1]
	num := whole[l[0]:l[1]]
	// "5-6" or "x-3": the minus is a dash or an operator, not a sign.
	if num[0] == '-' && l[0] > 0 && isWordByte(whole[l[0]-1]) {
		num = num[1:]
	}
	return fragment{num, "last number"}
}

// isBareFormula: a short one-line answer without prose, e.g. "\frac{1}{2}",
// "$1,000", "x^2+1", "2 pi". Prose ("so it is 41") is not: any word of two
// or more letters other than a math name makes it prose.
func isBareFormula(s string) bool {
	if strings.ContainsAny(s, "\n") || len(s) > 60 {
		return false
	}
	for _, w := range strings.Fields(s) {
		w = strings.TrimRight(w, ".,;:!?")
		if len(w) >= 2 && isAlphaWord(w) && !mathNames[strings.ToLower(w)] {
			return false
		}
	}
	return true
}

var mathNames = map[string]bool{"pi": true, "sqrt": true, "sin": true, "cos": true, "tan": true, "log": true, "ln": true, "exp": true, "inf": true}

func isAlphaWord(w string) bool {
	w = strings.TrimRight(w, ".,;:!?")
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return w != ""
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// Normalisation. Both the gold and the prediction go through normalizeMath;
// two answers match when both read as numbers within tolerance, or when the
// normalised strings are equal.

var mathReplacer = strings.NewReplacer(
	`\left.`, "", `\right.`, "",
	`\left`, "", `\right`, "",
	`\displaystyle`, "",
	`\dfrac`, `\frac`, `\tfrac`, `\frac`,
	`^{\circ}`, "", `^\circ`, "", `\circ`, "", "°", "",
	`\%`, "%", `\$`, "$",
	`{,}`, "",
	`\!`, "", `\,`, "", `\;`, "", `\:`, "", `\ `, " ", "~", " ",
	`\cdot`, "*", `\times`, "*", `\div`, "/",
	`\leq`, "<=", `\geq`, ">=", `\neq`, "!=", `\le`, "<=", `\ge`, ">=",
	`\infty`, "inf", `\pi`, "pi",
	"−", "-", "–", "-",
)

var (
	textCmds     = []string{`\textbf`, `\textit`, `\textrm`, `\text`, `\mathrm`, `\mathbf`, `\mbox`, `\operatorname`}
	thousandsRe  = regexp.MustCompile(`\b(\d{1,3})((?:,\d{3})+)\b`)
	currencyRe   = regexp.MustCompile(`(?i)^(?:us\$|\$|€|£|¥|₹|usd|rs\.?|inr)\s*`)
	unitRe       = regexp.MustCompile(`(?i)\s*(?:%|percent|per\s*cent|dollars?|cents?|usd|euros?|€|£|\$|(?:square|sq\.?|cubic)\s+)*\s*(?:` + unitWords + `)?(?:\^\{?[23]\}?)?\.?$`)
	unitWords    = `km/h|mph|cm|mm|km|meters?|metres?|kilometers?|kilometres?|miles?|feet|foot|ft|inches|inch|kg|kilograms?|grams?|g|mg|lbs?|pounds?|ounces?|oz|liters?|litres?|ml|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?|years?|degrees?|units?|dollars?|cents?|euros?|percent|%`
	assignLHSRe  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,2}$`)
	plainNumRe   = regexp.MustCompile(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$`)
	fracNumRe    = regexp.MustCompile(`^([+-]?)\(?([+-]?(?:\d+\.?\d*|\.\d+))\)?/\(?((?:\d+\.?\d*|\.\d+))\)?$`)
	mixedNumRe   = regexp.MustCompile(`^([+-]?)(\d+)\((\d+)\)/\((\d+)\)$`)
	sqrtNumRe    = regexp.MustCompile(`^([+-]?(?:\d+\.?\d*)?)\*?sqrt\((\d+\.?\d*)\)$`)
	leadNumberRe = regexp.MustCompile(`^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?`)
	spaceRe      = regexp.MustCompile(`\s+`)
)

// normalizeMath puts an answer in canonical text form: LaTeX wrappers and
// spacing gone, \frac{a}{b} as (a)/(b), \sqrt{x} as sqrt(x), \text{} unwrapped,
// degree signs, currency, common units and percent signs dropped (so "50%"
// reads as 50: GSM8K and MATH golds state the number of percent), thousands
// separators removed, lower case, no whitespace, "x = 5" as 5.
func normalizeMath(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(strings.TrimLeft(s, "$ "), `\boxed`) || strings.HasPrefix(strings.TrimLeft(s, "$ "), `\fbox`) {
		if b, ok := lastBoxed(s); ok {
			s = b
		}
	}
	for _, d := range [][2]string{{`\(`, `\)`}, {`\[`, `\]`}} {
		if strings.HasPrefix(s, d[0]) && strings.HasSuffix(s, d[1]) {
			s = strings.TrimSpace(s[2 : len(s)-2])
		}
	}
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if strings.HasPrefix(s, "$") && strings.HasSuffix(s, "$") && len(s) > 1 {
		s = strings.Trim(s, "$")
	}
	s = mathReplacer.Replace(s)
	for _, c := range textCmds {
		s = unwrapCommand(s, c)
	}
	s = replaceFracs(s)
	s = replaceSqrts(s)
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimSpace(strings.TrimSuffix(s, "."))
	if !strings.ContainsAny(s, "()[]{}") {
		s = thousandsRe.ReplaceAllStringFunc(s, func(m string) string { return strings.ReplaceAll(m, ",", "") })
	}
	// Currency and units are dropped only around a lone number, so that
	// "2 pi" or "3 m + 1" keep their letters.
	if t := stripUnits(s); t != s {
		if _, ok := mathValue(strings.ReplaceAll(t, " ", "")); ok {
			s = t
		}
	}
	s = spaceRe.ReplaceAllString(s, "")
	s = bracesToParens(s)
	if i := strings.IndexByte(s, '='); i > 0 && strings.Count(s, "=") == 1 && !strings.ContainsAny(s[i-1:i], "<>!") && assignLHSRe.MatchString(s[:i]) {
		s = s[i+1:]
	}
	return s
}

func stripUnits(s string) string {
	t := currencyRe.ReplaceAllString(s, "")
	for i := 0; i < 3; i++ {
		u := strings.TrimSpace(unitRe.ReplaceAllString(t, ""))
		if u == t {
			break
		}
		t = u
	}
	return strings.TrimSpace(currencyRe.ReplaceAllString(t, ""))
}

// unwrapCommand replaces cmd{content} by content.
func unwrapCommand(s, cmd string) string {
	for {
		i := strings.Index(s, cmd+"{")
		if i < 0 {
			return s
		}
		arg, end, ok := braceArg(s, i+len(cmd))
		if !ok {
			return s
		}
		s = s[:i] + arg + s[end:]
	}
}

// braceArg reads the LaTeX argument at s[i:]: {balanced} or one character.
// It returns the argument, the index after it, and whether one was there.
func braceArg(s string, i int) (string, int, bool) {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i >= len(s) {
		return "", i, false
	}
	if s[i] != '{' {
		if s[i] == '\\' || s[i] == '}' {
			return "", i, false
		}
		return s[i : i+1], i + 1, true
	}
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[i+1 : j], j + 1, true
			}
		}
	}
	return "", i, false
}

func replaceFracs(s string) string {
	for {
		i := strings.Index(s, `\frac`)
		if i < 0 {
			return s
		}
		num, j, ok1 := braceArg(s, i+len(`\frac`))
		den, k, ok2 := braceArg(s, j)
		if !ok1 || !ok2 {
			return s
		}
		s = s[:i] + "(" + replaceFracs(num) + ")/(" + replaceFracs(den) + ")" + s[k:]
	}
}

func replaceSqrts(s string) string {
	for {
		i := strings.Index(s, `\sqrt`)
		if i < 0 {
			return s
		}
		j := i + len(`\sqrt`)
		index := ""
		if j < len(s) && s[j] == '[' {
			e := strings.IndexByte(s[j:], ']')
			if e < 0 {
				return s
			}
			index, j = s[j+1:j+e], j+e+1
		}
		arg, k, ok := braceArg(s, j)
		if !ok {
			return s
		}
		fn := "sqrt"
		if index != "" {
			fn = "root" + index
		}
		s = s[:i] + fn + "(" + replaceSqrts(arg) + ")" + s[k:]
	}
}

// bracesToParens makes "x^{2}" and "x^2" one form: a brace group after ^ or
// _ becomes bare when it is one token and parentheses otherwise; other
// grouping braces go.
func bracesToParens(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c == '^' || c == '_') && i+1 < len(s) && s[i+1] == '{' {
			arg, end, ok := braceArg(s, i+1)
			if ok {
				b.WriteByte(c)
				inner := bracesToParens(arg)
				if isToken(inner) {
					b.WriteString(inner)
				} else {
					b.WriteString("(" + inner + ")")
				}
				i = end - 1
				continue
			}
		}
		// \{ \} are set braces and stay; other braces only group.
		if c == '\\' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '}') {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		if c == '{' || c == '}' {
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	if _, err := strconv.Atoi(s); err == nil {
		return true
	}
	return len(s) == 1
}

// mathValue reads a normalised answer as a number: a decimal, a fraction of
// decimals, a mixed number (2\frac{1}{4}), or k*sqrt(n). Nothing else is
// evaluated: "1+41" is an expression, not 42.
func mathValue(n string) (float64, bool) {
	if plainNumRe.MatchString(n) {
		v, err := strconv.ParseFloat(n, 64)
		return v, err == nil
	}
	if m := fracNumRe.FindStringSubmatch(n); m != nil {
		a, err1 := strconv.ParseFloat(m[2], 64)
		b, err2 := strconv.ParseFloat(m[3], 64)
		if err1 != nil || err2 != nil || b == 0 {
			return 0, false
		}
		v := a / b
		if m[1] == "-" {
			v = -v
		}
		return v, true
	}
	if m := mixedNumRe.FindStringSubmatch(n); m != nil {
		w, _ := strconv.ParseFloat(m[2], 64)
		a, _ := strconv.ParseFloat(m[3], 64)
		b, _ := strconv.ParseFloat(m[4], 64)
		if b == 0 {
			return 0, false
		}
		v := w + a/b
		if m[1] == "-" {
			v = -v
		}
		return v, true
	}
	if m := sqrtNumRe.FindStringSubmatch(n); m != nil {
		k := 1.0
		switch m[1] {
		case "", "+":
		case "-":
			k = -1
		default:
			var err error
			if k, err = strconv.ParseFloat(m[1], 64); err != nil {
				return 0, false
			}
		}
		x, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return 0, false
		}
		return k * math.Sqrt(x), true
	}
	return 0, false
}

// DefaultMathRelTol is the relative tolerance for non-integer math answers
// (SPEC section 8); Scorer.MathRelTol overrides it.
const DefaultMathRelTol = 1e-4

// mathAbsTol absorbs the binary rounding of decimals ("0.1+0.2"); it is far
// below any difference an answer can mean.
const mathAbsTol = 1e-6

// numbersClose compares a gold value with a predicted one. An integer gold
// compares exactly: a relative tolerance would accept 70001 for 70000 (every
// integer of 10,000 and above is within 1e-4 of its neighbour). A relative
// tolerance relTol applies only when the gold is not an integer
// (0.333333 for 1/3, 1.41421 for sqrt 2); relTol < 0 turns it off.
func numbersClose(gold, pred, relTol float64) bool {
	if gold == math.Trunc(gold) && math.Abs(gold) < 1<<53 {
		return pred == gold
	}
	d := math.Abs(gold - pred)
	if d <= mathAbsTol {
		return true
	}
	return relTol > 0 && d <= relTol*math.Max(math.Abs(gold), math.Abs(pred))
}

// leadingNumber reads "42 apples" or "$42 per week" as 42: a number that
// opens the fragment followed by words only. Anything mathematical after the
// number ("3x+1", "2\sqrt{3}", "5 and 6") rules it out.
func leadingNumber(frag string) (string, bool) {
	s := strings.TrimSpace(frag)
	s = currencyRe.ReplaceAllString(s, "")
	m := leadNumberRe.FindString(s)
	if m == "" {
		return "", false
	}
	rest := s[len(m):]
	if rest != "" && rest[0] != ' ' && rest[0] != '%' {
		return "", false
	}
	for _, c := range rest {
		if c >= '0' && c <= '9' || strings.ContainsRune(`+-*/^=\{}()[]<>`, c) {
			return "", false
		}
	}
	return m, true
}

// mathMatch compares one gold answer with a candidate.
func mathMatch(gold, pred string, relTol float64) (bool, string) {
	gn, pn := normalizeMath(gold), normalizeMath(pred)
	gv, gok := mathValue(gn)
	pv, pok := mathValue(pn)
	if gok && pok {
		return numbersClose(gv, pv, relTol), MethodNumeric
	}
	if gn != "" && gn == pn {
		return true, MethodExpression
	}
	if gok {
		return false, MethodNumeric
	}
	return false, MethodExpression
}

func scoreMath(t Task, answer string, relTol float64) Result {
	if len(t.Answers) == 0 {
		return Result{Method: MethodNumeric, Explanation: "task has no gold answer: not scored"}
	}
	c := mathCandidate(answer)
	if strings.TrimSpace(c.text) == "" {
		return Result{Method: MethodNumeric, Explanation: fmt.Sprintf("expected %s, got no answer", clip(t.Answers[0], 40))}
	}
	cands := []string{c.text}
	// A marked answer with words after its number ("42 apples") also gets
	// its leading number; the words are not part of the value.
	if _, ok := mathValue(normalizeMath(c.text)); !ok && c.how != "last number" {
		if n, ok := leadingNumber(c.text); ok {
			cands = append(cands, n)
		}
	}
	method := MethodExpression
	for _, g := range t.Answers {
		for _, p := range cands {
			ok, m := mathMatch(g, p, relTol)
			if ok {
				return Result{Score: 1, Correct: true, Method: m,
					Explanation: fmt.Sprintf("expected %s, got %s: %s match", clip(g, 40), clip(c.text, 40), m)}
			}
			if m == MethodNumeric {
				method = m
			}
		}
	}
	return Result{Method: method,
		Explanation: fmt.Sprintf("expected %s, got %s (%s): %s mismatch", clip(t.Answers[0], 40), clip(c.text, 40), c.how, method)}
}

// Multiple choice.

var (
	bareLetterRe  = regexp.MustCompile(`(?i)^(?:option\s*|choice\s*)?[\(\[]?([a-e])[\)\]]?[.:]?$`)
	letterTextRe  = regexp.MustCompile(`(?i)^(?:option\s*|choice\s*)?(?:\(([a-e])\)|\[([a-e])\]|([a-e])\s*\)|([a-e])[.:])\s+(.+)$`)
	upperSpaceRe  = regexp.MustCompile(`^([A-E])\s+(.+)$`)
	optionWordsRe = regexp.MustCompile(`(?i)\b(?:option|choice)\s*\(?([a-e])\)?(?:[\s.,:;!)]|$)`)
)

// choiceOf reads the option letter an answer picks: from a marked final
// answer ("<answer>c</answer>", "\boxed{C}", "Answer: (c)", "the answer is
// c"), from a bare letter ("(c)", "c)", "C."), from "option c", or from the
// exact text of one option. It returns the letter and how it was read.
func choiceOf(t Task, answer string) (string, string) {
	n := len(t.Choices)
	if n == 0 || n > 26 {
		n = 5
	}
	var frags []fragment
	if f := finalFragment(answer, choiceIsRe); f.how != "" {
		frags = append(frags, f)
	}
	whole := strings.TrimSpace(answer)
	if !strings.Contains(whole, "\n") && len(whole) <= 120 {
		frags = append(frags, fragment{whole, "whole text"})
	}
	for _, f := range frags {
		if l, ok := letterIn(t, cleanFragment(strings.TrimSuffix(strings.TrimSpace(f.text), ".")), n); ok {
			return l, f.how
		}
		if l, ok := optionText(t, f.text); ok {
			return l, f.how + ", option text"
		}
	}
	if m := optionWordsRe.FindAllStringSubmatch(answer, -1); m != nil {
		l := strings.ToLower(m[len(m)-1][1])
		if int(l[0]-'a') < n {
			return l, "option letter in text"
		}
	}
	return "", ""
}

func letterIn(t Task, f string, n int) (string, bool) {
	ok := func(l string) (string, bool) {
		l = strings.ToLower(l)
		return l, l != "" && int(l[0]-'a') < n
	}
	if m := bareLetterRe.FindStringSubmatch(f); m != nil {
		return ok(m[1])
	}
	if m := letterTextRe.FindStringSubmatch(f); m != nil {
		return ok(m[1] + m[2] + m[3] + m[4])
	}
	// "C 20": an upper-case letter then that option's own text.
	if m := upperSpaceRe.FindStringSubmatch(f); m != nil {
		i := int(m[1][0] - 'A')
		if i < len(t.Choices) && sameOption(m[2], t.Choices[i]) {
			return ok(m[1])
		}
	}
	return "", false
}

// optionText matches the answer against the options' own text; it counts
// only when exactly one option matches.
func optionText(t Task, s string) (string, bool) {
	found := -1
	for i, c := range t.Choices {
		if sameOption(s, c) {
			if found >= 0 {
				return "", false
			}
			found = i
		}
	}
	if found < 0 {
		return "", false
	}
	return string(rune('a' + found)), true
}

func sameOption(a, b string) bool {
	na := strings.ToLower(strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(a), ".")), " "))
	nb := strings.ToLower(strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(b), ".")), " "))
	if na == "" || nb == "" {
		return false
	}
	if na == nb {
		return true
	}
	av, aok := mathValue(normalizeMath(a))
	bv, bok := mathValue(normalizeMath(b))
	return aok && bok && av == bv
}

// goldLetter is the gold option letter: Answers[0] as a letter, or the
// letter of the option whose text it is.
func goldLetter(t Task) string {
	if len(t.Answers) == 0 {
		return ""
	}
	g := strings.ToLower(strings.TrimSpace(t.Answers[0]))
	g = strings.Trim(g, "()[]. ")
	if len(g) == 1 && g[0] >= 'a' && g[0] <= 'z' {
		return g
	}
	if l, ok := optionText(t, t.Answers[0]); ok {
		return l
	}
	return ""
}

func describeOption(t Task, l string) string {
	if l == "" {
		return "nothing"
	}
	i := int(l[0] - 'a')
	if i >= 0 && i < len(t.Choices) {
		return fmt.Sprintf("(%s) %s", l, clip(t.Choices[i], 30))
	}
	return "(" + l + ")"
}

func scoreChoice(t Task, answer string) Result {
	gold := goldLetter(t)
	if gold == "" {
		return Result{Method: MethodChoice, Explanation: "task has no gold option letter: not scored"}
	}
	got, how := choiceOf(t, answer)
	if got == "" {
		return Result{Method: MethodChoice, Explanation: fmt.Sprintf("expected %s, got no option letter in %q", describeOption(t, gold), clip(answer, 40))}
	}
	if got == gold {
		return Result{Score: 1, Correct: true, Method: MethodChoice, Explanation: fmt.Sprintf("expected %s, got %s (%s): choice match", describeOption(t, gold), got, how)}
	}
	return Result{Method: MethodChoice, Explanation: fmt.Sprintf("expected %s, got %s (%s): choice mismatch", describeOption(t, gold), describeOption(t, got), how)}
}
