package embedded

import (
	"context"
	"fmt"
	"math"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
)

// episodeData is one episode of an update, decoded and checked.
type episodeData struct {
	adv      float64
	decAdv   []float64 // per decision, value credit only
	decs     []decoded
	old      []float64 // per choice, flattened in decision order
	ref      []float64 // per choice when the trainer sent them, else nil
	tokMask  []bool
	numToken int
}

// optimStep is what one Update uses besides the batch.
type optimStep struct {
	loss        cwrpo.Params
	lr          float64
	maxGradNorm float64
}

// optimFor overlays the request's loss config on SPEC section 7's defaults
// and this policy's optimiser settings.
func (p *Policy) optimFor(c *pb.LossConfig) (optimStep, error) {
	o := optimStep{loss: cwrpo.Default(), lr: p.cfg.LearningRate, maxGradNorm: p.cfg.MaxGradNorm}
	if c == nil {
		c = &pb.LossConfig{}
	}
	switch c.GetKind() {
	case pb.LossKind_LOSS_KIND_UNSPECIFIED, pb.LossKind_LOSS_KIND_CWRPO:
	case pb.LossKind_LOSS_KIND_REINFORCE:
		o.loss.Kind = cwrpo.Reinforce
	default:
		return o, fmt.Errorf("loss.kind: unknown value %d", c.GetKind())
	}
	if c.Clip != nil {
		o.loss.Clip = c.GetClip()
	}
	if c.KlCoef != nil {
		o.loss.KL = c.GetKlCoef()
	}
	if c.EntropyCoef != nil {
		o.loss.Entropy = c.GetEntropyCoef()
	}
	if err := o.loss.Validate(); err != nil {
		return o, fmt.Errorf("loss: %w", err)
	}
	if c.LearningRate != nil {
		if o.lr = c.GetLearningRate(); !(o.lr > 0) || math.IsInf(o.lr, 0) {
			return o, fmt.Errorf("loss.learning_rate must be > 0, got %v", o.lr)
		}
	}
	if c.MaxGradNorm != nil {
		if o.maxGradNorm = c.GetMaxGradNorm(); !(o.maxGradNorm > 0) || math.IsInf(o.maxGradNorm, 0) {
			return o, fmt.Errorf("loss.max_grad_norm must be > 0, got %v", o.maxGradNorm)
		}
	}
	return o, nil
}

// prepare decodes and checks the batch before any parameter is touched, so
// a malformed request changes nothing.
func (p *Policy) prepare(req *pb.UpdateRequest) ([]episodeData, error) {
	out := make([]episodeData, 0, len(req.GetEpisodes()))
	for ei, e := range req.GetEpisodes() {
		where := func(di int) string {
			return fmt.Sprintf("episode %d (%q) decision %d", ei, e.GetEpisodeId(), di)
		}
		if a := e.GetAdvantage(); math.IsNaN(a) || math.IsInf(a, 0) {
			return nil, fmt.Errorf("episode %d (%q): advantage %v", ei, e.GetEpisodeId(), a)
		}
		ed := episodeData{adv: e.GetAdvantage()}
		for di, d := range e.GetDecisions() {
			ids := d.GetTokenIds()
			ed.numToken += len(ids)
			if len(d.GetState()) == 0 {
				if len(ids) > 0 {
					return nil, fmt.Errorf("%s: %d choices but no state to recompute them from", where(di), len(ids))
				}
				continue // a prompt-writing turn: nothing to learn from
			}
			dec, err := decodeState(d.GetState(), p.arch.in)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where(di), err)
			}
			if len(ids) != len(dec.choices) || len(d.GetLogprobs()) != len(dec.choices) {
				return nil, fmt.Errorf("%s: %d token ids and %d log-probs for %d choices in its state",
					where(di), len(ids), len(d.GetLogprobs()), len(dec.choices))
			}
			if m := d.GetMask(); len(m) != 0 && len(m) != len(ids) {
				return nil, fmt.Errorf("%s: mask has %d entries for %d choices", where(di), len(m), len(ids))
			}
			for j, c := range dec.choices {
				if int(ids[j]) != c.chosen {
					return nil, fmt.Errorf("%s: token id %d is %d but its state says %d", where(di), j, ids[j], c.chosen)
				}
				old := d.GetLogprobs()[j]
				if math.IsNaN(old) || old > 0 {
					return nil, fmt.Errorf("%s: log-prob %d is %v", where(di), j, old)
				}
				ed.old = append(ed.old, old)
				ed.tokMask = append(ed.tokMask, len(d.GetMask()) == 0 || d.GetMask()[j] != 0)
			}
			ed.decs = append(ed.decs, dec)
		}
		if r := e.GetRefLogprobs(); len(r) > 0 {
			if len(r) != ed.numToken {
				return nil, fmt.Errorf("episode %d (%q): %d ref_logprobs for %d choices", ei, e.GetEpisodeId(), len(r), ed.numToken)
			}
			ed.ref = r
		}
		out = append(out, ed)
	}
	return out, nil
}

