// Package load is flowsteer's load test: a real canvas server on loopback
// TCP (assembled as `flowsteer serve` assembles it: internal/server and
// services/canvas, by internal/bench.StartCanvas) takes hundreds of
// concurrent Interact streams for a fixed time, with a mix of valid
// episodes and hostile input. It asserts that the server never panics,
// that every stream is answered or ends with the status code its case
// allows (Unknown and Internal never are), that no goroutine or file
// descriptor is left behind, and that the heap stays within a bound.
//
// Sizes come from the environment, so CI runs small and `make test-load`
// runs the full size:
//
//	LOAD_EPISODES  episodes in flight at once (workers; default 16)
//	LOAD_DURATION  how long the workers keep starting episodes (default 2s)
//	LOAD_HEAP_MIB  bound on the heap during the run (default 1024)
//	LOAD_SEED      seed of the workers' choices (default 1)
package load

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/action"
	"github.com/flowsteer/flowsteer/internal/bench"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/system"
)

// Limits of the server under test (internal/server, services/canvas).
const (
	maxActionText = 64 << 10 // services/canvas: larger action text is InvalidArgument
	maxRecv       = 16 << 20 // internal/server: larger messages are ResourceExhausted
	storeEpisodes = 2000     // the load server's --max-episodes
	caseTimeout   = 60 * time.Second
)

// result is how a case's stream ended: its status code (OK when the
// server closed it cleanly) with the error's text, or wrong behaviour
// whatever the code (a refused valid action, an answer where an error was
// due, a missing observation).
type result struct {
	code   codes.Code
	detail string
	wrong  bool
	// as names the case actually played when a case stood in for another.
	as string
}

func ended(err error, what string) result {
	if what != "" {
		what += ": "
	}
	return result{code: status.Code(err), detail: what + err.Error()}
}

func wrongf(format string, a ...any) result {
	return result{detail: fmt.Sprintf(format, a...), wrong: true}
}

// A case is one kind of client behaviour. run plays it on a fresh stream
// and returns how the stream ended.
type loadCase struct {
	name string
	// allowed are the codes the stream may end with.
	allowed []codes.Code
	run     func(w *worker, ctx context.Context) result
}

// cases is the mix; a worker walks it from its own offset, so every case
// runs once LOAD_EPISODES reaches its length. Weights are repeats.
var cases = []loadCase{
	{"valid", []codes.Code{codes.OK}, (*worker).valid},
	{"malformed", []codes.Code{codes.OK}, (*worker).malformed},
	{"valid", []codes.Code{codes.OK}, (*worker).valid},
	{"random-text", []codes.Code{codes.OK}, (*worker).randomText},
	{"invalid-utf8", []codes.Code{codes.InvalidArgument}, (*worker).invalidUTF8},
	{"valid-executed", []codes.Code{codes.OK}, (*worker).validExecuted},
	{"oversized-action", []codes.Code{codes.InvalidArgument}, (*worker).oversizedAction},
	{"cancel", []codes.Code{codes.Canceled, codes.OK}, (*worker).cancel},
	{"after-finish", []codes.Code{codes.FailedPrecondition}, (*worker).afterFinish},
	{"valid", []codes.Code{codes.OK}, (*worker).valid},
	{"bad-first-message", []codes.Code{codes.InvalidArgument}, (*worker).badFirst},
	{"oversized-message", []codes.Code{codes.ResourceExhausted}, (*worker).oversizedMessage},
	{"resume-closed", []codes.Code{codes.FailedPrecondition}, (*worker).resumeClosed},
	{"resume-unknown", []codes.Code{codes.NotFound}, (*worker).resumeUnknown},
	{"malformed", []codes.Code{codes.OK}, (*worker).malformed},
	{"oversized-task", []codes.Code{codes.InvalidArgument}, (*worker).oversizedTask},
	{"cancel", []codes.Code{codes.Canceled, codes.OK}, (*worker).cancel},
	{"drop-connection", []codes.Code{codes.Canceled, codes.Unavailable, codes.OK}, (*worker).dropConnection},
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 10s", name, v)
	}
	return d
}

