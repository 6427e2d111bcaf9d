package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
)

// Script is one episode of tag-text replies with the default episode
// config (two-step editing, lenient parsing, rendered prompts): eight
// operators in five stages, a prompt for each, then an accepted finish.
// Every turn is valid; the last one ends the episode.
var Script = []string{
	"<reasoning>start with a plan</reasoning><action>add</action><operator>Plan</operator>",
	"Outline the steps that solve this problem before anyone computes anything.",
	"<action>add</action><structure>parallel</structure><operators>AnswerGenerate, Custom, AnswerGenerate</operators>",
	"Solve the problem step by step and give the final answer.",
	"Solve the problem another way, checking each intermediate result.",
	"Solve the problem independently and state the final answer clearly.",
	"<action>add</action><operator>ScEnsemble</operator>",
	"Pick the answer most of the solutions agree on.",
	"<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>",
	"Check the chosen solution carefully and say whether it is correct.",
	"Fix the solution using the reviewer's feedback and restate the answer.",
	"<action>add</action><operator>Format</operator>",
	"Extract only the final number from the solution, with no words.",
	"<action>finish</action>",
}

// ScriptTurns is the number of turns of Script.
var ScriptTurns = len(Script)

// ScriptTask is the task the scripted episodes build for.
var ScriptTask = task.Task{ID: "bench-math", Family: task.Math, Question: "A shop sells pens at 6 dollars each. How much do 7 pens cost?", Answers: []string{"42"}}

// CanvasResult compares one canvas turn with execution off.
type CanvasResult struct {
	Turns int `json:"turns_per_side"`
	// InProcess is canvas.Episode.Step on the domain canvas.
	InProcess Latency `json:"in_process"`
	// InProcessProto adds the observation's conversion to its message,
	// what the service does besides the transport.
	InProcessProto Latency `json:"in_process_proto"`
	// GRPC is one action and its observation on an Interact stream
	// (Go client, loopback TCP, the serve stack).
	GRPC Latency `json:"grpc"`
	// InProcessCPU is the in-process turn's CPU time on its thread
	// (CLOCK_THREAD_CPUTIME_ID; zero where there is no such clock).
	InProcessCPU Latency `json:"in_process_cpu"`
	// AllocsPerTurn and BytesPerTurn are the in-process turn's heap
	// allocations (runtime.MemStats deltas around each Step).
	AllocsPerTurn float64 `json:"allocs_per_turn"`
	BytesPerTurn  float64 `json:"bytes_per_turn"`
	RatioP50      float64 `json:"ratio_grpc_in_process_p50"`
	RatioP99      float64 `json:"ratio_grpc_in_process_p99"`
}

func runCanvas(ctx context.Context, cfg Config) (*CanvasResult, error) {
	cfg.progress("canvas overhead: %d scripted episodes of %d turns per side (in process, in process + proto, gRPC on loopback TCP), execution off", cfg.CanvasEpisodes, ScriptTurns)
	o := system.DefaultOptions()
	o.NoExecute = true
	srv, cl, stop, err := StartDialled(ctx, o)
	if err != nil {
		return nil, err
	}
	defer stop()
	h := &canvasHarness{sys: srv.Sys, client: cl}
	var in, proto, grpc, cpu []time.Duration
	var allocs, bytes uint64
	const warm = 2
	for i := range cfg.CanvasEpisodes + warm {
		keep := i >= warm
		// The sides alternate episode by episode, so a noisy neighbour
		// slows all three alike.
		d, c, err := h.inProcess(ctx, false)
		if err != nil {
			return nil, fmt.Errorf("in process: %w", err)
		}
		if keep {
			in = append(in, d...)
			cpu = append(cpu, c.cpu...)
			allocs += c.allocs
			bytes += c.bytes
		}
		if d, _, err = h.inProcess(ctx, true); err != nil {
			return nil, fmt.Errorf("in process + proto: %w", err)
		}
		if keep {
			proto = append(proto, d...)
		}
		if d, err = h.overGRPC(ctx); err != nil {
			return nil, fmt.Errorf("gRPC: %w", err)
		}
		if keep {
			grpc = append(grpc, d...)
		}
	}
	r := &CanvasResult{Turns: len(in), InProcess: summarize(in), InProcessProto: summarize(proto), GRPC: summarize(grpc)}
	if cpuClock {
		r.InProcessCPU = summarize(cpu)
	}
	if len(in) > 0 {
		r.AllocsPerTurn = float64(allocs) / float64(len(in))
		r.BytesPerTurn = float64(bytes) / float64(len(in))
	}
	r.RatioP50 = ratio(r.GRPC.P50us, r.InProcess.P50us)
	r.RatioP99 = ratio(r.GRPC.P99us, r.InProcess.P99us)
	return r, nil
}

