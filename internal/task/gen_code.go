package task

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// codeInput is one call's arguments; each kind uses the fields it needs.
type codeInput struct {
	nums []int
	s    string
	n    int
}

// codeImpl is one implementation of a kind: Python source and a Go twin
// that returns the Python repr of the result. The twins let the generator
// compute expected values and prove each bug visible without running
// Python; the test suite then runs the Python with python3 to check the
// two agree.
type codeImpl struct {
	py   string
	eval func(codeInput) string
}

type codeSpec struct {
	entry, params, desc string
	ref                 codeImpl
	bugs                []codeImpl
	args                func(codeInput) string
	random              func(*rand.Rand) codeInput
	edges               []codeInput
	diff                float64
}

var codeKinds = []func(*rand.Rand) codeSpec{
	sumMultiplesKind, longWordsKind, countLettersKind, fizzWordsKind,
	gcdPairsKind, windowMaxKind, digitPowerKind, rotateLeftKind,
}

// easyCodeKinds are the one-line functions of Level Easy.
var easyCodeKinds = []func(*rand.Rand) codeSpec{largestKind, countEvenKind, reverseTextKind}

func genCode(k int, r *rand.Rand) Task { return codeFrom(r, codeKinds) }

func genCodeEasy(k int, r *rand.Rand) Task { return codeFrom(r, easyCodeKinds) }

func codeFrom(r *rand.Rand, kinds []func(*rand.Rand) codeSpec) Task {
	spec := pick(r, kinds)(r)
	// Two typical cases first (they are public), then edge cases, then more
	// random ones up to eight.
	inputs := []codeInput{spec.random(r), spec.random(r)}
	inputs = append(inputs, spec.edges...)
	for len(inputs) < 8 {
		inputs = append(inputs, spec.random(r))
	}
	// Every distractor must fail a hidden test: add a random input that
	// tells a bug apart when the fixed ones do not, and drop a bug that
	// cannot be told apart at all.
	var bugs []string
	for _, b := range spec.bugs {
		caught := slices.ContainsFunc(inputs, func(in codeInput) bool { return b.eval(in) != spec.ref.eval(in) })
		for try := 0; !caught && try < 500; try++ {
			in := spec.random(r)
			if b.eval(in) != spec.ref.eval(in) {
				inputs, caught = append(inputs, in), true
			}
		}
		if caught {
			bugs = append(bugs, b.py)
		}
	}
	asserts := make([]string, len(inputs))
	for i, in := range inputs {
		asserts[i] = fmt.Sprintf("assert %s(%s) == %s", spec.entry, spec.args(in), spec.ref.eval(in))
	}
	sig := fmt.Sprintf("def %s(%s):", spec.entry, spec.params)
	prompt := fmt.Sprintf("%s\n    \"\"\"%s\n\n    >>> %s(%s)\n    %s\n    \"\"\"\n",
		sig, wrapDoc(spec.desc), spec.entry, spec.args(inputs[0]), spec.ref.eval(inputs[0]))
	npub := 1 + r.IntN(2)
	return Task{
		Family: Code, Source: SourceSyntheticCode,
		Question:    fmt.Sprintf("Write a Python function %s(%s). %s", spec.entry, spec.params, spec.desc),
		EntryPoint:  spec.entry,
		Prompt:      prompt,
		PublicTests: Tests{Style: AssertStyle, Code: strings.Join(asserts[:npub], "\n") + "\n"},
		HiddenTests: Tests{Style: AssertStyle, Code: strings.Join(asserts, "\n") + "\n"},
		Reference:   spec.ref.py,
		Difficulty:  math.Min(1, math.Round((spec.diff+0.1*r.Float64())*100)/100),
		Distractors: bugs,
	}
}