func TestLoad(t *testing.T) {
	workers := envInt(t, "LOAD_EPISODES", 16)
	duration := envDuration(t, "LOAD_DURATION", 2*time.Second)
	heapBound := uint64(envInt(t, "LOAD_HEAP_MIB", 1024)) << 20
	seed := uint64(envInt(t, "LOAD_SEED", 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	g0, fd0, heap0 := bench.StableGoroutines(ctx, 2*time.Second), bench.OpenFDs(), bench.HeapAfterGC()
	logs := &logCapture{}
	o := system.DefaultOptions() // the simulated executor, zero latency
	o.Store = canvas.StoreConfig{MaxEpisodes: storeEpisodes, IdleTTL: 30 * time.Minute}
	srv, err := bench.StartCanvas(ctx, o, bench.ServeOptions{Logger: logs.logger(), Grace: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.Stop()
		}
	}()
	gServed, fdServed := bench.StableGoroutines(ctx, 2*time.Second), bench.OpenFDs()
	tasks, err := bench.SuiteTasks(2) // math and qa: the sim answers them in process
	if err != nil {
		t.Fatal(err)
	}
	tasks = append(tasks, protoconv.TaskToPB(bench.ScriptTask))

	// One connection per 256 streams (the server allows 1024 per connection).
	var conns []*grpc.ClientConn
	for range (workers + 255) / 256 {
		c, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	closeConns := func() {
		for _, c := range conns {
			_ = c.Close()
		}
		conns = nil
	}
	defer closeConns()

	var peak atomic.Uint64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	st := newStats()
	shared := &sharedLimits{huge: make(chan struct{}, 1)}
	deadline := time.Now().Add(duration)
	t.Logf("load: %d concurrent episodes for %s on %s (%d connections), %d cases", workers, duration, srv.Addr, len(conns), len(cases))
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{
				id: i, rng: rand.New(rand.NewPCG(seed, uint64(i))), conn: conns[i%len(conns)], addr: srv.Addr,
				tasks: tasks, random: policy.NewRandom(int64(seed)*1_000_003 + int64(i)), shared: shared,
			}
			// Every worker plays at least one case, then until the deadline.
			for k := 0; k == 0 || time.Now().Before(deadline); k++ {
				if ctx.Err() != nil {
					return
				}
				c := cases[(i*7+k)%len(cases)]
				cctx, ccancel := context.WithTimeout(ctx, caseTimeout)
				r := c.run(w, cctx)
				ccancel()
				st.record(c, r)
			}
		}()
	}
	wg.Wait()
	stopSampling()
	sampler.Wait()

	t.Log(st.table())
	for _, c := range cases {
		if st.runs(c.name) == 0 {
			t.Errorf("case %s never ran: raise LOAD_EPISODES to at least %d", c.name, len(cases))
		}
	}
	for _, f := range st.failures() {
		t.Error(f)
	}
	if n := logs.panics.Load(); n > 0 {
		t.Errorf("the server recovered from %d panics: %s", n, logs.firstErrors())
	}
	if n := logs.internal.Load(); n > 0 {
		t.Errorf("the server logged %d calls that ended Internal or Unknown: %s", n, logs.firstErrors())
	}
	if p := peak.Load(); p > heapBound {
		t.Errorf("peak heap %d MiB exceeds the bound of %d MiB (LOAD_HEAP_MIB)", p>>20, heapBound>>20)
	} else {
		t.Logf("peak heap %d MiB (bound %d MiB), store holds %d episodes (at most %d)", p>>20, heapBound>>20, srv.Sys.Store.Len(), storeEpisodes)
	}

	// The server still serves after the hostile mix.
	after := &worker{rng: rand.New(rand.NewPCG(seed, 1<<40)), conn: conns[0], addr: srv.Addr, tasks: tasks, random: policy.NewRandom(int64(seed)), shared: shared}
	if r := after.valid(ctx); r.code != codes.OK || r.wrong {
		t.Errorf("a valid episode after the load: %s %s", r.code, r.detail)
	}

	// Leaks: once the clients are gone the server must return to what it
	// ran before the load (its handlers all ended; a graceful stop would
	// hide one stuck until the grace period), and once it stops, to what
	// the process ran before it started. Every wait is bounded.
	closeConns()
	if g := bench.SettleGoroutines(ctx, gServed, 15*time.Second); g > gServed {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutine leak: the serving process ran %d goroutines before the load, %d after every client left:\n%s", gServed, g, b.String())
	} else {
		t.Logf("goroutines while serving: %d before the load, %d after", gServed, g)
	}
	if fd := settleFDs(fdServed, 5*time.Second); fdServed >= 0 && fd > fdServed {
		t.Errorf("file descriptor leak: the server held %d before the load, %d after every client left", fdServed, fd)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("server stop: %v", err)
	}
	stopped = true
	if g := bench.SettleGoroutines(ctx, g0, 15*time.Second); g > g0 {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Errorf("goroutine leak: %d goroutines before the server started, %d after it stopped:\n%s", g0, g, b.String())
	} else {
		t.Logf("goroutines: %d before, %d after", g0, g)
	}
	if fd := settleFDs(fd0, 5*time.Second); fd0 >= 0 && fd > fd0 {
		t.Errorf("file descriptor leak: %d open before, %d after", fd0, fd)
	} else {
		t.Logf("open fds: %d before, %d after", fd0, fd)
	}
	// With the server gone, what it held must be collectable.
	const slack = 64 << 20
	if h := bench.HeapAfterGC(); h > heap0+slack {
		t.Errorf("heap after the server stopped is %d MiB, %d MiB before it started (slack %d MiB)", h>>20, heap0>>20, slack>>20)
	}
}

func settleFDs(want int, limit time.Duration) int {
	deadline := time.Now().Add(limit)
	for {
		n := bench.OpenFDs()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stats counts outcomes per case and keeps the first failures.
type stats struct {
	mu    sync.Mutex
	codes map[string]map[codes.Code]int
	fails []string
	nfail int
}

func newStats() *stats { return &stats{codes: map[string]map[codes.Code]int{}} }

func (s *stats) record(c loadCase, r result) {
	if r.as != "" {
		for _, k := range cases {
			if k.name == r.as {
				c = k
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.codes[c.name] == nil {
		s.codes[c.name] = map[codes.Code]int{}
	}
	s.codes[c.name][r.code]++
	msg := ""
	switch {
	case r.wrong:
		msg = fmt.Sprintf("case %s: %s", c.name, r.detail)
	case r.code == codes.Unknown || r.code == codes.Internal:
		msg = fmt.Sprintf("case %s: the stream ended %s (never allowed): %s", c.name, r.code, r.detail)
	case !slices.Contains(c.allowed, r.code):
		msg = fmt.Sprintf("case %s: the stream ended %s, allowed %v: %s", c.name, r.code, c.allowed, r.detail)
	}
	if msg != "" {
		s.nfail++
		if len(s.fails) < 20 {
			s.fails = append(s.fails, msg)
		}
	}
}

func (s *stats) runs(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.codes[name] {
		n += v
	}
	return n
}

func (s *stats) failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.fails...)
	if s.nfail > len(out) {
		out = append(out, fmt.Sprintf("... and %d more failures", s.nfail-len(out)))
	}
	return out
}

func (s *stats) table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.codes))
	total := 0
	for n, m := range s.codes {
		names = append(names, n)
		for _, v := range m {
			total += v
		}
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d streams:\n", total)
	for _, n := range names {
		var parts []string
		for code, v := range s.codes[n] {
			parts = append(parts, fmt.Sprintf("%s %d", code, v))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "  %-18s %s\n", n, strings.Join(parts, ", "))
	}
	return b.String()
}

// sharedLimits bound what workers do together: one message over the
// server's receive limit at a time, and not many of them.
type sharedLimits struct {
	huge     chan struct{}
	hugeSent atomic.Int32
}

// worker plays cases on its connection.
type worker struct {
	id     int
	rng    *rand.Rand
	conn   *grpc.ClientConn
	addr   string
	tasks  []*pb.Task
	random *policy.Random
	shared *sharedLimits
}

// stream is one Interact stream with the client's view of it.
type stream struct {
	s      grpc.BidiStreamingClient[pb.InteractRequest, pb.InteractResponse]
	cancel context.CancelFunc
}

func (w *worker) task() *pb.Task { return w.tasks[w.rng.IntN(len(w.tasks))] }

func (w *worker) begin(ctx context.Context, conn *grpc.ClientConn) (*stream, error) {
	sctx, cancel := context.WithCancel(ctx)
	s, err := pb.NewCanvasServiceClient(conn).Interact(sctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &stream{s: s, cancel: cancel}, nil
}

// send sends m and waits for its observation; on failure the error is the
// stream's status.
func (s *stream) send(m *pb.InteractRequest) (*pb.Observation, error) {
	if err := s.s.Send(m); err != nil {
		if err == io.EOF {
			_, err = s.s.Recv() // the server ended the stream: Recv holds why
		}
		return nil, err
	}
	r, err := s.s.Recv()
	if err != nil {
		return nil, err
	}
	return r.GetObservation(), nil
}

// end half-closes the stream and reads the server's final status.
func (s *stream) end() codes.Code {
	defer s.cancel()
	if err := s.s.CloseSend(); err != nil {
		return status.Code(err)
	}
	for {
		if _, err := s.s.Recv(); err != nil {
			if err == io.EOF {
				return codes.OK
			}
			return status.Code(err)
		}
	}
}

// fail ends the stream after an error and reports its code.
func (s *stream) fail(err error, what string) result {
	s.cancel()
	return ended(err, what)
}

func openMsg(t *pb.Task, cfg *pb.EpisodeConfig) *pb.InteractRequest {
	return &pb.InteractRequest{Msg: &pb.InteractRequest_Open{Open: &pb.CreateEpisodeRequest{Task: t, Config: cfg}}}
}

func actionMsg(a *pb.Action) *pb.InteractRequest {
	return &pb.InteractRequest{Msg: &pb.InteractRequest_Action{Action: a}}
}

func rounds(n int32) *int32 { return &n }

func boolp(b bool) *bool { return &b }

// open starts an episode on a fresh stream.
func (w *worker) open(ctx context.Context, cfg *pb.EpisodeConfig) (*stream, *pb.Observation, result) {
	s, err := w.begin(ctx, w.conn)
	if err != nil {
		return nil, nil, ended(err, "starting the stream")
	}
	obs, err := s.send(openMsg(w.task(), cfg))
	if err != nil {
		return nil, nil, s.fail(err, "open")
	}
	if obs.GetEpisodeId() == "" || obs.GetTurn() != 0 {
		s.cancel()
		return nil, nil, wrongf("open answered without an episode id or at turn %d", obs.GetTurn())
	}
	return s, obs, result{}
}

// play sends random valid actions (structured, or the same action as tag
// text) until the episode ends, then closes the stream.
func (w *worker) play(ctx context.Context, cfg *pb.EpisodeConfig) result {
	s, obs, r := w.open(ctx, cfg)
	if s == nil {
		return r
	}
	for turn := 1; !obs.GetDone(); turn++ {
		if turn > int(cfg.GetMaxRounds())+1 {
			s.cancel()
			return wrongf("the episode did not end after max_rounds %d", cfg.GetMaxRounds())
		}
		d, err := w.random.Act(ctx, obs, policy.Sampling{})
		if err != nil {
			s.cancel()
			return wrongf("random policy: %v", err)
		}
		a := d.GetAction()
		if st := a.GetStructured(); st != nil && w.rng.IntN(3) == 0 {
			// The same action as the tag text a language model would write.
			if in := protoconv.InputFromPB(&pb.Action{Structured: st}); in.Structured != nil {
				if st.GetKind() == pb.ActionKind_ACTION_KIND_SET_PROMPT {
					a = &pb.Action{Text: st.GetPrompt()}
				} else {
					a = &pb.Action{Text: action.Render(*in.Structured)}
				}
			}
		}
		next, err := s.send(actionMsg(a))
		if err != nil {
			return s.fail(err, fmt.Sprintf("turn %d", turn))
		}
		if next.GetTurn() != obs.GetTurn()+1 {
			s.cancel()
			return wrongf("turn %d answered with turn %d", turn, next.GetTurn())
		}
		obs = next
	}
	if obs.GetReward() == nil {
		s.cancel()
		return wrongf("an ended episode came without its reward")
	}
	return result{code: s.end()}
}

// valid plays an episode with execution off (most episodes).
func (w *worker) valid(ctx context.Context) result {
	return w.play(ctx, &pb.EpisodeConfig{MaxRounds: rounds(int32(4 + w.rng.IntN(8))), ExecuteEachStep: boolp(false)})
}

// validExecuted plays an episode whose workflow runs after every edit on
// the simulated executor.
func (w *worker) validExecuted(ctx context.Context) result {
	return w.play(ctx, &pb.EpisodeConfig{MaxRounds: rounds(int32(4 + w.rng.IntN(6)))})
}

// malformedTexts are replies no parser can make an action of, and
// structured actions with impossible fields: each must become feedback.
var malformedTexts = []*pb.Action{
	{Text: ""},
	{Text: "   \n\t"},
	{Text: "<action>add</action><operator>"},
	{Text: "<action>explode</action><operator>Plan</operator>"},
	{Text: "<action><action><action>"},
	{Text: "</action>add<action>"},
	{Text: "<action>add</action><structure>loop</structure><operators></operators><count>99999999999999999999</count>"},
	{Text: "<action>add</action><structure>parallel</structure><operators>" + strings.Repeat("Custom, ", 200) + "</operators>"},
	{Text: "<action>delete</action><target>node_999</target>"},
	{Text: "<action>modify</action><target>../../etc/passwd</target><operator>Plan</operator>"},
	{Text: "<action>add</action><operator>Plan</operator><position>-5</position>"},
	{Text: "<action>finish</action><answer>" + strings.Repeat("x", 4000) + "</answer>"},
	{Text: strings.Repeat("<", 10000)},
	{Text: "\x00\x01\x02<action>\x00add</action>"},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind(999)}},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind(77), Operator: "Plan"}},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: "NoSuchOperator"}},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Structure: pb.StructureKind_STRUCTURE_KIND_LOOP, Operators: []string{"Review"}, Count: -3}},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_DELETE, Target: ""}},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_MODIFY, Target: "node_1", Operator: ""}},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_SET_PROMPT, Target: "node_42", Prompt: "x"}},
	{Structured: &pb.StructuredAction{Kind: pb.ActionKind_ACTION_KIND_ADD, Operator: "Plan", Position: rounds(1 << 30)}},
}

