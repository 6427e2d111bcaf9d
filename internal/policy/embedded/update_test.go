package embedded

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// kindProb is the current probability of kind k on obs.
func kindProb(p *Policy, obs *pb.Observation, k int) float64 {
	x := make([]float64, p.arch.in)
	features(obs, p.cfg.TextBuckets, x)
	h := make([]float64, p.arch.hidden)
	z, lp := make([]float64, len(Kinds)), make([]float64, len(Kinds))
	p.mu.RLock()
	p.arch.forwardTrunk(p.params, x, nonzero(x), h)
	p.arch.logits(p.params, HeadKind, h, z)
	p.mu.RUnlock()
	logSoftmax(z, legalityOf(obs).kind, 1, lp)
	return math.Exp(lp[k])
}

func update(t testing.TB, p *Policy, req *pb.UpdateRequest) *pb.LossStats {
	t.Helper()
	st, err := p.Update(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestLearnsABanditThatRewardsParallel(t *testing.T) {
	for _, kind := range []pb.LossKind{pb.LossKind_LOSS_KIND_CWRPO, pb.LossKind_LOSS_KIND_REINFORCE} {
		t.Run(kind.String(), func(t *testing.T) {
			p := newTestPolicy(t, Config{Seed: 1})
			obs := obsOf(testTask(famMath, false), opStage(1, "Programmer")) // all six kinds legal
			before := kindProb(p, obs, KindAddParallel)
			for step := range 30 {
				req := &pb.UpdateRequest{Step: int64(step), Loss: &pb.LossConfig{Kind: kind}}
				rewards := make([]float64, 16)
				for i := range rewards {
					o := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
					o.EpisodeId = fmt.Sprintf("s%d-e%d", step, i)
					// Each episode gets its own seed, as the trainer gives them.
					d := act(t, p, o, policy.Sampling{Seed: seed(int64(step*1000 + i))})
					rewards[i] = -1
					if d.TokenIds[0] == KindAddParallel {
						rewards[i] = 1
					}
					req.Episodes = append(req.Episodes, &pb.EpisodeSamples{EpisodeId: o.EpisodeId, Reward: rewards[i], Decisions: []*pb.Decision{d}})
				}
				adv, _ := cwrpo.Advantages(rewards)
				for i, e := range req.Episodes {
					e.Advantage = adv[i]
				}
				update(t, p, req)
			}
			after := kindProb(p, obs, KindAddParallel)
			t.Logf("P(add_parallel): %.3f -> %.3f", before, after)
			if before > 0.25 || after < 0.6 {
				t.Fatalf("P(add_parallel) went from %.3f to %.3f, want from about 1/6 to above 0.6", before, after)
			}
		})
	}
}

func TestAdvantageSignMovesTheTakenChoices(t *testing.T) {
	tests := []struct {
		kind pb.LossKind
		adv  float64
	}{
		{pb.LossKind_LOSS_KIND_CWRPO, 1}, {pb.LossKind_LOSS_KIND_CWRPO, -1},
		{pb.LossKind_LOSS_KIND_REINFORCE, 1}, {pb.LossKind_LOSS_KIND_REINFORCE, -1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s advantage %+v", tt.kind, tt.adv), func(t *testing.T) {
			p := newTestPolicy(t, Config{Seed: 4})
			var ds []*pb.Decision
			for i, o := range observations() {
				ds = append(ds, act(t, p, o, policy.Sampling{Seed: seed(int64(i))}))
			}
			before := logProbsOf(t, p, ds...)
			update(t, p, &pb.UpdateRequest{Loss: &pb.LossConfig{Kind: tt.kind},
				Episodes: []*pb.EpisodeSamples{{EpisodeId: "e", Advantage: tt.adv, Decisions: ds}}})
			after := logProbsOf(t, p, ds...)
			if d := sum(after) - sum(before); d*tt.adv <= 0 {
				t.Fatalf("total log-prob of the taken choices moved by %+.4g with advantage %+v", d, tt.adv)
			}
			// Every first choice (the kind) moves the right way too.
			k := 0
			for _, d := range ds {
				if diff := after[k] - before[k]; diff*tt.adv <= 0 {
					t.Errorf("kind choice of %q moved by %+.4g with advantage %+v", d.Action.Text, diff, tt.adv)
				}
				k += len(d.TokenIds)
			}
		})
	}
}

// At any sampling temperature the first update recomputes exactly the
// recorded log-probs: Update works under the tempered distribution the
// choices were drawn from, so no ratio starts outside the clip range.
func TestFirstUpdateSeesRatioOneAndNoKL(t *testing.T) {
	for _, temp := range []float64{1, 0.3, 2} {
		t.Run(fmt.Sprintf("temperature %v", temp), func(t *testing.T) {
			p := newTestPolicy(t, Config{})
			// Away from the near-uniform start, where temperature hardly matters.
			for i := range p.params {
				p.params[i] += 0.3 * math.Sin(float64(i))
			}
			copy(p.ref, p.params)
			var ds []*pb.Decision
			for i, o := range observations() {
				ds = append(ds, act(t, p, o, policy.Sampling{Temperature: temp, Seed: seed(int64(i))}))
			}
			st := update(t, p, &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{EpisodeId: "e", Advantage: 0.5, Decisions: ds}}})
			if st.ClipFraction != 0 || !near(st.Kl, 0, 1e-12) {
				t.Fatalf("recomputed log-probs differ from the recorded ones: %v", st)
			}
			if want := -0.5; !near(st.PolicyLoss, want, 1e-12) {
				t.Fatalf("policy loss %v, want -A = %v", st.PolicyLoss, want)
			}
			if st.Tokens == 0 || st.Episodes != 1 || st.Entropy <= 0 || st.GradNorm <= 0 {
				t.Fatalf("stats %v", st)
			}
		})
	}
}

