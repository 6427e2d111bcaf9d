package task

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// mathStory is a word-problem template over one running quantity. Each
// operation has phrasings; {N} is the operand, {X} the counted things,
// {Name}/{P}/{p}/{his} the protagonist, {F} a friend, {C} a chore, {T} a
// purchase. Every "+" phrasing says "more", every "-" one "gives", "loses",
// "spends" or "ships", "*" ones "times as", "/" ones "equal": the test
// suite recomputes answers from the text by those words.
type mathStory struct {
	start                string
	add, sub, mul, div   []string
	question             string
	things               []string
	startLo, startHi     int
	addLo, addHi, mulMax int
}

var mathStories = []mathStory{
	{
		start:    "{Name} has {N} {X}.",
		add:      []string{"{P} gets {N} more {X} from {F}.", "{P} buys {N} more {X} at the market."},
		sub:      []string{"{P} gives {N} {X} to {F}.", "{P} loses {N} of the {X}."},
		mul:      []string{"{P} trades with {F} and ends up with {N} times as many {X} as before.", "Over the summer the number of {X} {p} has grows to {N} times as many."},
		div:      []string{"{P} splits the {X} into {N} equal groups and keeps only one group."},
		question: "How many {X} does {Name} have now?",
		things:   []string{"marbles", "stickers", "stamps", "seashells", "baseball cards", "pencils", "beads", "postcards"},
		startLo:  12, startHi: 80, addLo: 2, addHi: 40, mulMax: 4,
	},
	{
		start:    "{Name} has ${N} in a piggy bank.",
		add:      []string{"{P} earns ${N} more by {C}.", "{P} receives ${N} more as a birthday gift."},
		sub:      []string{"{P} spends ${N} on a {T}."},
		mul:      []string{"A relative rewards {his} saving, so the amount becomes {N} times as much."},
		div:      []string{"{P} shares the money equally among {N} people, {p} included, and keeps one share."},
		question: "How many dollars does {Name} have now?",
		things:   []string{"dollars"},
		startLo:  20, startHi: 150, addLo: 5, addHi: 60, mulMax: 3,
	},
	{
		start:    "A warehouse holds {N} crates of {X}.",
		add:      []string{"A truck delivers {N} more crates.", "The night shift unloads {N} more crates."},
		sub:      []string{"Workers ship {N} crates out to stores."},
		mul:      []string{"After a busy season the stock is {N} times as large."},
		div:      []string{"The crates are divided into {N} equal parts and the warehouse keeps one part."},
		question: "How many crates are in the warehouse at the end?",
		things:   []string{"apples", "paper", "tiles", "bottled water", "tomatoes", "batteries"},
		startLo:  30, startHi: 240, addLo: 10, addHi: 120, mulMax: 3,
	},
}

var (
	firstNames = []string{"Ava", "Liam", "Maya", "Noah", "Zara", "Omar", "Lena", "Ivan", "Nora", "Theo", "Iris", "Felix", "Priya", "Tomas", "Elif", "Kenji"}
	femaleName = map[string]bool{"Ava": true, "Maya": true, "Zara": true, "Lena": true, "Nora": true, "Iris": true, "Priya": true, "Elif": true}
	chores     = []string{"walking dogs", "mowing lawns", "washing cars", "selling lemonade", "tutoring a neighbour"}
	purchases  = []string{"book", "video game", "pair of shoes", "concert ticket", "backpack", "board game"}
)

type mathStep struct {
	op byte // + - * /
	n  int
}

// applyStep applies one step; ok is false when the result would not be a
// positive integer.
func applyStep(v int, s mathStep) (int, bool) {
	switch s.op {
	case '+':
		return v + s.n, true
	case '-':
		return v - s.n, v-s.n > 0
	case '*':
		return v * s.n, true
	case '/':
		return v / s.n, s.n > 0 && v%s.n == 0 && v/s.n > 0
	}
	return 0, false
}

func runSteps(start int, steps []mathStep) (int, bool) {
	v := start
	for _, s := range steps {
		var ok bool
		if v, ok = applyStep(v, s); !ok {
			return 0, false
		}
	}
	return v, true
}

func genMath(k int, r *rand.Rand) Task {
	st := pick(r, mathStories)
	nsteps := 1 + r.IntN(4)
	return mathProblem(r, st, between(r, st.startLo, st.startHi), nsteps, false)
}

