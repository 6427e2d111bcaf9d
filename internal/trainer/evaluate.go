package trainer

// Evaluation of the policy next to the baselines on held-out tasks.

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/eval"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// Evaluate plays one episode of the policy (and of each baseline) per
// held-out task and stores the report. The policy samples (eval.sample,
// the default) or takes its most likely choices.
func (t *Trainer) Evaluate(ctx context.Context, step int64) (*pb.EvalReport, error) {
	tasks := t.eval
	if t.cfg.Eval.Tasks > 0 && len(tasks) > t.cfg.Eval.Tasks {
		tasks = tasks[:t.cfg.Eval.Tasks]
	}
	name := "trained"
	switch {
	case step == 0 && t.cfg.WarmStart.Enabled():
		name = "warm-start" // cloned from the shown workflows, not yet trained
	case step == 0:
		name = "untrained"
	}
	entries := []EvalEntry{{Name: name, Actor: t.actorFor(), Greedy: !t.cfg.Eval.Sample}}
	for _, b := range t.cfg.Eval.Baselines {
		p, err := policy.Baseline(ctx, b, t.cfg.Seed)
		if err != nil {
			return nil, err
		}
		entries = append(entries, EvalEntry{Name: b, Actor: func(context.Context) (rollout.Actor, error) { return rollout.InProcess{P: p}, nil }})
	}
	// A sampled evaluation samples as training did at that point of the run.
	ev := Evaluator{Canvas: t.env.Canvas, Concurrency: t.cfg.Concurrency, MaxRounds: t.cfg.MaxRounds, Reward: t.cfg.Reward,
		EpisodeTimeout: t.cfg.EpisodeTimeout, Seed: t.cfg.Seed, Observer: t.env.Observer,
		Retryable: t.env.Retryable, Rollout: &t.cfg.Rollout, retried: &t.retried, inst: t.inst, Prices: t.cfg.Prices,
		Temperature: t.temperature(max(step, 1)), TopP: t.cfg.Sampling.TopP, TopK: t.cfg.Sampling.TopK}
	rep, recs, err := ev.Run(ctx, step, tasks, entries)
	if err != nil {
		return nil, err
	}
	// The episodes are written only once every policy has played, in one
	// transaction just before the report: a run stopped during an
	// evaluation leaves none of its episodes behind, so the evaluation
	// redone on resume does not store them twice.
	var rows []runstore.Episode
	// The evaluator plays with the default canvas settings (Evaluator.Run).
	evalCfg := DefaultConfig()
	evalCfg.MaxRounds, evalCfg.Reward = t.cfg.MaxRounds, t.cfg.Reward
	epCfg := (&Trainer{cfg: evalCfg}).episodeConfig()
	var costRows []runstore.EpisodeCost
	for i, e := range entries {
		for _, r := range recs[i] {
			gid := fmt.Sprintf("eval%d-%s", step, e.Name)
			rows = append(rows, t.withReplay(episodeRow(t.run.ID, step, runstore.EvalPhase(e.Name), gid, r, 0), r, epCfg))
			if r != nil {
				costRows = append(costRows, runstore.EpisodeCost{RunID: t.run.ID, Step: step, Phase: runstore.EvalPhase(e.Name), EpisodeID: r.EpisodeID,
					GroupID: gid, Cost: cost.SummaryToPB(EpisodeCost(t.cfg.Prices, r))})
			}
		}
	}
	if err := t.env.Store.PutEpisodes(rows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutEpisodeCosts(costRows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutEval(t.run.ID, rep); err != nil {
		return nil, err
	}
	t.env.Observer.EvalDone(rep)
	return rep, nil
}

// EvalEntry is one policy of an evaluation.
type EvalEntry struct {
	Name   string
	Actor  func(context.Context) (rollout.Actor, error)
	Greedy bool
}

// Evaluator plays one episode per task for each policy.
type Evaluator struct {
	Canvas         rollout.Canvas
	Concurrency    int
	MaxRounds      int
	Reward         reward.Spec
	EpisodeTimeout time.Duration
	Seed           int64
	Observer       Observer
	// Sampling settings of entries that are not greedy; a zero
	// Temperature samples at 1.
	Temperature float64
	TopP        float64
	TopK        int
	// Retryable and Rollout re-run episodes that lose their replica, as in
	// training; nil Retryable retries nothing, nil Rollout is DefaultRollout.
	Retryable func(error) bool
	Rollout   *RolloutConfig
	// Prices prices each policy's cost (PolicyEval.cost); nil leaves
	// money at 0 with every model flagged unpriced.
	Prices cost.Table

	// A trainer's evaluation counts into the trainer's totals.
	retried *atomic.Int64
	inst    *instruments
}

// Run evaluates the entries on tasks and returns the report and, per
// entry, the played records.
func (e Evaluator) Run(ctx context.Context, step int64, tasks []*pb.Task, entries []EvalEntry) (*pb.EvalReport, [][]*rollout.Record, error) {
	obs := e.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	cfg := DefaultConfig()
	cfg.Concurrency, cfg.MaxRounds, cfg.Reward, cfg.EpisodeTimeout, cfg.Seed = max(1, e.Concurrency), e.MaxRounds, e.Reward, e.EpisodeTimeout, e.Seed
	if cfg.MaxRounds == 0 {
		cfg.MaxRounds = 20
	}
	if cfg.EpisodeTimeout == 0 {
		cfg.EpisodeTimeout = 5 * time.Minute
	}
	if e.Rollout != nil {
		cfg.Rollout = *e.Rollout
	}
	cfg.Prices = e.Prices
	t := &Trainer{cfg: cfg, env: Env{Canvas: e.Canvas, Observer: obs, Retryable: e.Retryable}, inst: e.inst}
	if e.retried != nil {
		defer func() { e.retried.Add(t.retried.Load()) }()
	}
	names := make([]string, len(entries))
	for i, en := range entries {
		names[i] = en.Name
	}
	obs.EvalStarted(step, names, len(tasks)*len(entries))
	rep := &pb.EvalReport{Step: step}
	all := make([][]*rollout.Record, len(entries))
	evalStart := time.Now()
	var evalCost cost.Summary
	for i, en := range entries {
		g := &group{id: fmt.Sprintf("eval%d-%s", step, en.Name), tasks: tasks}
		seed := e.Seed*7_777_777 + step
		temp := e.Temperature
		if temp == 0 {
			temp = 1
		}
		s := policy.Sampling{Greedy: en.Greedy, Temperature: temp, TopP: e.TopP, TopK: e.TopK, Seed: &seed}
		if err := t.play(ctx, step, []*group{g}, s, en.Actor, func(r *rollout.Record) { obs.EpisodeDone(step, r) }); err != nil {
			return nil, nil, err
		}
		pe := summarize(en.Name, g.recs)
		var pc cost.Summary
		for _, r := range g.recs {
			if r != nil {
				pc.Merge(EpisodeCost(e.Prices, r))
			}
		}
		pe.Cost = cost.SummaryToPB(pc)
		evalCost.Merge(pc)
		rep.Policies = append(rep.Policies, pe)
		all[i] = g.recs
	}
	evalCost.WallSeconds = time.Since(evalStart).Seconds()
	rep.Cost = cost.SummaryToPB(evalCost)
	return rep, all, nil
}

// summarize computes one policy's eval metrics with 95% intervals.
func summarize(name string, recs []*rollout.Record) *pb.PolicyEval {
	pe := &pb.PolicyEval{Policy: name}
	var rewards []float64
	fam := map[string][2]int{}
	var release, finished, turnSum float64
	var turns, invalid int
	for _, r := range recs {
		if r == nil || r.Err != nil || r.Final == nil {
			continue
		}
		rb := r.Final.GetReward()
		rewards = append(rewards, rb.GetReward())
		f := familyName(r.Task.GetFamily())
		c := fam[f]
		c[1]++
		if rb.GetScore().GetCorrect() {
			c[0]++
		}
		fam[f] = c
		if rb.GetReleased() {
			release++
		}
		if r.Finished() {
			finished++
		}
		turnSum += float64(r.Final.GetTurn())
		turns += len(r.Turns)
		invalid += r.Invalid
	}
	n := float64(len(rewards))
	pe.Episodes = int32(len(rewards))
	if n == 0 {
		return pe
	}
	pe.MeanReward, pe.RewardCiLow, pe.RewardCiHigh = eval.MeanCI(rewards)
	pe.StructureReleaseRate, pe.FinishedRate, pe.MeanTurns = release/n, finished/n, turnSum/n
	if turns > 0 {
		pe.InvalidActionRate = float64(invalid) / float64(turns)
	}
	var fams []string
	for f := range fam {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	totalK, totalN := 0, 0
	for _, f := range fams {
		c := fam[f]
		lo, hi := eval.Wilson(c[0], c[1])
		pe.Metrics = append(pe.Metrics, &pb.FamilyMetric{Family: f, Metric: "accuracy", Value: float64(c[0]) / float64(c[1]), CiLow: lo, CiHigh: hi, Count: int32(c[1])})
		totalK += c[0]
		totalN += c[1]
	}
	lo, hi := eval.Wilson(totalK, totalN)
	pe.Metrics = append(pe.Metrics, &pb.FamilyMetric{Family: "all", Metric: "accuracy", Value: float64(totalK) / float64(totalN), CiLow: lo, CiHigh: hi, Count: int32(totalN)})
	return pe
}
