package replay

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/executor"
)

// RequestDigest identifies an executor request by what decides its
// answer: the model, the messages, the sampling, and where in the workflow
// it was made (operator, node, variant, attempt, task). The episode id is
// left out (a replay runs under a new one), and so is Meta.Sim, the
// simulation's private context, which is a function of the rest.
func RequestDigest(req executor.Request) string {
	key := struct {
		Model    string              `json:"model"`
		Messages []executor.Message  `json:"messages"`
		Sampling executor.Sampling   `json:"sampling"`
		Operator string              `json:"operator"`
		Node     string              `json:"node"`
		Variant  int                 `json:"variant"`
		Attempt  int                 `json:"attempt"`
		Task     string              `json:"task"`
		Inputs   map[string]string   `json:"inputs,omitempty"`
		Lists    map[string][]string `json:"lists,omitempty"`
	}{req.Model, req.Messages, req.Sampling, req.Meta.Operator, req.Meta.NodeID, req.Meta.Variant, req.Meta.Attempt,
		req.Meta.TaskID, req.Meta.Inputs, req.Meta.Lists}
	b, _ := json.Marshal(key) // plain strings and numbers: cannot fail; map keys are sorted
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// ObservationDigest hashes an observation without what depends on the
// process rather than the episode: the episode id, durations, and the
// call, cache and token counters (a replay runs without the shared cache).
func ObservationDigest(o *pb.Observation) string {
	c := normalize(o)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return "unencodable: " + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

func normalize(o *pb.Observation) *pb.Observation {
	c := proto.Clone(o).(*pb.Observation)
	c.EpisodeId = ""
	// The episode's running usage (issue #23's cost accounting) is process
	// accounting too: latencies and cache hits differ on a replay.
	c.EpisodeUsage = nil
	if x := c.GetExecution(); x != nil {
		if s := x.GetStats(); s != nil {
			s.Calls, s.CacheHits, s.InputTokens, s.OutputTokens, s.SavedTokens, s.Duration = 0, 0, 0, 0, 0, nil
			s.Models, s.SandboxSeconds = nil, 0
		}
		for _, n := range x.GetNodes() {
			clearNode(n)
		}
	}
	return c
}

func clearNode(n *pb.NodeResult) {
	n.Duration, n.CacheHit, n.Calls, n.InputTokens, n.OutputTokens = nil, false, 0, 0, 0
	n.Models = nil
}

// NodeDigest is one node result of an observation, hashed.
type NodeDigest struct {
	NodeID    string `json:"node"`
	Iteration int32  `json:"iteration,omitempty"`
	Operator  string `json:"operator"`
	Status    string `json:"status"`
	Digest    string `json:"digest"`
}

// NodeDigests hashes each node result of an observation's execution.
func NodeDigests(o *pb.Observation) []NodeDigest {
	var out []NodeDigest
	for _, n := range o.GetExecution().GetNodes() {
		c := proto.Clone(n).(*pb.NodeResult)
		clearNode(c)
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
		sum := sha256.Sum256(b)
		out = append(out, NodeDigest{NodeID: n.GetNodeId(), Iteration: n.GetIteration(), Operator: n.GetOperator(),
			Status: n.GetStatus().String(), Digest: hex.EncodeToString(sum[:12])})
	}
	return out
}

func (n NodeDigest) label() string {
	if n.Iteration > 0 {
		return fmt.Sprintf("%s (%s, iteration %d)", n.NodeID, n.Operator, n.Iteration)
	}
	return fmt.Sprintf("%s (%s)", n.NodeID, n.Operator)
}

// PartDigests hashes the parts of a normalised observation that a person
// would name when two differ.
func PartDigests(o *pb.Observation) map[string]string {
	c := normalize(o)
	x := c.GetExecution()
	parts := map[string]proto.Message{
		"workflow":  c.GetWorkflow(),
		"reward":    c.GetReward(),
		"prompt":    c.GetPrompt(),
		"awaiting":  c.GetAwaiting(),
		"operators": &pb.ListOperatorsResponse{Operators: c.GetOperators()},
	}
	out := map[string]string{}
	for k, m := range parts {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		out[k] = short(b)
	}
	strs := map[string]string{
		"feedback":     c.GetFeedback(),
		"valid":        fmt.Sprint(c.GetValid()),
		"state":        c.GetState().String(),
		"turn":         fmt.Sprint(c.GetTurn(), "/", c.GetMaxRounds(), "/", c.GetRoundsLeft()),
		"hint":         c.GetHint(),
		"done":         fmt.Sprint(c.GetDone(), " ", c.GetEndReason()),
		"last_action":  c.GetLastAction() + " " + c.GetLastActionKind().String(),
		"final_answer": x.GetFinalAnswer(),
		"exec_error":   x.GetError() + "\x00" + x.GetNote(),
		"history":      fmt.Sprint(c.GetHistory()),
	}
	for k, v := range strs {
		out[k] = short([]byte(v))
	}
	return out
}

func short(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
