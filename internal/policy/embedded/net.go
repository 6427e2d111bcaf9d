package embedded

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/flowsteer/flowsteer/internal/operator"
)

// Head identifies one categorical choice of an action.
type Head uint8

const (
	HeadKind     Head = iota // what the action does (Kinds)
	HeadOperator             // the operator of an add (Operators)
	HeadWidth                // parallel width (Widths)
	HeadBranch               // one parallel branch (BranchOperators)
	HeadChecker              // the condition of a conditional (Checkers)
	HeadRepair               // the repair branch of a conditional (Repairs)
	HeadLoopBody             // the body of a loop (LoopBodies)
	numHeads
)

// defaultOps is the default operator library, whose definitions the heads
// and the features read.
var defaultOps = operator.Default()

// The choices of each head, in index order. Indices are what decisions
// record, so these tables are part of the checkpoint's architecture: change
// one and old checkpoints are refused.
var (
	// Kinds are the choices of HeadKind.
	Kinds = []string{"add_operator", "add_parallel", "add_conditional", "add_loop", "delete_last", "finish"}
	// Operators are the choices of HeadOperator: the operators of the
	// default library (operator.Default) in its order, which
	// internal/operator/default.go fixes and TestOperatorHeadOrderIsPinned
	// pins: a new operator there is a new choice here (appended last).
	Operators = defaultOps.Names()
	// Widths are the choices of HeadWidth.
	Widths = []int{2, 3}
	// The heads below are the network's own design (which combinations of
	// operators it proposes), not operator knowledge; their names must be
	// operators of the default library with the right roles, which
	// TestStructureHeadsUseDefaultOperators checks.

	// BranchOperators are the choices of HeadBranch: the solvers that make
	// sense as independent samples to vote over.
	BranchOperators = []string{"Custom", "AnswerGenerate", "Programmer"}
	// Checkers are the choices of HeadChecker.
	Checkers = []string{"Review", "Verify", "Test"}
	// Repairs are the choices of HeadRepair.
	Repairs = []string{"Revise", "Programmer", "Custom", "AnswerGenerate"}
	// LoopBodies are the choices of HeadLoopBody.
	LoopBodies = [][]string{{"Review", "Revise"}, {"Verify", "Revise"}, {"Test", "Programmer"}}
)

// Indices of HeadKind.
const (
	KindAddOperator = iota
	KindAddParallel
	KindAddConditional
	KindAddLoop
	KindDeleteLast
	KindFinish
)

// LoopCount is the repetition count of every loop the policy adds.
const LoopCount = 2

var headNames = [numHeads]string{"kind", "operator", "width", "branch_op", "checker", "repair", "loop_body"}

func (h Head) String() string {
	if h < numHeads {
		return headNames[h]
	}
	return "head?"
}

// headSizes is the number of logits of each head. Masks are 16-bit sets,
// so no head may exceed 16 choices.
var headSizes = [numHeads]int{len(Kinds), len(Operators), len(Widths), len(BranchOperators),
	len(Checkers), len(Repairs), len(LoopBodies)}

// arch is the parameter layout: one flat vector, so Adam, clipping,
// hashing and checkpoints treat every layer alike.
//
//	W1 [hidden x in] row-major, b1 [hidden], then per head k:
//	Wk [size_k x hidden] row-major, bk [size_k]
type arch struct {
	in, hidden int
	w1, b1     int // offsets
	hw, hb     [numHeads]int
	size       int
}

func newArch(in, hidden int) arch {
	a := arch{in: in, hidden: hidden}
	off := 0
	a.w1, off = off, off+hidden*in
	a.b1, off = off, off+hidden
	for k := range numHeads {
		a.hw[k], off = off, off+headSizes[k]*hidden
		a.hb[k], off = off, off+headSizes[k]
	}
	a.size = off
	return a
}

// init draws Glorot-uniform trunk weights and heads scaled down tenfold,
// so the initial policy is close to uniform over the legal choices (every
// option gets explored) while the trunk still passes gradient.
func (a arch) init(r *rand.Rand) []float64 {
	p := make([]float64, a.size)
	lim := math.Sqrt(6 / float64(a.in+a.hidden))
	for i := range a.hidden * a.in {
		p[a.w1+i] = (2*r.Float64() - 1) * lim
	}
	for k := range numHeads {
		n := headSizes[k]
		lim := 0.1 * math.Sqrt(6/float64(a.hidden+n))
		for i := range n * a.hidden {
			p[a.hw[k]+i] = (2*r.Float64() - 1) * lim
		}
	}
	return p
}

