package embedded

import (
	"hash/fnv"
	"math"
	"strings"
	"unicode"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/task"
)

// Feature layout. The vector has FeatureSize structured features followed
// by Config.TextBuckets hashed words (InputSize in all). Every feature is
// read from the structured Observation, never from the rendered prompt, so
// the policy sees the same thing in process and behind gRPC. Counts are
// scaled and capped at 1 so that a long workflow cannot saturate the trunk.
//
//	offset  size  feature
//	 0       4    task family one-hot: math, qa, code, multiple choice
//	 4       1    the task has public tests
//	 5       1    total operators / 10 (capped at 1)
//	 6       1    unique operator types / 12 (capped at 1)
//	 7       1    top-level stages / 10 (capped at 1)
//	 8      12    count of each operator (Operators order) / 3 (capped at 1)
//	20       3    structures present: parallel, conditional, loop
//	23       3    has a checker, has Format, has a solver
//	26       1    the last action was valid (0 on the first turn)
//	27       3    last feedback: finish refused, invalid, ok (all 0 on the first turn)
//	30       1    turn / max_rounds (capped at 1)
//	31       1    rounds_left / max_rounds (capped at 1)
//	32      13    the last stage's operator one-hot: none, then Operators order
//	45       4    the last stage's kind one-hot: operator, parallel, conditional, loop
//	49       1    the default finish rules are met, as far as the observation shows
//	50       B    hashed bag of words of the question, L2-normalised
//
// "The last stage's operator" is the one the next stage reads from: the
// operator of an operator stage, the checker of a conditional, the last
// body operator of a loop, and none for a parallel block (its output is a
// list; the kind bit says so) or an empty workflow.
const (
	offFamily      = 0
	offPublicTests = 4
	offTotal       = 5
	offUnique      = 6
	offStages      = 7
	offOpCounts    = 8
	offStructures  = 20
	offHasChecker  = 23
	offHasFormat   = 24
	offHasSolver   = 25
	offLastValid   = 26
	offFbRefused   = 27
	offFbInvalid   = 28
	offFbOK        = 29
	offTurn        = 30
	offRoundsLeft  = 31
	offLastOp      = 32
	offLastKind    = 45
	offFinishOK    = 49
	// FeatureSize is the number of structured features; the hashed text
	// buckets follow them.
	FeatureSize = 50
	// featureLayout versions the meaning of the features; checkpoints
	// record it, so a change of layout that keeps the size is still caught.
	// Layout 2 added the finish-rules bit.
	featureLayout = 2
)

// defaultMaxRounds stands in when an observation leaves max_rounds unset.
const defaultMaxRounds = 20

var (
	opIndex  = indexOf(Operators)
	checkers = setOf(defaultOps.NamesWith(operator.Checker))
	solvers  = setOf(defaultOps.NamesWith(operator.Solver))
)

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func indexOf(names []string) map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[n] = i
	}
	return m
}

// hasPublicTests reports whether the task shows tests that Test can run.
func hasPublicTests(t *pb.Task) bool {
	pt := t.GetPublicTests()
	return pt != nil && (strings.TrimSpace(pt.GetCode()) != "" || len(pt.GetCases()) > 0)
}

// stageOps lists the operator occurrences of a stage the way SPEC section 3
// counts them: branches and the condition included, a loop body once.
func stageOps(s *pb.Stage) []string {
	var out []string
	add := func(n *pb.WorkflowNode) {
		if n != nil && n.GetOperator() != "" {
			out = append(out, n.GetOperator())
		}
	}
	switch s.GetKind() {
	case pb.StageKind_STAGE_KIND_OPERATOR:
		add(s.GetOperator())
	case pb.StageKind_STAGE_KIND_PARALLEL:
		for _, n := range s.GetBranches() {
			add(n)
		}
	case pb.StageKind_STAGE_KIND_CONDITIONAL:
		add(s.GetCondition())
		add(s.GetIfTrue())
		add(s.GetIfFalse())
	case pb.StageKind_STAGE_KIND_LOOP:
		for _, n := range s.GetBody() {
			add(n)
		}
	}
	return out
}

// lastOperator is the operator whose output the next stage would read
// (see the layout comment); "" for none.
func lastOperator(s *pb.Stage) string {
	switch s.GetKind() {
	case pb.StageKind_STAGE_KIND_OPERATOR:
		return s.GetOperator().GetOperator()
	case pb.StageKind_STAGE_KIND_CONDITIONAL:
		return s.GetCondition().GetOperator()
	case pb.StageKind_STAGE_KIND_LOOP:
		if b := s.GetBody(); len(b) > 0 {
			return b[len(b)-1].GetOperator()
		}
	}
	return ""
}

func capped(v float64) float64 { return math.Min(v, 1) }

