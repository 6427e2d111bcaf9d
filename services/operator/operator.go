// Package operator plugs operators served by another process into an
// operator library over the OperatorService contract, and serves a Go
// library over it, so teams can add tools written in any language.
//
// Data path: engine -> remote operator (here) -> OperatorService.Invoke in
// the other process -> outputs back into the workflow's data flow.
package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/server"
)

// RemoteLibrary asks the OperatorService at conn for its operators and
// returns a library named name whose operators run there.
func RemoteLibrary(ctx context.Context, name string, conn grpc.ClientConnInterface) (*operator.Library, error) {
	c := pb.NewOperatorServiceClient(conn)
	resp, err := c.DescribeOperators(ctx, &pb.DescribeOperatorsRequest{})
	if err != nil {
		return nil, fmt.Errorf("operator library %q: describe: %w", name, err)
	}
	if len(resp.GetOperators()) == 0 {
		return nil, fmt.Errorf("operator library %q: the service offers no operators", name)
	}
	var defs []operator.Def
	for _, o := range resp.GetOperators() {
		d := operator.Def{Name: o.GetName(), Group: o.GetGroup(), Description: o.GetDescription(), WhenToUse: o.GetWhenToUse(),
			Inputs: o.GetInputs(), Outputs: o.GetOutputs()}
		for _, r := range o.GetRoles() {
			switch r {
			case pb.OperatorRole_OPERATOR_ROLE_SOLVER:
				d.Roles = append(d.Roles, operator.Solver)
			case pb.OperatorRole_OPERATOR_ROLE_CHECKER:
				d.Roles = append(d.Roles, operator.Checker)
			case pb.OperatorRole_OPERATOR_ROLE_COMBINER:
				d.Roles = append(d.Roles, operator.Combiner)
			}
		}
		d.Impl = remoteImpl{client: c, name: o.GetName()}
		defs = append(defs, d.WithDefaultFlow()) // a remote Revise is fed as the built-in one
	}
	return operator.NewLibrary(name, defs)
}

// remoteImpl runs one operator through Invoke.
type remoteImpl struct {
	client pb.OperatorServiceClient
	name   string
}

// verdictFields are the outputs the engine reads as a checker's verdict.
var verdictFields = []string{"verdict", "result", "review_result", "is_correct", "passed"}

func (r remoteImpl) Invoke(ctx context.Context, _ operator.Env, c operator.Call) (operator.Output, error) {
	req := &pb.InvokeRequest{Operator: r.name, NodeId: c.NodeID, Task: protoconv.TaskToPB(c.Task), Prompt: c.Prompt, Inputs: map[string]*pb.FieldValue{}}
	for k, v := range c.Inputs {
		req.Inputs[k] = toPB(v)
	}
	resp, err := r.client.Invoke(ctx, req)
	if err != nil {
		return operator.Output{}, fmt.Errorf("remote operator %s: %w", r.name, err)
	}
	out := operator.Output{Fields: operator.Fields{}}
	out.Usage.Calls = 1
	out.Usage.InputTokens, out.Usage.OutputTokens = resp.GetInputTokens(), resp.GetOutputTokens()
	for k, v := range resp.GetOutputs() {
		out.Fields[k] = fromPB(v)
	}
	for _, k := range verdictFields {
		if v, ok := out.Fields[k]; ok && v.Bool != nil {
			b := *v.Bool
			out.Verdict = &b
			break
		}
	}
	out.Feedback = out.Fields.Text("feedback")
	out.Code = out.Fields.Text("code")
	// What flows on: the first output the operator declares, else the
	// solution or answer it returned.
	for _, k := range []string{"solution", "answer", "response", "output"} {
		if t := out.Fields.Text(k); t != "" {
			out.Forward = t
			break
		}
	}
	if out.Forward == "" {
		for _, v := range resp.GetOutputs() {
			if v.GetText() != "" {
				out.Forward = v.GetText()
				break
			}
		}
	}
	if out.Forward == "" && out.Verdict != nil {
		out.Forward = c.Inputs.Text("solution")
	}
	return out, nil
}

func toPB(v operator.Value) *pb.FieldValue {
	switch {
	case v.Bool != nil:
		return &pb.FieldValue{Value: &pb.FieldValue_Flag{Flag: *v.Bool}}
	case len(v.List) > 0:
		return &pb.FieldValue{Value: &pb.FieldValue_List{List: &pb.StringList{Values: v.List}}}
	}
	return &pb.FieldValue{Value: &pb.FieldValue_Text{Text: v.Text}}
}

func fromPB(v *pb.FieldValue) operator.Value {
	switch x := v.GetValue().(type) {
	case *pb.FieldValue_Flag:
		b := x.Flag
		return operator.Value{Bool: &b}
	case *pb.FieldValue_List:
		return operator.Value{List: x.List.GetValues()}
	case *pb.FieldValue_Number:
		return operator.Value{Text: fmt.Sprint(x.Number)}
	case *pb.FieldValue_Text:
		return operator.Value{Text: x.Text}
	}
	return operator.Value{}
}

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
		in[k] = fromPB(v)
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
		resp.Outputs[k] = toPB(v)
	}
	if out.Verdict != nil {
		resp.Outputs["verdict"] = toPB(operator.Value{Bool: out.Verdict})
	}
	if out.Feedback != "" {
		resp.Outputs["feedback"] = toPB(operator.Value{Text: out.Feedback})
	}
	if _, ok := resp.Outputs["solution"]; !ok && out.Forward != "" {
		resp.Outputs["output"] = toPB(operator.Value{Text: out.Forward})
	}
	return resp, nil
}
