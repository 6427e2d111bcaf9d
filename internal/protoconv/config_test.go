package protoconv

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/reward"
)

// TestConfigRoundTrip: every field an EpisodeConfig carries survives
// domain -> proto -> domain; the fields it does not carry (the observation
// bounds) come back as the defaults.
func TestConfigRoundTrip(t *testing.T) {
	flipped := canvas.DefaultConfig()
	flipped.MaxRounds = 7
	flipped.TwoStep, flipped.Lenient, flipped.ExecuteEachStep = !flipped.TwoStep, !flipped.Lenient, !flipped.ExecuteEachStep
	flipped.Hints, flipped.RenderPrompt = !flipped.Hints, !flipped.RenderPrompt
	flipped.Library, flipped.Backend, flipped.Observation = "lib", "sim", canvas.ObservationIncremental
	f := &flipped.Finish
	f.RequireNonEmpty, f.RequireStructure, f.RequireSolver = !f.RequireNonEmpty, !f.RequireStructure, !f.RequireSolver
	f.RequireChecker, f.RequireTestForCode = !f.RequireChecker, !f.RequireTestForCode
	f.RequireProgrammerOrTestForCode, f.RequireFormatWhenVerbose = !f.RequireProgrammerOrTestForCode, !f.RequireFormatWhenVerbose
	f.MinOperators = 9
	for name, c := range map[string]canvas.Config{"defaults": canvas.DefaultConfig(), "every field changed": flipped} {
		t.Run(name, func(t *testing.T) {
			p := ConfigToPB(c)
			got, rw, err := ConfigFromPB(p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
			}
			if !reflect.DeepEqual(rw, reward.Default()) {
				t.Errorf("a config without a reward gave reward %+v, want the default", rw)
			}
			back := ConfigToPB(got)
			if !proto.Equal(back, p) {
				t.Errorf("proto round trip:\n got %v\nwant %v", back, p)
			}
		})
	}
}

// TestConfigFromPBOverlaysOnlySetFields: an unset optional field keeps the
// default, a set one (false and zero included) replaces it.
func TestConfigFromPBOverlaysOnlySetFields(t *testing.T) {
	no, zero := false, 0.0
	cases := []struct {
		name string
		in   *pb.EpisodeConfig
		edit func(*canvas.Config, *reward.Spec)
	}{
		{"nil", nil, func(*canvas.Config, *reward.Spec) {}},
		{"empty", &pb.EpisodeConfig{}, func(*canvas.Config, *reward.Spec) {}},
		{"two_step false", &pb.EpisodeConfig{TwoStep: &no}, func(c *canvas.Config, _ *reward.Spec) { c.TwoStep = false }},
		{"max_rounds 3", &pb.EpisodeConfig{MaxRounds: proto.Int32(3)}, func(c *canvas.Config, _ *reward.Spec) { c.MaxRounds = 3 }},
		{"finish.require_checker false", &pb.EpisodeConfig{Finish: &pb.FinishRules{RequireChecker: &no}},
			func(c *canvas.Config, _ *reward.Spec) { c.Finish.RequireChecker = false }},
		{"empty reward is cwrpo", &pb.EpisodeConfig{Reward: &pb.RewardSpec{}}, func(*canvas.Config, *reward.Spec) {}},
		{"reward.base 0", &pb.EpisodeConfig{Reward: &pb.RewardSpec{Base: &zero}}, func(_ *canvas.Config, r *reward.Spec) { r.Base = 0 }},
		{"reward.kind milestone", &pb.EpisodeConfig{Reward: &pb.RewardSpec{Kind: pb.RewardKind_REWARD_KIND_MILESTONE}},
			func(_ *canvas.Config, r *reward.Spec) { r.Kind = reward.Milestone }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantC, wantR := canvas.DefaultConfig(), reward.Default()
			tc.edit(&wantC, &wantR)
			c, r, err := ConfigFromPB(tc.in)
			if err != nil || !reflect.DeepEqual(c, wantC) || !reflect.DeepEqual(r, wantR) {
				t.Errorf("got %+v %+v %v\nwant %+v %+v", c, r, err, wantC, wantR)
			}
		})
	}
}

// TestRewardSpecRoundTrip: a reward spec sent by the trainer
// (RewardSpecToPB) is read back by the canvas (ConfigFromPB) unchanged,
// for every kind, with and without a cost term.
func TestRewardSpecRoundTrip(t *testing.T) {
	prices := cost.Table{{Backend: "openai", Model: "m", Input: 1, Output: 2, CachedInput: 0.5}}
	odd := reward.Spec{Kind: reward.Milestone, CheckerWeight: 0.1, FormatWeight: 0.2, SizeWeight: 0.3, StructureWeight: 0.4,
		MinOperators: 3, Cap: 2, Base: -0.5, ReleaseThreshold: 0.7, UnfinishedPenalty: 0.25, InvalidActionPenalty: 0.05}
	withCost := reward.Default()
	withCost.Cost = reward.CostSpec{Weight: 0.5, Unit: reward.CostMoney, Reference: 0.01, Prices: &prices}
	tokens := reward.Default()
	tokens.Kind = reward.Correctness
	tokens.Cost = reward.CostSpec{Weight: 0.1, Unit: reward.CostTokens, Reference: 1000, Prices: &cost.Table{}}
	for name, r := range map[string]reward.Spec{"default": reward.Default(), "every field": odd, "money cost": withCost, "token cost": tokens} {
		t.Run(name, func(t *testing.T) {
			p := RewardSpecToPB(r)
			_, got, err := ConfigFromPB(&pb.EpisodeConfig{Reward: p})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
			}
			if back := RewardSpecToPB(got); !proto.Equal(back, p) {
				t.Errorf("proto round trip:\n got %v\nwant %v", back, p)
			}
		})
	}
	if c := CostSpecToPB(reward.CostSpec{}); c != nil {
		t.Errorf("an off cost term was sent: %v", c)
	}
}

func TestConfigFromPBRefusesUnknownEnums(t *testing.T) {
	cases := []struct {
		name string
		in   *pb.EpisodeConfig
		want string
	}{
		{"observation 99", &pb.EpisodeConfig{Observation: 99}, "config.observation: unknown value 99"},
		{"reward kind 999", &pb.EpisodeConfig{Reward: &pb.RewardSpec{Kind: 999}}, "config.reward.kind: unknown value 999"},
		{"cost in furlongs", &pb.EpisodeConfig{Reward: &pb.RewardSpec{Cost: &pb.CostSpec{Weight: 1, Unit: "furlongs"}}}, "config.reward.cost.unit must be tokens or money"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ConfigFromPB(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
