package protoconv

import (
	"fmt"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/reward"
)

// binding ties a domain field to an optional (pointer) proto field, so one
// list of fields serves both directions: fromPB overlays a set proto field
// on the domain value, toPB sets the proto field from the domain value.
type binding interface {
	fromPB()
	toPB()
}

// same binds fields of one type (bool, float64).
type same[T any] struct {
	d *T
	p **T
}

func (b same[T]) fromPB() {
	if *b.p != nil {
		*b.d = **b.p
	}
}

func (b same[T]) toPB() { v := *b.d; *b.p = &v }

// count binds an int to an int32.
type count struct {
	d *int
	p **int32
}

func (b count) fromPB() {
	if *b.p != nil {
		*b.d = int(**b.p)
	}
}

func (b count) toPB() { v := int32(*b.d); *b.p = &v }

func configFields(d *canvas.Config, p *pb.EpisodeConfig) []binding {
	return []binding{
		count{&d.MaxRounds, &p.MaxRounds}, same[bool]{&d.TwoStep, &p.TwoStep}, same[bool]{&d.Lenient, &p.Lenient},
		same[bool]{&d.ExecuteEachStep, &p.ExecuteEachStep}, same[bool]{&d.Hints, &p.Hints},
		same[bool]{&d.RenderPrompt, &p.RenderPrompt},
	}
}

func finishFields(d *canvas.FinishRules, p *pb.FinishRules) []binding {
	return []binding{
		same[bool]{&d.RequireNonEmpty, &p.RequireNonempty}, count{&d.MinOperators, &p.MinOperators},
		same[bool]{&d.RequireStructure, &p.RequireStructure}, same[bool]{&d.RequireSolver, &p.RequireSolver},
		same[bool]{&d.RequireChecker, &p.RequireChecker}, same[bool]{&d.RequireTestForCode, &p.RequireTestForCode},
		same[bool]{&d.RequireProgrammerOrTestForCode, &p.RequireProgrammerOrTestForCode},
		same[bool]{&d.RequireFormatWhenVerbose, &p.RequireFormatWhenVerbose},
	}
}

func rewardFields(d *reward.Spec, p *pb.RewardSpec) []binding {
	return []binding{
		same[float64]{&d.CheckerWeight, &p.CheckerWeight}, same[float64]{&d.FormatWeight, &p.FormatWeight},
		same[float64]{&d.SizeWeight, &p.SizeWeight}, same[float64]{&d.StructureWeight, &p.StructureWeight},
		count{&d.MinOperators, &p.MinOperators}, same[float64]{&d.Cap, &p.Cap}, same[float64]{&d.Base, &p.Base},
		same[float64]{&d.ReleaseThreshold, &p.ReleaseThreshold}, same[float64]{&d.UnfinishedPenalty, &p.UnfinishedPenalty},
		same[float64]{&d.InvalidActionPenalty, &p.InvalidActionPenalty},
	}
}

func overlay(bs []binding) {
	for _, b := range bs {
		b.fromPB()
	}
}

func fill(bs []binding) {
	for _, b := range bs {
		b.toPB()
	}
}

var (
	observationFromPB = map[pb.ObservationMode]canvas.ObservationMode{
		pb.ObservationMode_OBSERVATION_MODE_UNSPECIFIED: canvas.ObservationFull,
		pb.ObservationMode_OBSERVATION_MODE_FULL:        canvas.ObservationFull,
		pb.ObservationMode_OBSERVATION_MODE_INCREMENTAL: canvas.ObservationIncremental,
	}
	rewardKindToPB = map[reward.Kind]pb.RewardKind{
		reward.CWRPO: pb.RewardKind_REWARD_KIND_CWRPO, reward.Milestone: pb.RewardKind_REWARD_KIND_MILESTONE,
		reward.Correctness: pb.RewardKind_REWARD_KIND_CORRECTNESS,
	}
	rewardKindFromPB = invert(rewardKindToPB)
)

// observationToPB gives full for every mode but incremental (the canvas's
// default is full).
func observationToPB(m canvas.ObservationMode) pb.ObservationMode {
	if m == canvas.ObservationIncremental {
		return pb.ObservationMode_OBSERVATION_MODE_INCREMENTAL
	}
	return pb.ObservationMode_OBSERVATION_MODE_FULL
}

// ConfigFromPB overlays the set fields of c on the defaults
// (canvas.DefaultConfig, reward.Default). An unknown enum value is an
// error naming its field.
func ConfigFromPB(c *pb.EpisodeConfig) (canvas.Config, reward.Spec, error) {
	cfg := canvas.DefaultConfig()
	rw := reward.Default()
	if c == nil {
		return cfg, rw, nil
	}
	overlay(configFields(&cfg, c))
	mode, ok := observationFromPB[c.GetObservation()]
	if !ok {
		return cfg, rw, fmt.Errorf("config.observation: unknown value %d", c.GetObservation())
	}
	cfg.Observation = mode
	cfg.Library = c.GetLibrary()
	cfg.Backend = c.GetBackend()
	if f := c.GetFinish(); f != nil {
		overlay(finishFields(&cfg.Finish, f))
	}
	if r := c.GetReward(); r != nil {
		if err := rewardFromPB(&rw, r); err != nil {
			return cfg, rw, err
		}
	}
	return cfg, rw, nil
}

func rewardFromPB(rw *reward.Spec, r *pb.RewardSpec) error {
	rw.Kind = reward.CWRPO // the proto's unspecified kind
	if r.GetKind() != pb.RewardKind_REWARD_KIND_UNSPECIFIED {
		k, ok := rewardKindFromPB[r.GetKind()]
		if !ok {
			return fmt.Errorf("config.reward.kind: unknown value %d", r.GetKind())
		}
		rw.Kind = k
	}
	overlay(rewardFields(rw, r))
	if c := r.GetCost(); c != nil {
		prices := cost.TableFromPB(c.GetPrices())
		rw.Cost = reward.CostSpec{Weight: c.GetWeight(), Unit: c.GetUnit(), Reference: c.GetReference(), Prices: &prices}
		if err := rw.Cost.Validate(); err != nil {
			return fmt.Errorf("config.%w", err)
		}
	}
	return nil
}

// ConfigToPB converts a config, every field set; the reward travels
// separately (RewardSpecToPB).
func ConfigToPB(c canvas.Config) *pb.EpisodeConfig {
	out := &pb.EpisodeConfig{Library: c.Library, Backend: c.Backend, Observation: observationToPB(c.Observation), Finish: &pb.FinishRules{}}
	fill(configFields(&c, out))
	fill(finishFields(&c.Finish, out.Finish))
	return out
}

// RewardSpecToPB converts a reward spec, every field set. The trainer
// sends it with every episode, so the canvas (wherever it runs) rewards
// exactly as configured.
func RewardSpecToPB(r reward.Spec) *pb.RewardSpec {
	out := &pb.RewardSpec{Kind: rewardKindToPB[r.Kind], Cost: CostSpecToPB(r.Cost)}
	fill(rewardFields(&r, out))
	return out
}

// CostSpecToPB converts the cost term of a reward; nil when it is off.
func CostSpecToPB(c reward.CostSpec) *pb.CostSpec {
	if !c.On() {
		return nil
	}
	var prices cost.Table
	if c.Prices != nil {
		prices = *c.Prices
	}
	return &pb.CostSpec{Weight: c.Weight, Unit: c.Unit, Reference: c.Reference, Prices: cost.TableToPB(prices)}
}
