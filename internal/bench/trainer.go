package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// TrainerResult is the time of one CWRPO update of the embedded policy.
type TrainerResult struct {
	Policy              string `json:"policy"`
	Episodes            int    `json:"episodes"`
	DecisionsPerEpisode int    `json:"decisions_per_episode"`
	// Decisions in the batch; Learnable carry a choice (prompt turns do not).
	Decisions int `json:"decisions"`
	Learnable int `json:"learnable_decisions"`
	// Filled decisions came from other episodes, topping up episodes that
	// ended before DecisionsPerEpisode turns.
	Filled int `json:"filled_decisions"`
	// Choices is the update's token count (one per head choice).
	Choices  int     `json:"choices"`
	Repeats  int     `json:"repeats"`
	P50ms    float64 `json:"p50_ms"`
	MinMs    float64 `json:"min_ms"`
	MeanMs   float64 `json:"mean_ms"`
	PerDecUs float64 `json:"per_decision_us"`
	// SyntheticAdvantages is set when the played group had no reward
	// variance, so advantages of +-1 stand in.
	SyntheticAdvantages bool `json:"synthetic_advantages"`
}

// Batch builds a CWRPO batch of episodes x decisions from decisions the
// embedded policy p made in recs: episode i holds recs[i]'s decisions, cut
// to decisions or topped up from the other records in turn order. The
// advantages are the group's (recs' rewards); synthetic reports +-1
// stand-ins for a group without reward variance. filled counts top-ups.
func Batch(recs []*rollout.Record, episodes, decisions int) (req *pb.UpdateRequest, filled int, synthetic bool, err error) {
	var pool []*pb.Decision
	for _, r := range recs {
		pool = append(pool, r.Decisions...)
	}
	if len(pool) == 0 || len(recs) == 0 {
		return nil, 0, false, errors.New("no decisions to build a batch from")
	}
	rewards := make([]float64, len(recs))
	for i, r := range recs {
		rewards[i] = r.Reward()
	}
	adv, zero := cwrpo.Advantages(rewards)
	req = &pb.UpdateRequest{Step: 1}
	next := 0
	for e := range episodes {
		rec := recs[e%len(recs)]
		es := &pb.EpisodeSamples{EpisodeId: fmt.Sprintf("%s#%d", rec.EpisodeID, e), GroupId: "bench", Reward: rewards[e%len(recs)], Advantage: adv[e%len(recs)]}
		if zero {
			es.Advantage = float64(1 - 2*(e%2))
		}
		es.Decisions = append(es.Decisions, rec.Decisions[:min(decisions, len(rec.Decisions))]...)
		for len(es.Decisions) < decisions {
			es.Decisions = append(es.Decisions, pool[next%len(pool)])
			next++
			filled++
		}
		req.Episodes = append(req.Episodes, es)
	}
	return req, filled, zero, nil
}

func runTrainer(ctx context.Context, cfg Config) (*TrainerResult, error) {
	cfg.progress("trainer: playing %d episodes of the untrained embedded policy (simulated executor) for a %d x %d batch",
		cfg.UpdateEpisodes, cfg.UpdateEpisodes, cfg.UpdateDecisions)
	tasks, err := SuiteTasks(1)
	if err != nil {
		return nil, err
	}
	pc := cfg
	pc.GroupSize = max(cfg.UpdateEpisodes, 2)
	played, err := playStep(ctx, pc, tasks, true)
	if err != nil {
		return nil, err
	}
	req, filled, synthetic, err := Batch(played.recs, cfg.UpdateEpisodes, cfg.UpdateDecisions)
	if err != nil {
		return nil, err
	}
	res := &TrainerResult{
		Policy: fmt.Sprintf("embedded, seed %d (a fresh copy per update)", cfg.Seed), Episodes: cfg.UpdateEpisodes,
		DecisionsPerEpisode: cfg.UpdateDecisions, Filled: filled, Repeats: cfg.UpdateRepeats, SyntheticAdvantages: synthetic,
	}
	for _, e := range req.Episodes {
		for _, d := range e.Decisions {
			res.Decisions++
			if len(d.GetState()) > 0 {
				res.Learnable++
			}
		}
	}
	cfg.progress("trainer: timing %d CWRPO updates of %d decisions (%d with a choice)", cfg.UpdateRepeats, res.Decisions, res.Learnable)
	var ds []time.Duration
	for i := range cfg.UpdateRepeats + 1 {
		// The policy that made the decisions, fresh each time, so every
		// update starts from the same weights.
		p, err := embedded.New(embedded.Config{Seed: cfg.Seed})
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		st, err := p.Update(ctx, req)
		d := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
		if st.GetTokens() == 0 {
			return nil, errors.New("the update saw no choice: the batch holds no decision of this policy")
		}
		res.Choices = int(st.GetTokens())
		if i > 0 { // the first one warms caches up
			ds = append(ds, d)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	p50 := quantile(ds, 0.5)
	res.P50ms, res.MinMs, res.MeanMs = ms(p50), ms(ds[0]), ms(sum)/float64(len(ds))
	res.PerDecUs = float64(p50) / float64(time.Microsecond) / float64(res.Decisions)
	return res, nil
}
