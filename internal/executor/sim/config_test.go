package sim_test

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/executor/sim"
)

func TestDefaultConfigHoldsTheSpecDefaults(t *testing.T) {
	c := sim.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"math.Programmer": 0.75, "math.AnswerGenerate": 0.6, "math.Custom": 0.5,
		"qa.Custom": 0.7, "qa.AnswerGenerate": 0.65, "qa.Programmer": 0.2,
		"code.Programmer": 0.6, "code.Custom": 0.3, "code.AnswerGenerate": 0.25,
	}
	for k, v := range want {
		fam, op, _ := strings.Cut(k, ".")
		if got := c.Base[fam][op]; got != v {
			t.Errorf("base.%s = %v, want %v", k, got, v)
		}
	}
	scalars := []struct {
		name      string
		got, want float64
	}{
		{"difficulty_factor", c.DifficultyFactor, 0.5}, {"plan_bonus", c.PlanBonus, 0.05}, {"decompose_bonus", c.DecomposeBonus, 0.08},
		{"checker.catch", c.Checker.Catch, 0.6}, {"checker.false_alarm", c.Checker.FalseAlarm, 0.1},
		{"revise.repair", c.Revise.Repair, 0.5}, {"revise.repair_difficulty", c.Revise.RepairDifficulty, 0.3}, {"revise.break", c.Revise.Break, 0.05},
	}
	for _, s := range scalars {
		if s.got != s.want {
			t.Errorf("%s = %v, want %v", s.name, s.got, s.want)
		}
	}
	if c.Latency.PerCall != 0 || c.Latency.PerOutputToken != 0 {
		t.Errorf("default latency %+v, want zero", c.Latency)
	}
	parsed, err := sim.ParseConfig(sim.DefaultYAML())
	if err != nil || !reflect.DeepEqual(parsed, c) {
		t.Errorf("ParseConfig(DefaultYAML()) = %+v, %v; want DefaultConfig()", parsed, err)
	}
	y := sim.DefaultYAML()
	y[0] = 'X'
	if sim.DefaultYAML()[0] == 'X' {
		t.Error("DefaultYAML hands out the embedded bytes")
	}
}

func TestConfigValidateNamesTheBadKey(t *testing.T) {
	cases := []struct {
		key string
		mut func(*sim.Config)
	}{
		{"difficulty_factor", func(c *sim.Config) { c.DifficultyFactor = 1.5 }},
		{"plan_bonus", func(c *sim.Config) { c.PlanBonus = -0.1 }},
		{"carry", func(c *sim.Config) { c.Carry = math.NaN() }},
		{"checker.catch", func(c *sim.Config) { c.Checker.Catch = 2 }},
		{"checker.false_alarm", func(c *sim.Config) { c.Checker.FalseAlarm = -1 }},
		{"revise.break", func(c *sim.Config) { c.Revise.Break = 1.01 }},
		{"format.accuracy", func(c *sim.Config) { c.Format.Accuracy = -0.5 }},
		{"programmer.error_rate", func(c *sim.Config) { c.Programmer.ErrorRate = 3 }},
		{"test_fix.repair", func(c *sim.Config) { c.TestFix.Repair = -3 }},
		{"base.math.Custom", func(c *sim.Config) { c.Base["math"]["Custom"] = 1.2 }},
		{"base.physics", func(c *sim.Config) { c.Base["physics"] = map[string]float64{"Custom": 0.5} }},
		{"base.qa.Programer", func(c *sim.Config) { c.Base["qa"]["Programer"] = 0.5 }},
		{"base.math.Revise", func(c *sim.Config) { c.Base["math"]["Revise"] = 0.5 }},
		{"verbose.Custom", func(c *sim.Config) { c.Verbose["Custom"] = -0.2 }},
		{"verbose.Reviewer", func(c *sim.Config) { c.Verbose["Reviewer"] = 0.2 }},
		{"latency.per_call", func(c *sim.Config) { c.Latency.PerCall = -time.Second }},
		{"latency.per_output_token", func(c *sim.Config) { c.Latency.PerOutputToken = -time.Millisecond }},
		{"tokens.chars_per_token", func(c *sim.Config) { c.Tokens.CharsPerToken = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			c := sim.DefaultConfig()
			tc.mut(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.key)
			}
			if _, err := sim.New("sim", c); err == nil || !strings.Contains(err.Error(), "sim config") {
				t.Errorf("New accepted the bad config: %v", err)
			}
		})
	}
}