// malformed sends malformed actions; each is a turn with feedback.
func (w *worker) malformed(ctx context.Context) result {
	s, _, r := w.open(ctx, &pb.EpisodeConfig{MaxRounds: rounds(100), ExecuteEachStep: boolp(false)})
	if s == nil {
		return r
	}
	for range 3 + w.rng.IntN(6) {
		a := malformedTexts[w.rng.IntN(len(malformedTexts))]
		if _, err := s.send(actionMsg(a)); err != nil {
			return s.fail(err, fmt.Sprintf("malformed action %q", clip(a.String())))
		}
	}
	return result{code: s.end()}
}

// randomText sends random (valid UTF-8) text: random bytes made valid,
// random runes from the whole range, control characters.
func (w *worker) randomText(ctx context.Context) result {
	s, _, r := w.open(ctx, &pb.EpisodeConfig{MaxRounds: rounds(100), ExecuteEachStep: boolp(false)})
	if s == nil {
		return r
	}
	for range 2 + w.rng.IntN(5) {
		n := w.rng.IntN(2048)
		var text string
		switch w.rng.IntN(3) {
		case 0:
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(w.rng.IntN(256))
			}
			text = strings.ToValidUTF8(string(b), "\uFFFD")
		case 1:
			r := make([]rune, n)
			for i := range r {
				r[i] = rune(w.rng.IntN(0x10FFFF))
			}
			text = strings.ToValidUTF8(string(r), "?")
		default:
			text = "<action>" + strings.Repeat("\u202e\u200b\ufeff", n/3) + "</action>"
		}
		if _, err := s.send(actionMsg(&pb.Action{Text: text})); err != nil {
			return s.fail(err, "random text")
		}
	}
	return result{code: s.end()}
}

