package data

import (
	"bytes"
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
