package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"gopkg.in/yaml.v3"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

// staleAfter: a run still marked running whose record has not changed for
// this long is shown as interrupted (its process is most likely gone).
const staleAfter = 15 * time.Minute

// RunSummary is one row of the runs page.
type RunSummary struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"` // running, finished, failed, interrupted, pending
	Step       int64   `json:"step"`
	TotalSteps int64   `json:"total_steps"`
	Backend    string  `json:"backend"`
	Policy     string  `json:"policy"`
	Model      string  `json:"model"`
	Simulated  bool    `json:"simulated"`
	BestEval   float64 `json:"best_eval_reward"`
	HasEval    bool    `json:"has_eval"`
	Updated    string  `json:"updated"`
	Error      string  `json:"error,omitempty"`
	Resumes    int     `json:"resumes"`
	// Config summarises the run's configuration (tasks x episodes,
	// grouping, reward, loss).
	Config string `json:"config_summary"`
}

// configSummary reads the few settings that tell runs apart.
func configSummary(yml string) string {
	var c struct {
		Steps     int    `yaml:"steps"`
		Grouping  string `yaml:"grouping"`
		GroupSize int    `yaml:"group_size"`
		BatchSize int    `yaml:"batch_tasks"`
		Reward    struct {
			Kind string `yaml:"kind"`
		} `yaml:"reward"`
		Loss struct {
			Kind string `yaml:"kind"`
		} `yaml:"loss"`
	}
	if yaml.Unmarshal([]byte(yml), &c) != nil || c.Steps == 0 {
		return ""
	}
	return fmt.Sprintf("%d tasks x %d episodes (%s), reward %s, loss %s", c.BatchSize, c.GroupSize, c.Grouping, c.Reward.Kind, c.Loss.Kind)
}

func viewStatus(r runstore.Run) string {
	switch r.Status {
	case runstore.StatusSucceeded:
		return "finished"
	case runstore.StatusCancelled:
		return "interrupted"
	case runstore.StatusRunning:
		if time.Since(r.Updated) > staleAfter {
			return "interrupted"
		}
	}
	return r.Status
}

func (s *Server) summary(name string) (RunSummary, error) {
	st, err := s.store(name)
	if err != nil {
		return RunSummary{}, err
	}
	r, err := st.GetRun(name)
	if err != nil {
		return RunSummary{}, err
	}
	out := RunSummary{ID: r.ID, Name: r.Name, Status: viewStatus(r), Step: r.Step, TotalSteps: r.TotalSteps, Backend: r.Backend,
		Policy: r.Policy, Model: r.Model, Simulated: r.Simulated, Updated: r.Updated.UTC().Format(time.RFC3339), Error: r.Error,
		Config: configSummary(r.ConfigYAML)}
	evals, err := st.Evals(name)
	if err != nil {
		return out, err
	}
	out.BestEval = math.Inf(-1)
	for _, e := range evals {
		if ps := e.GetPolicies(); len(ps) > 0 && ps[0].GetEpisodes() > 0 {
			out.HasEval = true
			out.BestEval = math.Max(out.BestEval, ps[0].GetMeanReward())
		}
	}
	if !out.HasEval {
		out.BestEval = 0
	}
	res, err := st.Resumes(name)
	out.Resumes = len(res)
	return out, err
}

func (s *Server) runsData(*http.Request) (any, error) {
	names, err := s.runNames()
	if err != nil {
		return nil, err
	}
	runs := []RunSummary{}
	for i := len(names) - 1; i >= 0; i-- { // newest first: names end in a timestamp
		sm, err := s.summary(names[i])
		if err != nil {
			sm = RunSummary{ID: names[i], Status: "unreadable", Error: err.Error()}
		}
		runs = append(runs, sm)
	}
	return map[string]any{"runs_dir": s.o.RunsDir, "runs": runs}, nil
}

