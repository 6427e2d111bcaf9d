package policy_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
)

var updatePrompts = flag.Bool("update-prompts", false, "rewrite testdata/node_prompts.golden")

// TestNodePromptsArePinned pins the default node prompt of every built-in
// operator (and of an unknown one) for every task family: the fixed,
// random and embedded policies send these, so a change moves the
// quickstart's numbers. Regenerate with:
//
//	go test ./internal/policy -run TestNodePromptsArePinned -update-prompts
func TestNodePromptsArePinned(t *testing.T) {
	families := []pb.TaskFamily{pb.TaskFamily_TASK_FAMILY_UNSPECIFIED, pb.TaskFamily_TASK_FAMILY_MATH,
		pb.TaskFamily_TASK_FAMILY_QA, pb.TaskFamily_TASK_FAMILY_CODE, pb.TaskFamily_TASK_FAMILY_MULTIPLE_CHOICE}
	var b strings.Builder
	for _, op := range append(operator.Default().Names(), "SomeOtherOperator") {
		for _, f := range families {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", op, f, policy.NodePrompt(op, f))
		}
	}
	path := filepath.Join("testdata", "node_prompts.golden")
	if *updatePrompts {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("node prompts differ from %s at line %d:\n got %s\nwant %s", path, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("node prompts differ from %s: %d lines, want %d", path, len(gl), len(wl))
	}
}
