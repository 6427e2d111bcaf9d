package trainer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// A run whose directory records a store kind this build does not link is
// FailedPrecondition naming the kind, not an internal error, and the
// service does not make a store of another kind in its place.
func TestARunOfAStoreKindThisBuildLacksIsFailedPrecondition(t *testing.T) {
	h := newService(t)
	dir := filepath.Join(h.runsDir, "elsewhere-run")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, runstore.SpecFile), []byte("kind: elsewhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := h.client.GetRun(ctx, &pb.GetRunRequest{RunId: "elsewhere-run"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `"elsewhere"`) {
		t.Errorf("GetRun: %v, want FailedPrecondition naming the kind", err)
	}
	if _, err := os.Stat(filepath.Join(dir, runstore.FileName)); err == nil {
		t.Errorf("GetRun made %s in a run of another store kind", runstore.FileName)
	}
}