// rawCodec sends bytes as they are, so a message can break proto's rules
// (the Go protobuf library refuses to marshal invalid UTF-8).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// invalidUTF8 opens an episode, then sends an action whose text is not
// UTF-8 (proto3 strings must be): a client error, InvalidArgument. (grpc-go
// alone answers a request it cannot decode with Internal; the server's
// request codec, internal/server/codec.go, turns it into InvalidArgument.)
func (w *worker) invalidUTF8(ctx context.Context) result {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := w.conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, pb.CanvasService_Interact_FullMethodName, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return ended(err, "")
	}
	open, err := protoMarshal(openMsg(w.task(), &pb.EpisodeConfig{ExecuteEachStep: boolp(false)}))
	if err != nil {
		return wrongf("%v", err)
	}
	var reply []byte
	if err := cs.SendMsg(&open); err != nil {
		return ended(err, "open")
	}
	if err := cs.RecvMsg(&reply); err != nil {
		return ended(err, "open")
	}
	bad := make([]byte, 1+w.rng.IntN(64))
	for i := range bad {
		bad[i] = 0x80 | byte(w.rng.IntN(0x40)) // continuation bytes: never valid on their own
	}
	var act []byte
	act = protowire.AppendTag(act, 1, protowire.BytesType) // Action.text
	act = protowire.AppendBytes(act, append([]byte("<action>add</action>"), bad...))
	var msg []byte
	msg = protowire.AppendTag(msg, 3, protowire.BytesType) // InteractRequest.action
	msg = protowire.AppendBytes(msg, act)
	if err := cs.SendMsg(&msg); err != nil && err != io.EOF {
		return ended(err, "send")
	}
	err = cs.RecvMsg(&reply)
	if err == nil {
		return wrongf("the server answered an action that is not UTF-8 with an observation")
	}
	if err == io.EOF {
		return wrongf("the server ended the stream cleanly after an action that is not UTF-8")
	}
	return ended(err, "")
}

