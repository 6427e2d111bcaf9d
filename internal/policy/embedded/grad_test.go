package embedded

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// gradBatch is a small batch that exercises every path of the loss: all
// heads, several masks, positive and negative advantages, ratios inside
// and outside the clip range, a masked-out choice, a prompt-writing
// decision without choices, and one episode with trainer-sent reference
// log-probs.
func gradBatch(t *testing.T, p *Policy, r *rand.Rand) *pb.UpdateRequest {
	obs := observations()
	awaiting := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
	awaiting.State = pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT
	awaiting.Awaiting = &pb.AwaitingPrompt{NodeId: "node_1", Operator: "Programmer"}
	req := &pb.UpdateRequest{}
	advs := []float64{1.3, -0.7, 0.4, -1.5, 0.9, -0.2}
	heads := map[Head]bool{}
	for e, a := range advs {
		es := &pb.EpisodeSamples{EpisodeId: fmt.Sprintf("ep-%d", e), Advantage: a}
		for k := range 5 {
			o := obs[(e+3*k)%len(obs)]
			// Odd episodes are drawn cold, so the tempered recomputation
			// and its gradient are checked too.
			d := act(t, p, o, policy.Sampling{Seed: seed(int64(100*e + k)), Temperature: []float64{1, 0.6}[e%2]})
			dec, err := decodeState(d.State, p.arch.in)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range dec.choices {
				heads[c.head] = true
			}
			for j := range d.Logprobs {
				d.Logprobs[j] = min(0, d.Logprobs[j]+0.4*(2*r.Float64()-1)) // an older policy: ratios spread around 1
			}
			es.Decisions = append(es.Decisions, d)
		}
		es.Decisions = append(es.Decisions, act(t, p, awaiting, policy.Sampling{}))
		switch e {
		case 2:
			es.Decisions[0].Mask[0] = 0
		case 4:
			for _, d := range es.Decisions {
				for range d.TokenIds {
					es.RefLogprobs = append(es.RefLogprobs, -0.2-2*r.Float64())
				}
			}
		}
		req.Episodes = append(req.Episodes, es)
	}
	// Force the rarer heads in, so every layer is checked whatever was sampled.
	for k := range numHeads {
		if heads[k] {
			continue
		}
		x := make([]float64, p.arch.in)
		features(obs[1], p.cfg.TextBuckets, x)
		for i, v := range x {
			x[i] = float64(float32(v))
		}
		cs := []choice{{head: k, legal: allOf(headSizes[k]), chosen: headSizes[k] - 1}}
		ep := req.Episodes[int(k)%len(req.Episodes)]
		ep.Decisions = append(ep.Decisions, &pb.Decision{TokenIds: []int32{int32(headSizes[k] - 1)},
			Logprobs: []float64{-1.1}, Mask: []int32{1}, State: encodeState(1, x, cs)})
		if ep.RefLogprobs != nil {
			ep.RefLogprobs = append(ep.RefLogprobs, -0.9)
		}
	}
	return req
}

func TestGradientMatchesFiniteDifferences(t *testing.T) {
	for _, kind := range []cwrpo.Kind{cwrpo.CWRPO, cwrpo.Reinforce} {
		t.Run(string(kind), func(t *testing.T) {
			p := newTestPolicy(t, Config{Hidden: 8, TextBuckets: 8, Seed: 7})
			r := rand.New(rand.NewPCG(3, 4))
			// Move away from the near-uniform init so every layer carries
			// a sizeable gradient, and away from the reference so KL is live.
			for i := range p.params {
				p.params[i] += 0.4 * r.NormFloat64()
			}
			for i := range p.ref {
				p.ref[i] = p.params[i] + 0.2*r.NormFloat64()
			}
			eps, err := p.prepare(gradBatch(t, p, r))
			if err != nil {
				t.Fatal(err)
			}
			lp := cwrpo.Default()
			lp.Kind = kind
			grad := make([]float64, p.arch.size)
			res := p.lossGrad(p.params, p.ref, eps, lp, grad)
			if kind == cwrpo.CWRPO && (res.ClipFraction == 0 || res.ClipFraction == 1) {
				t.Fatalf("clip fraction %v: the batch should hold clipped and unclipped ratios", res.ClipFraction)
			}
			scratch := make([]float64, p.arch.size)
			loss := func() float64 { return p.lossGrad(p.params, p.ref, eps, lp, scratch).Loss }

			const h = 1e-5
			worst, nonzero := 0.0, map[string]int{}
			for i := range p.params {
				orig := p.params[i]
				p.params[i] = orig + h
				up := loss()
				p.params[i] = orig - h
				down := loss()
				p.params[i] = orig
				fd := (up - down) / (2 * h)
				g := grad[i]
				scale := math.Max(math.Abs(g), math.Abs(fd))
				// Relative error 1e-4, with an absolute floor of 1e-9 for
				// gradients that are zero up to finite-difference noise.
				if math.Abs(g-fd) > 1e-4*scale+1e-9 {
					t.Errorf("param %d (%s): analytic %.10g, finite difference %.10g", i, p.arch.layerOf(i), g, fd)
				}
				if scale > 1e-6 {
					worst = math.Max(worst, math.Abs(g-fd)/scale)
					nonzero[p.arch.layerOf(i)]++
				}
			}
			for _, layer := range p.arch.layers() {
				if nonzero[layer] == 0 {
					t.Errorf("layer %s got no gradient: the batch does not exercise it", layer)
				}
			}
			t.Logf("%d parameters checked, worst relative error %.2e, clip fraction %.2f", p.arch.size, worst, res.ClipFraction)
		})
	}
}
