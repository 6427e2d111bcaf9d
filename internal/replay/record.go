package replay

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/rollout"
)

// FormatVersion is the version of Record and Bundle this build writes.
const FormatVersion = 1

// Call is one executor call an operator made, in the order they were
// made within the episode.
type Call struct {
	Seq int `json:"seq"`
	// Turn is the episode's turn whose workflow run made the call.
	Turn     int    `json:"turn"`
	NodeID   string `json:"node"`
	Operator string `json:"operator"`
	Variant  int    `json:"variant,omitempty"`
	Attempt  int    `json:"attempt,omitempty"`
	// Digest identifies the request (RequestDigest); the replay backend
	// answers by it.
	Digest string `json:"digest"`
	Reply  string `json:"reply"`
	// Error is the backend's error, replayed as an error.
	Error        string `json:"error,omitempty"`
	Model        string `json:"model,omitempty"`
	InputTokens  int64  `json:"input_tokens,omitempty"`
	OutputTokens int64  `json:"output_tokens,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// BackendInfo describes the executor backend an episode ran on, which the
// replay backend impersonates (its name and model appear in observations).
type BackendInfo struct {
	Name      string `json:"name"`
	Model     string `json:"model"`
	Simulated bool   `json:"simulated"`
}

// Defaults bounding a Recorder.
const (
	DefaultMaxEpisodes = 4096
	DefaultMaxCalls    = 20_000
)

// Recorder collects executor calls per episode until the trainer takes
// them. It is bounded: at most MaxEpisodes episodes are held (the oldest
// is dropped, e.g. one whose record was never taken) and at most MaxCalls
// calls per episode (later ones are counted as dropped, and the record
// says it is incomplete). Safe for concurrent use.
type Recorder struct {
	backend     BackendInfo
	maxEpisodes int
	maxCalls    int

	mu    sync.Mutex
	eps   map[string]*episodeCalls
	order []string // insertion order, for dropping the oldest
}

type episodeCalls struct {
	calls   []Call
	dropped int
}

// NewRecorder returns a recorder for calls made on backend b.
func NewRecorder(b BackendInfo) *Recorder {
	return &Recorder{backend: b, maxEpisodes: DefaultMaxEpisodes, maxCalls: DefaultMaxCalls, eps: map[string]*episodeCalls{}}
}

// Backend is the backend the recorder's calls ran on.
func (r *Recorder) Backend() BackendInfo { return r.backend }

// Record is an engine.CallRecorder.
func (r *Recorder) Record(episode string, turn int, req executor.Request, resp executor.Response, err error) {
	if episode == "" {
		return // RunWorkflow and eval runs belong to no episode
	}
	c := Call{Turn: turn, NodeID: req.Meta.NodeID, Operator: req.Meta.Operator, Variant: req.Meta.Variant, Attempt: req.Meta.Attempt,
		Digest: RequestDigest(req), Reply: resp.Text, Model: resp.Model, InputTokens: resp.InputTokens,
		OutputTokens: resp.OutputTokens, FinishReason: resp.FinishReason}
	if err != nil {
		c.Error = err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.eps[episode]
	if e == nil {
		e = &episodeCalls{}
		r.eps[episode] = e
		r.order = append(r.order, episode)
		for len(r.eps) > r.maxEpisodes && len(r.order) > 0 {
			delete(r.eps, r.order[0])
			r.order = r.order[1:]
		}
	}
	if len(e.calls) >= r.maxCalls {
		e.dropped++
		return
	}
	c.Seq = len(e.calls)
	e.calls = append(e.calls, c)
}

// Take returns and forgets an episode's calls, and how many were dropped
// over the bound.
func (r *Recorder) Take(episode string) ([]Call, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.eps[episode]
	if e == nil {
		return nil, 0
	}
	delete(r.eps, episode)
	for i, id := range r.order {
		if id == episode {
			r.order = append(r.order[:i], r.order[i+1:]...)
			break
		}
	}
	return e.calls, e.dropped
}

// Turn is what a record keeps of one turn.
type Turn struct {
	Turn int `json:"turn"`
	// Action is the policy's action as sent to the canvas (protojson
	// pb.Action: the full reply text, or the structured action).
	Action json.RawMessage `json:"action"`
	// Observation is ObservationDigest of the observation the turn
	// produced; Nodes are the digests of its node results.
	Observation string       `json:"observation"`
	Nodes       []NodeDigest `json:"nodes,omitempty"`
	// Parts digests the observation's parts one by one, so that a replay
	// can say which part differs.
	Parts map[string]string `json:"parts,omitempty"`
	// Parsed is the action as the canvas understood it; Outputs are the
	// node results as the observation showed them (bounded excerpts), for
	// the viewer. Replay does not compare them (Nodes covers them).
	Parsed  string       `json:"parsed,omitempty"`
	Outputs []NodeOutput `json:"outputs,omitempty"`
}

// NodeOutput is one node's result as an observation showed it.
type NodeOutput struct {
	NodeID    string `json:"node"`
	Operator  string `json:"operator"`
	Status    string `json:"status"`
	Iteration int32  `json:"iteration,omitempty"`
	Excerpt   string `json:"excerpt,omitempty"`
	Error     string `json:"error,omitempty"`
}

// maxExcerpt bounds a stored node output excerpt.
const maxExcerpt = 400

func outputsOf(o *pb.Observation) []NodeOutput {
	var out []NodeOutput
	for _, n := range o.GetExecution().GetNodes() {
		out = append(out, NodeOutput{NodeID: n.GetNodeId(), Operator: n.GetOperator(),
			Status: strings.ToLower(strings.TrimPrefix(n.GetStatus().String(), "NODE_STATUS_")), Iteration: n.GetIteration(),
			Excerpt: bound(n.GetOutputExcerpt(), maxExcerpt), Error: bound(n.GetError(), maxExcerpt)})
	}
	return out
}

func bound(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Record is an episode's replay record, stored with the episode (gzipped
// JSON) and the heart of an exported Bundle.
type Record struct {
	Format  int             `json:"format"`
	Task    json.RawMessage `json:"task"`   // protojson pb.Task, private fields included
	Config  json.RawMessage `json:"config"` // protojson pb.EpisodeConfig (canvas and reward)
	Backend BackendInfo     `json:"backend"`
	// First is the digest of the observation the episode opened with.
	First string `json:"first"`
	Turns []Turn `json:"turns"`
	// Reward is the final reward breakdown (protojson), null when none.
	Reward json.RawMessage `json:"reward,omitempty"`
	Calls  []Call          `json:"calls"`
	// DroppedCalls counts calls over the recorder's bound: such a record
	// cannot be replayed exactly.
	DroppedCalls int `json:"dropped_calls,omitempty"`
}

var pj = protojson.MarshalOptions{UseProtoNames: true}

// NewRecord builds the record of a played episode.
func NewRecord(rec *rollout.Record, cfg *pb.EpisodeConfig, b BackendInfo, calls []Call, dropped int) (*Record, error) {
	out := &Record{Format: FormatVersion, Backend: b, Calls: calls, DroppedCalls: dropped}
	var err error
	if out.Task, err = pj.Marshal(rec.Task); err != nil {
		return nil, fmt.Errorf("replay: encode task: %w", err)
	}
	if cfg == nil {
		cfg = &pb.EpisodeConfig{}
	}
	if out.Config, err = pj.Marshal(cfg); err != nil {
		return nil, fmt.Errorf("replay: encode config: %w", err)
	}
	if rec.First != nil {
		out.First = ObservationDigest(rec.First)
	}
	for i, tu := range rec.Turns {
		t := Turn{Turn: tu.Number}
		if i < len(rec.Decisions) {
			if t.Action, err = pj.Marshal(rec.Decisions[i].GetAction()); err != nil {
				return nil, fmt.Errorf("replay: encode action of turn %d: %w", tu.Number, err)
			}
		}
		if tu.Obs != nil {
			t.Observation = ObservationDigest(tu.Obs)
			t.Nodes = NodeDigests(tu.Obs)
			t.Parts = PartDigests(tu.Obs)
			t.Parsed = tu.Obs.GetLastAction()
			t.Outputs = outputsOf(tu.Obs)
		}
		out.Turns = append(out.Turns, t)
	}
	if r := rec.Final.GetReward(); r != nil {
		if out.Reward, err = pj.Marshal(r); err != nil {
			return nil, fmt.Errorf("replay: encode reward: %w", err)
		}
	}
	return out, nil
}

// Encode gzips the record's JSON for the store.
func (r *Record) Encode() ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return nil, fmt.Errorf("replay: encode record: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("replay: encode record: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeRecord reads what Encode wrote.
func DecodeRecord(data []byte) (*Record, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("replay: decode record: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("replay: decode record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("replay: decode record: %w", err)
	}
	if r.Format > FormatVersion {
		return nil, fmt.Errorf("replay: record format %d is newer than this build's %d", r.Format, FormatVersion)
	}
	return &r, nil
}
