package trainer

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRolloutConfigParsesAndDefaults(t *testing.T) {
	if d := DefaultConfig().Rollout; d.Retries != 3 || d.RetryBackoff != 200*time.Millisecond {
		t.Fatalf("default rollout %+v, want 3 retries and 200ms", d)
	}
	c, err := ParseConfig([]byte("rollout: {retries: 5}\npolicy: {kind: remote, addresses: [\"a:1\", \"b:2\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rollout.Retries != 5 || c.Rollout.RetryBackoff != 200*time.Millisecond {
		t.Errorf("rollout %+v: want retries 5 and the default backoff", c.Rollout)
	}
	if got := c.PolicyAddresses(); !reflect.DeepEqual(got, []string{"a:1", "b:2"}) {
		t.Errorf("PolicyAddresses = %v", got)
	}
	c.Policy.Addresses, c.Policy.Address = nil, "one:1"
	if got := c.PolicyAddresses(); !reflect.DeepEqual(got, []string{"one:1"}) {
		t.Errorf("PolicyAddresses with address only = %v", got)
	}
}

// A run written before rollout and policy.addresses existed must keep its
// hash, or it could not be resumed: both stay out of the YAML while unset.
func TestRolloutDefaultsStayOutOfTheYAML(t *testing.T) {
	c := DefaultConfig()
	y := c.YAML()
	if strings.Contains(y, "rollout") || strings.Contains(y, "retries") || strings.Contains(y, "    addresses: []\n    hidden") {
		t.Fatalf("defaults written out:\n%s", y)
	}
	c.Rollout.Retries = 7
	back, err := ParseConfig([]byte(c.YAML()))
	if err != nil {
		t.Fatal(err)
	}
	if back.Rollout.Retries != 7 || back.Hash() != c.Hash() || c.Hash() == DefaultConfig().Hash() {
		t.Errorf("a changed rollout did not round-trip into the YAML and the hash: %+v", back.Rollout)
	}
}
