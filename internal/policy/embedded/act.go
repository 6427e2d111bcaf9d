package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// legality is what the observation allows, turned into per-head masks.
type legality struct {
	op       mask // HeadOperator
	branch   mask
	checker  mask
	repair   mask
	loopBody mask
	kind     mask
}

// legalityOf derives the masks. Operator availability comes from the
// observation's operator list when the canvas sends one (it already
// applies the family rules); otherwise from the family rules of the
// default library's definitions (SPEC section 2: multiple choice disables
// Programmer). Test is legal only on a code task with public tests:
// elsewhere it has nothing to run. Finish is legal only when the default
// finish rules are met on what the observation shows: a finish the canvas
// refuses costs a turn and, in training, took the blame of the episodes it
// wasted (see BENCHMARKS.md, "Why the embedded policy never finishes").
func legalityOf(obs *pb.Observation) legality {
	t := obs.GetTask()
	enabled := make(map[string]bool, len(Operators))
	if ops := obs.GetOperators(); len(ops) > 0 {
		for _, o := range ops {
			if o.GetEnabled() {
				enabled[o.GetName()] = true
			}
		}
	} else {
		fam := policy.FamilyOf(t.GetFamily())
		for _, d := range defaultOps.Defs() {
			enabled[d.Name] = d.EnabledFor(fam)
		}
	}
	if t.GetFamily() != pb.TaskFamily_TASK_FAMILY_CODE || !hasPublicTests(t) {
		enabled["Test"] = false
	}
	set := func(names []string) mask {
		var m mask
		for i, n := range names {
			if enabled[n] {
				m |= 1 << uint(i)
			}
		}
		return m
	}
	var l legality
	l.op = set(Operators)
	l.branch = set(BranchOperators)
	l.checker = set(Checkers)
	l.repair = set(Repairs)
	for i, body := range LoopBodies {
		ok := true
		for _, n := range body {
			ok = ok && enabled[n]
		}
		if ok {
			l.loopBody |= 1 << uint(i)
		}
	}
	bit := func(i int, ok bool) {
		if ok {
			l.kind |= 1 << uint(i)
		}
	}
	nonEmpty := len(obs.GetWorkflow().GetStages()) > 0
	bit(KindAddOperator, l.op != 0)
	bit(KindAddParallel, l.branch != 0)
	bit(KindAddConditional, l.checker != 0 && l.repair != 0)
	bit(KindAddLoop, l.loopBody != 0)
	bit(KindDeleteLast, nonEmpty)
	bit(KindFinish, nonEmpty && finishOK(obs))
	return l
}

// ErrEpisodeDone is returned by Act on an observation of an ended episode.
var ErrEpisodeDone = errors.New("embedded: the episode has ended; there is nothing to act on")

// ErrNoLegalAction is returned by Act on an observation whose operator list
// offers nothing this policy can add (no canvas sends one).
var ErrNoLegalAction = errors.New("embedded: no legal action: the operator library offers none of the operators this policy knows")

// Act answers one observation.
//
// Building turns sample a sequence of choices. Sampling uses
// Sampling.Temperature when set, else Config.Temperature; the recorded
// log-prob of each choice is its log-prob under the distribution it was
// actually drawn from (the tempered one), and the decision's state keeps
// that temperature, so Update recomputes New, the reference and the
// entropy under the same tempered distribution (logits / T, as TRL and
// verl train with their rollout temperature): the first ratio is exactly
// 1 at any temperature. (Recomputing at temperature 1 instead made the
// first ratio pi_1/pi_T, far outside the clip range for a cold T, so
// that the clip silenced one sign of advantage per choice; an annealed
// run collapsed: BENCHMARKS.md, "Where the gap is".) Greedy decisions
// take the most likely legal choice and record its temperature-1 log-prob.
// TopP and TopK are ignored: the heads have at most 12 choices.
//
// Awaiting-prompt turns return a per-operator template as the prompt and
// no choices, so they never enter the loss.
func (p *Policy) Act(ctx context.Context, obs *pb.Observation, s policy.Sampling) (*pb.Decision, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if obs == nil {
		return nil, errors.New("embedded: nil observation")
	}
	if obs.GetDone() || obs.GetState() == pb.EpisodeState_EPISODE_STATE_DONE {
		return nil, ErrEpisodeDone
	}
	if obs.GetState() == pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT {
		return p.promptDecision(obs), nil
	}
	temp := p.cfg.Temperature
	if s.Temperature > 0 {
		temp = s.Temperature
	}
	if s.Greedy {
		temp = 1
	}
	if !(temp >= minTemperature && temp <= maxTemperature) {
		return nil, fmt.Errorf("embedded: sampling temperature %v outside [%v, %v]", temp, minTemperature, maxTemperature)
	}
	temp = float64(float32(temp)) // exactly what the state will hold
	var rng *rand.Rand
	if !s.Greedy {
		rng = p.rngFor(obs, s.Seed)
	}
	x := p.inputOf(obs)
	leg := legalityOf(obs)
	if leg.kind == 0 {
		return nil, ErrNoLegalAction
	}

	sa, text, cs, logps, version := p.decide(obs, x, leg, temp, func(_ Head, m mask, z, lp []float64) int {
		if s.Greedy {
			return argmax(z, m)
		}
		return draw(rng, lp, m)
	})
	return decisionOf(sa, text, cs, logps, temp, x, version), nil
}