// oversizedAction sends action text over the canvas's limit but under
// the server's message limit: refused by validation.
func (w *worker) oversizedAction(ctx context.Context) result {
	s, _, r := w.open(ctx, &pb.EpisodeConfig{ExecuteEachStep: boolp(false)})
	if s == nil {
		return r
	}
	text := strings.Repeat("a", maxActionText+1+w.rng.IntN(1<<20))
	_, err := s.send(actionMsg(&pb.Action{Text: text}))
	s.cancel()
	if err == nil {
		return wrongf("a %d-byte action was accepted", len(text))
	}
	return ended(err, "")
}

// oversizedMessage sends one message over the server's receive limit (one
// worker at a time, a few per run; the others send an oversized action).
func (w *worker) oversizedMessage(ctx context.Context) result {
	instead := func() result {
		r := w.oversizedAction(ctx)
		r.as = "oversized-action"
		return r
	}
	if w.shared.hugeSent.Load() >= 4 {
		return instead()
	}
	select {
	case w.shared.huge <- struct{}{}:
		defer func() { <-w.shared.huge }()
	default:
		return instead()
	}
	w.shared.hugeSent.Add(1)
	s, _, r := w.open(ctx, &pb.EpisodeConfig{ExecuteEachStep: boolp(false)})
	if s == nil {
		return r
	}
	_, err := s.send(actionMsg(&pb.Action{Text: strings.Repeat("b", maxRecv+1024)}))
	s.cancel()
	if err == nil {
		return wrongf("a message over the server's receive limit was answered")
	}
	return ended(err, "")
}