// A state written before temperatures were recorded (version 1) reads as
// drawn at temperature 1; a version-2 state with an impossible
// temperature is refused.
func TestDecisionStateTemperature(t *testing.T) {
	x := []float64{0.5, 0, 1}
	cs := []choice{{head: HeadKind, legal: allOf(len(Kinds)), chosen: KindAddLoop}}
	v2 := encodeState(0.25, x, cs)
	d, err := decodeState(v2, len(x))
	if err != nil || d.temp != 0.25 || d.choices[0].chosen != KindAddLoop {
		t.Fatalf("version 2: %+v, %v", d, err)
	}
	v1 := append([]byte{stateMagic, 1}, v2[6:]...)
	if d, err := decodeState(v1, len(x)); err != nil || d.temp != 1 || d.x[2] != 1 {
		t.Fatalf("version 1: %+v, %v", d, err)
	}
	for _, bad := range []float64{0, -1, math.NaN(), 1e9} {
		b := encodeState(bad, x, cs)
		if _, err := decodeState(b, len(x)); err == nil || !strings.Contains(err.Error(), "temperature") {
			t.Errorf("temperature %v: err %v, want a refusal naming the temperature", bad, err)
		}
	}
}

func TestTrainerReferenceLogProbsAreUsedWhenSent(t *testing.T) {
	// At the start the reference is the policy itself, so sending the
	// decisions' own log-probs as reference must change nothing...
	a, b := newTestPolicy(t, Config{Seed: 8}), newTestPolicy(t, Config{Seed: 8})
	var ds []*pb.Decision
	var ref []float64
	for _, o := range observations() {
		d := act(t, a, o, policy.Sampling{})
		ds = append(ds, d)
		ref = append(ref, d.Logprobs...)
	}
	sa := update(t, a, &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{Advantage: 1, Decisions: ds}}})
	sb := update(t, b, &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{Advantage: 1, Decisions: ds, RefLogprobs: ref}}})
	if sa.Loss != sb.Loss || a.Info().Version != b.Info().Version {
		t.Fatalf("own reference %v, sent reference %v", sa, sb)
	}
	// ...while a different reference shows up as KL.
	for i := range ref {
		ref[i] -= 0.5
	}
	c := newTestPolicy(t, Config{Seed: 8})
	if sc := update(t, c, &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{Advantage: 1, Decisions: ds, RefLogprobs: ref}}}); sc.Kl <= 0 {
		t.Fatalf("KL %v with a shifted reference", sc.Kl)
	}
}