// decide runs buildAction under the read lock: every head's logits and
// log-probs at temp (exactly what Update recomputes) go to choose, which
// returns the index taken; the choices and their log-probs are recorded.
func (p *Policy) decide(obs *pb.Observation, x []float64, leg legality, temp float64, choose func(k Head, m mask, z, lp []float64) int) (
	sa *pb.StructuredAction, text string, cs []choice, logps []float64, version string) {
	var z, lp [16]float64
	h := make([]float64, p.arch.hidden)
	cs = make([]choice, 0, maxChoices)
	logps = make([]float64, 0, maxChoices)
	p.mu.RLock()
	defer p.mu.RUnlock()
	p.arch.forwardTrunk(p.params, x, nonzero(x), h)
	sa, text = p.buildAction(obs, leg, func(k Head, m mask) int {
		n := headSizes[k]
		p.arch.logits(p.params, k, h, z[:n])
		logSoftmax(z[:n], m, temp, lp[:n])
		c := choose(k, m, z[:n], lp[:n])
		cs = append(cs, choice{head: k, legal: m, chosen: c})
		logps = append(logps, lp[c])
		return c
	})
	return sa, text, cs, logps, p.version
}

// inputOf is obs's feature vector, rounded to the float32 values a
// decision's state holds, so Update recomputes exactly what was decided.
func (p *Policy) inputOf(obs *pb.Observation) []float64 {
	x := make([]float64, p.arch.in)
	features(obs, p.cfg.TextBuckets, x)
	for i, v := range x {
		x[i] = float64(float32(v))
	}
	return x
}

// decisionOf is a building turn's decision: the action, its choices with
// their log-probs, and the state (temperature, features, choices) Update
// recomputes them from.
func decisionOf(sa *pb.StructuredAction, text string, cs []choice, logps []float64, temp float64, x []float64, version string) *pb.Decision {
	ids := make([]int32, len(cs))
	ones := make([]int32, len(cs))
	for i, c := range cs {
		ids[i], ones[i] = int32(c.chosen), 1
	}
	return &pb.Decision{
		Action:           &pb.Action{Text: text, Structured: sa},
		TokenIds:         ids,
		Logprobs:         logps,
		Mask:             ones,
		State:            encodeState(temp, x, cs),
		PolicyVersion:    version,
		Model:            Kind,
		CompletionTokens: int32(len(cs)),
	}
}

