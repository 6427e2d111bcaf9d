package cwrpo

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The shared test vectors of the loss: inputs and this implementation's
// outputs (loss, stats and per-token gradients). Other implementations
// (the Python client's PyTorch loss, clients/python/tests) check
// themselves against the file; this test fails when the file and this
// implementation disagree. Regenerate with
//
//	go test ./internal/cwrpo -run TestVectorsFile -update-vectors
var updateVectors = flag.Bool("update-vectors", false, "rewrite testdata/cwrpo/vectors.json from this implementation")

const vectorsPath = "../../testdata/cwrpo/vectors.json"

type vecToken struct {
	New     float64 `json:"new"`
	Old     float64 `json:"old"`
	Ref     float64 `json:"ref"`
	Entropy float64 `json:"entropy"`
	Mask    bool    `json:"mask"`
}

type vecEpisode struct {
	Advantage float64    `json:"advantage"`
	Tokens    []vecToken `json:"tokens"`
}

type vecResult struct {
	Loss         float64 `json:"loss"`
	PolicyLoss   float64 `json:"policy_loss"`
	KL           float64 `json:"kl"`
	Entropy      float64 `json:"entropy"`
	ClipFraction float64 `json:"clip_fraction"`
	Tokens       int     `json:"tokens"`
	Episodes     int     `json:"episodes"`
}

type vecGrad struct {
	New     float64 `json:"new"`
	Entropy float64 `json:"entropy"`
}

type vecParams struct {
	Kind    Kind    `json:"kind"`
	Clip    float64 `json:"clip"`
	KL      float64 `json:"kl_coef"`
	Entropy float64 `json:"entropy_coef"`
}

type vector struct {
	Name     string       `json:"name"`
	Params   vecParams    `json:"params"`
	Episodes []vecEpisode `json:"episodes"`
	Result   vecResult    `json:"result"`
	// Grads are d loss / d New and d loss / d Entropy per token.
	Grads [][]vecGrad `json:"grads"`
}

type vectorFile struct {
	About   string   `json:"about"`
	Vectors []vector `json:"vectors"`
}

func (v *vector) compute() {
	eps := make([]Episode, len(v.Episodes))
	for i, e := range v.Episodes {
		eps[i].Advantage = e.Advantage
		for _, t := range e.Tokens {
			eps[i].Tokens = append(eps[i].Tokens, Token(t))
		}
	}
	res, g := Loss(eps, Params(v.Params))
	v.Result = vecResult{res.Loss, res.PolicyLoss, res.KL, res.Entropy, res.ClipFraction, res.Tokens, res.Episodes}
	v.Grads = make([][]vecGrad, len(g))
	for i := range g {
		v.Grads[i] = make([]vecGrad, len(g[i]))
		for j, x := range g[i] {
			v.Grads[i][j] = vecGrad(x)
		}
	}
}

// round6 keeps the inputs short; the rounded value is what both sides use.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func randomVector(name string, seed uint64, p Params) vector {
	r := rand.New(rand.NewPCG(seed, 7))
	v := vector{Name: name, Params: vecParams(p)}
	n := 1 + r.IntN(5)
	for range n {
		e := vecEpisode{Advantage: round6(4*r.Float64() - 2)}
		if r.IntN(6) == 0 {
			e.Advantage = 0
		}
		m := 1 + r.IntN(12)
		for range m {
			old := round6(-3 * r.Float64())
			nw := round6(math.Min(old+0.8*r.Float64()-0.4, 0))
			if r.IntN(5) == 0 {
				nw = old // ratio exactly 1
			}
			t := vecToken{
				New:     nw,
				Old:     old,
				Ref:     round6(math.Min(nw+0.6*r.Float64()-0.3, 0)),
				Entropy: round6(2.5 * r.Float64()),
				Mask:    r.IntN(5) != 0,
			}
			e.Tokens = append(e.Tokens, t)
		}
		v.Episodes = append(v.Episodes, e)
	}
	return v
}

