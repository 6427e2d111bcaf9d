// Package cwrpo holds the optimisation maths of CWRPO (SPEC section 7):
// group-relative advantages and the masked, clipped policy loss with a k3
// KL penalty to a frozen reference and an entropy bonus, or the released
// code's REINFORCE loss. It works on log-probabilities alone, so any
// policy (the embedded Go network, a language model in Python) can use it:
// the policy supplies per-token log-probs and entropies, gets the loss and
// its gradient with respect to each of them, and back-propagates.
//
// Data path: rewards -> Advantages -> Loss -> policy update.
package cwrpo

import (
	"fmt"
	"math"
)

// Kind selects the loss.
type Kind string

const (
	CWRPO     Kind = "cwrpo"
	Reinforce Kind = "reinforce"
)

// Params of the loss; Default gives SPEC section 7's.
type Params struct {
	Kind    Kind    `yaml:"kind"`
	Clip    float64 `yaml:"clip"`
	KL      float64 `yaml:"kl"`
	Entropy float64 `yaml:"entropy"`
}

// Default returns clip 0.2, KL 0.005 (k3), entropy 0.005.
func Default() Params { return Params{Kind: CWRPO, Clip: 0.2, KL: 0.005, Entropy: 0.005} }

// Validate names the bad field.
func (p Params) Validate() error {
	switch p.Kind {
	case CWRPO, Reinforce:
	default:
		return fmt.Errorf("loss must be cwrpo or reinforce, got %q", p.Kind)
	}
	// Written so that NaN fails too.
	if !(p.Clip > 0 && p.Clip < 1) {
		return fmt.Errorf("clip must be in (0, 1), got %v", p.Clip)
	}
	if !(p.KL >= 0) || !(p.Entropy >= 0) || math.IsInf(p.KL, 0) || math.IsInf(p.Entropy, 0) {
		return fmt.Errorf("kl and entropy coefficients must be finite numbers >= 0, got %v and %v", p.KL, p.Entropy)
	}
	return nil
}

// MinStd is the floor of the group's standard deviation in the advantage.
const MinStd = 0.01

// Advantages returns A_i = (R_i - mean(R)) / max(std(R), MinStd) with the
// population standard deviation. A group whose rewards are all equal gets
// zero advantages (and so no gradient); zeroVariance reports it.
func Advantages(rewards []float64) (adv []float64, zeroVariance bool) {
	adv = make([]float64, len(rewards))
	mean, den, zero := GroupStats(rewards)
	if zero {
		return adv, true
	}
	for i, r := range rewards {
		adv[i] = (r - mean) / den
	}
	return adv, false
}

// GroupStats returns the baseline and scale of Advantages: the group's mean
// reward and max(std, MinStd); zeroVariance when every reward is equal (or
// there are none), in which case den is 0.
func GroupStats(rewards []float64) (mean, den float64, zeroVariance bool) {
	n := float64(len(rewards))
	if n == 0 {
		return 0, 0, true
	}
	for _, r := range rewards {
		mean += r
	}
	mean /= n
	var ss float64
	for _, r := range rewards {
		ss += (r - mean) * (r - mean)
	}
	std := math.Sqrt(ss / n)
	if std < 1e-12 {
		return mean, 0, true
	}
	return mean, math.Max(std, MinStd), false
}

// Token is one policy-generated token (or categorical choice).
type Token struct {
	New     float64 // log-prob under the policy being updated
	Old     float64 // log-prob under the policy that sampled it
	Ref     float64 // log-prob under the frozen reference policy
	Entropy float64 // entropy of the distribution it was drawn from (0 if unknown)
	Mask    bool    // true when it enters the loss
}

// Episode is one episode's tokens and advantage.
type Episode struct {
	Tokens    []Token
	Advantage float64
	// TokenAdvantages, when not nil, replace Advantage token by token and
	// must hold one value per token: per-decision credit, where each
	// decision of an episode gets its own advantage (the embedded policy's
	// value-baselined credit).
	TokenAdvantages []float64
}

// Grad is the loss gradient with respect to one token's New and Entropy.
type Grad struct {
	New     float64
	Entropy float64
}

// Result summarises a loss evaluation. KL and Entropy are token means over
// masked tokens of the batch; ClipFraction the share of masked tokens
// whose ratio was clipped.
type Result struct {
	Loss         float64
	PolicyLoss   float64
	KL           float64
	Entropy      float64
	ClipFraction float64
	Tokens       int
	Episodes     int
}

// Loss evaluates the loss over a batch: token-mean within each episode,
// then mean over the episodes that have masked tokens. It returns the
// gradient for every token (zero for masked-out ones).
func Loss(eps []Episode, p Params) (Result, [][]Grad) {
	grads := make([][]Grad, len(eps))
	var res Result
	var klSum, entSum float64
	clipped := 0
	counted := 0
	for _, e := range eps {
		for _, t := range e.Tokens {
			if t.Mask {
				counted = 1
				break
			}
		}
		if counted == 1 {
			res.Episodes++
			counted = 0
		}
	}
	if res.Episodes == 0 {
		for i, e := range eps {
			grads[i] = make([]Grad, len(e.Tokens))
		}
		return res, grads
	}
	batch := float64(res.Episodes)
	for i, e := range eps {
		grads[i] = make([]Grad, len(e.Tokens))
		n := 0
		for _, t := range e.Tokens {
			if t.Mask {
				n++
			}
		}
		if n == 0 {
			continue
		}
		w := 1 / (float64(n) * batch)
		perToken := e.TokenAdvantages != nil
		for j, t := range e.Tokens {
			if !t.Mask {
				continue
			}
			A := e.Advantage
			if perToken {
				A = e.TokenAdvantages[j]
			}
			res.Tokens++
			if p.Kind == Reinforce {
				res.PolicyLoss += -A * t.New * w
				grads[i][j].New = -A * w
				continue
			}
			r := math.Exp(t.New - t.Old)
			lo, hi := 1-p.Clip, 1+p.Clip
			unclipped := r * A
			rc := math.Min(math.Max(r, lo), hi)
			surr := math.Min(unclipped, rc*A)
			// The clipped branch is active (and passes no gradient) when the
			// ratio left the trust region in the direction the advantage favours.
			isClipped := (A >= 0 && r > hi) || (A < 0 && r < lo)
			if r < lo || r > hi {
				clipped++
			}
			x := t.Ref - t.New
			k3 := math.Exp(x) - x - 1
			res.PolicyLoss += -surr * w
			res.Loss += (p.KL*k3 - p.Entropy*t.Entropy) * w
			klSum += k3
			entSum += t.Entropy
			g := Grad{Entropy: -p.Entropy * w}
			if !isClipped {
				g.New = -A * r * w
			}
			g.New += p.KL * (1 - math.Exp(x)) * w
			grads[i][j] = g
		}
	}
	res.Loss += res.PolicyLoss
	if res.Tokens > 0 {
		res.KL = klSum / float64(res.Tokens)
		res.Entropy = entSum / float64(res.Tokens)
		res.ClipFraction = float64(clipped) / float64(res.Tokens)
	}
	return res, grads
}
