package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tinyConfig is QuickConfig cut further: every section runs, in seconds.
func tinyConfig() Config {
	c := QuickConfig()
	c.CanvasEpisodes = 3
	c.Warmup, c.Window = 100*time.Millisecond, 500*time.Millisecond
	c.Streams = 8
	c.GroupSize = 3
	c.OpenEpisodes = 20
	c.UpdateEpisodes, c.UpdateDecisions, c.UpdateRepeats = 3, 4, 1
	return c
}

// TestRunQuickReportIsWellFormed runs every section at tiny sizes and
// checks that the report is complete and its numbers consistent. It
// asserts no timing: only counts, signs and identities.
func TestRunQuickReportIsWellFormed(t *testing.T) {
	if testing.Short() {
		t.Skip("plays a few hundred turns over gRPC")
	}
	cfg := tinyConfig()
	var progress bytes.Buffer
	cfg.Progress = &progress
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Canvas == nil || r.Rollout == nil || r.Cache == nil || r.Memory == nil || r.Trainer == nil {
		t.Fatalf("a section is missing: %+v", r)
	}
	if r.Machine.Cores < 1 || r.Machine.GOOS == "" || r.Machine.Go == "" || r.Machine.CPU == "" {
		t.Errorf("machine = %+v", r.Machine)
	}

	c := r.Canvas
	if want := cfg.CanvasEpisodes * ScriptTurns; c.Turns != want || c.InProcess.N != want || c.InProcessProto.N != want || c.GRPC.N != want {
		t.Errorf("canvas turns = %d (%d, %d, %d), want %d each", c.Turns, c.InProcess.N, c.InProcessProto.N, c.GRPC.N, want)
	}
	for name, l := range map[string]Latency{"in process": c.InProcess, "proto": c.InProcessProto, "grpc": c.GRPC} {
		if !(l.P50us > 0) || l.P99us < l.P50us || !(l.MeanUs > 0) {
			t.Errorf("%s latency = %+v", name, l)
		}
	}
	if !(c.RatioP50 > 0) || !(c.RatioP99 > 0) || c.RatioP50 != c.GRPC.P50us/c.InProcess.P50us {
		t.Errorf("canvas ratios = %v, %v", c.RatioP50, c.RatioP99)
	}

	o := r.Rollout
	// Six operators call the model (Plan, 2 AnswerGenerate, Custom,
	// Review, Format; ScEnsemble votes in code), and the workflow runs
	// once per completed stage (five), so each call is paid 1 to 5 times.
	if o.CallsPerEpisode < 6 || o.CallsPerEpisode > 30 {
		t.Errorf("calls per episode = %d, want 6..30", o.CallsPerEpisode)
	}
	if o.TurnsPerEpisode < 6 || o.Episodes < 1 || !(o.EpisodesPerSec > 0) || !(o.Efficiency > 0) || !(o.CallEfficiency > 0) {
		t.Errorf("rollout = %+v", o)
	}
	if want := float64(cfg.Concurrency) / (float64(o.CallsPerEpisode) * cfg.Delay.Seconds()); o.IdealPerSec != want {
		t.Errorf("ideal = %v, want C / (calls x delay) = %v", o.IdealPerSec, want)
	}
	if o.PeakInFlight < 1 || o.PeakInFlight > int64(cfg.Concurrency) {
		t.Errorf("peak in flight = %d: the backend's cap C=%d was not kept", o.PeakInFlight, cfg.Concurrency)
	}
	if o.Met != (o.Efficiency >= EfficiencyTarget) || o.FailedEpisodes != 0 {
		t.Errorf("met = %v for efficiency %v, failed %d", o.Met, o.Efficiency, o.FailedEpisodes)
	}

	k := r.Cache
	if k.Episodes != cfg.Tasks*cfg.GroupSize || k.CallsOff <= 0 || k.CallsOn <= 0 || k.CallsOn > k.CallsOff {
		t.Errorf("cache = %+v", k)
	}
	// With the same decisions on both sides, every call the cache-off run
	// made was, with the cache on, a backend call, a hit or a coalesced one.
	if k.CallsOn+k.Hits+k.Coalesced != k.CallsOff {
		t.Errorf("cache on: %d calls + %d hits + %d coalesced != %d calls with the cache off", k.CallsOn, k.Hits, k.Coalesced, k.CallsOff)
	}
	if !k.RewardsMatch || !(k.Ratio > 0 && k.Ratio <= 1) || !strings.Contains(k.Backend, "SIMULATED") {
		t.Errorf("cache = %+v", k)
	}

	m := r.Memory
	if m.Episodes != cfg.OpenEpisodes || !(m.PerEpisodeBytes > 0) || !(m.DomainPerEpisode > 0) || m.HeapOpen <= m.HeapBaseline {
		t.Errorf("memory = %+v", m)
	}
	if m.GoroutinesOpen <= m.GoroutinesBaseline {
		t.Errorf("goroutines: %d open, %d before: the streams were not open at once", m.GoroutinesOpen, m.GoroutinesBaseline)
	}
	if m.GoroutinesLeaked != 0 {
		t.Errorf("%d goroutines left after closing every episode (before %d, after %d)", m.GoroutinesLeaked, m.GoroutinesBaseline, m.GoroutinesAfter)
	}
	if m.FDsBaseline >= 0 && m.FDsAfter > m.FDsBaseline {
		t.Errorf("open fds %d -> %d", m.FDsBaseline, m.FDsAfter)
	}

	tr := r.Trainer
	if tr.Decisions != cfg.UpdateEpisodes*cfg.UpdateDecisions || tr.Learnable < 1 || tr.Choices < tr.Learnable || !(tr.P50ms > 0) || tr.MinMs > tr.P50ms {
		t.Errorf("trainer = %+v", tr)
	}

	for _, want := range []string{"canvas overhead", "rollout", "executor calls", "memory", "trainer"} {
		if !strings.Contains(progress.String(), "bench: "+want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}

	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	md := r.Markdown()
	for _, out := range []string{text.String(), md} {
		for _, want := range []string{"SIMULATED", "ratio gRPC / in process", "not a model", r.Machine.CPU} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	}
	if strings.Contains(md, BeginMarker) || strings.Contains(md, EndMarker) {
		t.Errorf("the markdown body carries a marker:\n%s", md)
	}

	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Cache == nil || back.Cache.CallsOff != k.CallsOff || back.Rollout.Efficiency != o.Efficiency || back.Config.Window != cfg.Window {
		t.Errorf("JSON round trip lost fields: %s", js.String())
	}
}

func TestRunOnlySelectedSections(t *testing.T) {
	cfg := tinyConfig()
	cfg.Only = []string{SectionTrainer}
	r, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Trainer == nil || r.Canvas != nil || r.Rollout != nil || r.Cache != nil || r.Memory != nil {
		t.Fatalf("only trainer ran? %+v", r)
	}
	md := r.Markdown()
	if !strings.Contains(md, "CWRPO update") || strings.Contains(md, "Rollout efficiency") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	cases := map[string]func(*Config){
		"canvas_episodes": func(c *Config) { c.CanvasEpisodes = 0 },
		"delay":           func(c *Config) { c.Delay = 0 },
		"group_size":      func(c *Config) { c.GroupSize = 1 },
		"tasks":           func(c *Config) { c.Tasks = 4 },
		"only":            func(c *Config) { c.Only = []string{"gpu"} },
		"workflow":        func(c *Config) { c.Workflow = " " },
	}
	for field, mut := range cases {
		c := DefaultConfig()
		mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: got %v", field, err)
		}
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%s: Run accepted a bad config", field)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
	if err := QuickConfig().Validate(); err != nil {
		t.Error(err)
	}
}

func TestReplaceBlockKeepsTheRest(t *testing.T) {
	before := "# flowsteer benchmarks\n\nProse that stays.\n\n<!-- bench:begin (generated by `make bench`; do not edit) -->\n"
	after := "<!-- bench:end -->\n\n<!-- llm:begin (another writer) -->\nllm numbers | stay\n<!-- llm:end -->\n"
	doc := before + "old line 1\nold line 2\n" + after
	got, err := ReplaceBlock(doc, "| new | table |")
	if err != nil {
		t.Fatal(err)
	}
	if want := before + "| new | table |\n" + after; got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	again, err := ReplaceBlock(got, "| new | table |\n")
	if err != nil || again != got {
		t.Fatalf("replacing twice changed the document: %v\n%s", err, again)
	}
	empty, err := ReplaceBlock(doc, "")
	if err != nil || empty != before+after {
		t.Fatalf("empty body: %v\n%s", err, empty)
	}
	// An empty block (the skeleton) fills in.
	filled, err := ReplaceBlock(before+after, "x\n")
	if err != nil || filled != before+"x\n"+after {
		t.Fatalf("skeleton: %v\n%s", err, filled)
	}
	for name, bad := range map[string]string{
		"no begin":     "text\n<!-- bench:end -->\n",
		"no end":       "<!-- bench:begin x -->\ntext\n",
		"end first":    "<!-- bench:end -->\n<!-- bench:begin x -->\n",
		"two blocks":   before + after + before + after,
		"begin at eof": "<!-- bench:begin x -->",
	} {
		if _, err := ReplaceBlock(bad, "x"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestReplaceBlockOnTheRealFile checks that the repository's
// BENCHMARKS.md has exactly one bench block that `make bench` can rewrite,
// and that rewriting it leaves everything outside the block alone.
func TestReplaceBlockOnTheRealFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	out, err := ReplaceBlock(doc, "MARK\n")
	if err != nil {
		t.Fatal(err)
	}
	bi := strings.Index(doc, BeginMarker)
	head := doc[:bi+strings.Index(doc[bi:], "\n")+1]
	tail := doc[strings.Index(doc, EndMarker):]
	if out != head+"MARK\n"+tail {
		t.Fatalf("rewrite touched text outside the block:\n%s", out)
	}
}

func TestCPUModel(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	x86 := write("x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n")
	arm := write("arm", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n")
	for path, want := range map[string]string{x86: "Intel(R) Xeon(R) CPU @ 2.20GHz", arm: "CPU part 0xd0c", filepath.Join(dir, "none"): "unknown CPU"} {
		if got := cpuModel(path); got != want {
			t.Errorf("cpuModel(%s) = %q, want %q", filepath.Base(path), got, want)
		}
	}
}

func TestSummarizeQuantiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Microsecond)
	}
	l := summarize(ds)
	if l.N != 100 || l.P50us != 50 || l.P99us != 99 || l.MeanUs != 50.5 {
		t.Errorf("summarize = %+v", l)
	}
	if (summarize(nil) != Latency{}) {
		t.Error("empty summary is not zero")
	}
}
