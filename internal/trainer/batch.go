package trainer

// Batches: which tasks a step plays, grouped for normalisation.

import (
	"fmt"
	"math/rand/v2"
	"sort"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// group is a set of episodes whose rewards are normalised together.
type group struct {
	id    string
	tasks []*pb.Task // one per episode
	recs  []*rollout.Record
}

// batch draws the step's groups deterministically from the seed, so a
// resumed run sees the same tasks it would have seen.
func (t *Trainer) batch(step int64) []*group {
	n := len(t.train)
	perEpoch := max(1, n/t.cfg.BatchSize)
	epoch := (step - 1) / int64(perEpoch)
	rng := rand.New(rand.NewPCG(uint64(t.cfg.Seed), uint64(epoch)))
	perm := rng.Perm(n)
	off := int((step-1)%int64(perEpoch)) * t.cfg.BatchSize
	var groups []*group
	if t.cfg.Grouping == "source" {
		// The released code: GroupSize distinct tasks per source, one
		// episode each, normalised within the source.
		bySource := map[string][]*pb.Task{}
		var order []string
		for _, i := range perm {
			s := t.train[i].GetSource()
			if s == "" {
				s = t.train[i].GetFamily().String()
			}
			if _, ok := bySource[s]; !ok {
				order = append(order, s)
			}
			bySource[s] = append(bySource[s], t.train[i])
		}
		sort.Strings(order)
		for k := 0; k < t.cfg.BatchSize && k < len(order); k++ {
			src := order[(int(step-1)*t.cfg.BatchSize+k)%len(order)]
			pool := bySource[src]
			g := &group{id: fmt.Sprintf("s%d-%s", step, src)}
			start := (int(step-1) * t.cfg.GroupSize) % len(pool)
			for j := 0; j < t.cfg.GroupSize && j < len(pool); j++ {
				g.tasks = append(g.tasks, pool[(start+j)%len(pool)])
			}
			groups = append(groups, g)
		}
		return groups
	}
	// A batch never holds a task twice: with fewer tasks than batch_tasks a
	// repeat would be a second group with the same id and the same seeds,
	// so an exact copy of the first.
	for k := 0; k < min(t.cfg.BatchSize, n); k++ {
		tk := t.train[perm[(off+k)%n]]
		g := &group{id: fmt.Sprintf("s%d-%s", step, tk.GetId())}
		for range t.cfg.GroupSize {
			g.tasks = append(g.tasks, tk)
		}
		groups = append(groups, g)
	}
	return groups
}

func (t *Trainer) episodeConfig() *pb.EpisodeConfig {
	mr := int32(t.cfg.MaxRounds)
	c := &pb.EpisodeConfig{MaxRounds: &mr, Reward: protoconv.RewardSpecToPB(t.cfg.rewardSpec()), Library: t.cfg.Canvas.Library}
	if t.cfg.Canvas.TwoStep != nil {
		c.TwoStep = t.cfg.Canvas.TwoStep
	}
	if t.cfg.Canvas.Hints {
		h := true
		c.Hints = &h
	}
	return c
}
