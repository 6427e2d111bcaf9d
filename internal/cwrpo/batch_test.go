package cwrpo

import (
	"encoding/json"
	"os"
	"testing"
)

// TestVectorsFromEnv computes this implementation's loss, stats and
// per-token gradients for batches another implementation supplies: it reads
// a vectors file (the format of testdata/cwrpo/vectors.json, results
// ignored) from $FLOWSTEER_CWRPO_IN and writes it back, results filled in, to
// $FLOWSTEER_CWRPO_OUT. clients/python/tests/test_llm_policy.py uses it to
// check the loss of a real batch of SmolLM2 tokens against Go. Skipped when
// the variables are unset.
func TestVectorsFromEnv(t *testing.T) {
	in, out := os.Getenv("FLOWSTEER_CWRPO_IN"), os.Getenv("FLOWSTEER_CWRPO_OUT")
	if in == "" || out == "" {
		t.Skip("FLOWSTEER_CWRPO_IN and FLOWSTEER_CWRPO_OUT are not set")
	}
	b, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", in, err)
	}
	for i := range f.Vectors {
		if err := Params(f.Vectors[i].Params).Validate(); err != nil {
			t.Fatalf("%s: vector %d: %v", in, i, err)
		}
		f.Vectors[i].compute()
	}
	b, err = json.MarshalIndent(f, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