func TestPromptOnlyBatchesChangeNothing(t *testing.T) {
	p := newTestPolicy(t, Config{})
	o := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
	o.State, o.Awaiting = pb.EpisodeState_EPISODE_STATE_AWAITING_PROMPT, &pb.AwaitingPrompt{NodeId: "node_1", Operator: "Programmer"}
	v := p.Info().Version
	st := update(t, p, &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{Advantage: 1, Decisions: []*pb.Decision{act(t, p, o, policy.Sampling{})}}}})
	if st.Tokens != 0 || st.Episodes != 0 || p.Info().Version != v {
		t.Fatalf("a batch of prompt decisions trained: %v", st)
	}
}

func TestMalformedUpdatesAreRefusedWithoutChangingAnything(t *testing.T) {
	p := newTestPolicy(t, Config{})
	other := newTestPolicy(t, Config{TextBuckets: 16})
	o := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
	good := func() *pb.Decision { return act(t, p, o, policy.Sampling{}) }
	ep := func(d *pb.Decision) []*pb.EpisodeSamples {
		return []*pb.EpisodeSamples{{EpisodeId: "e", Advantage: 1, Decisions: []*pb.Decision{d}}}
	}
	lr := 0.0
	tests := []struct {
		name string
		req  *pb.UpdateRequest
		want string
	}{
		{"token id disagrees with the state", func() *pb.UpdateRequest {
			d := good()
			d.TokenIds[0] = (d.TokenIds[0] + 1) % int32(len(Kinds))
			return &pb.UpdateRequest{Episodes: ep(d)}
		}(), "token id"},
		{"log-prob count", func() *pb.UpdateRequest {
			d := good()
			d.Logprobs = d.Logprobs[:0]
			return &pb.UpdateRequest{Episodes: ep(d)}
		}(), "log-probs"},
		{"choices without state", func() *pb.UpdateRequest {
			d := good()
			d.State = nil
			return &pb.UpdateRequest{Episodes: ep(d)}
		}(), "no state"},
		{"state from another architecture", &pb.UpdateRequest{Episodes: ep(act(t, other, o, policy.Sampling{}))}, "features"},
		{"garbage state", func() *pb.UpdateRequest {
			d := good()
			d.State = []byte("not a state")
			return &pb.UpdateRequest{Episodes: ep(d)}
		}(), "not an embedded-policy state"},
		{"ref_logprobs length", func() *pb.UpdateRequest {
			r := &pb.UpdateRequest{Episodes: ep(good())}
			r.Episodes[0].RefLogprobs = []float64{-1, -1, -1, -1, -1, -1, -1}
			return r
		}(), "ref_logprobs"},
		{"unknown loss kind", &pb.UpdateRequest{Loss: &pb.LossConfig{Kind: 9}, Episodes: ep(good())}, "loss.kind"},
		{"bad clip", &pb.UpdateRequest{Loss: &pb.LossConfig{Clip: &lr}, Episodes: ep(good())}, "clip"},
		{"bad learning rate", &pb.UpdateRequest{Loss: &pb.LossConfig{LearningRate: &lr}, Episodes: ep(good())}, "learning_rate"},
		{"NaN advantage", func() *pb.UpdateRequest {
			r := &pb.UpdateRequest{Episodes: ep(good())}
			r.Episodes[0].Advantage = math.NaN()
			return r
		}(), "advantage"},
	}
	v := p.Info().Version
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Update(context.Background(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
			if p.Info().Version != v {
				t.Fatal("a refused update changed the parameters")
			}
		})
	}
}

