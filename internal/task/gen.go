package task

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// Sources of the offline generated suite.
const (
	SourceSyntheticMath = "synthetic-math"
	SourceSyntheticQA   = "synthetic-qa"
	SourceSyntheticCode = "synthetic-code"
)

// Mix weighs the families of a generated suite; weights are relative and
// negative ones count as zero.
type Mix struct {
	Math, QA, Code float64
}

// DefaultMix is equal thirds.
var DefaultMix = Mix{Math: 1, QA: 1, Code: 1}

// Generate builds an offline suite of n tasks for development, CI and the
// simulated backend (SPEC section 10), where no data set can be downloaded:
//
//   - synthetic-math: arithmetic word problems of 1 to 4 operations on a
//     running quantity; difficulty grows with the steps (0.2 per step, +0.05
//     per multiplication or division, +0.1 past 1000); integer answers;
//     3-4 distractors from the mistakes people make (stopping a step early,
//     the wrong operation on the last step, skipping the first step, off by
//     one or by the last operand).
//   - synthetic-qa: reading comprehension over a generated biography
//     paragraph (made-up people, towns, dates, numbers): extractive answers
//     with aliases, two-hop questions, and about 20% unanswerable questions
//     about things the paragraph does not mention; distractors are other
//     entities of the paragraph, of the same kind first.
//   - synthetic-code: small Python functions (sum of multiples, filtered
//     word reversal, letter counts, fizzbuzz-like words, gcd pairs, sliding
//     window maximum, digit powers, rotation), parameterised by constants;
//     a correct Reference, 1-2 public and 6+ hidden asserts, and buggy
//     variants of the reference (off by one, wrong comparison, ...) as
//     distractors, each checked to fail at least one hidden test.
//
// Only the first mix is used; none means DefaultMix. Counts are split by
// largest remainder and the families interleaved. The suite is a pure
// function of the seed: task syn-math-0007 is the same whatever n and mix,
// since each task draws from a generator seeded by (seed, family, index).
func Generate(n int, seed int64, mix ...Mix) []Task {
	return GenerateLevel(n, seed, Standard, mix...)
}

// Level is how hard a generated suite's tasks are.
type Level string

const (
	// Standard is the suite Generate documents.
	Standard Level = "standard"
	// Easy is the suite at the level a very small real model can score
	// on (SmolLM2-135M on a CPU solves none of the standard math): math is
	// one addition or subtraction of small numbers; qa asks only
	// single-hop questions the paragraph answers; code asks for one-line
	// functions (the largest number, the count of even numbers, a
	// reversed string). Same format, checks and distractors as Standard;
	// ids are syn-easy-FAMILY-NNNN, so the two never share an id.
	Easy Level = "easy"
)

// Levels lists the levels GenerateLevel knows, for flags and errors.
var Levels = []Level{Standard, Easy}

// ParseLevel reads a level's name.
func ParseLevel(s string) (Level, error) {
	for _, l := range Levels {
		if string(l) == s {
			return l, nil
		}
	}
	return "", fmt.Errorf("unknown task level %q (known: standard, easy)", s)
}

// GenerateLevel is Generate at a level; an unknown level is Standard.
func GenerateLevel(n int, seed int64, level Level, mix ...Mix) []Task {
	if n <= 0 {
		return nil
	}
	m := DefaultMix
	if len(mix) > 0 {
		m = mix[0]
	}
	w := [3]float64{math.Max(m.Math, 0), math.Max(m.QA, 0), math.Max(m.Code, 0)}
	if w[0]+w[1]+w[2] == 0 {
		w = [3]float64{1, 1, 1}
	}
	counts := apportion(n, w)
	gens := [3]func(int, *rand.Rand) Task{genMath, genQA, genCode}
	names := [3]string{"math", "qa", "code"}
	if level == Easy {
		gens = [3]func(int, *rand.Rand) Task{genMathEasy, genQAEasy, genCodeEasy}
		names = [3]string{"easy-math", "easy-qa", "easy-code"}
	}
	var made [3]int
	out := make([]Task, 0, n)
	for len(out) < n {
		// Interleave: next is the family furthest behind its share.
		best := -1
		for f := range 3 {
			if made[f] >= counts[f] {
				continue
			}
			if best < 0 || float64(made[f]+1)/float64(counts[f]) < float64(made[best]+1)/float64(counts[best]) {
				best = f
			}
		}
		k := made[best]
		made[best]++
		t := gens[best](k, taskRand(seed, names[best], k))
		t.ID = fmt.Sprintf("syn-%s-%04d", names[best], k+1)
		out = append(out, t)
	}
	return out
}

// apportion splits n by weight with the largest-remainder method; ties go
// to the earlier family.
func apportion(n int, w [3]float64) [3]int {
	sum := w[0] + w[1] + w[2]
	var c [3]int
	var frac [3]float64
	given := 0
	for i := range 3 {
		exact := float64(n) * w[i] / sum
		c[i] = int(math.Floor(exact))
		frac[i] = exact - float64(c[i])
		given += c[i]
	}
	for ; given < n; given++ {
		best := -1
		for i := range 3 {
			if w[i] > 0 && (best < 0 || frac[i] > frac[best]) {
				best = i
			}
		}
		c[best]++
		frac[best] = -1
	}
	return c
}

func taskRand(seed int64, family string, k int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", family, k)
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

func pick[T any](r *rand.Rand, items []T) T { return items[r.IntN(len(items))] }

// between draws an int in [lo, hi].
func between(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }
