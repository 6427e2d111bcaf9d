package canvas_test

import (
	"context"
	"math"
	"testing"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// TestCostAwareRewardSubtractsTheFinalWorkflowsTokens plays the scripted
// episode on the simulated executor with reward.cost on: the episode's
// usage covers every execution, and the reward loses
// weight * min(1, tokens of the final workflow / reference).
func TestCostAwareRewardSubtractsTheFinalWorkflowsTokens(t *testing.T) {
	sys, err := system.BuildContext(context.Background(), system.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Close() })
	v := server.Validators{}
	canvassvc.AddValidators(v)
	conn := servertest.Bufconn(t, server.Options{Logger: servertest.Discard(), Validators: v}, func(s *server.Server) {
		canvassvc.Register(s, canvassvc.New(sys.Canvas))
	})
	client := flowsteer.New(conn)

	play := func(spec *pb.CostSpec) *pb.Observation {
		c := ctx(t)
		ep, err := client.Open(c, mathTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Cost: spec}})
		if err != nil {
			t.Fatal(err)
		}
		defer ep.Close()
		var obs *pb.Observation
		for i, s := range script {
			if obs, err = ep.Step(c, flowsteer.Text(s.reply)); err != nil {
				t.Fatalf("turn %d: %v", i+1, err)
			}
		}
		if !obs.GetDone() {
			t.Fatal("the scripted episode did not end")
		}
		return obs
	}
	off := play(nil)
	on := play(&pb.CostSpec{Weight: 0.5, Unit: "tokens", Reference: 1e9})
	var final int64
	for _, m := range on.GetExecution().GetStats().GetModels() {
		final += m.GetInputTokens() + m.GetOutputTokens() + m.GetSavedInputTokens() + m.GetSavedOutputTokens()
	}
	var nodes int64
	for _, n := range on.GetExecution().GetNodes() {
		for _, m := range n.GetModels() {
			nodes += m.GetInputTokens() + m.GetOutputTokens() + m.GetSavedInputTokens() + m.GetSavedOutputTokens()
		}
	}
	if nodes != final {
		t.Errorf("the nodes' usage sums to %d tokens, the execution's to %d", nodes, final)
	}
	if final == 0 || !on.GetExecution().GetStats().GetSimulated() {
		t.Fatalf("final execution usage %v", on.GetExecution().GetStats())
	}
	var episode int64
	for _, m := range on.GetEpisodeUsage().GetModels() {
		episode += m.GetInputTokens() + m.GetOutputTokens() + m.GetSavedInputTokens() + m.GetSavedOutputTokens()
	}
	if episode <= final {
		t.Errorf("episode usage %d tokens, not more than its final run's %d: the edits' executions are missing", episode, final)
	}
	r0, r1 := off.GetReward(), on.GetReward()
	want := 0.5 * float64(final) / 1e9
	if r0.GetCostPenalty() != 0 || r1.GetCostUnit() != "tokens" || r1.GetWorkflowCost() != float64(final) ||
		math.Abs(r1.GetCostPenalty()-want) > 1e-15 || math.Abs(r0.GetReward()-r1.GetReward()-want) > 1e-12 {
		t.Errorf("off %v\non %v\nwant penalty %v", r0, r1, want)
	}
	if _, err := client.Open(ctx(t), mathTask(), &pb.EpisodeConfig{Reward: &pb.RewardSpec{Cost: &pb.CostSpec{Weight: 1, Unit: "calls", Reference: 1}}}); err == nil {
		t.Error("an unknown cost unit was accepted")
	}
}