// features writes the feature vector of obs into x (len InputSize), which
// must be zeroed.
func features(obs *pb.Observation, buckets int, x []float64) {
	t := obs.GetTask()
	switch t.GetFamily() {
	case pb.TaskFamily_TASK_FAMILY_MATH:
		x[offFamily] = 1
	case pb.TaskFamily_TASK_FAMILY_QA:
		x[offFamily+1] = 1
	case pb.TaskFamily_TASK_FAMILY_CODE:
		x[offFamily+2] = 1
	case pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE:
		x[offFamily+3] = 1
	}
	if hasPublicTests(t) {
		x[offPublicTests] = 1
	}

	stages := obs.GetWorkflow().GetStages()
	counts := map[string]int{}
	total := 0
	var hasChecker, hasSolver bool
	for _, s := range stages {
		for _, op := range stageOps(s) {
			counts[op]++
			total++
			hasChecker = hasChecker || checkers[op]
			hasSolver = hasSolver || solvers[op]
		}
		switch s.GetKind() {
		case pb.StageKind_STAGE_KIND_PARALLEL:
			x[offStructures] = 1
		case pb.StageKind_STAGE_KIND_CONDITIONAL:
			x[offStructures+1] = 1
		case pb.StageKind_STAGE_KIND_LOOP:
			x[offStructures+2] = 1
		}
	}
	x[offTotal] = capped(float64(total) / 10)
	x[offUnique] = capped(float64(len(counts)) / 12)
	x[offStages] = capped(float64(len(stages)) / 10)
	for op, n := range counts {
		if i, ok := opIndex[op]; ok {
			x[offOpCounts+i] = capped(float64(n) / 3)
		}
	}
	if hasChecker {
		x[offHasChecker] = 1
	}
	if counts["Format"] > 0 {
		x[offHasFormat] = 1
	}
	if hasSolver {
		x[offHasSolver] = 1
	}

	if obs.GetTurn() > 0 {
		fb := strings.TrimSpace(obs.GetFeedback())
		refused := strings.HasPrefix(fb, "Finish refused") ||
			(obs.GetLastActionKind() == pb.ActionKind_ACTION_KIND_FINISH && !obs.GetValid())
		invalid := !obs.GetValid() || strings.HasPrefix(fb, "Invalid action") || strings.HasPrefix(fb, "Cannot")
		switch {
		case refused:
			x[offFbRefused] = 1
		case invalid:
			x[offFbInvalid] = 1
		default:
			x[offFbOK] = 1
		}
		if obs.GetValid() {
			x[offLastValid] = 1
		}
	}
	mr := float64(obs.GetMaxRounds())
	if mr <= 0 {
		mr = defaultMaxRounds
	}
	x[offTurn] = capped(float64(obs.GetTurn()) / mr)
	x[offRoundsLeft] = capped(math.Max(0, float64(obs.GetRoundsLeft())) / mr)

	if len(stages) == 0 {
		x[offLastOp] = 1
	} else {
		last := stages[len(stages)-1]
		if i, ok := opIndex[lastOperator(last)]; ok {
			x[offLastOp+1+i] = 1
		} else {
			x[offLastOp] = 1
		}
		switch last.GetKind() {
		case pb.StageKind_STAGE_KIND_OPERATOR:
			x[offLastKind] = 1
		case pb.StageKind_STAGE_KIND_PARALLEL:
			x[offLastKind+1] = 1
		case pb.StageKind_STAGE_KIND_CONDITIONAL:
			x[offLastKind+2] = 1
		case pb.StageKind_STAGE_KIND_LOOP:
			x[offLastKind+3] = 1
		}
	}

	if finishOK(obs) {
		x[offFinishOK] = 1
	}

	q := t.GetQuestion()
	if strings.TrimSpace(q) == "" {
		q = t.GetPrompt() // code tasks may carry only a signature and docstring
	}
	hashWords(q, x[FeatureSize:FeatureSize+buckets])
}

// finishOK reports whether the default finish rules are met on what obs
// shows (see finishRulesMet).
func finishOK(obs *pb.Observation) bool {
	counts := map[string]int{}
	total := 0
	var structure, checker, solver bool
	for _, s := range obs.GetWorkflow().GetStages() {
		for _, op := range stageOps(s) {
			counts[op]++
			total++
			checker = checker || checkers[op]
			solver = solver || solvers[op]
		}
		k := s.GetKind()
		structure = structure || k == pb.StageKind_STAGE_KIND_PARALLEL || k == pb.StageKind_STAGE_KIND_CONDITIONAL || k == pb.StageKind_STAGE_KIND_LOOP
	}
	return finishRulesMet(obs.GetTask(), counts, total, structure, checker, solver, obs.GetExecution().GetFinalAnswer())
}

// finishRulesMet mirrors the canvas's default finish rules (SPEC section
// 4) on what the observation shows, so the policy can tell when a finish
// would be accepted without spending a turn to find out: a finish it
// cannot yet press is not a decision it can learn to take.
func finishRulesMet(t *pb.Task, counts map[string]int, total int, structure, checker, solver bool, answer string) bool {
	if total < 5 || !structure || !checker || !solver {
		return false
	}
	if t.GetFamily() == pb.TaskFamily_TASK_FAMILY_CODE {
		if hasPublicTests(t) && counts["Test"] == 0 {
			return false
		}
		if counts["Programmer"] == 0 && counts["Test"] == 0 {
			return false
		}
	}
	return counts["Format"] > 0 || !task.VerboseAnswer(answer)
}

// hashWords adds lower-cased word counts into buckets by FNV-1a and
// L2-normalises them, so long and short questions weigh the same.
func hashWords(text string, b []float64) {
	h := fnv.New32a()
	sawWord := false
	for w := range strings.FieldsFuncSeq(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		h.Reset()
		h.Write([]byte(w))
		b[h.Sum32()%uint32(len(b))]++
		sawWord = true
	}
	if !sawWord {
		return
	}
	var ss float64
	for _, v := range b {
		ss += v * v
	}
	n := math.Sqrt(ss)
	for i := range b {
		b[i] /= n
	}
}
