package protoconv

import (
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/operator"
)

// The domain -> proto enum maps of what an observation reports.
var (
	stateToPB = map[canvas.State]pb.EpisodeState{
		canvas.Building: pb.EpisodeState_EPISODE_STATE_BUILDING, canvas.AwaitingPrompt: pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT,
		canvas.Done: pb.EpisodeState_EPISODE_STATE_DONE,
	}
	endToPB = map[canvas.EndReason]pb.EndReason{
		canvas.Finished: pb.EndReason_END_REASON_FINISHED, canvas.MaxRounds: pb.EndReason_END_REASON_MAX_ROUNDS,
		canvas.Closed: pb.EndReason_END_REASON_CLOSED,
	}
	promptKindToPB = map[canvas.PromptKind]pb.PromptKind{
		canvas.PromptAction: pb.PromptKind_PROMPT_KIND_ACTION, canvas.PromptNode: pb.PromptKind_PROMPT_KIND_NODE_PROMPT,
		canvas.PromptRepair: pb.PromptKind_PROMPT_KIND_REPAIR,
	}
	roleToPB = map[operator.Role]pb.OperatorRole{
		operator.Solver: pb.OperatorRole_OPERATOR_ROLE_SOLVER, operator.Checker: pb.OperatorRole_OPERATOR_ROLE_CHECKER,
		operator.Combiner: pb.OperatorRole_OPERATOR_ROLE_COMBINER,
	}
)

// OperatorToPB converts an operator definition of library lib; enabled
// says whether the task family at hand may use it.
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

// ScoreToPB converts a score.
func ScoreToPB(s canvas.Score) *pb.Score {
	return &pb.Score{Value: s.Value, Correct: s.Correct, Method: s.Method, Explanation: s.Explanation}
}

// RewardToPB converts a result's reward and score (nil gives nil).
func RewardToPB(r *canvas.Result) *pb.RewardBreakdown {
	if r == nil {
		return nil
	}
	b := r.Reward
	return &pb.RewardBreakdown{
		Kind: rewardKindToPB[b.Kind], Reward: b.Reward, Base: b.Base, Checker: b.Checker, Format: b.Format, Size: b.Size,
		Structure: b.Structure, StructureTotal: b.StructureTotal, Released: b.Released, Correctness: b.Correctness,
		Penalties: b.Penalties, CostPenalty: b.Cost.Penalty, WorkflowCost: b.Cost.Cost, CostUnit: b.Cost.Unit,
		Score: ScoreToPB(r.Score),
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

// SnapshotToPB converts an episode record; its task is the public one
// (canvas.PublicTask), so hidden tests and answers stay on the canvas.
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
