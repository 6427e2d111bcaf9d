package trainer

// One training step: play, score, compute advantages, update, store.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/obs"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// Step runs one training step and stores it.
func (t *Trainer) Step(ctx context.Context, step int64) (res *pb.StepMetrics, err error) {
	ctx, span := obs.Start(ctx, "train.step", obs.RunID.String(t.run.ID), obs.Step.Int64(step))
	phase := map[string]float64{}
	groups := t.batch(step)
	stepStart := time.Now()
	defer func(start time.Time) { endStep(ctx, span, start, groups, res, err) }(stepStart)
	total := 0
	for _, g := range groups {
		total += len(g.tasks)
	}
	t.env.Observer.StepStarted(step, int64(t.cfg.Steps), total)
	var calls0, hits0 int64
	if t.env.ExecutorCalls != nil {
		calls0, hits0 = t.env.ExecutorCalls()
	}
	seed := t.cfg.Seed*1_000_003 + step
	s := policy.Sampling{Temperature: t.temperature(step), TopP: t.cfg.Sampling.TopP, TopK: t.cfg.Sampling.TopK, Seed: &seed}
	t0 := time.Now()
	if err := t.play(ctx, step, groups, s, t.actorFor(), func(r *rollout.Record) { t.env.Observer.EpisodeDone(step, r) }); err != nil {
		return nil, err
	}
	phase["rollout"] = time.Since(t0).Seconds()

	m := &pb.StepMetrics{Step: step, AccuracyByFamily: map[string]float64{}, OperatorUsage: map[string]int32{}, PhaseSeconds: phase,
		GroupCost: map[string]*pb.CostSummary{}}
	// Cost rolls up episode -> group -> step: each level is the sum of the
	// one below, failed episodes included (they were paid for too).
	var stepCost cost.Summary
	var costRows []runstore.EpisodeCost
	for _, g := range groups {
		var gc cost.Summary
		for _, r := range g.recs {
			if r != nil {
				ec := EpisodeCost(t.cfg.Prices, r)
				gc.Merge(ec)
				costRows = append(costRows, runstore.EpisodeCost{RunID: t.run.ID, Step: step, Phase: runstore.PhaseTrain, EpisodeID: r.EpisodeID, GroupID: g.id, Cost: cost.SummaryToPB(ec)})
			}
		}
		m.GroupCost[g.id] = cost.SummaryToPB(gc)
		stepCost.Merge(gc)
	}
	var samples []*pb.EpisodeSamples
	var rows []runstore.Episode
	famN := map[string]int{}
	var rewardSum, releaseSum, corrSum, structSum, turnSum, finished float64
	var turns, invalid int
	ok := 0
	for _, g := range groups {
		var live []*rollout.Record
		for _, r := range g.recs {
			if r.Err != nil || r.Final == nil {
				m.FailedEpisodes++
				rows = append(rows, t.withReplay(episodeRow(t.run.ID, step, "train", g.id, r, 0), r, nil))
				continue
			}
			live = append(live, r)
		}
		rewards := make([]float64, len(live))
		for i, r := range live {
			rewards[i] = r.Reward()
		}
		adv, zero := cwrpo.Advantages(rewards)
		if zero || len(live) < 2 {
			m.ZeroVarianceGroups++
		}
		for i, r := range live {
			ok++
			rb := r.Final.GetReward()
			rewardSum += rb.GetReward()
			if rb.GetReleased() {
				releaseSum++
			}
			corrSum += rb.GetCorrectness()
			structSum += rb.GetStructureTotal()
			turnSum += float64(r.Final.GetTurn())
			if r.Finished() {
				finished++
			}
			turns += len(r.Turns)
			invalid += r.Invalid
			fam := familyName(r.Task.GetFamily())
			famN[fam]++
			if rb.GetScore().GetCorrect() {
				m.AccuracyByFamily[fam]++
			}
			for op, n := range r.Final.GetWorkflow().GetStats().GetOperatorCounts() {
				m.OperatorUsage[op] += n
			}
			rows = append(rows, t.withReplay(episodeRow(t.run.ID, step, "train", g.id, r, adv[i]), r, nil))
			// Every live episode of a group with variance is trained on, its
			// advantage 0 or not: the KL and entropy terms and the mean over
			// the batch's episodes count it (SPEC section 7).
			if !zero && len(live) >= 2 {
				samples = append(samples, &pb.EpisodeSamples{EpisodeId: r.EpisodeID, GroupId: g.id, Reward: rewards[i], Advantage: adv[i], Decisions: r.Decisions})
			}
		}
	}
	m.Episodes = int32(ok)
	if ok > 0 {
		n := float64(ok)
		m.MeanReward, m.StructureReleaseRate, m.Correctness = rewardSum/n, releaseSum/n, corrSum/n
		m.MeanStructure, m.MeanTurns, m.FinishedRate = structSum/n, turnSum/n, finished/n
	}
	if turns > 0 {
		m.InvalidActionRate = float64(invalid) / float64(turns)
	}
	for f, n := range famN {
		m.AccuracyByFamily[f] /= float64(n)
	}
	if ok == 0 {
		return nil, fmt.Errorf("every episode of the step failed; first error: %v", firstErr(groups))
	}

	t1 := time.Now()
	if len(samples) > 0 {
		lr := t.cfg.Optimizer.LearningRate
		gn := t.cfg.Optimizer.MaxGradNorm
		clip, kl, ent := t.cfg.Loss.Clip, t.cfg.Loss.KL, t.cfg.Loss.Entropy
		kind := pb.LossKind_LOSS_KIND_CWRPO
		if t.cfg.Loss.Kind == cwrpo.Reinforce {
			kind = pb.LossKind_LOSS_KIND_REINFORCE
		}
		req := &pb.UpdateRequest{Step: step, Episodes: samples, Loss: &pb.LossConfig{
			Kind: kind, Clip: &clip, KlCoef: &kl, EntropyCoef: &ent, LearningRate: &lr, MaxGradNorm: &gn,
		}}
		// Every epoch sends the same batch: the old log-probabilities are
		// the sampled ones, so later epochs see their ratio move and clip.
		// The step reports the last epoch's loss, KL, entropy and clip
		// fraction (the first epoch's ratio is 1 everywhere).
		epochs := t.cfg.UpdateEpochs()
		for e := range epochs {
			st, err := t.env.Learner.Update(ctx, req)
			if err != nil {
				if epochs > 1 {
					return nil, fmt.Errorf("policy update (epoch %d of %d): %w", e+1, epochs, err)
				}
				return nil, fmt.Errorf("policy update: %w", err)
			}
			m.Loss, m.Kl, m.Entropy, m.ClipFraction = st.GetLoss(), st.GetKl(), st.GetEntropy(), st.GetClipFraction()
		}
	}
	phase["update"] = time.Since(t1).Seconds()
	if t.env.ExecutorCalls != nil {
		c1, h1 := t.env.ExecutorCalls()
		m.ExecutorCalls = c1 - calls0
		if req := (c1 - calls0) + (h1 - hits0); req > 0 {
			m.CacheHitRate = float64(h1-hits0) / float64(req)
		}
	}
	// The step's wall time is the clock's, not the sum of its episodes'.
	stepCost.WallSeconds = time.Since(stepStart).Seconds()
	m.Cost = cost.SummaryToPB(stepCost)
	t2 := time.Now()
	if err := t.env.Store.PutEpisodes(rows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutEpisodeCosts(costRows); err != nil {
		return nil, err
	}
	if err := t.env.Store.PutStep(t.run.ID, m); err != nil {
		return nil, err
	}
	phase["store"] = time.Since(t2).Seconds()
	return m, nil
}

func firstErr(groups []*group) error {
	for _, g := range groups {
		for _, r := range g.recs {
			if r != nil && r.Err != nil {
				return r.Err
			}
		}
	}
	return errors.New("no episode ended")
}

// familyName is a task's family as the run store and metrics name it.
func familyName(f pb.TaskFamily) string {
	return cmp.Or(string(protoconv.FamilyFromPB(f)), "unknown")
}

func episodeRow(runID string, step int64, phase, groupID string, r *rollout.Record, adv float64) runstore.Episode {
	row := runstore.Episode{RunID: runID, Step: step, Phase: phase, EpisodeID: r.EpisodeID, TaskID: r.Task.GetId(),
		Family: familyName(r.Task.GetFamily()), GroupID: groupID, Advantage: adv, Invalid: r.Invalid}
	if r.Err != nil {
		row.Failed, row.Error = true, r.Err.Error()
	}
	if r.Final != nil {
		row.DSL = r.Final.GetWorkflow().GetDsl()
		row.Turns = int(r.Final.GetTurn())
		row.Reward = r.Final.GetReward()
		row.Finished = r.Finished()
	}
	logs := make([]runstore.TurnLogEntry, len(r.Turns))
	for i, tu := range r.Turns {
		reply := ""
		if i < len(r.Decisions) {
			reply = clip(r.Decisions[i].GetAction().GetText(), 2000)
		}
		logs[i] = runstore.TurnLogEntry{Turn: tu.Number, Reply: reply, Action: tu.Action, Valid: tu.Valid, Feedback: clip(tu.Feedback, 1000), DSL: tu.DSL, State: tu.State.String()}
	}
	row.TurnLog, _ = json.Marshal(logs)
	return row
}

// withReplay attaches the episode's replay record (its executor calls
// taken from the recorder). A record that cannot be built is left out:
// the episode is stored without it rather than not at all.
// cfg is the episode configuration it was played with (nil: training's).
func (t *Trainer) withReplay(row runstore.Episode, r *rollout.Record, cfg *pb.EpisodeConfig) runstore.Episode {
	rec := t.env.Replay
	if rec == nil || r.EpisodeID == "" {
		return row
	}
	calls, dropped := rec.Take(r.EpisodeID)
	if r.Err != nil || r.Final == nil {
		return row
	}
	if cfg == nil {
		cfg = t.episodeConfig()
	}
	rr, err := replay.NewRecord(r, cfg, rec.Backend(), calls, dropped)
	if err == nil {
		row.Replay, err = rr.Encode()
	}
	if err != nil {
		t.env.Observer.Log(fmt.Sprintf("episode %s is stored without its replay record: %v", r.EpisodeID, err))
	}
	return row
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