// Step is one step's metrics as the curves use them.
type Step struct {
	Step          int64              `json:"step"`
	Reward        float64            `json:"reward"`
	Release       float64            `json:"release"`
	Correctness   float64            `json:"correctness"`
	Structure     float64            `json:"structure"`
	Turns         float64            `json:"turns"`
	Invalid       float64            `json:"invalid"`
	KL            float64            `json:"kl"`
	Entropy       float64            `json:"entropy"`
	Loss          float64            `json:"loss"`
	ExecutorCalls int64              `json:"executor_calls"`
	CacheHitRate  float64            `json:"cache_hit_rate"`
	Accuracy      map[string]float64 `json:"accuracy_by_family"`
	Episodes      int32              `json:"episodes"`
}

func stepOf(m *pb.StepMetrics) Step {
	return Step{Step: m.GetStep(), Reward: m.GetMeanReward(), Release: m.GetStructureReleaseRate(), Correctness: m.GetCorrectness(),
		Structure: m.GetMeanStructure(), Turns: m.GetMeanTurns(), Invalid: m.GetInvalidActionRate(), KL: m.GetKl(),
		Entropy: m.GetEntropy(), Loss: m.GetLoss(), ExecutorCalls: m.GetExecutorCalls(), CacheHitRate: m.GetCacheHitRate(),
		Accuracy: m.GetAccuracyByFamily(), Episodes: m.GetEpisodes()}
}

// EvalRow is one policy of one evaluation.
type EvalRow struct {
	Step     int64   `json:"step"`
	Policy   string  `json:"policy"`
	Reward   float64 `json:"reward"`
	Low      float64 `json:"ci_low"`
	High     float64 `json:"ci_high"`
	Release  float64 `json:"release"`
	Finished float64 `json:"finished"`
	Turns    float64 `json:"turns"`
	Accuracy string  `json:"accuracy"`
	Episodes int32   `json:"episodes"`
}

// GroupRow links one group of a step.
type GroupRow struct {
	Step       int64   `json:"step"`
	Phase      string  `json:"phase"`
	GroupID    string  `json:"group_id"`
	Episodes   int     `json:"episodes"`
	MeanReward float64 `json:"mean_reward"`
	Released   int     `json:"released"`
	URL        string  `json:"url"`
}

// WorkflowRow is a frequent final workflow with its drawing.
type WorkflowRow struct {
	DSL        string  `json:"dsl"`
	Count      int     `json:"count"`
	MeanReward float64 `json:"mean_reward"`
	Graph      Graph   `json:"graph"`
}

// ResumeRow says which step a resume interrupted and replayed.
type ResumeRow struct {
	FromStep    int64  `json:"from_step"`
	Interrupted int64  `json:"interrupted_step"`
	Dropped     int    `json:"dropped_episodes"`
	At          string `json:"at"`
}

// RunPage is the run page's data.
type RunPage struct {
	Run       RunSummary    `json:"run"`
	Config    string        `json:"config_yaml"`
	Steps     []Step        `json:"steps"`
	Evals     []EvalRow     `json:"evals"`
	Workflows []WorkflowRow `json:"workflows"`
	Resumes   []ResumeRow   `json:"resumes"`
	Groups    []GroupRow    `json:"groups"`
	// GroupsStep is the step whose groups are listed (?step=N, default the last).
	GroupsStep  int64   `json:"groups_step"`
	GroupSteps  []int64 `json:"group_steps"`
	Interrupted []int64 `json:"interrupted_steps"`
}