// nonzero lists the indices of x that are not zero. Most features are
// one-hot bits or empty buckets, so the trunk touches only these; it cuts
// an Update by several times.
func nonzero(x []float64) []int {
	nz := make([]int, 0, len(x)/4)
	for i, v := range x {
		if v != 0 {
			nz = append(nz, i)
		}
	}
	return nz
}

// forwardTrunk computes tanh(W1 x + b1) into h, reading only x[nz].
func (a arch) forwardTrunk(params, x []float64, nz []int, h []float64) {
	for j := range a.hidden {
		row := params[a.w1+j*a.in : a.w1+(j+1)*a.in]
		s := params[a.b1+j]
		for _, i := range nz {
			s += row[i] * x[i]
		}
		h[j] = math.Tanh(s)
	}
}

// logits computes head k's logits Wk h + bk into z.
func (a arch) logits(params []float64, k Head, h, z []float64) {
	n := headSizes[k]
	for c := range n {
		row := params[a.hw[k]+c*a.hidden : a.hw[k]+(c+1)*a.hidden]
		s := params[a.hb[k]+c]
		for j, v := range h {
			s += row[j] * v
		}
		z[c] = s
	}
}

// mask is the set of legal choices of one head, bit i for choice i.
type mask uint16

func (m mask) has(i int) bool { return m&(1<<uint(i)) != 0 }

func (m mask) count() int {
	n := 0
	for ; m != 0; m &= m - 1 {
		n++
	}
	return n
}

func allOf(n int) mask { return mask(1<<uint(n) - 1) }

// logSoftmax writes the log-probabilities of the legal choices of z/temp
// into lp (illegal ones get -Inf, so they never enter a sum, an entropy
// or a draw) and returns the entropy of that distribution.
func logSoftmax(z []float64, m mask, temp float64, lp []float64) (entropy float64) {
	mx := math.Inf(-1)
	for i, v := range z {
		if m.has(i) && v/temp > mx {
			mx = v / temp
		}
	}
	var s float64
	for i, v := range z {
		if m.has(i) {
			s += math.Exp(v/temp - mx)
		}
	}
	lse := mx + math.Log(s)
	for i, v := range z {
		if !m.has(i) {
			lp[i] = math.Inf(-1)
			continue
		}
		lp[i] = v/temp - lse
		entropy -= math.Exp(lp[i]) * lp[i]
	}
	return entropy
}

// softmaxGrad adds to dz the gradient of gNew*logp[c] + gEnt*H w.r.t. the
// scaled logits u = z/T of a masked softmax with log-probs lp and entropy H:
//
//	d logp_c / du_i = [i=c] - p_i
//	dH / du_i       = -p_i (log p_i + H)
//
// (callers at temperature T pass gNew/T and gEnt/T, since du/dz = 1/T).
// Illegal logits get nothing: they were never part of the distribution.
func softmaxGrad(lp []float64, m mask, c int, H, gNew, gEnt float64, dz []float64) {
	for i := range lp {
		if !m.has(i) {
			continue
		}
		p := math.Exp(lp[i])
		g := -gNew*p - gEnt*p*(lp[i]+H)
		if i == c {
			g += gNew
		}
		dz[i] += g
	}
}

// layers names the parameter blocks in layout order.
func (a arch) layers() []string {
	out := []string{"trunk.w", "trunk.b"}
	for k := range numHeads {
		out = append(out, k.String()+".w", k.String()+".b")
	}
	return out
}

// layerOf names the block that holds parameter i, for error messages.
func (a arch) layerOf(i int) string {
	switch {
	case i < a.b1:
		return "trunk.w"
	case i < a.hw[0]:
		return "trunk.b"
	}
	for k := numHeads - 1; ; k-- {
		if i >= a.hb[k] {
			return k.String() + ".b"
		}
		if i >= a.hw[k] {
			return k.String() + ".w"
		}
	}
}

// headVocabulary spells out every head's choices in order. Checkpoints
// carry it, so weights trained with one choice order are never read with
// another of the same size.
func headVocabulary() string {
	var b strings.Builder
	for k := range numHeads {
		if k > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k.String() + ": ")
		switch k {
		case HeadKind:
			b.WriteString(strings.Join(Kinds, ","))
		case HeadOperator:
			b.WriteString(strings.Join(Operators, ","))
		case HeadWidth:
			for i, w := range Widths {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(strconv.Itoa(w))
			}
		case HeadBranch:
			b.WriteString(strings.Join(BranchOperators, ","))
		case HeadChecker:
			b.WriteString(strings.Join(Checkers, ","))
		case HeadRepair:
			b.WriteString(strings.Join(Repairs, ","))
		case HeadLoopBody:
			for i, body := range LoopBodies {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(strings.Join(body, "+"))
			}
		}
	}
	return b.String()
}
