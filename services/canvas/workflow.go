package canvas

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// ListOperators lists a library's operators, each marked enabled or not
// for the family asked about (all enabled when none is).
func (s *Service) ListOperators(_ context.Context, req *pb.ListOperatorsRequest) (*pb.ListOperatorsResponse, error) {
	lib, err := s.c.Libraries().Get(req.GetLibrary())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "library: %v", err)
	}
	fam := protoconv.FamilyFromPB(req.GetFamily())
	out := &pb.ListOperatorsResponse{}
	for _, d := range lib.Defs() {
		out.Operators = append(out.Operators, protoconv.OperatorToPB(d, lib.Name(), fam == "" || d.EnabledFor(fam)))
	}
	return out, nil
}

// RunWorkflow runs a DSL workflow on a task and streams node events.
func (s *Service) RunWorkflow(req *pb.RunWorkflowRequest, stream grpc.ServerStreamingServer[pb.RunWorkflowResponse]) error {
	lib, err := s.c.Libraries().Get(req.GetLibrary())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "library: %v", err)
	}
	g, err := workflow.Parse(req.GetDsl(), lib)
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "dsl: %v", err)
	}
	for id, p := range req.GetPrompts() {
		if err := g.SetPrompt(id, p); err != nil {
			return status.Errorf(codes.InvalidArgument, "prompts[%s]: %v", id, err)
		}
	}
	t := protoconv.TaskFromPB(req.GetTask())
	if err := canvas.ValidateTask(t); err != nil {
		return toStatus(err)
	}
	x := s.c.Executor()
	if x == nil {
		return status.Error(codes.FailedPrecondition, "this canvas has no executor configured, so workflows cannot be run; start it with an executor backend")
	}
	ctx := stream.Context()
	var sendErr error
	var mu sync.Mutex
	ex, err := x.Execute(ctx, canvas.ExecRequest{Graph: g.Clone(), Task: t, Library: lib, Backend: req.GetBackend(), OnNode: func(n canvas.NodeResult) {
		mu.Lock()
		defer mu.Unlock()
		if sendErr == nil {
			sendErr = stream.Send(&pb.RunWorkflowResponse{Event: &pb.RunWorkflowResponse_Node{Node: protoconv.NodeResultToPB(n)}})
		}
	}})
	if err != nil {
		return toStatus(err)
	}
	if sendErr != nil {
		return sendErr
	}
	res := &pb.RunWorkflowResult{Workflow: protoconv.WorkflowToPB(g), Execution: protoconv.ExecutionToPB(ex)}
	if req.GetScore() {
		sc := s.c.Scorer()
		if sc == nil {
			return status.Error(codes.FailedPrecondition, "score was asked for but this canvas has no scorer configured")
		}
		v := canvas.ScoreExecution(ctx, sc, t, g, ex)
		res.Score = protoconv.ScoreToPB(v)
	}
	return stream.Send(&pb.RunWorkflowResponse{Event: &pb.RunWorkflowResponse_Result{Result: res}})
}
