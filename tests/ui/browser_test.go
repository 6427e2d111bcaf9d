//go:build browser

// Package ui_test drives the web viewer with headless Chromium while a
// real (short, simulated) training run writes to its store: `make test-ui`
// installs Debian's chromium and runs it with -tags browser.
package ui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/flowsteer/flowsteer/internal/runstore"
)

// Hostile text in a task's question, gold answer and distractors: the
// simulated executor answers with the gold or a distractor, so it reaches
// operator outputs too. Nothing of it may run in the browser.
const (
	evilQuestion = `<script>window.__xss="question"</script><img id="xss-q" src=x onerror="window.__xss='q-img'"> `
	evilAnswer   = `<img id="xss-a" src=x onerror="window.__xss='answer'">63`
	evilWrong    = `<svg id="xss-d" onload="window.__xss='distractor'"></svg>56`
)

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: `make test-ui` installs Debian's chromium package (as root with apt-get)")
	return ""
}

func build(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "flowsteer")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/flowsteer").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// tasks writes four math tasks of the offline suite, the first made
// hostile, and returns the file and the hostile task's id.
func tasks(t *testing.T, dir string) (string, string) {
	src, err := os.Open("../../data/suite/train.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []string
	evilID := ""
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && len(out) < 4 {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m["family"] != "math" {
			continue
		}
		if len(out) == 0 {
			evilID = m["id"].(string)
			m["question"] = evilQuestion + m["question"].(string)
			m["answers"] = []string{evilAnswer}
			m["distractors"] = []string{evilWrong, evilWrong + "1"}
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	path := filepath.Join(dir, "tasks.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, evilID
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("UI_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()) // the viewport, PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestViewerFollowsALiveRunInChromium(t *testing.T) {
	browser := chromium(t)
	bin := build(t)
	work := t.TempDir()
	runs := filepath.Join(work, "runs")
	taskFile, evilTask := tasks(t, work)
	cfg := filepath.Join(work, "ui.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("name: uitest\nsteps: 6\nbatch_tasks: 2\ngroup_size: 4\ntasks:\n  train: %s\n  eval: %s\neval:\n  tasks: 2\n  baselines: []\n", taskFile, taskFile)), 0o644); err != nil {
		t.Fatal(err)
	}
	shots := artifacts(t)

	// The viewer, on a free loopback port.
	uiCmd := exec.Command(bin, "ui", "--runs-dir", runs, "--addr", "127.0.0.1:0")
	stdout, _ := uiCmd.StdoutPipe()
	uiCmd.Stderr = os.Stderr
	if err := uiCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uiCmd.Process.Kill(); uiCmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("viewer: %v", err)
	}
	base := strings.Fields(strings.TrimPrefix(line, "flowsteer viewer on "))[0]
	go io.Copy(io.Discard, stdout)

	// A real, short training run.
	var trainOut strings.Builder
	train := exec.Command(bin, "train", "--config", cfg, "--runs-dir", runs, "--no-progress")
	train.Stdout, train.Stderr = &trainOut, &trainOut
	if err := train.Start(); err != nil {
		t.Fatal(err)
	}
	trained := make(chan error, 1)
	go func() { trained <- train.Wait() }()
	t.Cleanup(func() { train.Process.Kill() })

	var run string
	for deadline := time.Now().Add(2 * time.Minute); run == ""; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no run appeared; train said:\n%s", trainOut.String())
		}
		// The run exists once the viewer knows it (run.db appears before
		// the trainer stores the run's row).
		if es, _ := os.ReadDir(runs); len(es) > 0 {
			if resp, err := http.Get(base + "/runs/" + es[0].Name() + "?format=json"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					run = es[0].Name()
				}
			}
		}
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.UserDataDir(filepath.Join(work, "chromium-profile")),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.WindowSize(1400, 1000),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelT()
	dialogs := make(chan string, 4)
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			select {
			case dialogs <- d.Message:
			default:
			}
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	// The run page while it trains: the live curve gains a point.
	runURL := base + "/runs/" + run
	if err := chromedp.Do(ctx, chromedp.Navigate(runURL), chromedp.WaitVisible(chromedp.CSS("#curves"))); err != nil {
		t.Fatal(err)
	}
	// Wait for the first step's point (the page may open before it is
	// stored), then for the live stream to add one more while it trains.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('.curves') && Number(document.getElementById("curves").getAttribute("data-points")) >= 1`,
		chromedp.WithPollingTimeout(3*time.Minute))); err != nil {
		t.Fatalf("the run page never showed a step: %v\n%s", err, trainOut.String())
	}
	points := eval[string](t, ctx, `document.getElementById("curves").getAttribute("data-points")`)
	select {
	case err := <-trained:
		t.Fatalf("the run ended (%v) before the page could watch it; make it longer:\n%s", err, trainOut.String())
	default:
	}
	var before int
	fmt.Sscan(points, &before)
	grow := fmt.Sprintf(`Number(document.getElementById("curves").getAttribute("data-points")) > %d`, before)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](grow, chromedp.WithPollingTimeout(3*time.Minute))); err != nil {
		t.Fatalf("the live curve stayed at %d points: %v\n%s", before, err, trainOut.String())
	}
	circles := eval[int](t, ctx, `document.querySelectorAll('.curve[data-metric="reward"] circle').length`)
	if before < 1 || circles <= before {
		t.Errorf("reward curve has %d points, want more than %d", circles, before)
	}
	shot(t, ctx, shots, "run")

	if err := <-trained; err != nil {
		t.Fatalf("train: %v\n%s", err, trainOut.String())
	}
	st, err := runstore.Open(filepath.Join(runs, run))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// A group: its episodes side by side, highest advantage first.
	step := int64(1)
	eps, err := st.Episodes(run, runstore.EpisodeFilter{Step: &step, Phase: runstore.PhaseTrain})
	if err != nil || len(eps) == 0 {
		t.Fatalf("episodes: %v", err)
	}
	var group []runstore.Episode
	for _, e := range eps {
		if e.GroupID == eps[0].GroupID {
			group = append(group, e)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/steps/1/groups/%s", runURL, group[0].GroupID)),
		chromedp.WaitVisible(chromedp.CSS(".group"))); err != nil {
		t.Fatal(err)
	}
	ids := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('.member')).map(e => e.dataset.episode)`)
	if len(ids) != len(group) {
		t.Errorf("group page shows %d episodes, the store has %d", len(ids), len(group))
	}
	adv := map[string]float64{}
	for _, e := range group {
		adv[e.EpisodeID] = e.Advantage
	}
	for i := 1; i < len(ids); i++ {
		if adv[ids[i-1]] < adv[ids[i]] {
			t.Errorf("group not sorted by advantage: %s (%v) before %s (%v)", ids[i-1], adv[ids[i-1]], ids[i], adv[ids[i]])
		}
	}
	shot(t, ctx, shots, "group")

	// The hostile task's episode, turn by turn.
	all, err := st.Episodes(run, runstore.EpisodeFilter{Phase: runstore.PhaseTrain})
	if err != nil {
		t.Fatal(err)
	}
	var evil runstore.Episode
	for _, e := range all {
		if e.TaskID == evilTask {
			evil = e
			break
		}
	}
	if evil.EpisodeID == "" {
		t.Fatalf("no training episode of the hostile task %s", evilTask)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(runURL+"/episodes/"+evil.EpisodeID), chromedp.WaitVisible(chromedp.CSS("#turn-1"))); err != nil {
		t.Fatal(err)
	}
	turns := eval[int](t, ctx, `document.querySelectorAll('section.turn').length`)
	question := eval[string](t, ctx, `(document.getElementById('question')||{}).textContent||''`)
	if turns != evil.Turns {
		t.Errorf("episode page shows %d turns, the store has %d", turns, evil.Turns)
	}
	if !strings.Contains(question, `<script>window.__xss="question"</script>`) {
		t.Errorf("the hostile question is not shown as text: %q", question)
	}
	time.Sleep(300 * time.Millisecond) // an onerror would have fired by now
	xss := eval[string](t, ctx, `window.__xss === undefined ? "" : String(window.__xss)`)
	planted := eval[int](t, ctx, `document.querySelectorAll('#xss-q, #xss-a, #xss-d').length`)
	if xss != "" || planted != 0 {
		t.Errorf("hostile text ran or became elements: __xss=%v, %d planted elements", xss, planted)
	}
	shot(t, ctx, shots, "episode")

	// Its trace, from the spans the run recorded itself.
	spans, err := st.Spans(run, runstore.SpanFilter{EpisodeID: evil.EpisodeID})
	if err != nil || len(spans) == 0 {
		t.Fatalf("no spans recorded for %s (%v)", evil.EpisodeID, err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(runURL+"/episodes/"+evil.EpisodeID+"/trace"), chromedp.WaitVisible(chromedp.CSS("#waterfall"))); err != nil {
		t.Fatal(err)
	}
	bars := eval[int](t, ctx, `document.querySelectorAll('#waterfall .span').length`)
	names := eval[[]string](t, ctx, `Array.from(new Set(Array.from(document.querySelectorAll('#waterfall .span')).map(e => e.dataset.name)))`)
	if bars != len(spans) {
		t.Errorf("waterfall shows %d spans, the store has %d", bars, len(spans))
	}
	for _, want := range []string{"episode", "turn", "policy.act", "canvas.apply", "workflow.node"} {
		if !contains(names, want) {
			t.Errorf("waterfall lacks %s spans (has %v)", want, names)
		}
	}
	shot(t, ctx, shots, "trace")

	// The runs page and search.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#runs"))); err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, shots, "runs")
	resp, err := http.Get(base + "/search?q=" + evil.EpisodeID + "&format=json")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("search: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	select {
	case m := <-dialogs:
		t.Errorf("a page opened a JavaScript dialog: %q", m)
	default:
	}
	t.Logf("screenshots in %s", shots)
}

// eval evaluates a JavaScript expression (a promise is awaited) in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
