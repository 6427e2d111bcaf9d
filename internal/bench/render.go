package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Markers delimit the generated block of BENCHMARKS.md. The begin marker
// is matched by its prefix, so its explanatory text may change.
const (
	BeginMarker = "<!-- bench:begin"
	EndMarker   = "<!-- bench:end -->"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// The canvas turn before issue #24, as go test -bench measured it at that
// commit (BenchmarkCanvasTurn/in-process, -benchmem): the earlier figures
// the report shows its own next to.
const (
	turnBaselineCommit = "05ebaf7"
	turnBaseline       = "118 allocations, 17.4 KiB"
)

func us(v float64) string {
	switch {
	case v >= 10_000:
		return fmt.Sprintf("%.1f ms", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/(1<<10)) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func (r *Report) sizes() string {
	if r.Config.Quick {
		return "quick sizes"
	}
	return "full sizes"
}

// WriteText writes the human table.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) }
	p("flowsteer bench, %s, %s", r.sizes(), r.Generated.Format("2006-01-02 15:04 UTC"))
	p("machine: %s", r.Machine)
	if c := r.Canvas; c != nil {
		p("")
		p("canvas turn, execution off (%d turns per side)\tp50\tp99\tmean", c.Turns)
		p("  in process (domain canvas)\t%s\t%s\t%s", us(c.InProcess.P50us), us(c.InProcess.P99us), us(c.InProcess.MeanUs))
		p("  in process + proto conversion\t%s\t%s\t%s", us(c.InProcessProto.P50us), us(c.InProcessProto.P99us), us(c.InProcessProto.MeanUs))
		p("  gRPC Interact stream, loopback TCP\t%s\t%s\t%s", us(c.GRPC.P50us), us(c.GRPC.P99us), us(c.GRPC.MeanUs))
		p("  ratio gRPC / in process\t%.1fx\t%.1fx\t", c.RatioP50, c.RatioP99)
		if c.InProcessCPU.N > 0 {
			p("  in process, CPU time (thread clock)\t%s\t%s\t%s", us(c.InProcessCPU.P50us), us(c.InProcessCPU.P99us), us(c.InProcessCPU.MeanUs))
		}
		p("  in process, heap per turn\t%.1f allocations, %s\t(before #24, %s: %s)", c.AllocsPerTurn, kib(c.BytesPerTurn), turnBaselineCommit, turnBaseline)
	}
	if o := r.Rollout; o != nil {
		p("")
		p("rollout efficiency (%s)", o.Endpoint)
		p("  workflow\t%s", o.Workflow)
		p("  calls per episode (counted at the server)\t%d (window: %.2f), %d turns", o.CallsPerEpisode, o.WindowCallsPerEpisode, o.TurnsPerEpisode)
		p("  delay, C, episodes at once\t%.0f ms, %d, %d", o.DelayMs, o.Concurrency, o.Streams)
		p("  episodes/s over %.1fs after a %.1fs warm-up\t%.2f (%d episodes)", o.WindowSeconds, o.WarmupSeconds, o.EpisodesPerSec, o.Episodes)
		p("  ideal C / (calls x delay)\t%.2f", o.IdealPerSec)
		p("  efficiency\t%.3f (calls: %.3f), peak %d calls in flight", o.Efficiency, o.CallEfficiency, o.PeakInFlight)
		p("  target >= %.2f met\t%s", o.Target, yesNo(o.Met))
	}
	if c := r.Cache; c != nil {
		p("")
		p("executor calls of one training step (%s)", c.Backend)
		p("  policy, tasks\t%s; %s", c.Policy, strings.Join(c.Tasks, ", "))
		p("  episodes\t%d (%d per task), %d turns", c.Episodes, c.GroupSize, c.Turns)
		p("  backend calls, cache off\t%d", c.CallsOff)
		p("  backend calls, cache on\t%d (%d hits, %d coalesced)", c.CallsOn, c.Hits, c.Coalesced)
		p("  ratio on / off\t%.3f (%.1fx fewer calls)", c.Ratio, ratio(float64(c.CallsOff), float64(c.CallsOn)))
		p("  same rewards with the cache\t%s", yesNo(c.RewardsMatch))
	}
	if m := r.Memory; m != nil {
		p("")
		p("memory, %d episodes open at once (%d turns each)", m.Episodes, m.TurnsEach)
		p("  heap before / open\t%s / %s", mib(float64(m.HeapBaseline)), mib(float64(m.HeapOpen)))
		p("  per open episode, gRPC stream (client + server)\t%s", kib(m.PerEpisodeBytes))
		p("  per open episode, domain canvas only\t%s", kib(m.DomainPerEpisode))
		p("  per closed episode kept by the store (until TTL)\t%s", kib(m.PerClosedBytes))
		p("  heap after the store dropped them\t%s", mib(float64(m.HeapDropped)))
		p("  goroutines before / open / after close\t%d / %d / %d (leaked: %d)", m.GoroutinesBaseline, m.GoroutinesOpen, m.GoroutinesAfter, m.GoroutinesLeaked)
		p("  open fds before / after\t%d / %d", m.FDsBaseline, m.FDsAfter)
	}
	if t := r.Trainer; t != nil {
		p("")
		p("CWRPO update, embedded policy (%d x %d decisions, %d with a choice, %d choices)", t.Episodes, t.DecisionsPerEpisode, t.Learnable, t.Choices)
		p("  p50 / min / mean of %d\t%.1f ms / %.1f ms / %.1f ms", t.Repeats, t.P50ms, t.MinMs, t.MeanMs)
		p("  per decision\t%.1f µs", t.PerDecUs)
	}
	p("")
	p("total %.1fs", r.Seconds)
	return tw.Flush()
}

// Markdown is the generated block's body (without the markers).
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("Generated by `flowsteer bench` (%s) on %s.  ", r.sizes(), r.Generated.Format("2006-01-02"))
	p("Machine: %s.", r.Machine)
	if c := r.Canvas; c != nil {
		p("")
		p("**Canvas overhead per turn**, execution off (apply, validate, observe; %d turns of a scripted 14-turn episode per side, sides interleaved):", c.Turns)
		p("")
		p("| path | p50 | p99 | mean |")
		p("| --- | ---: | ---: | ---: |")
		p("| in process (domain canvas) | %s | %s | %s |", us(c.InProcess.P50us), us(c.InProcess.P99us), us(c.InProcess.MeanUs))
		p("| in process + proto conversion | %s | %s | %s |", us(c.InProcessProto.P50us), us(c.InProcessProto.P99us), us(c.InProcessProto.MeanUs))
		p("| gRPC Interact stream, loopback TCP | %s | %s | %s |", us(c.GRPC.P50us), us(c.GRPC.P99us), us(c.GRPC.MeanUs))
		p("| **ratio gRPC / in process** | **%.1fx** | **%.1fx** | |", c.RatioP50, c.RatioP99)
		if c.InProcessCPU.N > 0 {
			p("| in process, CPU time (thread clock) | %s | %s | %s |", us(c.InProcessCPU.P50us), us(c.InProcessCPU.P99us), us(c.InProcessCPU.MeanUs))
		}
		p("")
		p("In process, heap per turn: %.1f allocations, %s (before issue #24, at %s: %s; `make bench-canvas-turn` measures both side by side).", c.AllocsPerTurn, kib(c.BytesPerTurn), turnBaselineCommit, turnBaseline)
	}
	if o := r.Rollout; o != nil {
		p("")
		p("**Rollout efficiency**: the `openai` executor backend (cache off, max concurrency C = %d) against a %s answering every call after %.0f ms; %d episodes of `fixed:\"%s\"` at once (staggered starts), completed episodes counted over %.1f s after a %.1f s warm-up.",
			o.Concurrency, o.Endpoint, o.DelayMs, o.Streams, o.Workflow, o.WindowSeconds, o.WarmupSeconds)
		p("")
		p("| calls per episode (server count) | episodes/s | ideal C / (calls x delay) | efficiency | calls/s over C / delay | target | met |")
		p("| ---: | ---: | ---: | ---: | ---: | ---: | :---: |")
		p("| %d | %.2f | %.2f | **%.3f** | %.3f | >= %.2f | %s |", o.CallsPerEpisode, o.EpisodesPerSec, o.IdealPerSec, o.Efficiency, o.CallEfficiency, o.Target, yesNo(o.Met))
	}
	if c := r.Cache; c != nil {
		p("")
		p("**Executor calls of one training step**, cache on vs off: %d episodes (%d per task on %s) of the %s policy, **%s**; same seeds on both sides.",
			c.Episodes, c.GroupSize, strings.Join(c.Tasks, ", "), c.Policy, c.Backend)
		p("")
		p("| backend calls, cache off | cache on | hits + coalesced | ratio on / off | same rewards |")
		p("| ---: | ---: | ---: | ---: | :---: |")
		p("| %d | %d | %d + %d | **%.3f** | %s |", c.CallsOff, c.CallsOn, c.Hits, c.Coalesced, c.Ratio, yesNo(c.RewardsMatch))
	}
	if m := r.Memory; m != nil {
		p("")
		p("**Memory**: %d episodes open at once on one canvas process (%d turns each; HeapAlloc after GC):", m.Episodes, m.TurnsEach)
		p("")
		p("| heap before | heap open | per open episode (gRPC, client + server) | per open episode (domain) | per closed episode kept until TTL | goroutines before / open / after | leaked |")
		p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
		p("| %s | %s | %s | %s | %s | %d / %d / %d | %d |", mib(float64(m.HeapBaseline)), mib(float64(m.HeapOpen)), kib(m.PerEpisodeBytes),
			kib(m.DomainPerEpisode), kib(m.PerClosedBytes), m.GoroutinesBaseline, m.GoroutinesOpen, m.GoroutinesAfter, m.GoroutinesLeaked)
	}
	if t := r.Trainer; t != nil {
		p("")
		p("**CWRPO update** of the embedded policy: %d episodes x %d decisions from its own rollouts (%d with a choice, %d choices; %d topped up from other episodes):",
			t.Episodes, t.DecisionsPerEpisode, t.Learnable, t.Choices, t.Filled)
		p("")
		p("| p50 | min | mean | per decision |")
		p("| ---: | ---: | ---: | ---: |")
		p("| %.1f ms | %.1f ms | %.1f ms | %.1f µs |", t.P50ms, t.MinMs, t.MeanMs, t.PerDecUs)
	}
	return b.String()
}

// ReplaceBlock returns doc with the lines between the bench begin marker
// line and the end marker replaced by body; everything else is kept byte
// for byte.
func ReplaceBlock(doc, body string) (string, error) {
	bi := strings.Index(doc, BeginMarker)
	if bi < 0 {
		return "", errors.New("no " + BeginMarker + " ... --> marker")
	}
	nl := strings.Index(doc[bi:], "\n")
	if nl < 0 {
		return "", errors.New("nothing follows the bench begin marker")
	}
	start := bi + nl + 1
	ei := strings.Index(doc[start:], EndMarker)
	if ei < 0 {
		return "", errors.New("no " + EndMarker + " marker after the begin marker")
	}
	end := start + ei
	if strings.Contains(doc[end+len(EndMarker):], BeginMarker) {
		return "", errors.New("more than one bench block")
	}
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	return doc[:start] + body + doc[end:], nil
}