func (s *Server) runData(r *http.Request) (any, error) {
	name := r.PathValue("run")
	sm, err := s.summary(name)
	if err != nil {
		return nil, err
	}
	st, _ := s.store(name)
	run, err := st.GetRun(name)
	if err != nil {
		return nil, err
	}
	p := RunPage{Run: sm, Config: run.ConfigYAML, Steps: []Step{}}
	steps, err := st.Steps(name)
	if err != nil {
		return nil, err
	}
	for _, m := range steps {
		p.Steps = append(p.Steps, stepOf(m))
	}
	evals, err := st.Evals(name)
	if err != nil {
		return nil, err
	}
	for _, e := range evals {
		for _, pe := range e.GetPolicies() {
			var acc []string
			for _, fm := range pe.GetMetrics() {
				acc = append(acc, fmt.Sprintf("%s %.2f [%.2f, %.2f]", fm.GetFamily(), fm.GetValue(), fm.GetCiLow(), fm.GetCiHigh()))
			}
			p.Evals = append(p.Evals, EvalRow{Step: e.GetStep(), Policy: pe.GetPolicy(), Reward: pe.GetMeanReward(), Low: pe.GetRewardCiLow(),
				High: pe.GetRewardCiHigh(), Release: pe.GetStructureReleaseRate(), Finished: pe.GetFinishedRate(), Turns: pe.GetMeanTurns(),
				Accuracy: strings.Join(acc, ", "), Episodes: pe.GetEpisodes()})
		}
	}
	wfs, err := st.TopWorkflows(name, runstore.PhaseTrain, 0, 5)
	if err != nil {
		return nil, err
	}
	for _, w := range wfs {
		p.Workflows = append(p.Workflows, WorkflowRow{DSL: w.DSL, Count: w.Count, MeanReward: nanToZero(w.MeanReward), Graph: graphFromDSL(w.DSL)})
	}
	res, err := st.Resumes(name)
	if err != nil {
		return nil, err
	}
	for _, rs := range res {
		p.Resumes = append(p.Resumes, ResumeRow{FromStep: rs.FromStep, Interrupted: rs.Interrupted, Dropped: rs.Dropped, At: rs.At.UTC().Format(time.RFC3339)})
		p.Interrupted = append(p.Interrupted, rs.Interrupted)
	}
	groups, err := st.Groups(name)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	for _, g := range groups {
		if !seen[g.Step] {
			seen[g.Step] = true
			p.GroupSteps = append(p.GroupSteps, g.Step)
		}
	}
	p.GroupsStep = -1
	if v := r.URL.Query().Get("step"); v != "" {
		fmt.Sscan(v, &p.GroupsStep)
	} else if n := len(p.GroupSteps); n > 0 {
		p.GroupsStep = p.GroupSteps[n-1]
	}
	for _, g := range groups {
		if g.Step != p.GroupsStep {
			continue
		}
		p.Groups = append(p.Groups, GroupRow{Step: g.Step, Phase: g.Phase, GroupID: g.GroupID, Episodes: g.Episodes,
			MeanReward: nanToZero(g.MeanReward), Released: g.Released, URL: groupURL(name, g.Step, g.GroupID)})
	}
	return p, nil
}