func buildVectors() vectorFile {
	f := vectorFile{About: "CWRPO loss test vectors (SPEC section 7), generated and checked by internal/cwrpo/vectors_test.go " +
		"from the Go implementation; clients/python/tests/test_cwrpo_parity.py checks the PyTorch loss against them"}
	def := Default()
	rf := Default()
	rf.Kind = Reinforce
	tight := Params{Kind: CWRPO, Clip: 0.1, KL: 0.02, Entropy: 0}
	noKL := Params{Kind: CWRPO, Clip: 0.3, KL: 0, Entropy: 0.01}
	f.Vectors = append(f.Vectors, vector{Name: "hand: clipped positive advantage", Params: vecParams(def), Episodes: []vecEpisode{{Advantage: 1, Tokens: []vecToken{
		{New: -1, Old: -1, Ref: -1.1, Entropy: 0.7, Mask: true},
		{New: -0.5, Old: -1, Ref: -0.5, Entropy: 0.3, Mask: true},
		{New: -9, Old: -1, Ref: 0, Entropy: 5, Mask: false},
	}}}})
	f.Vectors = append(f.Vectors, vector{Name: "hand: negative advantage below the trust region, one empty episode", Params: vecParams(def), Episodes: []vecEpisode{
		{Advantage: -1.5, Tokens: []vecToken{
			{New: -2, Old: -1, Ref: -1.5, Entropy: 1.1, Mask: true},
			{New: -0.2, Old: -0.25, Ref: -0.3, Entropy: 0.4, Mask: true},
		}},
		{Advantage: 0.7, Tokens: []vecToken{{New: -1, Old: -1, Ref: -1, Entropy: 1, Mask: false}}},
		{Advantage: 0.5},
	}})
	f.Vectors = append(f.Vectors, vector{Name: "hand: nothing masked in", Params: vecParams(def), Episodes: []vecEpisode{
		{Advantage: 1, Tokens: []vecToken{{New: -1, Old: -2, Ref: -1, Entropy: 1, Mask: false}}},
	}})
	kinds := []struct {
		name string
		p    Params
	}{{"cwrpo default", def}, {"reinforce", rf}, {"cwrpo clip 0.1 kl 0.02 no entropy", tight}, {"cwrpo clip 0.3 no kl", noKL}}
	for i := range 16 {
		k := kinds[i%len(kinds)]
		if i >= 12 {
			k = kinds[i%2] // extra cwrpo and reinforce batches
		}
		f.Vectors = append(f.Vectors, randomVector("random "+k.name, uint64(1000+i), k.p))
	}
	for i := range f.Vectors {
		f.Vectors[i].compute()
	}
	return f
}

func TestVectorsFile(t *testing.T) {
	want, err := json.MarshalIndent(buildVectors(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *updateVectors {
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", vectorsPath)
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/cwrpo -run TestVectorsFile -update-vectors)", err)
	}
	// Whatever the file says, its outputs must be this implementation's
	// outputs on its inputs.
	var f vectorFile
	if err := json.Unmarshal(got, &f); err != nil {
		t.Fatalf("%s: %v", vectorsPath, err)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("%s holds no vectors", vectorsPath)
	}
	for _, v := range f.Vectors {
		stored := v
		v.compute()
		if !sameResult(stored.Result, v.Result) {
			t.Errorf("%s: %q: stored result %+v, the implementation gives %+v", vectorsPath, v.Name, stored.Result, v.Result)
		}
		for i := range v.Grads {
			for j := range v.Grads[i] {
				a, b := stored.Grads[i][j], v.Grads[i][j]
				if math.Abs(a.New-b.New) > 1e-12 || math.Abs(a.Entropy-b.Entropy) > 1e-12 {
					t.Errorf("%q: grad[%d][%d] stored %+v, computed %+v", v.Name, i, j, a, b)
				}
			}
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: regenerate it with: go test ./internal/cwrpo -run TestVectorsFile -update-vectors", vectorsPath)
	}
}

func sameResult(a, b vecResult) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) <= 1e-12 }
	return eq(a.Loss, b.Loss) && eq(a.PolicyLoss, b.PolicyLoss) && eq(a.KL, b.KL) && eq(a.Entropy, b.Entropy) &&
		eq(a.ClipFraction, b.ClipFraction) && a.Tokens == b.Tokens && a.Episodes == b.Episodes
}