func TestConfigValidateNamesTheSameKeyEveryTime(t *testing.T) {
	c := sim.DefaultConfig()
	c.Base["math"]["AnswerGenerate"] = 7
	c.Base["math"]["Custom"] = 7
	c.Base["qa"]["Custom"] = 7
	first := c.Validate().Error()
	for range 30 {
		if got := c.Validate().Error(); got != first {
			t.Fatalf("Validate named %q, then %q", first, got)
		}
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sim.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfigRejectsUnknownKeysAndBadValues(t *testing.T) {
	cases := []struct {
		name, body string
		has        []string
	}{
		{"unknown top-level key", "seeed: 3\n", []string{"seeed"}},
		{"unknown nested key", "checker:\n  cach: 0.5\n", []string{"cach"}},
		{"wrong type", "seed: many\n", []string{"many"}},
		{"out of range value", "checker:\n  catch: 2\n", []string{"checker.catch"}},
		{"unknown operator in base", "base:\n  math:\n    Programer: 0.9\n", []string{"base.math.Programer"}},
		{"unknown family", "base:\n  chess:\n    Custom: 0.9\n", []string{"base.chess"}},
		{"not yaml", "seed: [1\n", []string{"sim config"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			_, err := sim.LoadConfig(p)
			if err == nil {
				t.Fatal("LoadConfig accepted it")
			}
			for _, s := range append(tc.has, p) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		})
	}
	if _, err := sim.LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("LoadConfig of a missing file succeeded")
	}
}

func TestLoadConfigKeepsOmittedDefaults(t *testing.T) {
	def := sim.DefaultConfig()
	cases := []struct {
		name  string
		body  string
		check func(t *testing.T, c sim.Config)
	}{
		{"an empty file is the defaults", "", func(t *testing.T, c sim.Config) {
			if !reflect.DeepEqual(c, def) {
				t.Errorf("got %+v", c)
			}
		}},
		{"a comment-only file is the defaults", "# nothing to change\n", func(t *testing.T, c sim.Config) {
			if !reflect.DeepEqual(c, def) {
				t.Errorf("got %+v", c)
			}
		}},
		{"a scalar override", "seed: 9\nchecker:\n  catch: 0.8\n", func(t *testing.T, c sim.Config) {
			if c.Seed != 9 || c.Checker.Catch != 0.8 || c.Checker.FalseAlarm != def.Checker.FalseAlarm || c.Format.Accuracy != def.Format.Accuracy {
				t.Errorf("got seed %d, checker %+v, format %+v", c.Seed, c.Checker, c.Format)
			}
		}},
		{"one base operator keeps its family's others", "base:\n  math:\n    Programmer: 0.9\n", func(t *testing.T, c sim.Config) {
			want := map[string]float64{"Programmer": 0.9, "AnswerGenerate": 0.6, "Custom": 0.5, "Aggregate": def.Base["math"]["Aggregate"]}
			if !reflect.DeepEqual(c.Base["math"], want) {
				t.Errorf("base.math = %v, want %v", c.Base["math"], want)
			}
			if !reflect.DeepEqual(c.Base["qa"], def.Base["qa"]) {
				t.Errorf("base.qa changed: %v", c.Base["qa"])
			}
		}},
		{"one verbose operator keeps the others", "verbose:\n  Custom: 0.1\n", func(t *testing.T, c sim.Config) {
			if c.Verbose["Custom"] != 0.1 || c.Verbose["AnswerGenerate"] != def.Verbose["AnswerGenerate"] {
				t.Errorf("verbose = %v", c.Verbose)
			}
		}},
		{"latency durations", "latency:\n  per_call: 25ms\n", func(t *testing.T, c sim.Config) {
			if c.Latency.PerCall != 25*time.Millisecond || c.Latency.PerOutputToken != 0 {
				t.Errorf("latency = %+v", c.Latency)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sim.LoadConfig(writeConfig(t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
	// Loading must not alter the defaults later loads start from.
	if !reflect.DeepEqual(sim.DefaultConfig(), def) {
		t.Error("LoadConfig changed DefaultConfig")
	}
}

func TestParseConfigNeedsACompleteConfig(t *testing.T) {
	if _, err := sim.ParseConfig([]byte("seed: 1\n")); err == nil || !strings.Contains(err.Error(), "chars_per_token") {
		t.Errorf("ParseConfig of a partial config: %v, want the missing tokens.chars_per_token named", err)
	}
}

func TestNewNamesTheBackend(t *testing.T) {
	b, err := sim.New("", sim.DefaultConfig())
	if err != nil || b.Name() != "sim" {
		t.Fatalf("New(\"\") = %v, %v; want the name sim", b, err)
	}
	b, err = sim.New("offline", sim.DefaultConfig())
	if err != nil || b.Name() != "offline" || !reflect.DeepEqual(b.Config(), sim.DefaultConfig()) {
		t.Fatalf("New(offline) = %v, %v", b, err)
	}
}