// oversizedTask opens an episode whose question is over the limit.
func (w *worker) oversizedTask(ctx context.Context) result {
	s, err := w.begin(ctx, w.conn)
	if err != nil {
		return ended(err, "")
	}
	defer s.cancel()
	t := &pb.Task{Family: pb.TaskFamily_TASK_FAMILY_MATH, Question: strings.Repeat("What is 6*7? ", 30_000)}
	if _, err := s.send(openMsg(t, nil)); err != nil {
		return ended(err, "")
	}
	return wrongf("an oversized task was opened")
}

// badFirst starts a stream with an action or an empty message instead of
// open or resume.
func (w *worker) badFirst(ctx context.Context) result {
	s, err := w.begin(ctx, w.conn)
	if err != nil {
		return ended(err, "")
	}
	defer s.cancel()
	m := actionMsg(&pb.Action{Text: "<action>add</action><operator>Plan</operator>"})
	if w.rng.IntN(2) == 0 {
		m = &pb.InteractRequest{}
	}
	if _, err := s.send(m); err != nil {
		return ended(err, "")
	}
	return wrongf("a stream that did not start with open or resume was answered")
}

// afterFinish plays an episode to its end (max_rounds 2), then acts again.
func (w *worker) afterFinish(ctx context.Context) result {
	s, _, r := w.open(ctx, &pb.EpisodeConfig{MaxRounds: rounds(2), ExecuteEachStep: boolp(false)})
	if s == nil {
		return r
	}
	var obs *pb.Observation
	for i, text := range bench.Script[:2] {
		var err error
		if obs, err = s.send(actionMsg(&pb.Action{Text: text})); err != nil {
			return s.fail(err, fmt.Sprintf("turn %d", i+1))
		}
	}
	if !obs.GetDone() {
		s.cancel()
		return wrongf("the episode did not end at max_rounds 2")
	}
	_, err := s.send(actionMsg(&pb.Action{Text: bench.Script[2]}))
	s.cancel()
	if err == nil {
		return wrongf("an action after the episode ended was answered")
	}
	return ended(err, "")
}

