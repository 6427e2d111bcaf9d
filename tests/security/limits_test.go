package security

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// openStream opens an episode on an Interact stream and returns the
// stream (still open) and the episode id.
func openStream(t *testing.T, c pb.CanvasServiceClient, task *pb.Task, cfg *pb.EpisodeConfig) (pb.CanvasService_InteractClient, string, error) {
	t.Helper()
	st, err := c.Interact(ctxT(t, 60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Open{Open: &pb.CreateEpisodeRequest{Task: task, Config: cfg}}}); err != nil {
		return nil, "", err
	}
	first, err := st.Recv()
	if err != nil {
		return nil, "", err
	}
	return st, first.GetObservation().GetEpisodeId(), nil
}

// Finding 3a: --max-client-episodes 5 let one client hold 30 episodes:
// one opened on an Interact stream stopped counting when the stream ended
// while it stayed resumable. Now every stored episode counts, however it
// was opened, and the limit is per tenant.
func TestEpisodeLimitHoldsWhicheverRPCOpens(t *testing.T) {
	srv := startServer(t, "--max-client-episodes", "5")
	ac, bc := pb.NewCanvasServiceClient(srv.conn(t, aliceToken)), pb.NewCanvasServiceClient(srv.conn(t, bobToken))
	ctx := ctxT(t, 60*time.Second)
	for i := 0; i < 3; i++ { // streams that end, leaving resumable episodes
		st, _, err := openStream(t, ac, mathTask(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = st.CloseSend()
		_, _ = st.Recv()
	}
	var live []pb.CanvasService_InteractClient
	st, _, err := openStream(t, ac, mathTask(), nil) // one live stream
	if err != nil {
		t.Fatal(err)
	}
	live = append(live, st)
	created, err := ac.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: mathTask()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ac.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: mathTask()})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-client-episodes") {
		t.Fatalf("6th episode by CreateEpisode: %v; want ResourceExhausted naming --max-client-episodes", err)
	}
	if _, _, err := openStream(t, ac, mathTask(), nil); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("6th episode by Interact: %v; want ResourceExhausted", err)
	}
	// Another tenant is not affected.
	if _, err := bc.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: mathTask()}); err != nil {
		t.Fatalf("bob's first episode: %v", err)
	}
	// A closed episode makes room.
	if _, err := ac.CloseEpisode(ctx, &pb.CloseEpisodeRequest{EpisodeId: created.GetObservation().GetEpisodeId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: mathTask()}); err != nil {
		t.Fatalf("after a close: %v", err)
	}
	_ = live
}

// Finding 3b: an episode with a live stream could be evicted when the
// store was full. Now the new episode is refused instead.
func TestLiveStreamEpisodesAreNeverEvicted(t *testing.T) {
	srv := startServer(t, "--max-episodes", "2")
	ac, bc := pb.NewCanvasServiceClient(srv.conn(t, aliceToken)), pb.NewCanvasServiceClient(srv.conn(t, bobToken))
	s1, _, err := openStream(t, ac, mathTask(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := openStream(t, ac, mathTask(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bc.CreateEpisode(ctxT(t, 30*time.Second), &pb.CreateEpisodeRequest{Task: mathTask()})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-episodes") {
		t.Fatalf("a third episode on a full store of live streams: %v; want ResourceExhausted naming --max-episodes", err)
	}
	for _, s := range []pb.CanvasService_InteractClient{s1, s2} {
		if err := s.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: "<action>add</action><operator>Custom</operator>"}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("a live episode lost its turn: %v", err)
		}
	}
}

// maxTask is a task at the size limits a canvas accepts.
func maxTask() *pb.Task {
	t := mathTask()
	t.Question = strings.Repeat("q", 200<<10)
	t.Context = strings.Repeat("c", 50<<10)
	return t
}

// Finding 3c: the episode store was bounded by count only (a maximum-size
// task cost ~1.15 MB; 1,000 turns of 64 KiB added 96 MB). Episodes now
// reserve what they may grow to when they open, against a per-tenant
// and a global byte budget, and the server's memory stays under them
// while a client tries to exceed them.
func TestMemoryBudgetHoldsAgainstAHostileClient(t *testing.T) {
	const tenantBudget, globalBudget = 64 << 20, 96 << 20
	srv := startServer(t, "--client-episode-memory", "64MiB", "--episode-memory", "96MiB", "--no-execute")
	ac, bc := pb.NewCanvasServiceClient(srv.conn(t, aliceToken)), pb.NewCanvasServiceClient(srv.conn(t, bobToken))
	ctx := ctxT(t, 90*time.Second)
	before := srv.rssBytes(t)

	// One huge episode alone is over the tenant budget.
	rounds := int32(1000)
	_, err := ac.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: maxTask(), Config: &pb.EpisodeConfig{MaxRounds: &rounds}})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--client-episode-memory") {
		t.Fatalf("a 1000-round episode: %v; want ResourceExhausted naming --client-episode-memory", err)
	}
	// Alice then bob fill their budgets with maximum-size episodes and
	// grow each with 64 KiB replies, on live streams.
	reply := &pb.Action{Text: "<action>add</action><operator>Custom</operator><prompt>" + strings.Repeat("p", 63<<10) + "</prompt>"}
	admitted := map[string]int{}
	var refusal string
	for _, who := range []struct {
		name string
		c    pb.CanvasServiceClient
	}{{"alice", ac}, {"bob", bc}} {
		for i := 0; i < 100; i++ {
			st, _, err := openStream(t, who.c, maxTask(), nil)
			if err != nil {
				if status.Code(err) != codes.ResourceExhausted {
					t.Fatalf("%s episode %d: %v", who.name, i, err)
				}
				refusal = err.Error()
				break
			}
			admitted[who.name]++
			for turn := 0; turn < 19; turn++ {
				if err := st.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: reply}}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Recv(); err != nil {
					t.Fatalf("%s episode %d turn %d: %v", who.name, i, turn, err)
				}
			}
		}
	}
	if admitted["alice"] == 0 || admitted["alice"] >= 100 || admitted["bob"] == 0 {
		t.Fatalf("admitted %v: the budgets did not bound the episodes", admitted)
	}
	if !strings.Contains(refusal, "memory") {
		t.Errorf("refusal does not name the memory limit: %s", refusal)
	}
	after := srv.rssBytes(t)
	t.Logf("admitted %v episodes (20 rounds, %d KiB tasks, 64 KiB replies); RSS %d MiB -> %d MiB (global budget %d MiB)",
		admitted, len(maxTask().GetQuestion())>>10, before>>20, after>>20, globalBudget>>20)
	// serve puts the Go heap's soft limit at the budget plus 128 MiB of
	// headroom for everything else (cmd/flowsteer/serve.go).
	if grow := after - before; grow > globalBudget+128<<20 {
		t.Errorf("the server grew by %d MiB, over the %d MiB episode budget and its 128 MiB headroom", grow>>20, globalBudget>>20)
	}
	_ = tenantBudget
}
