package sim

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the documented default configuration.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Config is the sim's probability model (documented in default.yaml).
type Config struct {
	Seed             int64                         `yaml:"seed"`
	DifficultyFactor float64                       `yaml:"difficulty_factor"`
	PlanBonus        float64                       `yaml:"plan_bonus"`
	DecomposeBonus   float64                       `yaml:"decompose_bonus"`
	HardThreshold    float64                       `yaml:"hard_threshold"`
	Base             map[string]map[string]float64 `yaml:"base"`
	Carry            float64                       `yaml:"carry"`
	Verbose          map[string]float64            `yaml:"verbose"`
	Checker          struct {
		Catch      float64 `yaml:"catch"`
		FalseAlarm float64 `yaml:"false_alarm"`
	} `yaml:"checker"`
	Revise struct {
		Repair           float64 `yaml:"repair"`
		RepairDifficulty float64 `yaml:"repair_difficulty"`
		Break            float64 `yaml:"break"`
	} `yaml:"revise"`
	Format struct {
		Accuracy float64 `yaml:"accuracy"`
	} `yaml:"format"`
	Programmer struct {
		ErrorRate float64 `yaml:"error_rate"`
	} `yaml:"programmer"`
	TestFix struct {
		Repair float64 `yaml:"repair"`
	} `yaml:"test_fix"`
	Latency struct {
		PerCall        time.Duration `yaml:"per_call"`
		PerOutputToken time.Duration `yaml:"per_output_token"`
	} `yaml:"latency"`
	Tokens struct {
		CharsPerToken float64 `yaml:"chars_per_token"`
	} `yaml:"tokens"`
}

// DefaultConfig parses the embedded default.yaml.
func DefaultConfig() Config {
	c, err := ParseConfig(defaultYAML)
	if err != nil {
		panic(err) // the embedded file is checked by tests
	}
	return c
}

// LoadConfig reads a YAML file over the defaults: keys it omits keep their
// default values; unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("sim config: %w", err)
	}
	c, err := parseOver(DefaultConfig(), b)
	if err != nil {
		return Config{}, fmt.Errorf("sim config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses a complete configuration.
func ParseConfig(b []byte) (Config, error) { return parseOver(Config{}, b) }

func parseOver(c Config, b []byte) (Config, error) {
	// yaml replaces a nested map value wholesale: an override of
	// base.math.Programmer alone would zero base.math's other operators.
	// Keep what the file omits, as LoadConfig documents.
	def := map[string]map[string]float64{}
	for fam, ops := range c.Base {
		def[fam] = maps.Clone(ops)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // EOF: an empty file overrides nothing
		return Config{}, err
	}
	for fam, ops := range def {
		got, ok := c.Base[fam]
		if !ok || got == nil {
			continue
		}
		for op, v := range ops {
			if _, set := got[op]; !set {
				got[op] = v
			}
		}
	}
	return c, c.Validate()
}

// Operators the config may name: base probabilities are drawn by the
// solvers below (Revise follows revise.*), and verbose applies to the
// operators whose replies are prose (Programmer's is accepted and unused:
// its replies are code).
var (
	baseOperators    = []string{"Custom", "AnswerGenerate", "Programmer", "Aggregate"}
	verboseOperators = []string{"Custom", "AnswerGenerate", "Aggregate", "Revise", "Programmer"}
)

// Validate names the first bad key.
func (c Config) Validate() error {
	prob := func(name string, v float64) error {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return fmt.Errorf("%s must be a probability in [0, 1], got %v", name, v)
		}
		return nil
	}
	checks := []struct {
		name string
		v    float64
	}{
		{"difficulty_factor", c.DifficultyFactor}, {"plan_bonus", c.PlanBonus}, {"decompose_bonus", c.DecomposeBonus},
		{"hard_threshold", c.HardThreshold}, {"carry", c.Carry}, {"checker.catch", c.Checker.Catch},
		{"checker.false_alarm", c.Checker.FalseAlarm}, {"revise.repair", c.Revise.Repair},
		{"revise.repair_difficulty", c.Revise.RepairDifficulty}, {"revise.break", c.Revise.Break},
		{"format.accuracy", c.Format.Accuracy}, {"programmer.error_rate", c.Programmer.ErrorRate},
		{"test_fix.repair", c.TestFix.Repair},
	}
	for _, ch := range checks {
		if err := prob(ch.name, ch.v); err != nil {
			return err
		}
	}
	// Sorted, so that the first bad key named is the same on every run.
	for _, fam := range slices.Sorted(maps.Keys(c.Base)) {
		switch fam {
		case "math", "qa", "code", "mc":
		default:
			return fmt.Errorf("base.%s: unknown family: use math, qa, code or mc", fam)
		}
		ops := c.Base[fam]
		for _, op := range slices.Sorted(maps.Keys(ops)) {
			if !slices.Contains(baseOperators, op) {
				return fmt.Errorf("base.%s.%s: unknown operator: use %s", fam, op, strings.Join(baseOperators, ", "))
			}
			if err := prob("base."+fam+"."+op, ops[op]); err != nil {
				return err
			}
		}
	}
	for _, op := range slices.Sorted(maps.Keys(c.Verbose)) {
		if !slices.Contains(verboseOperators, op) {
			return fmt.Errorf("verbose.%s: unknown operator: use %s", op, strings.Join(verboseOperators, ", "))
		}
		if err := prob("verbose."+op, c.Verbose[op]); err != nil {
			return err
		}
	}
	if c.Latency.PerCall < 0 {
		return fmt.Errorf("latency.per_call must be >= 0, got %s", c.Latency.PerCall)
	}
	if c.Latency.PerOutputToken < 0 {
		return fmt.Errorf("latency.per_output_token must be >= 0, got %s", c.Latency.PerOutputToken)
	}
	if c.Tokens.CharsPerToken <= 0 {
		return fmt.Errorf("tokens.chars_per_token must be > 0, got %v", c.Tokens.CharsPerToken)
	}
	return nil
}
