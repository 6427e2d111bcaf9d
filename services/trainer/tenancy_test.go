package trainer

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
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
