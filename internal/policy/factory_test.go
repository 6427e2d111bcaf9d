package policy_test

import (
	"context"
	"strings"
	"testing"

	_ "github.com/flowsteer/flowsteer/internal/kinds"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// One baseline rule for eval.baselines, --baselines and Evaluate: the
// baseline kinds, fixed:DSL and the named workflows; nothing that needs a
// model, a file or a server.
func TestBaselineRuleAcceptsBaselineKindsOnly(t *testing.T) {
	for _, ok := range []string{"random", "cot", "self-consistency", "full", "fixed:Programmer -> Format"} {
		p, err := policy.Baseline(context.Background(), ok, 1)
		if err != nil || p == nil {
			t.Errorf("baseline %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"embedded", "llm", "remote", "oracle", "fixed:", "fixed:A ->"} {
		if _, _, err := policy.CheckBaseline(bad); err == nil {
			t.Errorf("baseline %q accepted", bad)
		}
	}
}

// One training rule: llm plays and evaluates but never trains in Go.
func TestOnlyLearningKindsTrain(t *testing.T) {
	for _, k := range []string{"embedded", "remote"} {
		if err := policy.CheckLearns(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for _, k := range []string{"llm", "random", "fixed"} {
		if err := policy.CheckLearns(k); err == nil || !strings.Contains(err.Error(), "cannot learn") {
			t.Errorf("%s: %v, want it refused", k, err)
		}
	}
}

func TestParseNameReadsKindArgAndNamedWorkflows(t *testing.T) {
	for in, want := range map[string]string{"cot": "fixed dsl=cot", "fixed:A -> B": "fixed dsl=A -> B", "embedded": "embedded"} {
		k, set := policy.ParseName(in)
		got := k
		for key, v := range set {
			got += " " + key + "=" + v.(string)
		}
		if got != want {
			t.Errorf("ParseName(%q) = %q, want %q", in, got, want)
		}
	}
}