func wrapDoc(s string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > 72 {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	lines = append(lines, line)
	return strings.Join(lines, "\n    ")
}

// Python reprs of Go values.

func pyInt(n int) string { return strconv.Itoa(n) }

func pyInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// pyStr is repr() of a string of printable ASCII.
func pyStr(s string) string {
	q := "'"
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		q = `"`
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	if q == "'" {
		s = strings.ReplaceAll(s, "'", `\'`)
	}
	return q + s + q
}

func pyStrs(xs []string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = pyStr(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func randInts(r *rand.Rand, minLen, maxLen, lo, hi int) []int {
	xs := make([]int, between(r, minLen, maxLen))
	for i := range xs {
		xs[i] = between(r, lo, hi)
	}
	return xs
}

func sumMultiplesKind(r *rand.Rand) codeSpec {
	k := between(r, 2, 7)
	body := func(loop, cond, acc string) string {
		return fmt.Sprintf("def sum_multiples(nums):\n    total = 0\n    for x in %s:\n        if %s:\n            total += %s\n    return total\n", loop, cond, acc)
	}
	eval := func(skip int, keep func(int) bool, count bool) func(codeInput) string {
		return func(in codeInput) string {
			t := 0
			for i, x := range in.nums {
				if i < skip || !keep(x) {
					continue
				}
				if count {
					t++
				} else {
					t += x
				}
			}
			return pyInt(t)
		}
	}
	div := func(x int) bool { return x%k == 0 }
	notDiv := func(x int) bool { return x%k != 0 }
	c := fmt.Sprintf("x %% %d == 0", k)
	return codeSpec{
		entry: "sum_multiples", params: "nums",
		desc: fmt.Sprintf("Return the sum of the numbers in the list nums that are divisible by %d (0 when there are none).", k),
		ref:  codeImpl{body("nums", c, "x"), eval(0, div, false)},
		bugs: []codeImpl{
			{body("nums[1:]", c, "x"), eval(1, div, false)},
			{body("nums", fmt.Sprintf("x %% %d != 0", k), "x"), eval(0, notDiv, false)},
			{body("nums", c, "1"), eval(0, div, true)},
		},
		args:   func(in codeInput) string { return pyInts(in.nums) },
		random: func(r *rand.Rand) codeInput { return codeInput{nums: randInts(r, 2, 8, -20, 60)} },
		edges:  []codeInput{{nums: []int{k, 1}}, {nums: nil}, {nums: []int{3 * k, k + 1, -k}}},
		diff:   0.2,
	}
}

var codeWords = []string{"a", "to", "sea", "blue", "stone", "river", "garden", "lantern", "ox", "tree", "cloud", "map", "quiet", "amber", "go", "night"}

func longWordsKind(r *rand.Rand) codeSpec {
	l := between(r, 2, 5)
	impl := func(cmp string, rev bool, flip bool) codeImpl {
		src := "s.split()"
		if rev {
			src = "reversed(s.split())"
		}
		word := "w"
		if flip {
			word = "w[::-1]"
		}
		py := fmt.Sprintf("def long_words_reversed(s):\n    return \" \".join(%s for w in %s if len(w) %s %d)\n", word, src, cmp, l)
		return codeImpl{py, func(in codeInput) string {
			ws := strings.Fields(in.s)
			if rev {
				slices.Reverse(ws)
			}
			var out []string
			for _, w := range ws {
				if cmp == ">=" && len(w) >= l || cmp == ">" && len(w) > l {
					if flip {
						b := []byte(w)
						slices.Reverse(b)
						w = string(b)
					}
					out = append(out, w)
				}
			}
			return pyStr(strings.Join(out, " "))
		}}
	}
	exact := ""
	for _, w := range codeWords {
		if len(w) == l {
			exact = w
			break
		}
	}
	random := func(r *rand.Rand) codeInput {
		ws := make([]string, between(r, 2, 7))
		for i := range ws {
			ws[i] = pick(r, codeWords)
		}
		return codeInput{s: strings.Join(ws, " ")}
	}
	return codeSpec{
		entry: "long_words_reversed", params: "s",
		desc:   fmt.Sprintf("Given a string s of words separated by spaces, return the words that have at least %d letters, in reverse order, joined by single spaces (an empty string when no word qualifies).", l),
		ref:    impl(">=", true, false),
		bugs:   []codeImpl{impl(">", true, false), impl(">=", false, false), impl(">=", true, true)},
		args:   func(in codeInput) string { return pyStr(in.s) },
		random: random,
		edges:  []codeInput{{s: "stone " + exact + " garden ox"}, {s: ""}, {s: "ox go"}},
		diff:   0.35,
	}
}

var letterSets = []string{"aeiou", "aeiouy", "xyz", "rstlne", "bcdm", "lmnop"}

func countLettersKind(r *rand.Rand) codeSpec {
	set := pick(r, letterSets)
	impl := func(lower, distinct bool, skip int) codeImpl {
		src := "s"
		if lower {
			src = "s.lower()"
		}
		if skip > 0 {
			src += "[1:]"
		}
		var py string
		if distinct {
			py = fmt.Sprintf("def count_letters(s):\n    return len(set(c for c in %s if c in %q))\n", src, set)
		} else {
			py = fmt.Sprintf("def count_letters(s):\n    return sum(1 for c in %s if c in %q)\n", src, set)
		}
		return codeImpl{py, func(in codeInput) string {
			s := in.s
			if lower {
				s = strings.ToLower(s)
			}
			if skip > 0 && len(s) > 0 {
				s = s[1:]
			}
			seen := map[rune]bool{}
			n := 0
			for _, c := range s {
				if strings.ContainsRune(set, c) && (!distinct || !seen[c]) {
					seen[c] = true
					n++
				}
			}
			return pyInt(n)
		}}
	}
	letters := "abcdefghijklmnopqrstuvwxyzAEIOUXYZRST "
	random := func(r *rand.Rand) codeInput {
		b := make([]byte, between(r, 4, 16))
		for i := range b {
			b[i] = letters[r.IntN(len(letters))]
		}
		return codeInput{s: string(b)}
	}
	up := strings.ToUpper(set[:1])
	return codeSpec{
		entry: "count_letters", params: "s",
		desc:   fmt.Sprintf("Return how many characters of the string s are among the letters %q, ignoring case (repeated letters count each time).", set),
		ref:    impl(true, false, 0),
		bugs:   []codeImpl{impl(false, false, 0), impl(true, true, 0), impl(true, false, 1)},
		args:   func(in codeInput) string { return pyStr(in.s) },
		random: random,
		edges:  []codeInput{{s: up + set + set[:1] + " q"}, {s: ""}, {s: strings.ToUpper(set)}},
		diff:   0.25,
	}
}

var fizzNames = []string{"Fizz", "Buzz", "Bang", "Pop", "Zap", "Boom"}

func fizzWordsKind(r *rand.Rand) codeSpec {
	a := between(r, 2, 5)
	b := between(r, 3, 7)
	for b == a || b%a == 0 || a%b == 0 {
		b = between(r, 3, 7)
	}
	w1, w2 := pick(r, fizzNames), pick(r, fizzNames)
	for w2 == w1 {
		w2 = pick(r, fizzNames)
	}
	const (
		right = iota
		shortRange
		bothLast
		fromZero
	)
	impl := func(bug int) codeImpl {
		rng := "range(1, n + 1)"
		switch bug {
		case shortRange:
			rng = "range(1, n)"
		case fromZero:
			rng = "range(n)"
		}
		branches := fmt.Sprintf("        if i %% %[1]d == 0 and i %% %[2]d == 0:\n            out.append(%[3]q)\n        elif i %% %[1]d == 0:\n            out.append(%[4]q)\n        elif i %% %[2]d == 0:\n            out.append(%[5]q)\n", a, b, w1+w2, w1, w2)
		if bug == bothLast {
			branches = fmt.Sprintf("        if i %% %[1]d == 0:\n            out.append(%[4]q)\n        elif i %% %[2]d == 0:\n            out.append(%[5]q)\n        elif i %% %[1]d == 0 and i %% %[2]d == 0:\n            out.append(%[3]q)\n", a, b, w1+w2, w1, w2)
		}
		py := "def fizz_words(n):\n    out = []\n    for i in " + rng + ":\n" + branches + "        else:\n            out.append(str(i))\n    return out\n"
		return codeImpl{py, func(in codeInput) string {
			lo, hi := 1, in.n
			switch bug {
			case shortRange:
				hi = in.n - 1
			case fromZero:
				lo, hi = 0, in.n-1
			}
			var out []string
			for i := lo; i <= hi; i++ {
				switch {
				case bug != bothLast && i%a == 0 && i%b == 0:
					out = append(out, w1+w2)
				case i%a == 0:
					out = append(out, w1)
				case i%b == 0:
					out = append(out, w2)
				default:
					out = append(out, strconv.Itoa(i))
				}
			}
			return pyStrs(out)
		}}
	}
	return codeSpec{
		entry: "fizz_words", params: "n",
		desc:   fmt.Sprintf("Return a list of strings for the numbers 1 to n: %q for a number divisible by both %d and %d, %q for one divisible only by %d, %q for one divisible only by %d, and the number itself as a string otherwise.", w1+w2, a, b, w1, a, w2, b),
		ref:    impl(right),
		bugs:   []codeImpl{impl(shortRange), impl(bothLast), impl(fromZero)},
		args:   func(in codeInput) string { return pyInt(in.n) },
		random: func(r *rand.Rand) codeInput { return codeInput{n: between(r, 1, a*b+4)} },
		edges:  []codeInput{{n: a * b}, {n: 1}, {n: 0}},
		diff:   0.45,
	}
}

func gcdPairsKind(r *rand.Rand) codeSpec {
	k := between(r, 1, 4)
	gcd := func(a, b int) int {
		for b != 0 {
			a, b = b, a%b
		}
		return a
	}
	impl := func(self bool, cmp string, dropLast bool) codeImpl {
		jStart, jEnd := "i + 1", "len(nums)"
		if self {
			jStart = "i"
		}
		if dropLast {
			jEnd = "len(nums) - 1"
		}
		py := fmt.Sprintf("from math import gcd\n\n\ndef count_gcd_pairs(nums):\n    count = 0\n    for i in range(len(nums)):\n        for j in range(%s, %s):\n            if gcd(nums[i], nums[j]) %s %d:\n                count += 1\n    return count\n", jStart, jEnd, cmp, k)
		return codeImpl{py, func(in codeInput) string {
			n := 0
			end := len(in.nums)
			if dropLast {
				end--
			}
			for i := range in.nums {
				j0 := i + 1
				if self {
					j0 = i
				}
				for j := j0; j < end; j++ {
					g := gcd(in.nums[i], in.nums[j])
					if cmp == "==" && g == k || cmp == ">=" && g >= k {
						n++
					}
				}
			}
			return pyInt(n)
		}}
	}
	return codeSpec{
		entry: "count_gcd_pairs", params: "nums",
		desc:   fmt.Sprintf("Return how many pairs of positions i < j in the list of positive integers nums have a greatest common divisor of exactly %d.", k),
		ref:    impl(false, "==", false),
		bugs:   []codeImpl{impl(true, "==", false), impl(false, ">=", false), impl(false, "==", true)},
		args:   func(in codeInput) string { return pyInts(in.nums) },
		random: func(r *rand.Rand) codeInput { return codeInput{nums: randInts(r, 2, 7, 1, 30)} },
		edges:  []codeInput{{nums: []int{k, 2 * k, 3 * k, 5 * k}}, {nums: nil}, {nums: []int{k}}},
		diff:   0.6,
	}
}

func windowMaxKind(r *rand.Rand) codeSpec {
	w := between(r, 2, 4)
	impl := func(width int, useMin bool, skipFirst bool) codeImpl {
		fn, start := "max", "0"
		if useMin {
			fn = "min"
		}
		if skipFirst {
			start = "1"
		}
		py := fmt.Sprintf("def window_max(nums):\n    return [%s(nums[max(0, i - %d):i + 1]) for i in range(%s, len(nums))]\n", fn, width-1, start)
		return codeImpl{py, func(in codeInput) string {
			var out []int
			i0 := 0
			if skipFirst {
				i0 = 1
			}
			for i := i0; i < len(in.nums); i++ {
				lo := max(0, i-(width-1))
				win := in.nums[lo : i+1]
				if useMin {
					out = append(out, slices.Min(win))
				} else {
					out = append(out, slices.Max(win))
				}
			}
			return pyInts(out)
		}}
	}
	return codeSpec{
		entry: "window_max", params: "nums",
		desc:   fmt.Sprintf("Return a list whose i-th element is the largest of the last %d elements of nums up to and including position i (fewer at the start of the list).", w),
		ref:    impl(w, false, false),
		bugs:   []codeImpl{impl(w+1, false, false), impl(w, true, false), impl(w, false, true)},
		args:   func(in codeInput) string { return pyInts(in.nums) },
		random: func(r *rand.Rand) codeInput { return codeInput{nums: randInts(r, 3, 9, -10, 30)} },
		edges:  []codeInput{{nums: []int{9, 8, 7, 6, 5, 4, 3}}, {nums: nil}, {nums: []int{5}}},
		diff:   0.55,
	}
}

func digitPowerKind(r *rand.Rand) codeSpec {
	p := between(r, 1, 3)
	ipow := func(b, e int) int {
		v := 1
		for range e {
			v *= b
		}
		return v
	}
	type variant int
	const (
		right variant = iota
		dropLead
		powPlus
		precedence
		product
	)
	impl := func(v variant) codeImpl {
		cond, term, init, op := "n > 0", fmt.Sprintf("(n %% 10) ** %d", p), "0", "+="
		switch v {
		case dropLead:
			cond = "n > 9"
		case powPlus:
			term = fmt.Sprintf("(n %% 10) ** %d", p+1)
		case precedence:
			term = fmt.Sprintf("n %% 10 ** %d", p)
		case product:
			init, op = "1", "*="
		}
		py := fmt.Sprintf("def digit_power_sum(n):\n    total = %s\n    while %s:\n        total %s %s\n        n //= 10\n    return total\n", init, cond, op, term)
		return codeImpl{py, func(in codeInput) string {
			n, total := in.n, 0
			if v == product {
				total = 1
			}
			for (v != dropLead && n > 0) || (v == dropLead && n > 9) {
				var t int
				switch v {
				case powPlus:
					t = ipow(n%10, p+1)
				case precedence:
					t = n % ipow(10, p)
				default:
					t = ipow(n%10, p)
				}
				if v == product {
					total *= t
				} else {
					total += t
				}
				n /= 10
			}
			return pyInt(total)
		}}
	}
	bugs := []codeImpl{impl(dropLead), impl(powPlus)}
	if p >= 2 { // with p == 1 the precedence slip computes the same thing
		bugs = append(bugs, impl(precedence))
	} else {
		bugs = append(bugs, impl(product))
	}
	return codeSpec{
		entry: "digit_power_sum", params: "n",
		desc:   fmt.Sprintf("Return the sum of the decimal digits of the non-negative integer n, each digit raised to the power %d (0 for n = 0).", p),
		ref:    impl(right),
		bugs:   bugs,
		args:   func(in codeInput) string { return pyInt(in.n) },
		random: func(r *rand.Rand) codeInput { return codeInput{n: between(r, 10, 99999)} },
		edges:  []codeInput{{n: 0}, {n: 7}, {n: 909}, {n: 32}},
		diff:   0.3,
	}
}

func rotateLeftKind(r *rand.Rand) codeSpec {
	k := pick(r, []int{1, 2, 3, 5})
	type variant int
	const (
		right variant = iota
		noMod
		toRight
		offByOne
	)
	impl := func(v variant) codeImpl {
		var py string
		switch v {
		case noMod:
			py = fmt.Sprintf("def rotate_left(nums):\n    return nums[%[1]d:] + nums[:%[1]d]\n", k)
		case toRight:
			py = fmt.Sprintf("def rotate_left(nums):\n    if not nums:\n        return []\n    k = %d %% len(nums)\n    return nums[len(nums) - k:] + nums[:len(nums) - k]\n", k)
		case offByOne:
			py = fmt.Sprintf("def rotate_left(nums):\n    if not nums:\n        return []\n    k = (%d + 1) %% len(nums)\n    return nums[k:] + nums[:k]\n", k)
		default:
			py = fmt.Sprintf("def rotate_left(nums):\n    if not nums:\n        return []\n    k = %d %% len(nums)\n    return nums[k:] + nums[:k]\n", k)
		}
		return codeImpl{py, func(in codeInput) string {
			n := len(in.nums)
			if n == 0 {
				return "[]"
			}
			var s int
			switch v {
			case noMod:
				s = min(k, n)
			case toRight:
				s = (n - k%n) % n
			case offByOne:
				s = (k + 1) % n
			default:
				s = k % n
			}
			return pyInts(append(slices.Clone(in.nums[s:]), in.nums[:s]...))
		}}
	}
	return codeSpec{
		entry: "rotate_left", params: "nums",
		desc:   fmt.Sprintf("Return a new list with the elements of nums rotated left by %d positions; the shift wraps around when it exceeds the length, and an empty list stays empty.", k),
		ref:    impl(right),
		bugs:   []codeImpl{impl(noMod), impl(toRight), impl(offByOne)},
		args:   func(in codeInput) string { return pyInts(in.nums) },
		random: func(r *rand.Rand) codeInput { return codeInput{nums: randInts(r, 2, 8, 0, 50)} },
		edges:  []codeInput{{nums: []int{1, 2, 3, 4, 5, 6, 7}}, {nums: nil}, {nums: []int{4, 8}}},
		diff:   0.4,
	}
}

// The kinds of Level Easy: one line of Python each, with the bugs a
// beginner makes.

func largestKind(r *rand.Rand) codeSpec {
	impl := func(py string, pickOf func([]int) int) codeImpl {
		return codeImpl{"def largest(nums):\n    " + py + "\n", func(in codeInput) string { return pyInt(pickOf(in.nums)) }}
	}
	return codeSpec{
		entry: "largest", params: "nums",
		desc: "Return the largest number in the non-empty list nums.",
		ref:  impl("return max(nums)", slices.Max[[]int]),
		bugs: []codeImpl{
			impl("return min(nums)", slices.Min[[]int]),
			impl("return nums[-1]", func(xs []int) int { return xs[len(xs)-1] }),
			impl("return nums[0]", func(xs []int) int { return xs[0] }),
		},
		args:   func(in codeInput) string { return pyInts(in.nums) },
		random: func(r *rand.Rand) codeInput { return codeInput{nums: randInts(r, 2, 7, -30, 90)} },
		edges:  []codeInput{{nums: []int{7}}, {nums: []int{-5, -2, -9}}, {nums: []int{9, 3, 1}}, {nums: []int{1, 3, 9}}},
		diff:   0.05,
	}
}

func countEvenKind(r *rand.Rand) codeSpec {
	impl := func(py string, keep func(int) bool) codeImpl {
		return codeImpl{"def count_even(nums):\n    " + py + "\n", func(in codeInput) string {
			n := 0
			for _, x := range in.nums {
				if keep(x) {
					n++
				}
			}
			return pyInt(n)
		}}
	}
	return codeSpec{
		entry: "count_even", params: "nums",
		desc: "Return how many numbers in the list nums are even (0 for an empty list).",
		ref:  impl("return sum(1 for x in nums if x % 2 == 0)", func(x int) bool { return x%2 == 0 }),
		bugs: []codeImpl{
			impl("return sum(1 for x in nums if x % 2 == 1)", func(x int) bool { return x%2 != 0 }),
			impl("return sum(1 for x in nums if x > 0 and x % 2 == 0)", func(x int) bool { return x > 0 && x%2 == 0 }),
		},
		args:   func(in codeInput) string { return pyInts(in.nums) },
		random: func(r *rand.Rand) codeInput { return codeInput{nums: randInts(r, 2, 8, -10, 40)} },
		edges:  []codeInput{{nums: nil}, {nums: []int{0, -4, 3}}, {nums: []int{1, 3, 5}}},
		diff:   0.1,
	}
}

func reverseTextKind(r *rand.Rand) codeSpec {
	impl := func(py string, f func(string) string) codeImpl {
		return codeImpl{"def reverse_text(s):\n    " + py + "\n", func(in codeInput) string { return pyStr(f(in.s)) }}
	}
	rev := func(s string) string {
		b := []byte(s)
		slices.Reverse(b)
		return string(b)
	}
	return codeSpec{
		entry: "reverse_text", params: "s",
		desc: "Return the string s with its characters in reverse order.",
		ref:  impl("return s[::-1]", rev),
		bugs: []codeImpl{
			impl("return s", func(s string) string { return s }),
			impl("return s[:0:-1]", func(s string) string {
				if s == "" {
					return ""
				}
				return rev(s[1:])
			}),
		},
		args: func(in codeInput) string { return pyStr(in.s) },
		random: func(r *rand.Rand) codeInput {
			return codeInput{s: pick(r, codeWords) + pick(r, []string{"", " ", "-"}) + pick(r, codeWords)}
		},
		edges: []codeInput{{s: ""}, {s: "ab"}, {s: "level up"}},
		diff:  0.05,
	}
}
