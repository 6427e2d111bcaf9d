package protoconv

import (
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

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

// WorkflowToPB converts a graph to its two forms: the DSL text and the
// stages (nil gives the empty workflow).
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