// resumeClosed closes an episode, then tries to resume it.
func (w *worker) resumeClosed(ctx context.Context) result {
	s, obs, r := w.open(ctx, &pb.EpisodeConfig{ExecuteEachStep: boolp(false)})
	if s == nil {
		return r
	}
	if c := s.end(); c != codes.OK {
		return result{code: c, detail: "closing the first stream"}
	}
	id := obs.GetEpisodeId()
	if _, err := pb.NewCanvasServiceClient(w.conn).CloseEpisode(ctx, &pb.CloseEpisodeRequest{EpisodeId: id}); err != nil {
		return ended(err, "CloseEpisode")
	}
	rs, err := w.begin(ctx, w.conn)
	if err != nil {
		return ended(err, "")
	}
	defer rs.cancel()
	if _, err := rs.send(&pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{EpisodeId: id}}}); err != nil {
		return ended(err, "")
	}
	return wrongf("a closed episode was resumed")
}

// resumeUnknown resumes an id no canvas gave out.
func (w *worker) resumeUnknown(ctx context.Context) result {
	rs, err := w.begin(ctx, w.conn)
	if err != nil {
		return ended(err, "")
	}
	defer rs.cancel()
	id := fmt.Sprintf("ep_%016x", w.rng.Uint64())
	if _, err := rs.send(&pb.InteractRequest{Msg: &pb.InteractRequest_Resume{Resume: &pb.ResumeEpisode{EpisodeId: id}}}); err != nil {
		return ended(err, "")
	}
	return wrongf("an unknown episode was resumed")
}

// cancel cancels the stream's context at a random point: right after
// opening, with an action in flight, or between turns.
func (w *worker) cancel(ctx context.Context) result {
	s, _, r := w.open(ctx, &pb.EpisodeConfig{ExecuteEachStep: boolp(w.rng.IntN(2) == 0)})
	if s == nil {
		return r
	}
	switch w.rng.IntN(3) {
	case 0:
		s.cancel()
	case 1:
		if err := s.s.Send(actionMsg(&pb.Action{Text: bench.Script[0]})); err != nil {
			s.cancel()
			return ended(err, "send")
		}
		s.cancel()
	default:
		if _, err := s.send(actionMsg(&pb.Action{Text: bench.Script[0]})); err != nil {
			return s.fail(err, "turn 1")
		}
		time.AfterFunc(time.Duration(w.rng.IntN(2000))*time.Microsecond, s.cancel)
		if _, err := s.send(actionMsg(&pb.Action{Text: bench.Script[1]})); err != nil {
			return ended(err, "")
		}
	}
	// An observation already on its way may still arrive; the stream
	// must then end with the cancellation.
	for {
		if _, err := s.s.Recv(); err != nil {
			return ended(err, "")
		}
	}
}

// dropConnection closes the whole connection under an open stream.
func (w *worker) dropConnection(ctx context.Context) result {
	conn, err := grpc.NewClient(w.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return wrongf("%v", err)
	}
	defer conn.Close()
	s, err := w.begin(ctx, conn)
	if err != nil {
		return ended(err, "")
	}
	defer s.cancel()
	if _, err := s.send(openMsg(w.task(), &pb.EpisodeConfig{ExecuteEachStep: boolp(false)})); err != nil {
		return ended(err, "open")
	}
	if err := s.s.Send(actionMsg(&pb.Action{Text: bench.Script[0]})); err != nil && err != io.EOF {
		return ended(err, "send")
	}
	conn.Close()
	for {
		if _, err := s.s.Recv(); err != nil {
			if err == io.EOF {
				return result{}
			}
			return ended(err, "")
		}
	}
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
