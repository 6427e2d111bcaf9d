package trainer

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// configSeeds are the run configurations the project really uses (the
// defaults, the tests' runs, every documented choice) and malformed ones.
var configSeeds = []string{
	"", "{}", "# comment\n", "~", "null", "[]", "- 1\n- 2\n", "steps: [1, 2", "steps: many",
	DefaultConfig().YAML(),
	`
name: tiny
steps: 3
group_size: 4
batch_tasks: 2
grouping: source
episode_timeout: 90s
loss: {kind: reinforce}
reward: {kind: correctness}
sampling: {temperature: 0.8, final_temperature: 0.3, top_p: 0.9, top_k: 5}
canvas: {two_step: false, hints: true, addresses: ["127.0.0.1:1"]}
eval: {tasks: 6, baselines: [random, "fixed:Custom -> Format"], sample: false, every: 2}
tasks: {families: [math, qa], limit: 10, train: a.jsonl, eval: b.jsonl, format: gsm8k}
`,
	`policy: {kind: remote, address: "127.0.0.1:1"}`,
	`backend: {kind: openai, base_url: "http://127.0.0.1:1/v1", model: m, api_key_env: K}`,
	`eval: {baselines: [random, cot, self-consistency, full, "fixed:AnswerGenerate -> Format"]}`,
	`reward: {kind: milestone, cap: 1.5, base: -1, unfinished_penalty: 0.5}`,
	`optimizer: {learning_rate: 1e-300, max_grad_norm: 1e300}`,
	`episode_timeout: 1`, `episode_timeout: 9223372036854775807`, `seed: -9223372036854775808`,
	`name: "a: b # c\n'\"\u00e9"`, `name: !!binary aGVsbG8=`, `steps: 0x10`, `steps: 1_000`,
	"a: &a [*a]", "steps: &s 3\nbatch_tasks: *s", "<<: {steps: 2}", "---\nsteps: 2\n---\nsteps: x\n",
	`canvas: {two_step: null}`, `sampling: {temperature: .inf}`, `max_rounds: 200`,
	`loss: {clip: .nan}`, `loss: {kl: .nan}`, `loss: {entropy: .inf}`, `reward: {base: .nan}`,
	`optimizer: {max_grad_norm: .NaN}`, `sampling: {top_p: .nan}`,
	"---\nsteps: 2\n", "steps: 2\n---\n", "steps: 2\n...\n",
	// Strings opening with a line break, which yaml.v3 writes as block
	// scalars that read back without it (found by this target).
	`tasks: {train: "\n0", eval: "\n\n x"}`, `eval: {baselines: ["\nrandom"]}`, `backend: {sim_config: "\n"}`,
	`tasks: {train: "\t\nx", format: "a\n\tb"}`, `policy: {kind: remote, address: "\x00\x1b[31m"}`,
}

func TestParseConfigRefusesASecondDocument(t *testing.T) {
	for _, doc := range []string{"---\nsteps: 2\n---\nsteps: 3\n", "steps: 2\n---\nsteps: x\n", "{}\n---\n[1]\n", "steps: 2\n---\n---\nsteps: 3\n"} {
		if c, err := ParseConfig([]byte(doc)); err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
			t.Errorf("ParseConfig(%q) = steps %d, %v; want it refused", doc, c.Steps, err)
		}
	}
	for _, doc := range []string{"---\nsteps: 2\n", "steps: 2\n---\n", "steps: 2\n...\n"} {
		if c, err := ParseConfig([]byte(doc)); err != nil || c.Steps != 2 {
			t.Errorf("ParseConfig(%q) = steps %d, %v; want steps 2", doc, c.Steps, err)
		}
	}
}

// checkFinite fails when any float in v (a struct, walked recursively) is
// NaN or infinite: no accepted configuration trains with one.
func checkFinite(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			checkFinite(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			checkFinite(t, v.Elem(), path)
		}
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("accepted config holds %s = %v", path, f)
		}
	}
}

// FuzzParseConfig: any bytes give an error or a config that validates and
// holds no NaN or infinity, and an accepted config survives YAML() -> ParseConfig with the same Hash
// (a resumed run is recognised by that hash).
func FuzzParseConfig(f *testing.F) {
	for _, s := range configSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Config
		var err error
		done := make(chan struct{})
		go func() { defer close(done); c, err = ParseConfig(b) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("hang: ParseConfig(%q) did not return within 20s", b)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("ParseConfig(%q): error %q does not start with config:", b, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig(%q) accepted a config that does not validate: %v", b, err)
		}
		checkFinite(t, reflect.ValueOf(c), "Config")
		y := c.YAML()
		if y == "" {
			t.Fatalf("ParseConfig(%q): accepted config renders no YAML", b)
		}
		back, err := ParseConfig([]byte(y))
		if err != nil {
			t.Fatalf("ParseConfig(%q): its YAML does not parse back: %v\n%s", b, err, y)
		}
		if back.Hash() != c.Hash() || back.YAML() != y {
			t.Fatalf("ParseConfig(%q): round trip changed the config (hash %s -> %s):\n%s\n---\n%s", b, c.Hash(), back.Hash(), y, back.YAML())
		}
	})
}
