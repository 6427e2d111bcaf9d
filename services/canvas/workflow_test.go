package canvas_test

import (
	"io"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/system"
)

func TestHealthAndListOperators(t *testing.T) {
	h := start(t)
	c := ctx(t)
	hc := healthpb.NewHealthClient(h.conn)
	r, err := hc.Check(c, &healthpb.HealthCheckRequest{Service: pb.CanvasService_ServiceDesc.ServiceName})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", r, err)
	}
	ops, err := h.client.Canvas.ListOperators(c, &pb.ListOperatorsRequest{Family: pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE})
	if err != nil {
		t.Fatal(err)
	}
	enabled := map[string]bool{}
	for _, o := range ops.GetOperators() {
		enabled[o.GetName()] = o.GetEnabled()
	}
	if len(enabled) != 12 || enabled["Programmer"] || !enabled["Custom"] {
		t.Fatalf("operators for multiple choice: %v", enabled)
	}
}

func TestRunWorkflowStreamsNodesAndScoresWithTheSim(t *testing.T) {
	sys, err := system.Build(system.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, canvas.WithExecutor(sys.Engine), canvas.WithScorer(sys.Scorer), canvas.WithLibraries(sys.Canvas.Libraries()))
	c := ctx(t)
	s, err := h.client.Canvas.RunWorkflow(c, &pb.RunWorkflowRequest{
		Dsl: "Plan -> [Programmer, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Format", Task: mathTask(), Score: true,
		Prompts: map[string]string{"node_1": "List the factors first."},
	})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	var result *pb.RunWorkflowResult
	for {
		r, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := r.GetNode(); n != nil {
			nodes = append(nodes, n.GetNodeId())
		}
		if res := r.GetResult(); res != nil {
			result = res
		}
	}
	if len(nodes) != 7 || result == nil {
		t.Fatalf("nodes %v, result %v", nodes, result)
	}
	ex := result.GetExecution()
	if !ex.GetExecuted() || !ex.GetStats().GetSimulated() || ex.GetFinalAnswer() == "" {
		t.Fatalf("execution %v", ex)
	}
	if sc := result.GetScore(); sc.GetMethod() == "" || sc.GetExplanation() == "" {
		t.Fatalf("score %v", sc)
	}
	if result.GetWorkflow().GetStages()[0].GetOperator().GetPrompt() != "List the factors first." {
		t.Fatalf("prompt not applied: %v", result.GetWorkflow().GetStages()[0])
	}
}
