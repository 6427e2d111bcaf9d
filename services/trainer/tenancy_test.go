package trainer

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
)

// A server that takes run configs from clients vets every option of the
// chosen kinds by its vet rule, whichever kind has it: a client may not
// make the server read its files or variables, nor dial where it may not.
func TestClientConfigOptionsAreVettedByTheirRule(t *testing.T) {
	h := newService(t)
	h.svc.ClientConfigs = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct{ name, yaml, key string }{
		{"embedded checkpoint file", "policy: {kind: embedded, checkpoint: /etc/passwd}", "policy.checkpoint"},
		{"openai key variable", "backend: {kind: openai, base_url: \"http://127.0.0.1:1/v1\", model: m, api_key_env: HOME}", "backend.api_key_env"},
		{"llamacpp log file", "backend: {kind: llamacpp, log_file: /tmp/x.log}", "backend.log_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "steps: 1\n" + tc.yaml + "\n"})
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("StartRun: %v, want PermissionDenied naming %s", err, tc.key)
			}
		})
	}
}

// Evaluate's backend_options pass the same rules as a StartRun config's
// backend section.
func TestEvaluateBackendOptionsAreVettedLikeARunConfig(t *testing.T) {
	h := newService(t)
	h.svc.ClientConfigs = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name, backend string
		opts          map[string]string
		key           string
	}{
		{"openai key variable", "openai", map[string]string{"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": "HOME"}, "backend.api_key_env"},
		{"llamacpp log file", "llamacpp", map[string]string{"log_file": "/tmp/x.log"}, "backend.log_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := h.client.Evaluate(ctx, &pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "random"}, Tasks: []*pb.Task{hostileEvalTask()},
				Backend: tc.backend, BackendOptions: tc.opts})
			if err == nil {
				_, err = st.Recv()
			}
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Evaluate: %v, want PermissionDenied naming %s", err, tc.key)
			}
		})
	}
}

// A backend option the kind has reaches the evaluation: the sim's seed.
func TestEvaluateTakesTheBackendKindsOptions(t *testing.T) {
	h := newService(t)
	h.svc.ClientConfigs = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := h.client.Evaluate(ctx, &pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "fixed", Dsl: "AnswerGenerate"}, Tasks: []*pb.Task{hostileEvalTask()},
		BackendOptions: map[string]string{"sim_seed": "7"}})
	if err != nil {
		t.Fatal(err)
	}
	var rep *pb.EvalReport
	err = servertest.RecvAll(func() (*pb.EvaluateResponse, error) {
		r, err := st.Recv()
		if r.GetReport() != nil {
			rep = r.GetReport()
		}
		return r, err
	})
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	if rep == nil || len(rep.GetPolicies()) == 0 {
		t.Fatalf("no report: %v", rep)
	}
}

// A client's canvas.libraries dial as the server: a remote library's
// address passes the server's --allow-dial like any other.
func TestClientConfigLibraryAddressesAreVettedAsDials(t *testing.T) {
	h := newService(t)
	h.svc.ClientConfigs = true
	allow, err := auth.NewDialAllow(auth.DefaultDialAllow)
	if err != nil {
		t.Fatal(err)
	}
	h.svc.AllowDial = allow
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = h.client.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "steps: 1\ncanvas: {libraries: [{name: team, kind: remote, options: {addr: \"203.0.113.9:50060\"}}], library: team}\n"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "canvas.libraries[0].options.addr") {
		t.Errorf("StartRun: %v, want PermissionDenied naming canvas.libraries[0].options.addr", err)
	}
}
