package embedded

// Per-decision credit (Config.Credit = "value").
//
// With the default credit every decision of an episode shares the
// episode's group-relative advantage (R - mean_g R) / std_g, so the ~10
// decisions of an episode are all pushed the same way although the first
// few decide most of what the workflow scores. With value credit a small
// critic V(s), trained in Update to predict the episode's reward from each
// decision's features, gives each decision its own advantage by
// generalised advantage estimation (GAE, Schulman et al. 2016) with gamma
// 1 and the reward at the end:
//
//	~V_0 = mean_g R                     the group's baseline, as GRPO's
//	~V_t = V(s_t) - V(s_0) + mean_g R   t >= 1: what the critic expects the
//	                                    decisions so far to have changed
//	~V_T = R                            the episode's reward
//	delta_t = ~V_{t+1} - ~V_t
//	A_t = sum_k lambda^k delta_{t+k} / max(std_g R, MinStd)
//
// Anchoring the critic at the group's mean keeps GRPO's baseline for the
// opening decision (with lambda 1, A_0 is exactly the group-relative
// advantage, and every A_t is R minus a baseline that depends only on the
// state, so the gradient stays unbiased); later decisions are credited
// with what happened after them rather than with the whole episode.
// Lambda below 1 trades that unbiasedness for lower variance, as in PPO.
//
// The advantages of a batch are computed once, with the critic as it was
// before the batch, and reused by the trainer's further update passes
// over the same batch (Update is called once per pass); the critic then
// takes criticSteps Adam steps on the batch's squared error per pass.

import (
	"hash/fnv"
	"math"
	"math/rand/v2"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
)

// Credit kinds.
const (
	CreditEpisode = "episode" // every decision shares the episode's advantage (the default)
	CreditValue   = "value"   // per decision, by GAE against a learned critic
)

// criticSteps is the number of Adam steps the critic takes per Update.
const criticSteps = 4

// critic is the value network: features -> Dense(hidden) -> tanh -> 1,
// one flat parameter vector laid out W [hidden x in], b [hidden],
// w2 [hidden], b2.
type critic struct {
	in, hidden int
	params     []float64
	m, v       []float64
	t          int64
}

func criticSize(in, hidden int) int { return hidden*in + 2*hidden + 1 }

// newCritic draws Glorot-uniform trunk weights and a zero output layer, so
// the untrained critic predicts 0 everywhere.
func newCritic(in, hidden int, seed uint64) *critic {
	c := &critic{in: in, hidden: hidden}
	n := criticSize(in, hidden)
	c.params, c.m, c.v = make([]float64, n), make([]float64, n), make([]float64, n)
	r := rand.New(rand.NewPCG(seed, 0xc417_1c00_0000_0003))
	lim := math.Sqrt(6 / float64(in+hidden))
	for i := range hidden * in {
		c.params[i] = (2*r.Float64() - 1) * lim
	}
	return c
}

// value is V(x), with the hidden activations written into h.
func (c *critic) value(x []float64, nz []int, h []float64) float64 {
	b, w2 := c.hidden*c.in, c.hidden*c.in+c.hidden
	out := c.params[w2+c.hidden]
	for j := range c.hidden {
		row := c.params[j*c.in : (j+1)*c.in]
		s := c.params[b+j]
		for _, i := range nz {
			s += row[i] * x[i]
		}
		h[j] = math.Tanh(s)
		out += c.params[w2+j] * h[j]
	}
	return out
}

// criticSample is one decision's features and the reward it led to.
type criticSample struct {
	x      []float64
	nz     []int
	target float64
}

