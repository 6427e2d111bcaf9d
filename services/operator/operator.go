// Package operator serves a Go operator library over the OperatorService
// contract, so another flowsteer process can use its operators as an
// operator library of kind remote (internal/operator/remote, the client
// side).
//
// Data path: remote operator in the other process -> OperatorService.Invoke
// (here) -> the operator's implementation -> outputs back over the wire.
package operator

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/server"
)

// Service serves a Go library over OperatorService. Env is what the
// operators use (a backend and a sandbox); it may be nil for operators
// that need neither.
type Service struct {
	pb.UnimplementedOperatorServiceServer
	Library *operator.Library
	Env     operator.Env
}

// Register adds the service to s.
func Register(s *server.Server, svc *Service) { pb.RegisterOperatorServiceServer(s.GRPC, svc) }

func (s *Service) DescribeOperators(context.Context, *pb.DescribeOperatorsRequest) (*pb.DescribeOperatorsResponse, error) {
	out := &pb.DescribeOperatorsResponse{}
	for _, d := range s.Library.Defs() {
		out.Operators = append(out.Operators, protoconv.OperatorToPB(d, s.Library.Name(), true))
	}
	return out, nil
}

func (s *Service) Invoke(ctx context.Context, req *pb.InvokeRequest) (*pb.InvokeResponse, error) {
	d, ok := s.Library.Lookup(req.GetOperator())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown operator %q: this service offers %s", req.GetOperator(), strings.Join(s.Library.Names(), ", "))
	}
	if d.Impl == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "operator %s has no implementation here", d.Name)
	}
	in := operator.Fields{}
	for k, v := range req.GetInputs() {
		in[k] = protoconv.FieldValueFromPB(v)
	}
	out, err := d.Impl.Invoke(ctx, s.Env, operator.Call{Task: protoconv.TaskFromPB(req.GetTask()), NodeID: req.GetNodeId(), Prompt: req.GetPrompt(), Inputs: in})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, status.Error(codes.DeadlineExceeded, err.Error())
		}
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp := &pb.InvokeResponse{Outputs: map[string]*pb.FieldValue{}, InputTokens: out.Usage.InputTokens, OutputTokens: out.Usage.OutputTokens}
	for k, v := range out.Fields {
		resp.Outputs[k] = protoconv.FieldValueToPB(v)
	}
	if out.Verdict != nil {
		resp.Outputs["verdict"] = protoconv.FieldValueToPB(operator.Value{Bool: out.Verdict})
	}
	if out.Feedback != "" {
		resp.Outputs["feedback"] = protoconv.FieldValueToPB(operator.Value{Text: out.Feedback})
	}
	if _, ok := resp.Outputs["solution"]; !ok && out.Forward != "" {
		resp.Outputs["output"] = protoconv.FieldValueToPB(operator.Value{Text: out.Forward})
	}
	return resp, nil
}