func nanToZero(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func runURL(run string) string { return "/runs/" + url.PathEscape(run) }

func groupURL(run string, step int64, group string) string {
	return fmt.Sprintf("%s/steps/%d/groups/%s", runURL(run), step, url.PathEscape(group))
}

func episodeURL(run, ep string) string { return runURL(run) + "/episodes/" + url.PathEscape(ep) }

// Reward is a reward breakdown for display.
type Reward struct {
	Reward      float64 `json:"reward"`
	Base        float64 `json:"base"`
	Checker     float64 `json:"checker"`
	Format      float64 `json:"format"`
	Size        float64 `json:"size"`
	Structure   float64 `json:"structure"`
	Total       float64 `json:"structure_total"`
	Released    bool    `json:"released"`
	Correctness float64 `json:"correctness"`
	Penalties   float64 `json:"penalties"`
	Correct     bool    `json:"correct"`
	Method      string  `json:"scorer"`
	Explanation string  `json:"explanation"`
}

func rewardOf(r *pb.RewardBreakdown) *Reward {
	if r == nil {
		return nil
	}
	sc := r.GetScore()
	return &Reward{Reward: r.GetReward(), Base: r.GetBase(), Checker: r.GetChecker(), Format: r.GetFormat(), Size: r.GetSize(),
		Structure: r.GetStructure(), Total: r.GetStructureTotal(), Released: r.GetReleased(), Correctness: r.GetCorrectness(),
		Penalties: r.GetPenalties(), Correct: sc.GetCorrect(), Method: sc.GetMethod(), Explanation: sc.GetExplanation()}
}

// EpisodeRow is an episode in a group.
type EpisodeRow struct {
	EpisodeID string  `json:"episode_id"`
	URL       string  `json:"url"`
	TaskID    string  `json:"task_id"`
	Family    string  `json:"family"`
	DSL       string  `json:"dsl"`
	Turns     int     `json:"turns"`
	Advantage float64 `json:"advantage"`
	Reward    *Reward `json:"reward"`
	Finished  bool    `json:"finished"`
	Failed    bool    `json:"failed"`
	Error     string  `json:"error,omitempty"`
	Graph     Graph   `json:"graph"`
}

// GroupPage is the group page's data.
type GroupPage struct {
	Run      string       `json:"run"`
	RunURL   string       `json:"run_url"`
	Step     int64        `json:"step"`
	GroupID  string       `json:"group_id"`
	Question string       `json:"question"`
	Episodes []EpisodeRow `json:"episodes"`
}

func (s *Server) groupData(r *http.Request) (any, error) {
	name := r.PathValue("run")
	step, err := stepParam(r)
	if err != nil {
		return nil, err
	}
	st, err := s.store(name)
	if err != nil {
		return nil, err
	}
	gid := r.PathValue("group")
	eps, err := st.GroupEpisodes(name, step, gid)
	if err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		return nil, notFoundf("run %q has no group %q at step %d", name, gid, step)
	}
	p := GroupPage{Run: name, RunURL: runURL(name), Step: step, GroupID: gid}
	for _, e := range eps {
		row := EpisodeRow{EpisodeID: e.EpisodeID, URL: episodeURL(name, e.EpisodeID), TaskID: e.TaskID, Family: e.Family, DSL: e.DSL,
			Turns: e.Turns, Advantage: nanToZero(e.Advantage), Reward: rewardOf(e.Reward), Finished: e.Finished, Failed: e.Failed, Error: e.Error}
		row.Graph = graphFromDSL(e.DSL)
		if rec := s.record(st, name, e.EpisodeID); rec != nil {
			if n := len(rec.Turns); n > 0 && len(rec.Turns[n-1].Outputs) > 0 {
				row.Graph = graphFromOutputs(rec.Turns[n-1].Outputs)
			}
			if p.Question == "" {
				p.Question = questionOf(rec.Task)
			}
		}
		p.Episodes = append(p.Episodes, row)
	}
	sort.SliceStable(p.Episodes, func(i, j int) bool { return p.Episodes[i].Advantage > p.Episodes[j].Advantage })
	return p, nil
}

func (s *Server) record(st runstore.Store, run, ep string) *replay.Record {
	data, err := st.EpisodeReplay(run, ep)
	if err != nil {
		return nil
	}
	rec, err := replay.DecodeRecord(data)
	if err != nil {
		return nil
	}
	return rec
}

func questionOf(raw json.RawMessage) string {
	t := new(pb.Task)
	if err := protojson.Unmarshal(raw, t); err != nil {
		return ""
	}
	return t.GetQuestion()
}

// TurnView is one turn of an episode.
type TurnView struct {
	Turn     int                 `json:"turn"`
	Reply    string              `json:"reply"`
	Parsed   string              `json:"parsed_action"`
	Valid    bool                `json:"valid"`
	Feedback string              `json:"feedback"`
	DSL      string              `json:"dsl"`
	State    string              `json:"state"`
	Outputs  []replay.NodeOutput `json:"nodes,omitempty"`
	Graph    Graph               `json:"graph"`
	Calls    int                 `json:"executor_calls"`
}

// EpisodePage is the episode page's data.
type EpisodePage struct {
	Run       string     `json:"run"`
	RunURL    string     `json:"run_url"`
	GroupURL  string     `json:"group_url"`
	EpisodeID string     `json:"episode_id"`
	Step      int64      `json:"step"`
	Phase     string     `json:"phase"`
	GroupID   string     `json:"group_id"`
	TaskID    string     `json:"task_id"`
	Family    string     `json:"family"`
	Question  string     `json:"question"`
	DSL       string     `json:"dsl"`
	Advantage float64    `json:"advantage"`
	Reward    *Reward    `json:"reward"`
	Finished  bool       `json:"finished"`
	Failed    bool       `json:"failed"`
	Error     string     `json:"error,omitempty"`
	Turns     []TurnView `json:"turns"`
	Replay    bool       `json:"replayable"`
	TraceURL  string     `json:"trace_url"`
	BundleURL string     `json:"bundle_url"`
	Backend   string     `json:"backend"`
}

