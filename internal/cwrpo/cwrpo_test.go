package cwrpo

import (
	"math"
	"testing"
)

func TestAdvantagesAgainstHandComputedValues(t *testing.T) {
	tests := []struct {
		name    string
		rewards []float64
		want    []float64
		zero    bool
	}{
		// mean 0, population std 1 -> A = R.
		{"unit spread", []float64{-1, 1}, []float64{-1, 1}, false},
		// mean 0.5, std 0.5.
		{"binary", []float64{1, 0, 1, 0}, []float64{1, -1, 1, -1}, false},
		// mean -0.6, std sqrt(((0.4)^2+(0.2)^2*... computed below.
		{"three", []float64{-1, -0.6, -0.2}, []float64{-1.224744871391589, 0, 1.224744871391589}, false},
		{"all equal gives no gradient", []float64{0.3, 0.3, 0.3}, []float64{0, 0, 0}, true},
		// std 0.001 < MinStd: divided by 0.01.
		{"tiny spread uses the floor", []float64{0.001, -0.001}, []float64{0.1, -0.1}, false},
		{"empty", nil, []float64{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, zero := Advantages(tt.rewards)
			if zero != tt.zero || len(got) != len(tt.want) {
				t.Fatalf("got %v zero=%v, want %v zero=%v", got, zero, tt.want, tt.zero)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-9 {
					t.Fatalf("A[%d] = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLossAgainstHandComputedValues(t *testing.T) {
	p := Default()
	// One episode, two masked tokens and one unmasked, A = 1.
	// token 1: new=-1, old=-1 (r=1), ref=-1.1 -> x=-0.1, k3=e^-0.1+0.1-1=0.00483742
	// token 2: new=-0.5, old=-1 (r=e^0.5=1.6487 > 1.2 clipped, A>0) -> surr=1.2, ref=-0.5 -> k3=0
	eps := []Episode{{Advantage: 1, Tokens: []Token{
		{New: -1, Old: -1, Ref: -1.1, Entropy: 0.7, Mask: true},
		{New: -0.5, Old: -1, Ref: -0.5, Entropy: 0.3, Mask: true},
		{New: -9, Old: -1, Ref: 0, Entropy: 5, Mask: false},
	}}}
	res, g := Loss(eps, p)
	k3 := math.Exp(-0.1) + 0.1 - 1
	wantPolicy := -(1 + 1.2) / 2
	wantLoss := wantPolicy + (0.005*k3-0.005*0.7)/2 + (0-0.005*0.3)/2
	if math.Abs(res.PolicyLoss-wantPolicy) > 1e-12 || math.Abs(res.Loss-wantLoss) > 1e-12 {
		t.Fatalf("policy %v loss %v, want %v %v", res.PolicyLoss, res.Loss, wantPolicy, wantLoss)
	}
	if res.Tokens != 2 || res.Episodes != 1 || res.ClipFraction != 0.5 || math.Abs(res.KL-k3/2) > 1e-12 || math.Abs(res.Entropy-0.5) > 1e-12 {
		t.Fatalf("stats %+v", res)
	}
	// Gradients: token 1 unclipped: -A*r/2 + KL*(1-e^x)/2; token 2 clipped: KL part only (x=0 -> 0).
	want1 := -0.5 + 0.005*(1-math.Exp(-0.1))/2
	if math.Abs(g[0][0].New-want1) > 1e-12 || g[0][1].New != 0 || g[0][2] != (Grad{}) {
		t.Fatalf("grads %+v, want token1 %v", g[0], want1)
	}
	if g[0][0].Entropy != -0.005/2 {
		t.Fatalf("entropy grad %v", g[0][0].Entropy)
	}
}

func TestLossGradientMatchesFiniteDifferences(t *testing.T) {
	eps := []Episode{
		{Advantage: 0.8, Tokens: []Token{{New: -0.7, Old: -0.8, Ref: -0.6, Entropy: 1.1, Mask: true}, {New: -1.3, Old: -1.2, Ref: -1.0, Entropy: 0.4, Mask: true}}},
		{Advantage: -1.2, Tokens: []Token{{New: -2.0, Old: -1.95, Ref: -2.2, Entropy: 0.9, Mask: true}}},
	}
	for _, p := range []Params{Default(), {Kind: Reinforce, Clip: 0.2}} {
		_, g := Loss(eps, p)
		const h = 1e-6
		for i := range eps {
			for j := range eps[i].Tokens {
				orig := eps[i].Tokens[j].New
				eps[i].Tokens[j].New = orig + h
				up, _ := Loss(eps, p)
				eps[i].Tokens[j].New = orig - h
				down, _ := Loss(eps, p)
				eps[i].Tokens[j].New = orig
				fd := (up.Loss - down.Loss) / (2 * h)
				if p.Kind == Reinforce {
					fd = (up.PolicyLoss - down.PolicyLoss) / (2 * h)
				}
				if math.Abs(fd-g[i][j].New) > 1e-6 {
					t.Fatalf("%s: d/dnew[%d][%d] = %v, finite difference %v", p.Kind, i, j, g[i][j].New, fd)
				}
			}
		}
	}
}

func TestMaskedTokensNeverEnterTheLoss(t *testing.T) {
	base := []Episode{{Advantage: 1, Tokens: []Token{{New: -1, Old: -1, Ref: -1, Mask: true}}}}
	with := []Episode{{Advantage: 1, Tokens: []Token{{New: -1, Old: -1, Ref: -1, Mask: true}, {New: -50, Old: -0.1, Ref: 3, Entropy: 9, Mask: false}}}}
	a, _ := Loss(base, Default())
	b, _ := Loss(with, Default())
	if a != b {
		t.Fatalf("masked token changed the loss: %+v vs %+v", a, b)
	}
}

func TestEpisodesAreWeightedEquallyWhateverTheirLength(t *testing.T) {
	short := Episode{Advantage: 1, Tokens: []Token{{New: -1, Old: -1, Ref: -1, Mask: true}}}
	long := Episode{Advantage: -1, Tokens: make([]Token, 10)}
	for i := range long.Tokens {
		long.Tokens[i] = Token{New: -1, Old: -1, Ref: -1, Mask: true}
	}
	res, _ := Loss([]Episode{short, long}, Default())
	// token-mean per episode: -1 and +1 -> batch mean 0.
	if math.Abs(res.PolicyLoss) > 1e-12 {
		t.Fatalf("policy loss %v, want 0", res.PolicyLoss)
	}
}

func TestReinforceIsMinusAdvantageTimesMeanLogProb(t *testing.T) {
	eps := []Episode{{Advantage: 2, Tokens: []Token{{New: -1, Mask: true}, {New: -3, Mask: true}}}}
	res, _ := Loss(eps, Params{Kind: Reinforce, Clip: 0.2})
	if math.Abs(res.Loss-4) > 1e-12 || res.KL != 0 {
		t.Fatalf("reinforce loss %v (kl %v), want 4", res.Loss, res.KL)
	}
}

func TestParamsValidate(t *testing.T) {
	for _, p := range []Params{{Kind: "ppo", Clip: 0.2}, {Kind: CWRPO, Clip: 0}, {Kind: CWRPO, Clip: 0.2, KL: -1}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestTokenAdvantagesReplaceTheEpisodesAdvantageTokenByToken(t *testing.T) {
	toks := []Token{{New: -1, Old: -1, Ref: -1, Mask: true}, {New: -2, Old: -2, Ref: -2, Mask: true}}
	per := []Episode{{Advantage: 5, Tokens: toks, TokenAdvantages: []float64{1, -3}}}
	res, g := Loss(per, Default())
	// ratio 1 everywhere: policy loss = -(1 + -3)/2 = 1; dL/dNew_j = -A_j/2.
	if math.Abs(res.PolicyLoss-1) > 1e-12 {
		t.Fatalf("policy loss %v, want 1", res.PolicyLoss)
	}
	if math.Abs(g[0][0].New+0.5) > 1e-12 || math.Abs(g[0][1].New-1.5) > 1e-12 {
		t.Fatalf("gradients %+v, want New -0.5 and +1.5", g[0])
	}
	same := []Episode{{Advantage: 2, Tokens: toks, TokenAdvantages: []float64{2, 2}}}
	plain := []Episode{{Advantage: 2, Tokens: toks}}
	a, _ := Loss(same, Default())
	b, _ := Loss(plain, Default())
	if a != b {
		t.Fatalf("equal token advantages %+v differ from the episode advantage %+v", a, b)
	}
}

func TestGroupStatsAreAdvantagesBaselineAndScale(t *testing.T) {
	rw := []float64{1, 0, 0.5, -1}
	adv, _ := Advantages(rw)
	mean, den, zero := GroupStats(rw)
	if zero {
		t.Fatal("a group with spread reported zero variance")
	}
	for i, r := range rw {
		if math.Abs((r-mean)/den-adv[i]) > 1e-12 {
			t.Fatalf("(R-mean)/den = %v, Advantages %v", (r-mean)/den, adv[i])
		}
	}
	if _, _, zero := GroupStats([]float64{0.3, 0.3}); !zero {
		t.Fatal("equal rewards not reported as zero variance")
	}
}
