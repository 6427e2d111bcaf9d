package embedded

import (
	"math"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

func TestConfigValidateNamesTheBadField(t *testing.T) {
	tests := []struct {
		field string
		edit  func(*Config)
	}{
		{"hidden", func(c *Config) { c.Hidden = -1 }},
		{"hidden", func(c *Config) { c.Hidden = 1 << 20 }},
		{"learning_rate", func(c *Config) { c.LearningRate = -1 }},
		{"learning_rate", func(c *Config) { c.LearningRate = math.NaN() }},
		{"beta1", func(c *Config) { c.Beta1 = 1 }},
		{"beta2", func(c *Config) { c.Beta2 = -0.1 }},
		{"eps", func(c *Config) { c.Eps = -1e-8 }},
		{"max_grad_norm", func(c *Config) { c.MaxGradNorm = -1 }},
		{"text_buckets", func(c *Config) { c.TextBuckets = -3 }},
		{"temperature", func(c *Config) { c.Temperature = math.Inf(1) }},
		{"credit", func(c *Config) { c.Credit = "per-token" }},
		{"gae_lambda", func(c *Config) { c.GAELambda = 1.5 }},
		{"gae_lambda", func(c *Config) { c.GAELambda = -0.5 }},
		{"critic_hidden", func(c *Config) { c.CriticHidden = -2 }},
		{"critic_learning_rate", func(c *Config) { c.CriticLearningRate = math.Inf(1) }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tt.field+" ") {
				t.Fatalf("error %v, want one naming %s", err, tt.field)
			}
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("New accepted a bad %s: %v", tt.field, err)
			}
		})
	}
	for _, c := range []Config{DefaultConfig(), {}} {
		if err := c.Validate(); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
}

func TestNewFillsDefaults(t *testing.T) {
	p := newTestPolicy(t, Config{})
	if p.Config() != DefaultConfig() {
		t.Fatalf("config %+v, want the defaults %+v", p.Config(), DefaultConfig())
	}
	info := p.Info()
	if info.Kind != "embedded" || !info.CanLearn || info.Format != pb.ActionFormat_ACTION_FORMAT_STRUCTURED ||
		!strings.HasPrefix(info.Version, "embedded-v1@") || len(info.Version) != len("embedded-v1@")+12 {
		t.Fatalf("info %+v", info)
	}
	if p.InputSize() != FeatureSize+32 {
		t.Fatalf("input size %d", p.InputSize())
	}
}