func (s *Server) episodeData(r *http.Request) (any, error) {
	name, id := r.PathValue("run"), r.PathValue("episode")
	st, err := s.store(name)
	if err != nil {
		return nil, err
	}
	e, err := st.EpisodeByID(name, id)
	if err != nil {
		return nil, err
	}
	p := EpisodePage{Run: name, RunURL: runURL(name), GroupURL: groupURL(name, e.Step, e.GroupID), EpisodeID: id, Step: e.Step,
		Phase: e.Phase, GroupID: e.GroupID, TaskID: e.TaskID, Family: e.Family, DSL: e.DSL, Advantage: nanToZero(e.Advantage),
		Reward: rewardOf(e.Reward), Finished: e.Finished, Failed: e.Failed, Error: e.Error,
		TraceURL: episodeURL(name, id) + "/trace", BundleURL: episodeURL(name, id) + "/bundle"}
	var logs []runstore.TurnLogEntry
	if len(e.TurnLog) > 0 {
		_ = json.Unmarshal(e.TurnLog, &logs)
	}
	rec := s.record(st, name, id)
	calls := map[int]int{}
	if rec != nil {
		p.Replay = true
		p.Question = questionOf(rec.Task)
		p.Backend = rec.Backend.Name + " " + rec.Backend.Model
		for _, c := range rec.Calls {
			calls[c.Turn]++
		}
	}
	for i, l := range logs {
		tv := TurnView{Turn: l.Turn, Reply: l.Reply, Valid: l.Valid, Feedback: l.Feedback, DSL: l.DSL, State: strings.ToLower(strings.TrimPrefix(l.State, "EPISODE_STATE_")), Calls: calls[l.Turn]}
		if rec != nil && i < len(rec.Turns) {
			rt := rec.Turns[i]
			tv.Parsed, tv.Outputs = rt.Parsed, rt.Outputs
			var a pb.Action
			if protojson.Unmarshal(rt.Action, &a) == nil && a.GetText() != "" {
				tv.Reply = a.GetText() // the full reply; the turn log clips it
			}
		}
		if len(tv.Outputs) > 0 {
			tv.Graph = graphFromOutputs(tv.Outputs)
		} else {
			tv.Graph = graphFromDSL(l.DSL)
		}
		p.Turns = append(p.Turns, tv)
	}
	return p, nil
}

// SpanView is one bar of the waterfall.
type SpanView struct {
	SpanID   string            `json:"span_id"`
	ParentID string            `json:"parent_id"`
	Name     string            `json:"name"`
	Depth    int               `json:"depth"`
	StartMS  float64           `json:"start_ms"`
	DurMS    float64           `json:"duration_ms"`
	Left     float64           `json:"left_pct"`
	Width    float64           `json:"width_pct"`
	Status   string            `json:"status"`
	Attrs    map[string]any    `json:"attributes"`
	Keys     []string          `json:"-"`
	Shown    map[string]string `json:"-"`
}

// TracePage is the trace page's data.
type TracePage struct {
	Run        string     `json:"run"`
	EpisodeID  string     `json:"episode_id"`
	EpisodeURL string     `json:"episode_url"`
	TraceID    string     `json:"trace_id"`
	TotalMS    float64    `json:"total_ms"`
	Spans      []SpanView `json:"spans"`
	JaegerURL  string     `json:"jaeger_url,omitempty"`
}