// genMathEasy is one addition or subtraction of a one-digit number to a
// start of at most 20 (Level Easy).
func genMathEasy(k int, r *rand.Rand) Task {
	st := pick(r, mathStories)
	t := mathProblem(r, st, between(r, 5, 20), 1, true)
	t.Difficulty = 0.1
	return t
}

// mathProblem draws nsteps operations from start and writes the problem;
// small keeps them to + and - of one-digit numbers.
func mathProblem(r *rand.Rand, st mathStory, start, nsteps int, small bool) Task {
	v := start
	var steps []mathStep
	for len(steps) < nsteps {
		var s mathStep
		var op int
		if small {
			op = r.IntN(7)
		} else {
			op = r.IntN(10)
		}
		switch {
		case small && op < 4:
			s = mathStep{'+', between(r, 1, 9)}
		case small:
			s = mathStep{'-', between(r, 1, min(9, v-1))}
		case op < 4:
			s = mathStep{'+', between(r, st.addLo, st.addHi)}
		case op < 7:
			if v < 3 {
				continue
			}
			s = mathStep{'-', between(r, 1, v-1)}
		case op < 9:
			s = mathStep{'*', between(r, 2, st.mulMax)}
			if v*s.n > 20000 {
				continue
			}
		default:
			var divs []int
			for d := 2; d <= 6; d++ {
				if v%d == 0 && v/d > 1 {
					divs = append(divs, d)
				}
			}
			if len(divs) == 0 {
				continue
			}
			s = mathStep{'/', pick(r, divs)}
		}
		v, _ = applyStep(v, s)
		steps = append(steps, s)
	}

	name, friend := pick(r, firstNames), pick(r, firstNames)
	for friend == name {
		friend = pick(r, firstNames)
	}
	P, p, his := "He", "he", "his"
	if femaleName[name] {
		P, p, his = "She", "she", "her"
	}
	thing := pick(r, st.things)
	fill := func(tmpl string, n int) string {
		return strings.NewReplacer(
			"{Name}", name, "{P}", P, "{p}", p, "{his}", his, "{F}", friend,
			"{X}", thing, "{C}", pick(r, chores), "{T}", pick(r, purchases), "{N}", strconv.Itoa(n),
		).Replace(tmpl)
	}
	sents := []string{fill(st.start, start)}
	muldiv := 0
	for _, s := range steps {
		var opts []string
		switch s.op {
		case '+':
			opts = st.add
		case '-':
			opts = st.sub
		case '*':
			opts, muldiv = st.mul, muldiv+1
		case '/':
			opts, muldiv = st.div, muldiv+1
		}
		sents = append(sents, fill(pick(r, opts), s.n))
	}
	sents = append(sents, fill(st.question, 0))

	diff := 0.2*float64(nsteps) + 0.05*float64(muldiv)
	if v >= 1000 {
		diff += 0.1
	}
	diff = math.Min(1, math.Round(diff*100)/100)
	return Task{
		Family: Math, Source: SourceSyntheticMath,
		Question:    strings.Join(sents, " "),
		Answers:     []string{strconv.Itoa(v)},
		Difficulty:  diff,
		Distractors: mathDistractors(start, steps, v),
	}
}

// mathDistractors lists 3-4 wrong answers a solver plausibly gives.
func mathDistractors(start int, steps []mathStep, ans int) []string {
	var cands []int
	prev, _ := runSteps(start, steps[:len(steps)-1])
	last := steps[len(steps)-1]
	cands = append(cands, prev) // stopped one step early
	switch last.op {            // wrong operation on the last step
	case '+':
		cands = append(cands, prev-last.n)
	case '-':
		cands = append(cands, prev+last.n)
	case '*':
		cands = append(cands, prev+last.n)
	case '/':
		cands = append(cands, prev*last.n, prev-last.n)
	}
	if len(steps) >= 2 { // skipped the first step
		if v, ok := runSteps(start, steps[1:]); ok {
			cands = append(cands, v)
		}
	}
	if last.op == '+' || last.op == '-' { // counted the last operand twice
		if last.op == '+' {
			cands = append(cands, ans+last.n)
		} else {
			cands = append(cands, ans-last.n)
		}
	}
	cands = append(cands, ans+1, ans-1, ans+10, ans*2)
	var out []string
	seen := map[int]bool{ans: true}
	for _, c := range cands {
		if c < 0 || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, strconv.Itoa(c))
		if len(out) == 4 {
			break
		}
	}
	return out
}