func TestLearningRateFromTheRequestOverridesTheConfig(t *testing.T) {
	dist := func(lr *float64) float64 {
		p := newTestPolicy(t, Config{Seed: 6})
		start := append([]float64(nil), p.params...)
		var ds []*pb.Decision
		for i, o := range observations() {
			ds = append(ds, act(t, p, o, policy.Sampling{Seed: seed(int64(i))}))
		}
		update(t, p, &pb.UpdateRequest{Loss: &pb.LossConfig{LearningRate: lr}, Episodes: []*pb.EpisodeSamples{{Advantage: 1, Decisions: ds}}})
		var m float64
		for i := range start {
			m = math.Max(m, math.Abs(p.params[i]-start[i]))
		}
		return m
	}
	big := 0.05
	d0, d1 := dist(nil), dist(&big)
	// Adam's first step moves each parameter by about the learning rate.
	if !near(d0, DefaultConfig().LearningRate, 1e-4) || !near(d1, big, 1e-3) {
		t.Fatalf("largest first-step moves %v (default lr) and %v (lr %v)", d0, d1, big)
	}
}

func TestActRunsConcurrentlyWithUpdate(t *testing.T) {
	p := newTestPolicy(t, Config{})
	obs := observations()
	var ds []*pb.Decision
	for i, o := range obs {
		ds = append(ds, act(t, p, o, policy.Sampling{Seed: seed(int64(i))}))
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := p.Act(ctx, obs[(g+i)%len(obs)], policy.Sampling{}); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 10 {
		update(t, p, &pb.UpdateRequest{Episodes: []*pb.EpisodeSamples{{Advantage: 1, Decisions: ds}, {Advantage: -1, Decisions: ds[:2]}}})
		_ = p.Info()
	}
	cancel()
	wg.Wait()
}

// Passing one batch many times (optimizer.epochs) keeps its recorded
// log-probabilities as the old ones: the clipped surrogate stops pushing a
// choice once its ratio passes 1 + clip (Adam's momentum still carries it
// a little further), while REINFORCE (no ratio, no clip) keeps pushing.
func TestRepeatedEpochsOnOneBatchStopAtTheClip(t *testing.T) {
	ratioAfter := func(kind pb.LossKind) (float64, *pb.LossStats) {
		p := newTestPolicy(t, Config{Seed: 2, LearningRate: 3e-3})
		o := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
		d := act(t, p, o, policy.Sampling{Seed: seed(3)})
		zero := 0.0
		req := &pb.UpdateRequest{Loss: &pb.LossConfig{Kind: kind, KlCoef: &zero, EntropyCoef: &zero},
			Episodes: []*pb.EpisodeSamples{{EpisodeId: "e", Advantage: 1, Decisions: []*pb.Decision{d}}}}
		old := sum(logProbsOf(t, p, d))
		var st *pb.LossStats
		for range 60 {
			st = update(t, p, req)
		}
		return math.Exp(sum(logProbsOf(t, p, d)) - old), st
	}
	clipped, st := ratioAfter(pb.LossKind_LOSS_KIND_CWRPO)
	free, _ := ratioAfter(pb.LossKind_LOSS_KIND_REINFORCE)
	t.Logf("ratio of the taken action after 60 epochs: clipped %.3f, reinforce %.3f", clipped, free)
	if clipped <= 1 {
		t.Fatalf("clipped ratio %.3f: the epochs did not move the taken action up", clipped)
	}
	if st.GetClipFraction() == 0 {
		t.Errorf("clip fraction 0 after 60 epochs on one batch")
	}
	if free <= 2*clipped {
		t.Errorf("REINFORCE ratio %.3f not above the clipped %.3f: the clip is not what bounds the epochs", free, clipped)
	}
}
