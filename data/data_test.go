package data

import (
	"bytes"
	"os"
	"testing"

	"github.com/flowsteer/flowsteer/internal/task"
)

// The committed suite must be exactly what the documented command writes.
func TestSuiteMatchesTheGenerator(t *testing.T) {
	all := task.Generate(240+90, 1)
	for _, c := range []struct {
		name  string
		got   []byte
		tasks []task.Task
	}{{"train", Train, all[:240]}, {"eval", Eval, all[240:]}} {
		var want bytes.Buffer
		if err := task.WriteJSONL(&want, c.tasks); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), c.got) {
			t.Fatalf("data/suite/%s.jsonl differs from the generator: regenerate it with the command in data.go", c.name)
		}
	}
}

// data/suite-easy (not embedded: configs/llm-cpu.yaml reads it by path) is
// `flowsteer tasks generate --out data/suite-easy --n 240 --eval-n 90
// --seed 1 --level easy`.
func TestEasySuiteMatchesTheGenerator(t *testing.T) {
	all := task.GenerateLevel(240+90, 1, task.Easy)
	for _, c := range []struct {
		name  string
		tasks []task.Task
	}{{"train", all[:240]}, {"eval", all[240:]}} {
		got, err := os.ReadFile("suite-easy/" + c.name + ".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := task.WriteJSONL(&want, c.tasks); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.Bytes(), got) {
			t.Fatalf("data/suite-easy/%s.jsonl differs from the generator: regenerate it with the command above", c.name)
		}
	}
}