// canvasHarness plays Script on one canvas, in process or over gRPC.
type canvasHarness struct {
	sys    *system.System
	client *flowsteer.Client
}

// turnCost is what the plain in-process side also measures per turn: CPU
// time on the turn's thread and the heap allocations of the whole episode.
type turnCost struct {
	cpu           []time.Duration
	allocs, bytes uint64
}

// inProcess plays one scripted episode on the domain canvas and returns
// each turn's time; withProto also converts each observation to its
// message. Without it, each turn's thread CPU time and allocations are
// measured too (the MemStats reads lie outside the timed span).
func (h *canvasHarness) inProcess(ctx context.Context, withProto bool) ([]time.Duration, turnCost, error) {
	var cost turnCost
	ep, _, err := h.sys.Canvas.Create(ctx, ScriptTask, canvas.DefaultConfig(), reward.Default())
	if err != nil {
		return nil, cost, err
	}
	defer h.drop(ctx, ep.ID())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	out := make([]time.Duration, 0, len(Script))
	var ms0, ms1 runtime.MemStats
	for i, text := range Script {
		if !withProto {
			runtime.ReadMemStats(&ms0)
		}
		c0, t0 := threadCPU(), time.Now()
		o, err := ep.Step(ctx, canvas.Input{Text: text})
		var m *pb.Observation
		if withProto && err == nil {
			m = protoconv.ObservationToPB(o)
		}
		out = append(out, time.Since(t0))
		if !withProto {
			cost.cpu = append(cost.cpu, threadCPU()-c0)
			runtime.ReadMemStats(&ms1)
			cost.allocs += ms1.Mallocs - ms0.Mallocs
			cost.bytes += ms1.TotalAlloc - ms0.TotalAlloc
		}
		if err != nil {
			return nil, cost, fmt.Errorf("turn %d: %w", i+1, err)
		}
		if withProto && m.GetTurn() != int32(i+1) {
			return nil, cost, fmt.Errorf("turn %d: converted observation says turn %d", i+1, m.GetTurn())
		}
		if err := checkTurn(i, o.Valid, o.Done, o.Feedback); err != nil {
			return nil, cost, err
		}
	}
	return out, cost, nil
}

// overGRPC plays one scripted episode on an Interact stream.
func (h *canvasHarness) overGRPC(ctx context.Context) ([]time.Duration, error) {
	ep, err := h.client.Open(ctx, protoconv.TaskToPB(ScriptTask))
	if err != nil {
		return nil, err
	}
	defer h.drop(ctx, ep.ID())
	defer ep.Close()
	out := make([]time.Duration, 0, len(Script))
	for i, text := range Script {
		t0 := time.Now()
		o, err := ep.Step(ctx, flowsteer.Text(text))
		out = append(out, time.Since(t0))
		if err != nil {
			return nil, fmt.Errorf("turn %d: %w", i+1, err)
		}
		if err := checkTurn(i, o.GetValid(), o.GetDone(), o.GetFeedback()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// drop closes an episode and removes it from the store, so the store's
// size stays the same for every side.
func (h *canvasHarness) drop(ctx context.Context, id string) {
	_, _ = h.sys.Canvas.Close(ctx, id)
	h.sys.Store.Delete(id)
}

// checkTurn insists that the script stays valid: a turn the canvas
// rejected would be measuring the error path.
func checkTurn(i int, valid, done bool, feedback string) error {
	if !valid {
		return fmt.Errorf("scripted turn %d was rejected: %s", i+1, feedback)
	}
	if last := i == len(Script)-1; done != last {
		return fmt.Errorf("scripted turn %d: done=%v: %s", i+1, done, feedback)
	}
	return nil
}