// buildAction runs the choice sequence through pick and turns it into a
// structured action and its one-line summary.
func (p *Policy) buildAction(obs *pb.Observation, leg legality, pick func(Head, mask) int) (*pb.StructuredAction, string) {
	add := pb.ActionKind_ACTION_KIND_ADD
	switch pick(HeadKind, leg.kind) {
	case KindAddOperator:
		op := Operators[pick(HeadOperator, leg.op)]
		return &pb.StructuredAction{Kind: add, Operator: op}, "add " + op
	case KindAddParallel:
		w := Widths[pick(HeadWidth, allOf(len(Widths)))]
		ops := make([]string, w)
		for i := range ops {
			ops[i] = BranchOperators[pick(HeadBranch, leg.branch)]
		}
		return &pb.StructuredAction{Kind: add, Structure: pb.StructureKind_STRUCTURE_KIND_PARALLEL, Operators: ops},
			"add parallel [" + strings.Join(ops, ", ") + "]"
	case KindAddConditional:
		c := Checkers[pick(HeadChecker, leg.checker)]
		r := Repairs[pick(HeadRepair, leg.repair)]
		return &pb.StructuredAction{Kind: add, Structure: pb.StructureKind_STRUCTURE_KIND_CONDITIONAL,
				Condition: c, IfTrue: r, IfFalse: "done"},
			fmt.Sprintf("add conditional %s ? %s : done", c, r)
	case KindAddLoop:
		body := LoopBodies[pick(HeadLoopBody, leg.loopBody)]
		return &pb.StructuredAction{Kind: add, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP,
				Operators: append([]string(nil), body...), Count: LoopCount},
			fmt.Sprintf("add loop (%s) * %d", strings.Join(body, " -> "), LoopCount)
	case KindDeleteLast:
		st := obs.GetWorkflow().GetStages()
		id := st[len(st)-1].GetId()
		return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: id}, "delete " + id
	default:
		return &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_FINISH}, "finish"
	}
}

func argmax(z []float64, m mask) int {
	best, bi := math.Inf(-1), -1
	for i, v := range z {
		if m.has(i) && (bi < 0 || v > best) {
			best, bi = v, i
		}
	}
	return bi
}

// draw samples from the legal entries of lp by inverse CDF; illegal
// entries have probability exactly 0 and are skipped, so they can never
// be drawn even through rounding.
func draw(r *rand.Rand, lp []float64, m mask) int {
	u := r.Float64()
	var acc float64
	last := -1
	for i, v := range lp {
		if !m.has(i) {
			continue
		}
		acc += math.Exp(v)
		last = i
		if u < acc {
			return i
		}
	}
	return last // rounding left u above the total
}

// rngFor returns the random stream of one Act. With a sampling seed it is
// derived from the seed, the task id and the turn, so a rerun reproduces
// every decision whatever the interleaving (episode ids are random, so
// they must not enter it); callers give each episode of a group its own
// seed, as the trainer does. Without one it is split off the shared stream
// seeded from Config.Seed (two draws per Act, whatever the action).
func (p *Policy) rngFor(obs *pb.Observation, seed *int64) *rand.Rand {
	if seed != nil {
		h := sha256.New()
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(*seed))
		h.Write(b[:])
		binary.LittleEndian.PutUint64(b[:], uint64(obs.GetTurn()))
		h.Write(b[:])
		h.Write([]byte(obs.GetTask().GetId()))
		sum := h.Sum(nil)
		return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum), binary.LittleEndian.Uint64(sum[8:])))
	}
	p.rngMu.Lock()
	a, b := p.pcg.Uint64(), p.pcg.Uint64()
	p.rngMu.Unlock()
	return rand.New(rand.NewPCG(a, b))
}

// promptDecision answers an awaiting-prompt turn. The canvas takes
// Structured.Prompt as the awaited node's prompt; the decision has no
// choices, so it carries no log-probs, mask or state.
func (p *Policy) promptDecision(obs *pb.Observation) *pb.Decision {
	a := obs.GetAwaiting()
	prompt := PromptFor(a.GetOperator(), obs.GetTask().GetFamily())
	summary := "prompt"
	if a.GetNodeId() != "" {
		summary = fmt.Sprintf("prompt for %s (%s)", a.GetNodeId(), a.GetOperator())
	}
	p.mu.RLock()
	version := p.version
	p.mu.RUnlock()
	return &pb.Decision{
		Action: &pb.Action{Text: prompt, Structured: &pb.StructuredAction{
			Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Target: a.GetNodeId(), Prompt: prompt}},
		Reasoning:     summary,
		PolicyVersion: version,
		Model:         Kind,
	}
}

// PromptFor is the fixed node prompt the policy writes for an operator on
// a task of family f. The templates are deliberately generic: the embedded
// policy learns workflow structure, not prose.
func PromptFor(operator string, f pb.TaskFamily) string { return policy.NodePrompt(operator, f) }
