package engine_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/engine"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/reward"
	"github.com/flowsteer/flowsteer/internal/task"
)

// turnScript builds a six-stage workflow, one add per turn.
var turnScript = []string{
	"<reasoning>start with a plan</reasoning><action>add</action><operator>Plan</operator>",
	"<action>add</action><structure>parallel</structure><operators>AnswerGenerate, Custom, AnswerGenerate</operators>",
	"<action>add</action><operator>ScEnsemble</operator>",
	"<action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>",
	"<action>add</action><operator>Verify</operator>",
	"<action>add</action><operator>Format</operator>",
}

// BenchmarkCanvasTurnOverhead measures one canvas turn (parse, apply,
// validate, execute, observe and render) with the simulated backend at
// zero latency behind the shared cache: the cost flowsteer adds around
// the executor's own calls.
func BenchmarkCanvasTurnOverhead(b *testing.B) {
	sb, err := sim.New("sim", sim.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	reg := executor.NewRegistry()
	if err := reg.Register(sb); err != nil {
		b.Fatal(err)
	}
	e := newEngine(b, reg, engineOpts{cache: executor.NewCache(0)})
	cv := canvas.New(canvas.WithExecutor(e), canvas.WithLibraries(operator.NewRegistryWith(builtin.Library())))
	cfg := canvas.DefaultConfig()
	cfg.TwoStep = false // every add executes at once
	tk := task.Generate(1, 7, task.Mix{Math: 1})[0]
	ctx := context.Background()

	var ep *canvas.Episode
	turn := len(turnScript)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if turn == len(turnScript) {
			b.StopTimer()
			if ep != nil {
				_, _ = cv.Close(ctx, ep.ID())
			}
			ep, _, err = cv.Create(ctx, tk, cfg, reward.Default())
			if err != nil {
				b.Fatal(err)
			}
			turn = 0
			b.StartTimer()
		}
		o, err := ep.Step(ctx, canvas.Input{Text: turnScript[turn]})
		if err != nil {
			b.Fatal(err)
		}
		if !o.Valid || !o.Execution.Executed {
			b.Fatalf("turn %d: valid=%v executed=%v: %s", turn, o.Valid, o.Execution.Executed, o.Feedback)
		}
		turn++
	}
}

// scriptedBackend is a deterministic in-process backend answering each
// operator with a canned reply; it counts the calls that reach it.
type scriptedBackend struct{ calls atomic.Int64 }

func (s *scriptedBackend) Name() string                        { return "scripted" }
func (s *scriptedBackend) Model() string                       { return "scripted-model" }
func (s *scriptedBackend) Deterministic(executor.Request) bool { return true }
func (s *scriptedBackend) VariesByVariant() bool               { return false }
func (s *scriptedBackend) Simulated() bool                     { return false }
func (s *scriptedBackend) Complete(_ context.Context, req executor.Request) (executor.Response, error) {
	s.calls.Add(1)
	text := cacheTexts[req.Meta.Operator]
	return executor.Response{Text: text, Model: "scripted-model", InputTokens: int64(len(req.Messages[1].Content) / 4), OutputTokens: int64(len(text) / 4)}, nil
}

// BenchmarkGroupBackendCalls replays a training group: 36 episodes on one
// task, each building the same six-stage workflow stage by stage and
// executing after every stage, with and without the shared cache.
func BenchmarkGroupBackendCalls(b *testing.B) {
	const episodes = 36
	stages := strings.Split("Plan -> [AnswerGenerate, Custom, AnswerGenerate] -> ScEnsemble -> Review ? Revise : done -> Verify -> Format", " -> ")
	var prefixes []string
	for k := 1; k <= len(stages); k++ {
		prefixes = append(prefixes, strings.Join(stages[:k], " -> "))
	}
	for _, withCache := range []bool{false, true} {
		name := "nocache"
		if withCache {
			name = "cache"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var total int64
			for i := 0; i < b.N; i++ {
				be := &scriptedBackend{}
				reg := executor.NewRegistry()
				if err := reg.Register(be); err != nil {
					b.Fatal(err)
				}
				var cache *executor.Cache
				if withCache {
					cache = executor.NewCache(0) // one group, a fresh cache
				}
				e, err := engine.New(engine.DefaultConfig(), reg, cache, nil)
				if err != nil {
					b.Fatal(err)
				}
				for ep := range episodes {
					for _, p := range prefixes {
						ex, err := e.Execute(ctx, canvas.ExecRequest{Graph: graph(b, p, nil), Task: mathTask, Library: builtin.Library(), Episode: string(rune('a' + ep))})
						if err != nil || ex.Error != "" {
							b.Fatalf("execute %q: %v %s", p, err, ex.Error)
						}
					}
				}
				total += be.calls.Load()
			}
			b.ReportMetric(float64(total)/float64(b.N), "calls/group")
			b.ReportMetric(float64(total)/float64(b.N)/episodes, "calls/episode")
		})
	}
}