// fit takes one Adam step (gradient norm clipped at 1) on the mean squared
// error of the samples and returns that error before the step.
func (c *critic) fit(samples []criticSample, lr, beta1, beta2, eps float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	b, w2 := c.hidden*c.in, c.hidden*c.in+c.hidden
	grad := make([]float64, len(c.params))
	h := make([]float64, c.hidden)
	var mse float64
	inv := 1 / float64(len(samples))
	for _, s := range samples {
		e := c.value(s.x, s.nz, h) - s.target
		mse += e * e * inv
		d := 2 * e * inv
		grad[w2+c.hidden] += d
		for j, hv := range h {
			grad[w2+j] += d * hv
			da := d * c.params[w2+j] * (1 - hv*hv)
			if da == 0 {
				continue
			}
			grad[b+j] += da
			row := grad[j*c.in : (j+1)*c.in]
			for _, i := range s.nz {
				row[i] += da * s.x[i]
			}
		}
	}
	var ss float64
	for _, g := range grad {
		ss += g * g
	}
	scale := 1.0
	if n := math.Sqrt(ss); n > 1 {
		scale = 1 / n
	}
	c.t++
	adam(c.params, c.m, c.v, grad, c.t, scale, lr, beta1, beta2, eps)
	return mse
}

// batchKey fingerprints an update's batch (its step and episode ids), so
// the trainer's further passes over one batch reuse its advantages.
func batchKey(req *pb.UpdateRequest) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for i := range 8 {
		b[i] = byte(uint64(req.GetStep()) >> (8 * i))
	}
	h.Write(b[:])
	for _, e := range req.GetEpisodes() {
		h.Write([]byte(e.GetEpisodeId()))
		h.Write([]byte{0})
		h.Write([]byte(e.GetGroupId()))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// decisionAdvantages fills each episode's per-decision advantages (decAdv)
// by GAE against the critic, as the comment at the top of this file says.
// Episodes are grouped by group_id with their rewards; an episode alone in
// its group, or in a group whose rewards are all equal, keeps its
// episode advantage for every decision (there is no group baseline to
// anchor the critic to).
func (p *Policy) decisionAdvantages(req *pb.UpdateRequest, eps []episodeData) {
	groups := map[string][]float64{}
	for i, e := range req.GetEpisodes() {
		if len(eps[i].decs) > 0 {
			groups[e.GetGroupId()] = append(groups[e.GetGroupId()], e.GetReward())
		}
	}
	lambda := p.cfg.GAELambda
	h := make([]float64, p.critic.hidden)
	for i, e := range req.GetEpisodes() {
		ed := &eps[i]
		ed.decAdv = make([]float64, len(ed.decs))
		rw := groups[e.GetGroupId()]
		mean, den, zero := cwrpo.GroupStats(rw)
		if len(rw) < 2 || zero || len(ed.decs) == 0 {
			for t := range ed.decAdv {
				ed.decAdv[t] = ed.adv
			}
			continue
		}
		T := len(ed.decs)
		v := make([]float64, T+1) // the anchored values ~V_t
		v0 := 0.0
		for t, d := range ed.decs {
			vt := p.critic.value(d.x, d.nz, h)
			if t == 0 {
				v0 = vt
			}
			v[t] = vt - v0 + mean
		}
		v[T] = e.GetReward()
		acc := 0.0
		for t := T - 1; t >= 0; t-- {
			acc = (v[t+1] - v[t]) + lambda*acc
			ed.decAdv[t] = acc / den
		}
	}
}

// fitCritic trains the critic on the batch: every decision's features
// against its episode's reward.
func (p *Policy) fitCritic(req *pb.UpdateRequest, eps []episodeData) float64 {
	var samples []criticSample
	for i, e := range req.GetEpisodes() {
		for _, d := range eps[i].decs {
			samples = append(samples, criticSample{x: d.x, nz: d.nz, target: e.GetReward()})
		}
	}
	var mse float64
	for s := range criticSteps {
		m := p.critic.fit(samples, p.cfg.CriticLearningRate, p.cfg.Beta1, p.cfg.Beta2, p.cfg.Eps)
		if s == 0 {
			mse = m
		}
	}
	return mse
}

// tokenAdvantages spreads each decision's advantage over its choices.
func (e *episodeData) tokenAdvantages() []float64 {
	if e.decAdv == nil {
		return nil
	}
	out := make([]float64, 0, len(e.old))
	for t, d := range e.decs {
		for range d.choices {
			out = append(out, e.decAdv[t])
		}
	}
	return out
}

// sameShape reports whether cached per-decision advantages fit eps.
func sameShape(adv [][]float64, eps []episodeData) bool {
	if len(adv) != len(eps) {
		return false
	}
	for i, e := range eps {
		if len(adv[i]) != len(e.decs) {
			return false
		}
	}
	return true
}
