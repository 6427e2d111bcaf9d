package canvas

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// ---- tasks -------------------------------------------------------------------

var familyToPB = map[task.Family]pb.TaskFamily{
	task.Math: pb.TaskFamily_TASK_FAMILY_MATH, task.QA: pb.TaskFamily_TASK_FAMILY_QA,
	task.Code: pb.TaskFamily_TASK_FAMILY_CODE, task.MultipleChoice: pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE,
}

// FamilyFromPB maps a proto family; unspecified and unknown values give "".
func FamilyFromPB(f pb.TaskFamily) task.Family {
	for k, v := range familyToPB {
		if v == f {
			return k
		}
	}
	return ""
}

// FamilyToPB maps a domain family.
func FamilyToPB(f task.Family) pb.TaskFamily { return familyToPB[f] }

func testsToPB(t task.Tests) *pb.CodeTests {
	if t.Empty() && t.Style == "" {
		return nil
	}
	out := &pb.CodeTests{Style: string(t.Style), Code: t.Code}
	for _, c := range t.Cases {
		out.Cases = append(out.Cases, &pb.IOCase{Input: c.Input, Output: c.Output})
	}
	return out
}

func testsFromPB(t *pb.CodeTests) task.Tests {
	if t == nil {
		return task.Tests{}
	}
	out := task.Tests{Style: task.TestStyle(t.GetStyle()), Code: t.GetCode()}
	for _, c := range t.GetCases() {
		out.Cases = append(out.Cases, task.IOCase{Input: c.GetInput(), Output: c.GetOutput()})
	}
	return out
}

// TaskToPB converts a task, private fields included (callers clear them
// with canvas.PublicTask when a policy will see it).
func TaskToPB(t task.Task) *pb.Task {
	return &pb.Task{
		Id: t.ID, Family: FamilyToPB(t.Family), Source: t.Source, Question: t.Question, Context: t.Context,
		Choices: t.Choices, Answers: t.Answers, Unanswerable: t.Unanswerable, EntryPoint: t.EntryPoint,
		Prompt: t.Prompt, PublicTests: testsToPB(t.PublicTests), HiddenTests: testsToPB(t.HiddenTests),
		Reference: t.Reference, Difficulty: t.Difficulty, Distractors: t.Distractors,
	}
}

// TaskFromPB converts a proto task.
func TaskFromPB(t *pb.Task) task.Task {
	return task.Task{
		ID: t.GetId(), Family: FamilyFromPB(t.GetFamily()), Source: t.GetSource(), Question: t.GetQuestion(),
		Context: t.GetContext(), Choices: t.GetChoices(), Answers: t.GetAnswers(), Unanswerable: t.GetUnanswerable(),
		EntryPoint: t.GetEntryPoint(), Prompt: t.GetPrompt(), PublicTests: testsFromPB(t.GetPublicTests()),
		HiddenTests: testsFromPB(t.GetHiddenTests()), Reference: t.GetReference(), Difficulty: t.GetDifficulty(),
		Distractors: t.GetDistractors(),
	}
}

// ---- configuration -------------------------------------------------------------