// decisionCache holds a decision's forward pass for the backward pass.
type decisionCache struct {
	h    []float64
	lp   [][16]float64
	ent  []float64
	logp []float64 // of the chosen index
}

func (p *Policy) forward(params []float64, d decoded, c *decisionCache) {
	a := p.arch
	c.h = make([]float64, a.hidden)
	a.forwardTrunk(params, d.x, d.nz, c.h)
	c.lp = make([][16]float64, len(d.choices))
	c.ent = make([]float64, len(d.choices))
	c.logp = make([]float64, len(d.choices))
	var z [16]float64
	for i, ch := range d.choices {
		n := headSizes[ch.head]
		a.logits(params, ch.head, c.h, z[:n])
		c.ent[i] = logSoftmax(z[:n], ch.legal, d.temp, c.lp[i][:n])
		c.logp[i] = c.lp[i][ch.chosen]
	}
}

// lossGrad evaluates the loss of the batch under params (Ref from ref
// unless the trainer sent reference log-probs) and adds its gradient with
// respect to params into grad.
func (p *Policy) lossGrad(params, ref []float64, eps []episodeData, lp cwrpo.Params, grad []float64) cwrpo.Result {
	a := p.arch
	caches := make([][]decisionCache, len(eps))
	ces := make([]cwrpo.Episode, len(eps))
	for ei, e := range eps {
		caches[ei] = make([]decisionCache, len(e.decs))
		toks := make([]cwrpo.Token, 0, len(e.old))
		var rc decisionCache
		// REINFORCE never reads Ref: skip its forward pass. A zero KL
		// coefficient still reports the KL, so it keeps the pass.
		needRef := e.ref == nil && lp.Kind != cwrpo.Reinforce
		for di, d := range e.decs {
			c := &caches[ei][di]
			p.forward(params, d, c)
			if needRef {
				p.forward(ref, d, &rc)
			}
			for j := range d.choices {
				t := cwrpo.Token{New: c.logp[j], Entropy: c.ent[j]}
				k := len(toks)
				t.Old, t.Mask = e.old[k], e.tokMask[k]
				if needRef {
					t.Ref = rc.logp[j]
				}
				toks = append(toks, t)
			}
		}
		if e.ref != nil {
			// ref_logprobs are flattened over every decision's tokens, and
			// choice-less decisions have none, so they line up with toks.
			for k := range toks {
				toks[k].Ref = e.ref[k]
			}
		}
		ces[ei] = cwrpo.Episode{Tokens: toks, Advantage: e.adv, TokenAdvantages: e.tokenAdvantages()}
	}
	res, g := cwrpo.Loss(ces, lp)

	dh := make([]float64, a.hidden)
	var dz [16]float64
	for ei, e := range eps {
		k := 0
		for di, d := range e.decs {
			c := &caches[ei][di]
			clear(dh)
			touched := false
			for j, ch := range d.choices {
				gt := g[ei][k]
				k++
				if gt.New == 0 && gt.Entropy == 0 {
					continue
				}
				touched = true
				n := headSizes[ch.head]
				clear(dz[:n])
				softmaxGrad(c.lp[j][:n], ch.legal, ch.chosen, c.ent[j], gt.New/d.temp, gt.Entropy/d.temp, dz[:n])
				for r := range n {
					if dz[r] == 0 {
						continue
					}
					grad[a.hb[ch.head]+r] += dz[r]
					w := params[a.hw[ch.head]+r*a.hidden : a.hw[ch.head]+(r+1)*a.hidden]
					gw := grad[a.hw[ch.head]+r*a.hidden : a.hw[ch.head]+(r+1)*a.hidden]
					for jj, hv := range c.h {
						gw[jj] += dz[r] * hv
						dh[jj] += dz[r] * w[jj]
					}
				}
			}
			if !touched {
				continue
			}
			for j, hv := range c.h {
				da := dh[j] * (1 - hv*hv)
				if da == 0 {
					continue
				}
				grad[a.b1+j] += da
				gw := grad[a.w1+j*a.in : a.w1+(j+1)*a.in]
				for _, i := range d.nz {
					gw[i] += da * d.x[i]
				}
			}
		}
	}
	return res
}