func (s *Server) traceData(r *http.Request) (any, error) {
	name, id := r.PathValue("run"), r.PathValue("episode")
	st, err := s.store(name)
	if err != nil {
		return nil, err
	}
	if _, err := st.EpisodeByID(name, id); err != nil {
		return nil, err
	}
	spans, err := st.Spans(name, runstore.SpanFilter{EpisodeID: id})
	if err != nil {
		return nil, err
	}
	p := TracePage{Run: name, EpisodeID: id, EpisodeURL: episodeURL(name, id), Spans: []SpanView{}}
	if len(spans) == 0 {
		return p, nil
	}
	p.TraceID = spans[0].TraceID
	if s.o.JaegerURL != "" {
		p.JaegerURL = strings.TrimRight(s.o.JaegerURL, "/") + "/trace/" + url.PathEscape(p.TraceID)
	}
	p.Spans = waterfall(spans)
	if len(p.Spans) > 0 {
		start, end := spans[0].Start, spans[0].End
		for _, sp := range spans {
			if sp.Start.Before(start) {
				start = sp.Start
			}
			if sp.End.After(end) {
				end = sp.End
			}
		}
		p.TotalMS = float64(end.Sub(start).Microseconds()) / 1000
	}
	return p, nil
}

// waterfall orders spans depth first under their parents, with offsets
// and widths relative to the whole.
func waterfall(spans []runstore.Span) []SpanView {
	ids := map[string]bool{}
	start, end := spans[0].Start, spans[0].End
	for _, sp := range spans {
		ids[sp.SpanID] = true
		if sp.Start.Before(start) {
			start = sp.Start
		}
		if sp.End.After(end) {
			end = sp.End
		}
	}
	total := float64(end.Sub(start))
	if total <= 0 {
		total = 1
	}
	children := map[string][]runstore.Span{}
	var roots []runstore.Span
	for _, sp := range spans {
		if sp.ParentID == "" || !ids[sp.ParentID] {
			roots = append(roots, sp)
		} else {
			children[sp.ParentID] = append(children[sp.ParentID], sp)
		}
	}
	var out []SpanView
	var walk func(sp runstore.Span, depth int)
	walk = func(sp runstore.Span, depth int) {
		v := SpanView{SpanID: sp.SpanID, ParentID: sp.ParentID, Name: sp.Name, Depth: depth, Status: sp.Status,
			StartMS: float64(sp.Start.Sub(start).Microseconds()) / 1000, DurMS: float64(sp.End.Sub(sp.Start).Microseconds()) / 1000,
			Left: 100 * float64(sp.Start.Sub(start)) / total, Width: math.Max(0.2, 100*float64(sp.End.Sub(sp.Start))/total)}
		_ = json.Unmarshal([]byte(sp.Attrs), &v.Attrs)
		v.Shown = map[string]string{}
		for k, a := range v.Attrs {
			v.Keys = append(v.Keys, k)
			v.Shown[k] = fmt.Sprint(a)
		}
		sort.Strings(v.Keys)
		out = append(out, v)
		for _, c := range children[sp.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return out
}

// bundle serves the episode's replay bundle as a download.
func (s *Server) bundle(w http.ResponseWriter, r *http.Request) {
	name, id := r.PathValue("run"), r.PathValue("episode")
	st, err := s.store(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := replay.Export(st, name, id, s.o.Version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data, err := b.Marshal()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "episode-"+safeFile(id)+".json"))
	_, _ = w.Write(data)
}

func safeFile(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

// events streams server-sent events: "step" with each new step's metrics
// (after those the client says it has, ?after=N) and "status" when the
// run's status changes. It polls the store, which the trainer writes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("run")
	st, err := s.store(name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	var after int64 = -1
	fmt.Sscan(r.URL.Query().Get("after"), &after)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	status := ""
	tick := time.NewTicker(s.o.Poll)
	defer tick.Stop()
	for {
		steps, err := st.Steps(name)
		if err != nil {
			return
		}
		for _, m := range steps {
			if m.GetStep() <= after {
				continue
			}
			b, _ := json.Marshal(stepOf(m))
			fmt.Fprintf(w, "event: step\ndata: %s\n\n", b)
			after = m.GetStep()
		}
		if run, err := st.GetRun(name); err == nil && viewStatus(run) != status {
			status = viewStatus(run)
			b, _ := json.Marshal(map[string]any{"status": status, "step": run.Step})
			fmt.Fprintf(w, "event: status\ndata: %s\n\n", b)
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
