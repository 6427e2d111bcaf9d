package security

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

const tinyRun = `
name: alice
steps: 1
batch_tasks: 1
group_size: 2
eval: {tasks: 2, baselines: []}
checkpoint: {every: 1}
`

// Finding 2: bob could get, step, resume and close alice's episodes, list
// and cancel her runs, and overwrite her run database through
// SaveCheckpoint. Every RPC that takes an id now answers another tenant
// NotFound, with the very message of an id that does not exist.
func TestOtherTenantsGetNotFound(t *testing.T) {
	srv := startServer(t)
	alice, bob, ops := srv.conn(t, aliceToken), srv.conn(t, bobToken), srv.conn(t, opsToken)
	ac, bc, oc := pb.NewCanvasServiceClient(alice), pb.NewCanvasServiceClient(bob), pb.NewCanvasServiceClient(ops)
	ctx := ctxT(t, 90*time.Second)

	created, err := ac.CreateEpisode(ctx, &pb.CreateEpisodeRequest{Task: mathTask()})
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetObservation().GetEpisodeId()
	// An episode alice opened on a stream and left resumable.
	st, err := ac.Interact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Open{Open: &pb.CreateEpisodeRequest{Task: mathTask()}}}); err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	streamed := first.GetObservation().GetEpisodeId()
	_ = st.CloseSend()
	if _, err := st.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("stream end: %v", err)
	}

	missing := func(err error) string {
		if status.Code(err) != codes.NotFound {
			t.Fatalf("code %v (%v), want NotFound", status.Code(err), err)
		}
		return strings.ReplaceAll(status.Convert(err).Message(), "ep_0000000000000000", "ID")
	}
	_, err = bc.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: "ep_0000000000000000"})
	want := missing(err)
	for _, epID := range []string{id, streamed} {
		same := func(name string, err error) {
			t.Helper()
			if got := strings.ReplaceAll(missing(err), epID, "ID"); got != want {
				t.Errorf("%s: %q differs from a missing episode's %q", name, got, want)
			}
		}
		_, err = bc.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: epID, IncludeTurns: true})
		same("GetEpisode", err)
		_, err = bc.Step(ctx, &pb.StepRequest{EpisodeId: epID, Action: &pb.Action{Text: "<action>add</action><operator>Custom</operator>"}})
		same("Step", err)
		_, err = bc.CloseEpisode(ctx, &pb.CloseEpisodeRequest{EpisodeId: epID})
		same("CloseEpisode", err)
		rs, err := bc.Interact(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = rs.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{EpisodeId: epID}}})
		_, err = rs.Recv()
		same("Interact resume", err)
		// Alice still has it, untouched; the admin sees it.
		if ep, err := ac.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: epID}); err != nil || ep.GetEpisode().GetClosed() {
			t.Fatalf("alice's own episode: %v (closed %v)", err, ep.GetEpisode().GetClosed())
		}
		if _, err := oc.GetEpisode(ctx, &pb.GetEpisodeRequest{EpisodeId: epID}); err != nil {
			t.Fatalf("the admin cannot see alice's episode: %v", err)
		}
	}

	// Runs.
	at, bt := pb.NewTrainerServiceClient(alice), pb.NewTrainerServiceClient(bob)
	start, err := at.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: tinyRun, RunDir: "alice-run"})
	if err != nil {
		t.Fatal(err)
	}
	runID := start.GetRun().GetId()
	_, err = bt.GetRun(ctx, &pb.GetRunRequest{RunId: runID})
	if status.Code(err) != codes.NotFound {
		t.Errorf("bob GetRun: %v", err)
	}
	_, err = bt.CancelRun(ctx, &pb.CancelRunRequest{RunId: runID})
	if status.Code(err) != codes.NotFound {
		t.Errorf("bob CancelRun: %v", err)
	}
	w, err := bt.WatchRun(ctx, &pb.WatchRunRequest{RunId: runID, FromStart: true})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("bob WatchRun: %v", err)
	}
	_, err = bt.StartRun(ctx, &pb.StartRunRequest{Resume: true, RunDir: runID})
	if status.Code(err) != codes.NotFound {
		t.Errorf("bob resuming alice's run: %v", err)
	}
	if l, err := bt.ListRuns(ctx, &pb.ListRunsRequest{}); err != nil || len(l.GetRuns()) != 0 {
		t.Errorf("bob ListRuns: %v, %d runs (alice's listed)", err, len(l.GetRuns()))
	}
	// Wait for alice's run to end, then try to overwrite its database.
	aw, err := at.WatchRun(ctx, &pb.WatchRunRequest{RunId: runID})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := aw.Recv()
		if err != nil || ev.GetEvent().GetStatus() != nil {
			break
		}
	}
	bp := pb.NewPolicyServiceClient(bob)
	_, err = bp.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: runID + "/run.db"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("bob SaveCheckpoint over alice's run.db: %v; want PermissionDenied", err)
	}
	_, err = bp.SaveCheckpoint(ctx, &pb.SaveCheckpointRequest{Path: runID + "/checkpoints/x.ckpt"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("bob SaveCheckpoint into alice's run: %v; want NotFound", err)
	}
	ev, err := bt.Evaluate(ctx, &pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "embedded", Checkpoint: filepath.Join(runID, "checkpoints", "step-000001.ckpt")}, Tasks: []*pb.Task{mathTask()}})
	if err == nil {
		_, err = ev.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("bob evaluating alice's checkpoint: %v; want NotFound", err)
	}
	if r, err := at.GetRun(ctx, &pb.GetRunRequest{RunId: runID}); err != nil || r.GetRun().GetStatus() != pb.RunStatus_RUN_STATUS_SUCCEEDED {
		t.Errorf("alice's run after bob's attempts: %v, %v", err, r.GetRun().GetStatus())
	}
	if l, err := pb.NewTrainerServiceClient(ops).ListRuns(ctx, &pb.ListRunsRequest{}); err != nil || len(l.GetRuns()) != 1 {
		t.Errorf("the admin's ListRuns: %v, %d runs; want alice's", err, len(l.GetRuns()))
	}
}