// Update applies one CWRPO (or REINFORCE) step to the batch: recompute the
// log-probs of the recorded choices, evaluate cwrpo.Loss, back-propagate,
// clip the global gradient norm and take one Adam step. Acts keep running
// during the gradient computation and pause only for the parameter write.
// LossStats.grad_norm is the norm before clipping, so a trainer can see
// how often the clip bites. A batch without a single masked-in choice
// takes no step.
func (p *Policy) Update(ctx context.Context, req *pb.UpdateRequest) (*pb.LossStats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, err := p.optimFor(req.GetLoss())
	if err != nil {
		return nil, fmt.Errorf("embedded update: %w", err)
	}
	eps, err := p.prepare(req)
	if err != nil {
		return nil, fmt.Errorf("embedded update: %w", err)
	}
	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	if p.critic != nil {
		// Advantages from the critic as it was before this batch; the
		// trainer's further passes over the batch reuse them.
		if k := batchKey(req); k == p.lastKey && sameShape(p.lastAdv, eps) {
			for i := range eps {
				eps[i].decAdv = p.lastAdv[i]
			}
		} else {
			p.decisionAdvantages(req, eps)
			p.lastKey, p.lastAdv = k, make([][]float64, len(eps))
			for i := range eps {
				p.lastAdv[i] = eps[i].decAdv
			}
		}
	}

	grad := make([]float64, p.arch.size)
	p.mu.RLock()
	res := p.lossGrad(p.params, p.ref, eps, o.loss, grad)
	p.mu.RUnlock()

	var ss float64
	for _, v := range grad {
		ss += v * v
	}
	norm := math.Sqrt(ss)
	stats := &pb.LossStats{
		Loss: res.Loss, PolicyLoss: res.PolicyLoss, Kl: res.KL, Entropy: res.Entropy,
		ClipFraction: res.ClipFraction, GradNorm: norm, Tokens: int32(res.Tokens), Episodes: int32(res.Episodes),
	}
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return nil, fmt.Errorf("embedded update: gradient norm is %v; parameters left unchanged", norm)
	}
	if res.Tokens == 0 {
		return stats, nil // nothing sampled by this policy: no step, so Adam's clock does not move either
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scale := 1.0
	if norm > o.maxGradNorm {
		scale = o.maxGradNorm / norm
	}
	p.mu.Lock()
	p.adamStep(grad, scale, o.lr)
	p.version = versionOf(p.params)
	p.mu.Unlock()
	if p.critic != nil {
		mse := p.fitCritic(req, eps)
		p.mu.Lock()
		p.criticMSE = mse
		p.mu.Unlock()
	}
	return stats, nil
}

// adamStep applies Adam with bias correction; callers hold the write lock.
func (p *Policy) adamStep(grad []float64, scale, lr float64) {
	p.adamT++
	adam(p.params, p.adamM, p.adamV, grad, p.adamT, scale, lr, p.cfg.Beta1, p.cfg.Beta2, p.cfg.Eps)
}

// adam is one bias-corrected Adam step of update count t on params, with
// the gradient scaled by scale first (the clip); the policy and the critic
// both take it.
func adam(params, m, v, grad []float64, t int64, scale, lr, b1, b2, eps float64) {
	c1 := 1 - math.Pow(b1, float64(t))
	c2 := 1 - math.Pow(b2, float64(t))
	for i, g := range grad {
		g *= scale
		m[i] = b1*m[i] + (1-b1)*g
		v[i] = b2*v[i] + (1-b2)*g*g
		params[i] -= lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + eps)
	}
}
