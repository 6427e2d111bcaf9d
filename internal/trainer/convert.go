package trainer

import (
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/reward"
)

// rewardToPB sends the run's reward spec with every episode, so the canvas
// (wherever it runs) rewards exactly as configured.
func rewardToPB(r reward.Spec) *pb.RewardSpec {
	kind := map[reward.Kind]pb.RewardKind{
		reward.CWRPO: pb.RewardKind_REWARD_KIND_CWRPO, reward.Milestone: pb.RewardKind_REWARD_KIND_MILESTONE,
		reward.Correctness: pb.RewardKind_REWARD_KIND_CORRECTNESS,
	}[r.Kind]
	f := func(v float64) *float64 { return &v }
	mo := int32(r.MinOperators)
	return &pb.RewardSpec{
		Kind: kind, CheckerWeight: f(r.CheckerWeight), FormatWeight: f(r.FormatWeight), SizeWeight: f(r.SizeWeight),
		StructureWeight: f(r.StructureWeight), MinOperators: &mo, Cap: f(r.Cap), Base: f(r.Base),
		ReleaseThreshold: f(r.ReleaseThreshold), UnfinishedPenalty: f(r.UnfinishedPenalty), InvalidActionPenalty: f(r.InvalidActionPenalty),
		Cost: costSpecToPB(r.Cost),
	}
}