// ConfigFromPB overlays the set fields of c on the defaults.
func ConfigFromPB(c *pb.EpisodeConfig) (canvas.Config, reward.Spec, error) {
	cfg := canvas.DefaultConfig()
	rw := reward.Default()
	if c == nil {
		return cfg, rw, nil
	}
	if c.MaxRounds != nil {
		cfg.MaxRounds = int(c.GetMaxRounds())
	}
	if c.TwoStep != nil {
		cfg.TwoStep = c.GetTwoStep()
	}
	if c.Lenient != nil {
		cfg.Lenient = c.GetLenient()
	}
	if c.ExecuteEachStep != nil {
		cfg.ExecuteEachStep = c.GetExecuteEachStep()
	}
	if c.Hints != nil {
		cfg.Hints = c.GetHints()
	}
	if c.RenderPrompt != nil {
		cfg.RenderPrompt = c.GetRenderPrompt()
	}
	switch c.GetObservation() {
	case pb.ObservationMode_OBSERVATION_MODE_UNSPECIFIED, pb.ObservationMode_OBSERVATION_MODE_FULL:
		cfg.Observation = canvas.ObservationFull
	case pb.ObservationMode_OBSERVATION_MODE_INCREMENTAL:
		cfg.Observation = canvas.ObservationIncremental
	default:
		return cfg, rw, fmt.Errorf("config.observation: unknown value %d", c.GetObservation())
	}
	cfg.Library = c.GetLibrary()
	cfg.Backend = c.GetBackend()
	if f := c.GetFinish(); f != nil {
		r := &cfg.Finish
		setBool(&r.RequireNonEmpty, f.RequireNonempty)
		if f.MinOperators != nil {
			r.MinOperators = int(f.GetMinOperators())
		}
		setBool(&r.RequireStructure, f.RequireStructure)
		setBool(&r.RequireSolver, f.RequireSolver)
		setBool(&r.RequireChecker, f.RequireChecker)
		setBool(&r.RequireTestForCode, f.RequireTestForCode)
		setBool(&r.RequireProgrammerOrTestForCode, f.RequireProgrammerOrTestForCode)
		setBool(&r.RequireFormatWhenVerbose, f.RequireFormatWhenVerbose)
	}
	if r := c.GetReward(); r != nil {
		switch r.GetKind() {
		case pb.RewardKind_REWARD_KIND_UNSPECIFIED, pb.RewardKind_REWARD_KIND_CWRPO:
			rw.Kind = reward.CWRPO
		case pb.RewardKind_REWARD_KIND_MILESTONE:
			rw.Kind = reward.Milestone
		case pb.RewardKind_REWARD_KIND_CORRECTNESS:
			rw.Kind = reward.Correctness
		default:
			return cfg, rw, fmt.Errorf("config.reward.kind: unknown value %d", r.GetKind())
		}
		setFloat(&rw.CheckerWeight, r.CheckerWeight)
		setFloat(&rw.FormatWeight, r.FormatWeight)
		setFloat(&rw.SizeWeight, r.SizeWeight)
		setFloat(&rw.StructureWeight, r.StructureWeight)
		if r.MinOperators != nil {
			rw.MinOperators = int(r.GetMinOperators())
		}
		setFloat(&rw.Cap, r.Cap)
		setFloat(&rw.Base, r.Base)
		setFloat(&rw.ReleaseThreshold, r.ReleaseThreshold)
		setFloat(&rw.UnfinishedPenalty, r.UnfinishedPenalty)
		setFloat(&rw.InvalidActionPenalty, r.InvalidActionPenalty)
		if c := r.GetCost(); c != nil {
			prices := cost.TableFromPB(c.GetPrices())
			rw.Cost = reward.CostSpec{Weight: c.GetWeight(), Unit: c.GetUnit(), Reference: c.GetReference(), Prices: &prices}
			if err := rw.Cost.Validate(); err != nil {
				return cfg, rw, fmt.Errorf("config.%w", err)
			}
		}
	}
	return cfg, rw, nil
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

func setFloat(dst *float64, v *float64) {
	if v != nil {
		*dst = *v
	}
}

// ConfigToPB converts a config (every field set).
func ConfigToPB(c canvas.Config) *pb.EpisodeConfig {
	i := func(v int) *int32 { x := int32(v); return &x }
	b := func(v bool) *bool { return &v }
	f := c.Finish
	return &pb.EpisodeConfig{
		MaxRounds: i(c.MaxRounds), TwoStep: b(c.TwoStep), Lenient: b(c.Lenient), ExecuteEachStep: b(c.ExecuteEachStep),
		Hints: b(c.Hints), RenderPrompt: b(c.RenderPrompt), Library: c.Library, Backend: c.Backend,
		Observation: observationToPB(c.Observation),
		Finish: &pb.FinishRules{
			RequireNonempty: b(f.RequireNonEmpty), MinOperators: i(f.MinOperators), RequireStructure: b(f.RequireStructure),
			RequireSolver: b(f.RequireSolver), RequireChecker: b(f.RequireChecker), RequireTestForCode: b(f.RequireTestForCode),
			RequireProgrammerOrTestForCode: b(f.RequireProgrammerOrTestForCode), RequireFormatWhenVerbose: b(f.RequireFormatWhenVerbose),
		},
	}
}

// ---- actions -----------------------------------------------------------------

var kindFromPB = map[pb.ActionKind]action.Kind{
	pb.ActionKind_ACTION_KIND_ADD: action.Add, pb.ActionKind_ACTION_KIND_DELETE: action.Delete,
	pb.ActionKind_ACTION_KIND_MODIFY: action.Modify, pb.ActionKind_ACTION_KIND_SET_PROMPT: action.SetPrompt,
	pb.ActionKind_ACTION_KIND_FINISH: action.Finish,
}

// KindToPB maps an action kind ("" gives unspecified).
func KindToPB(k action.Kind) pb.ActionKind {
	for p, d := range kindFromPB {
		if d == k {
			return p
		}
	}
	return pb.ActionKind_ACTION_KIND_UNSPECIFIED
}

var structureFromPB = map[pb.StructureKind]action.Structure{
	pb.StructureKind_STRUCTURE_KIND_UNSPECIFIED: action.NoStructure,
	pb.StructureKind_STRUCTURE_KIND_PARALLEL:    action.Parallel,
	pb.StructureKind_STRUCTURE_KIND_CONDITIONAL: action.Conditional,
	pb.StructureKind_STRUCTURE_KIND_LOOP:        action.Loop,
}

// InputFromPB converts an action message. A structured action with an
// unknown kind becomes an action the canvas rejects as feedback, never an
// RPC error: a bad action must not end an episode.
func InputFromPB(a *pb.Action) canvas.Input {
	in := canvas.Input{Text: a.GetText()}
	s := a.GetStructured()
	if s == nil {
		return in
	}
	act := action.Action{
		Kind:      kindFromPB[s.GetKind()],
		Operator:  s.GetOperator(),
		Structure: structureFromPB[s.GetStructure()],
		Operators: s.GetOperators(),
		Condition: s.GetCondition(),
		True:      s.GetIfTrue(),
		False:     s.GetIfFalse(),
		Count:     int(s.GetCount()),
		Position:  -1,
		Target:    s.GetTarget(),
		Prompt:    s.GetPrompt(),
		Answer:    s.GetAnswer(),
		Reasoning: s.GetReasoning(),
	}
	if _, ok := structureFromPB[s.GetStructure()]; !ok {
		act.Structure = action.Structure(fmt.Sprintf("structure(%d)", s.GetStructure()))
	}
	if act.Kind == "" && s.GetKind() != pb.ActionKind_ACTION_KIND_UNSPECIFIED {
		act.Kind = action.Kind(fmt.Sprintf("kind(%d)", s.GetKind()))
	}
	if act.Structure == action.Loop && act.Count != 0 {
		act.Count = min(max(act.Count, workflow.MinLoopCount), workflow.MaxLoopCount)
	}
	if s.Position != nil {
		act.Position = int(s.GetPosition())
	}
	in.Structured = &act
	return in
}

// StructuredToPB converts a domain action.
func StructuredToPB(a action.Action) *pb.StructuredAction {
	out := &pb.StructuredAction{
		Kind: KindToPB(a.Kind), Operator: a.Operator, Operators: a.Operators, Condition: a.Condition,
		IfTrue: a.True, IfFalse: a.False, Count: int32(a.Count), Target: a.Target, Prompt: a.Prompt,
		Answer: a.Answer, Reasoning: a.Reasoning,
	}
	for p, d := range structureFromPB {
		if d == a.Structure {
			out.Structure = p
		}
	}
	if a.Position >= 0 {
		p := int32(a.Position)
		out.Position = &p
	}
	return out
}

// ---- workflows and executions ------------------------------------------------

var stageKindToPB = map[workflow.Kind]pb.StageKind{
	workflow.Operator: pb.StageKind_STAGE_KIND_OPERATOR, workflow.Parallel: pb.StageKind_STAGE_KIND_PARALLEL,
	workflow.Conditional: pb.StageKind_STAGE_KIND_CONDITIONAL, workflow.Loop: pb.StageKind_STAGE_KIND_LOOP,
}

func nodeToPB(n *workflow.Node) *pb.WorkflowNode {
	if n == nil {
		return nil
	}
	return &pb.WorkflowNode{Id: n.ID, Operator: n.Operator, Prompt: n.Prompt}
}

func nodesToPB(ns []*workflow.Node) []*pb.WorkflowNode {
	out := make([]*pb.WorkflowNode, 0, len(ns))
	for _, n := range ns {
		out = append(out, nodeToPB(n))
	}
	return out
}

// WorkflowToPB converts a graph to its two forms.
func WorkflowToPB(g *workflow.Graph) *pb.Workflow {
	if g == nil {
		g = workflow.New()
	}
	w := &pb.Workflow{Dsl: g.String(), Stats: statsToPB(g.Stats())}
	for _, s := range g.Stages {
		ps := &pb.Stage{Id: s.ID, Kind: stageKindToPB[s.Kind]}
		switch s.Kind {
		case workflow.Operator:
			ps.Operator = nodeToPB(s.Op)
		case workflow.Parallel:
			ps.Branches = nodesToPB(s.Branches)
		case workflow.Conditional:
			ps.Condition, ps.IfTrue, ps.IfFalse = nodeToPB(s.Cond), nodeToPB(s.True), nodeToPB(s.False)
		case workflow.Loop:
			ps.Body = nodesToPB(s.Body)
			ps.Count = int32(s.Count)
		}
		w.Stages = append(w.Stages, ps)
	}
	return w
}

func statsToPB(s workflow.Stats) *pb.WorkflowStats {
	out := &pb.WorkflowStats{
		TotalOperators: int32(s.TotalOperators), UniqueOperators: int32(s.UniqueOperators), Stages: int32(s.Stages),
		Parallel: int32(s.Parallel), Conditional: int32(s.Conditional), Loop: int32(s.Loop),
		OperatorCounts: map[string]int32{},
	}
	for k, v := range s.OperatorCounts {
		out.OperatorCounts[k] = int32(v)
	}
	return out
}

var nodeStatusToPB = map[canvas.NodeStatus]pb.NodeStatus{
	canvas.NodePending: pb.NodeStatus_NODE_STATUS_PENDING, canvas.NodeRunning: pb.NodeStatus_NODE_STATUS_RUNNING,
	canvas.NodeOK: pb.NodeStatus_NODE_STATUS_OK, canvas.NodeFailed: pb.NodeStatus_NODE_STATUS_FAILED,
	canvas.NodeSkipped: pb.NodeStatus_NODE_STATUS_SKIPPED,
}

// NodeResultToPB converts one node result; output is given as is (callers bound it).
func NodeResultToPB(n canvas.NodeResult) *pb.NodeResult {
	return &pb.NodeResult{
		NodeId: n.NodeID, Operator: n.Operator, Status: nodeStatusToPB[n.Status], OutputExcerpt: n.Output,
		Error: n.Error, Duration: durationpb.New(n.Duration), CacheHit: n.CacheHit, InputTokens: n.InputTokens,
		OutputTokens: n.OutputTokens, Calls: int32(n.Calls), Verdict: n.Verdict, Iteration: int32(n.Iteration),
		Models: cost.UsageToPB(n.Usage),
	}
}

// ExecStatsToPB converts execution statistics, usage lines included.
func ExecStatsToPB(s canvas.ExecStats) *pb.ExecutionStats {
	return &pb.ExecutionStats{
		Calls: int32(s.Calls), CacheHits: int32(s.CacheHits), InputTokens: s.InputTokens,
		OutputTokens: s.OutputTokens, SavedTokens: s.SavedTokens, Duration: durationpb.New(s.Duration),
		Backend: s.Backend, Model: s.Model, Simulated: s.Simulated, SandboxRuns: int32(s.SandboxRuns),
		Models: cost.UsageToPB(s.Usage), SandboxSeconds: s.SandboxSeconds,
	}
}

// ExecutionToPB converts an execution.
func ExecutionToPB(x canvas.Execution) *pb.Execution {
	out := &pb.Execution{
		Executed: x.Executed, Note: x.Note, FinalAnswer: x.FinalAnswer, Error: x.Error,
		Stats: ExecStatsToPB(x.Stats),
	}
	for _, n := range x.Nodes {
		out.Nodes = append(out.Nodes, NodeResultToPB(n))
	}
	return out
}

// ---- observations ----------------------------------------------------------------

var stateToPB = map[canvas.State]pb.EpisodeState{
	canvas.Building: pb.EpisodeState_EPISODE_STATE_BUILDING, canvas.AwaitingPrompt: pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT,
	canvas.Done: pb.EpisodeState_EPISODE_STATE_DONE,
}

var endToPB = map[canvas.EndReason]pb.EndReason{
	canvas.Finished: pb.EndReason_END_REASON_FINISHED, canvas.MaxRounds: pb.EndReason_END_REASON_MAX_ROUNDS,
	canvas.Closed: pb.EndReason_END_REASON_CLOSED,
}

var promptKindToPB = map[canvas.PromptKind]pb.PromptKind{
	canvas.PromptAction: pb.PromptKind_PROMPT_KIND_ACTION, canvas.PromptNode: pb.PromptKind_PROMPT_KIND_NODE_PROMPT,
	canvas.PromptRepair: pb.PromptKind_PROMPT_KIND_REPAIR,
}

var roleToPB = map[operator.Role]pb.OperatorRole{
	operator.Solver: pb.OperatorRole_OPERATOR_ROLE_SOLVER, operator.Checker: pb.OperatorRole_OPERATOR_ROLE_CHECKER,
	operator.Combiner: pb.OperatorRole_OPERATOR_ROLE_COMBINER,
}

// OperatorToPB converts an operator definition.
func OperatorToPB(d operator.Def, lib string, enabled bool) *pb.OperatorInfo {
	o := &pb.OperatorInfo{
		Name: d.Name, Group: d.Group, Description: d.Description, WhenToUse: d.WhenToUse,
		Inputs: d.Inputs, Outputs: d.Outputs, Library: lib, Enabled: enabled,
	}
	for _, r := range d.Roles {
		o.Roles = append(o.Roles, roleToPB[r])
	}
	return o
}

// RewardToPB converts a result's reward and score.
func RewardToPB(r *canvas.Result) *pb.RewardBreakdown {
	if r == nil {
		return nil
	}
	b := r.Reward
	kind := map[reward.Kind]pb.RewardKind{reward.CWRPO: pb.RewardKind_REWARD_KIND_CWRPO, reward.Milestone: pb.RewardKind_REWARD_KIND_MILESTONE, reward.Correctness: pb.RewardKind_REWARD_KIND_CORRECTNESS}[b.Kind]
	return &pb.RewardBreakdown{
		Kind: kind, Reward: b.Reward, Base: b.Base, Checker: b.Checker, Format: b.Format, Size: b.Size,
		Structure: b.Structure, StructureTotal: b.StructureTotal, Released: b.Released, Correctness: b.Correctness,
		Penalties: b.Penalties, CostPenalty: b.Cost.Penalty, WorkflowCost: b.Cost.Cost, CostUnit: b.Cost.Unit,
		Score: &pb.Score{Value: r.Score.Value, Correct: r.Score.Correct, Method: r.Score.Method, Explanation: r.Score.Explanation},
	}
}

// ObservationToPB converts an observation.
func ObservationToPB(o canvas.Observation) *pb.Observation {
	out := &pb.Observation{
		EpisodeId: o.EpisodeID, Task: TaskToPB(o.Task), Workflow: WorkflowToPB(o.Graph), Execution: ExecutionToPB(o.Execution),
		EpisodeUsage: ExecStatsToPB(o.EpisodeUsage),
		Feedback:     o.Feedback, Valid: o.Valid, Turn: int32(o.Turn), MaxRounds: int32(o.MaxRounds), RoundsLeft: int32(o.RoundsLeft),
		State: stateToPB[o.State], Hint: o.Hint, Done: o.Done, EndReason: endToPB[o.EndReason], Reward: RewardToPB(o.Result),
		LastAction: o.LastAction, LastActionKind: KindToPB(o.LastKind), FinishAnswer: o.Answer,
	}
	if a := o.Awaiting; a != nil {
		out.Awaiting = &pb.AwaitingPrompt{NodeId: a.NodeID, Operator: a.Operator, OperatorDescription: a.Description, Context: a.Context, Remaining: int32(a.Remaining)}
	}
	for _, h := range o.History {
		out.History = append(out.History, &pb.HistoryEntry{Turn: int32(h.Turn), Action: h.Action, Valid: h.Valid, Error: h.Error})
	}
	if p := o.Prompt; p != nil {
		out.Prompt = &pb.RenderedPrompt{Kind: promptKindToPB[p.Kind], System: p.System, User: p.User, MaxNewTokens: int32(p.MaxNewTokens), Append: p.Append}
	}
	for _, v := range o.Operators {
		out.Operators = append(out.Operators, OperatorToPB(v.Def, v.Library, v.Enabled))
	}
	return out
}

// SnapshotToPB converts an episode record.
func SnapshotToPB(s canvas.Snapshot) *pb.Episode {
	out := &pb.Episode{
		Id: s.ID, Task: TaskToPB(canvas.PublicTask(s.Task)), Config: ConfigToPB(s.Config), Observation: ObservationToPB(s.Observation),
		Created: timestamppb.New(s.Created), Updated: timestamppb.New(s.Updated), Closed: s.Closed,
	}
	for _, t := range s.Turns {
		pt := &pb.Turn{
			Turn: int32(t.Number), Action: &pb.Action{Text: t.Input.Text}, ActionSummary: t.Summary, Valid: t.Valid,
			Feedback: t.Feedback, Dsl: t.DSL, State: stateToPB[t.State], Time: timestamppb.New(t.Time),
		}
		if t.Input.Structured != nil {
			pt.Action.Structured = StructuredToPB(*t.Input.Structured)
		}
		out.Turns = append(out.Turns, pt)
	}
	return out
}

// trimmed reports whether s is empty after trimming.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
