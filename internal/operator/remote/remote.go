// Package remote is the operator library kind remote: operators served by
// another process over the OperatorService contract, so teams can add
// tools written in any language. The server side, which serves a Go
// library over the same contract, is services/operator.
//
// Data path: engine -> remote operator (here) -> OperatorService.Invoke in
// the other process -> outputs back into the workflow's data flow.
package remote

import (
	"context"
	"fmt"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/protoconv"
)

// NewLibrary asks the OperatorService behind client for its operators and
// returns a library named name whose operators run there.
func NewLibrary(ctx context.Context, name string, client pb.OperatorServiceClient) (*operator.Library, error) {
	resp, err := client.DescribeOperators(ctx, &pb.DescribeOperatorsRequest{})
	if err != nil {
		return nil, fmt.Errorf("operator library %q: describe: %w", name, err)
	}
	if len(resp.GetOperators()) == 0 {
		return nil, fmt.Errorf("operator library %q: the service offers no operators", name)
	}
	var defs []operator.Def
	for _, o := range resp.GetOperators() {
		d := protoconv.OperatorFromPB(o)
		d.Impl = impl{client: client, name: o.GetName()}
		defs = append(defs, d.WithDefaultFlow()) // a remote Revise is fed as the built-in one
	}
	return operator.NewLibrary(name, defs)
}

// impl runs one operator through Invoke.
type impl struct {
	client pb.OperatorServiceClient
	name   string
}

// verdictFields are the outputs the engine reads as a checker's verdict.
var verdictFields = []string{"verdict", "result", "review_result", "is_correct", "passed"}

func (r impl) Invoke(ctx context.Context, _ operator.Env, c operator.Call) (operator.Output, error) {
	req := &pb.InvokeRequest{Operator: r.name, NodeId: c.NodeID, Task: protoconv.TaskToPB(c.Task), Prompt: c.Prompt, Inputs: map[string]*pb.FieldValue{}}
	for k, v := range c.Inputs {
		req.Inputs[k] = protoconv.FieldValueToPB(v)
	}
	resp, err := r.client.Invoke(ctx, req)
	if err != nil {
		return operator.Output{}, fmt.Errorf("remote operator %s: %w", r.name, err)
	}
	out := operator.Output{Fields: operator.Fields{}}
	out.Usage.Calls = 1
	out.Usage.InputTokens, out.Usage.OutputTokens = resp.GetInputTokens(), resp.GetOutputTokens()
	for k, v := range resp.GetOutputs() {
		out.Fields[k] = protoconv.FieldValueFromPB(v)
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
