package security

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// Finding 4a: an episode id of 1 MB was echoed into the status message
// and the log (two 15 MB ids grew the log by 30 MB). Ids longer than any
// id the canvas makes are now InvalidArgument before any lookup, and
// neither the reply nor the log repeats them.
func TestLongIDsAreRefusedWithoutEcho(t *testing.T) {
	srv := startServer(t)
	cc := srv.conn(t, aliceToken)
	c, tr := pb.NewCanvasServiceClient(cc), pb.NewTrainerServiceClient(cc)
	ctx := ctxT(t, 60*time.Second)
	long := strings.Repeat("x", 1<<20)
	logged := srv.logs.Bytes()
	calls := map[string]error{}
	_, calls["GetEpisode"] = c.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: long})
	_, calls["Step"] = c.Step(ctx, &pb.StepRequest{EpisodeId: long, Action: &pb.Action{Text: "x"}})
	_, calls["CloseEpisode"] = c.CloseEpisode(ctx, &pb.CloseEpisodeRequest{EpisodeId: long})
	_, calls["GetRun"] = tr.GetRun(ctx, &pb.GetRunRequest{RunId: long})
	_, calls["CancelRun"] = tr.CancelRun(ctx, &pb.CancelRunRequest{RunId: long})
	st, err := c.Interact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{EpisodeId: long}}})
	_, calls["Interact resume"] = st.Recv()
	for name, err := range calls {
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s with a 1 MB id: %v; want InvalidArgument", name, status.Code(err))
		}
		if n := len(status.Convert(err).Message()); n > 512 {
			t.Errorf("%s: the message is %d bytes", name, n)
		}
	}
	time.Sleep(300 * time.Millisecond) // the last log lines
	if grew := srv.logs.Bytes() - logged; grew > 64<<10 {
		t.Errorf("six calls with a 1 MB id grew the log by %d bytes", grew)
	}
}

// Finding 4b: an episode record over the send limit could not be
// fetched, and CloseEpisode failed with ResourceExhausted while the close
// happened anyway. GetEpisode now pages the turns (turns_from,
// next_turns_from); CloseEpisode's reply keeps the newest turns that fit, so
// a close either happens and says so, or does not.
func TestHugeEpisodeRecordsAreFetchedAndClosedCleanly(t *testing.T) {
	srv := startServer(t, "--client-episode-memory", "0", "--episode-memory", "0", "--no-execute")
	c := pb.NewCanvasServiceClient(srv.conn(t, aliceToken))
	ctx := ctxT(t, 120*time.Second)
	rounds := int32(1000)
	st, id, err := openStream(t, c, mathTask(), &pb.EpisodeConfig{MaxRounds: &rounds})
	if err != nil {
		t.Fatal(err)
	}
	// 600 invalid replies of 63 KiB: ~38 MB of turn text, over the 32 MiB send limit.
	text := "no action here " + strings.Repeat("z", 63<<10)
	for i := 0; i < 600; i++ {
		if err := st.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: &pb.Action{Text: text}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); err != nil {
			t.Fatalf("turn %d: %v", i, err)
		}
	}
	// The record is read in pages (turns_from / next_turns_from), every
	// turn exactly once, in order, and no page alone holds them all.
	var seen []int32
	pages := 0
	for from := int32(0); ; pages++ {
		got, err := c.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: id, IncludeTurns: true, TurnsFrom: from})
		if err != nil {
			t.Fatalf("GetEpisode page from %d of a huge record: %v", from, err)
		}
		if len(got.GetEpisode().GetTurns()) == 0 {
			t.Fatalf("page from %d is empty", from)
		}
		for _, tr := range got.GetEpisode().GetTurns() {
			seen = append(seen, tr.GetTurn())
		}
		if from = got.GetNextTurnsFrom(); from == 0 {
			break
		}
		if pages > 10 {
			t.Fatal("more than 10 pages for ~38 MB")
		}
	}
	if pages < 1 || len(seen) != 600 {
		t.Fatalf("%d pages held %d turns; want 600 turns over at least 2 pages", pages+1, len(seen))
	}
	for i, n := range seen {
		if n != int32(i+1) {
			t.Fatalf("turn %d of the pages is numbered %d", i, n)
		}
	}
	if _, err := c.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: id, IncludeTurns: true, TurnsFrom: -1}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("turns_from -1: %v; want InvalidArgument", err)
	}
	closed, err := c.CloseEpisode(ctx, &pb.CloseEpisodeRequest{EpisodeId: id})
	if err != nil || !closed.GetEpisode().GetClosed() {
		t.Fatalf("CloseEpisode of a huge record: %v", err)
	}
}

// Finding 4c: a reply holding a NUL byte inside <action> was stored as a
// node prompt. Now it is an invalid turn (canvas feedback, the episode goes
// on), nothing reaches a node prompt, and the turn record shows U+FFFD; in a
// structured action's fields a NUL byte is malformed input.
func TestNULBytesInActionsAreRefused(t *testing.T) {
	srv := startServer(t)
	c := pb.NewCanvasServiceClient(srv.conn(t, aliceToken))
	ctx := ctxT(t, 30*time.Second)
	ep, err := c.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: mathTask()})
	if err != nil {
		t.Fatal(err)
	}
	id := ep.GetObservation().GetEpisodeId()
	resp, err := c.Step(ctx, &pb.StepRequest{EpisodeId: id,
		Action: &pb.Action{Text: "<action>add\x00</action><operator>Custom</operator><prompt>a\x00prompt</prompt>"}})
	if err != nil {
		t.Fatalf("an action with a NUL byte ended the episode: %v; want canvas feedback", err)
	}
	o := resp.GetObservation()
	if o.GetValid() || !strings.Contains(o.GetFeedback(), "NUL") || o.GetWorkflow().GetDsl() != "" {
		t.Fatalf("valid=%v dsl=%q feedback=%q; want an invalid turn naming the NUL byte, graph unchanged", o.GetValid(), o.GetWorkflow().GetDsl(), o.GetFeedback())
	}
	got, err := c.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: id, IncludeTurns: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range got.GetEpisode().GetTurns() {
		if strings.ContainsRune(tr.GetAction().GetText(), 0) {
			t.Fatalf("turn %d stored a NUL byte: %q", tr.GetTurn(), tr.GetAction().GetText())
		}
	}
	_, err = c.Step(ctx, &pb.StepRequest{EpisodeId: id,
		Action: &pb.Action{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: "Custom", Prompt: "a\x00prompt"}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "NUL") {
		t.Fatalf("a structured action with a NUL byte: %v; want InvalidArgument naming the NUL byte", err)
	}
}
