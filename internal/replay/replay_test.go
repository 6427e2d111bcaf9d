package replay

import (
	"context"
	"errors"
	"strings"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/executor"
)

func req(node string, variant int, user string) executor.Request {
	return executor.Request{Messages: []executor.Message{{Role: "user", Content: user}},
		Meta: executor.Meta{Operator: "Custom", NodeID: node, Variant: variant, TaskID: "t", Episode: "ep_random"}}
}

func TestRequestDigestIgnoresTheEpisodeButNotWhereTheCallWasMade(t *testing.T) {
	a := req("node_1", 0, "hi")
	b := a
	b.Meta.Episode = "ep_other"
	if RequestDigest(a) != RequestDigest(b) {
		t.Error("the episode id changed the digest: a replay could never match")
	}
	for _, c := range []executor.Request{req("node_2", 0, "hi"), req("node_1", 1, "hi"), req("node_1", 0, "ho")} {
		if RequestDigest(a) == RequestDigest(c) {
			t.Errorf("%+v and %+v share a digest", a.Meta, c.Meta)
		}
	}
}

func TestBackendAnswersInRecordedOrderAndNamesUnknownRequests(t *testing.T) {
	r1, r2 := req("node_1", 0, "same"), req("node_2", 0, "other")
	d1, d2 := RequestDigest(r1), RequestDigest(r2)
	be := NewBackend(BackendInfo{Name: "openai", Model: "m"}, []Call{
		{Digest: d1, Reply: "first"}, {Digest: d1, Reply: "second"}, {Digest: d2, Error: "HTTP 500"}})
	ctx := context.Background()
	for _, want := range []string{"first", "second", "second"} { // the last reply again when they run out
		if resp, err := be.Complete(ctx, r1); err != nil || resp.Text != want {
			t.Errorf("got %q %v, want %q", resp.Text, err, want)
		}
	}
	if _, err := be.Complete(ctx, r2); err == nil || err.Error() != "HTTP 500" {
		t.Errorf("a recorded error replays as %v", err)
	}
	_, err := be.Complete(ctx, req("node_9", 0, "never"))
	if err == nil || !strings.Contains(err.Error(), "node_9") {
		t.Errorf("unknown request: %v", err)
	}
	used, missing := be.Used()
	if used != 3 || len(missing) != 1 {
		t.Errorf("used %d, missing %v", used, missing)
	}
	if be.Name() != "openai" || be.Model() != "m" || be.Simulated() {
		t.Error("the replay backend does not impersonate the recorded one")
	}
}

func TestRecorderIsBoundedAndTakesPerEpisode(t *testing.T) {
	r := NewRecorder(BackendInfo{Name: "sim"})
	r.maxEpisodes, r.maxCalls = 2, 3
	for i := 0; i < 5; i++ {
		r.Record("ep_a", 1, req("node_1", i, "x"), executor.Response{Text: "y"}, nil)
	}
	r.Record("", 1, req("node_1", 0, "x"), executor.Response{}, nil) // outside episodes: ignored
	r.Record("ep_b", 2, req("node_1", 0, "x"), executor.Response{}, errors.New("boom"))
	r.Record("ep_c", 3, req("node_1", 0, "x"), executor.Response{}, nil) // drops ep_a, the oldest
	if calls, _ := r.Take("ep_a"); calls != nil {
		t.Errorf("ep_a kept past the bound: %v", calls)
	}
	calls, dropped := r.Take("ep_b")
	if len(calls) != 1 || calls[0].Error != "boom" || calls[0].Turn != 2 || dropped != 0 {
		t.Errorf("ep_b: %+v %d", calls, dropped)
	}
	r2 := NewRecorder(BackendInfo{})
	r2.maxCalls = 3
	for i := 0; i < 5; i++ {
		r2.Record("ep", 1, req("node_1", i, "x"), executor.Response{}, nil)
	}
	if calls, dropped := r2.Take("ep"); len(calls) != 3 || dropped != 2 || calls[2].Seq != 2 {
		t.Errorf("bounded episode: %d calls, %d dropped", len(calls), dropped)
	}
}

func TestObservationDigestIgnoresProcessAccounting(t *testing.T) {
	usage := []*pb.ModelUsage{{Model: "m", Calls: 1}}
	o := &pb.Observation{EpisodeId: "ep_1", Feedback: "ok", EpisodeUsage: &pb.ExecutionStats{Calls: 9, Models: usage}, Execution: &pb.Execution{
		Stats: &pb.ExecutionStats{Calls: 3, CacheHits: 1, Models: usage, SandboxSeconds: 0.5},
		Nodes: []*pb.NodeResult{{NodeId: "node_1", OutputExcerpt: "4", CacheHit: true, Calls: 1, Models: usage}}}}
	p := &pb.Observation{EpisodeId: "ep_2", Feedback: "ok", Execution: &pb.Execution{
		Stats: &pb.ExecutionStats{Calls: 0}, Nodes: []*pb.NodeResult{{NodeId: "node_1", OutputExcerpt: "4"}}}}
	if ObservationDigest(o) != ObservationDigest(p) {
		t.Error("episode id, counters or cost accounting changed the digest")
	}
	p.Execution.Nodes[0].OutputExcerpt = "5"
	if ObservationDigest(o) == ObservationDigest(p) {
		t.Error("a different node output kept the digest")
	}
	if NodeDigests(o)[0] == NodeDigests(p)[0] {
		t.Error("a different node output kept the node digest")
	}
}

func TestParseBundleRefusesWhatIsNotABundle(t *testing.T) {
	for _, in := range []string{`{}`, `not json`, `{"format": 99, "task": {}}`, `{"format": 1}`} {
		if _, err := ParseBundle([]byte(in)); err == nil {
			t.Errorf("%s parsed", in)
		}
	}
}
