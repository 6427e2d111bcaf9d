package ui

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

func newTestServer(t *testing.T, o fixtureOpts) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	fixture(t, dir, o)
	s, err := New(Options{RunsDir: dir, Version: "test", Poll: 20 * time.Millisecond, JaegerURL: "http://127.0.0.1:16686"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts, dir
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, loc
	}
	return resp.StatusCode, string(b)
}

func TestEveryPageRendersWithAJSONTwin(t *testing.T) {
	ts, _ := newTestServer(t, fixtureOpts{steps: 3, groups: 2, group: 4, question: "What is two plus two?", output: "four"})
	pages := map[string]string{
		"/":                                   "run-1",
		"/runs/run-1":                         "Most frequent workflows",
		"/runs/run-1/steps/2/groups/s2-g1":    "advantage",
		"/runs/run-1/episodes/ep_1_0_0":       "What is two plus two?",
		"/runs/run-1/episodes/ep_1_0_0/trace": "workflow.node",
	}
	for path, want := range pages {
		code, body := get(t, ts.URL+path)
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d, want 200 with %q", path, code, want)
		}
		code, body = get(t, ts.URL+path+"?format=json")
		var v any
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
			t.Errorf("GET %s?format=json: %d %.200s", path, code, body)
		}
	}
	// The group is sorted by advantage, highest first.
	_, body := get(t, ts.URL+"/runs/run-1/steps/2/groups/s2-g1?format=json")
	var g GroupPage
	if err := json.Unmarshal([]byte(body), &g); err != nil || len(g.Episodes) != 4 {
		t.Fatalf("group: %v %d", err, len(g.Episodes))
	}
	for i := 1; i < len(g.Episodes); i++ {
		if g.Episodes[i-1].Advantage < g.Episodes[i].Advantage {
			t.Errorf("group not sorted by advantage: %v then %v", g.Episodes[i-1].Advantage, g.Episodes[i].Advantage)
		}
	}
	// The episode's graph is coloured by node status.
	_, body = get(t, ts.URL+"/runs/run-1/episodes/ep_1_0_0")
	for _, want := range []string{`class="node ok" data-node="node_1"`, `class="node failed" data-node="node_2_p1"`, `class="node skipped" data-node="node_4_true"`, "open in Jaeger", "replay bundle"} {
		if !strings.Contains(body, want) && !strings.Contains(get2(t, ts.URL+"/runs/run-1/episodes/ep_1_0_0/trace"), want) {
			t.Errorf("episode page lacks %q", want)
		}
	}
	// Search finds runs, episodes and traces; unknown ids are a 404.
	for q, want := range map[string]string{"run-1": "/runs/run-1", "ep_2_1_3": "/runs/run-1/episodes/ep_2_1_3",
		"0af7651916cd43dd8448eb211c80319c": "/runs/run-1/episodes/ep_1_0_0/trace"} {
		if code, loc := get(t, ts.URL+"/search?q="+url.QueryEscape(q)); code != http.StatusSeeOther || loc != want {
			t.Errorf("search %q: %d %q, want %q", q, code, loc, want)
		}
	}
	for _, path := range []string{"/search?q=nothing", "/runs/nope", "/runs/run-1/episodes/nope", "/runs/run-1/steps/9/groups/x", "/runs/run-1/steps/x/groups/y", "/runs/" + url.PathEscape("../run-1")} {
		if code, _ := get(t, ts.URL+path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	// The bundle downloads and parses.
	code, body := get(t, ts.URL+"/runs/run-1/episodes/ep_1_0_0/bundle")
	if code != 200 || !strings.Contains(body, `"episode_id": "ep_1_0_0"`) {
		t.Errorf("bundle: %d %.200s", code, body)
	}
}

func get2(t *testing.T, u string) string { _, b := get(t, u); return b }

func TestHostileTextIsEscapedEverywhere(t *testing.T) {
	evilID := func(step, g, i int) string {
		if step == 1 && g == 0 && i == 1 {
			return `ep"><script>alert(3)</script>`
		}
		return "ep_" + strings.Repeat("x", i+1)
	}
	ts, _ := newTestServer(t, fixtureOpts{steps: 1, groups: 1, group: 3, question: hostile, output: hostile, episodeID: evilID})
	paths := []string{"/", "/runs/run-1", "/runs/run-1/steps/1/groups/s1-g0", "/runs/run-1/episodes/ep_x",
		"/runs/run-1/episodes/ep_x/trace", "/runs/run-1/episodes/" + url.PathEscape(`ep"><script>alert(3)</script>`),
		"/search?q=" + url.QueryEscape(hostile)}
	for _, p := range paths {
		_, body := get(t, ts.URL+p)
		for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", `onerror="alert`} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: unescaped %q in the page", p, bad)
			}
		}
	}
	_, body := get(t, ts.URL+"/runs/run-1/episodes/ep_x")
	if !strings.Contains(body, "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;") {
		t.Errorf("the question is not shown escaped")
	}
	// Pages allow only the viewer's own script file.
	resp, err := http.Get(ts.URL + "/runs/run-1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
}

type tokens map[string]string

func (t tokens) Lookup(tok string) (string, bool) { n, ok := t[tok]; return n, ok }

func TestTokenIsRequiredWhenConfigured(t *testing.T) {
	dir := t.TempDir()
	fixture(t, dir, fixtureOpts{steps: 1, groups: 1, group: 1})
	s, err := New(Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(RequireToken(s, tokens{"s3cret": "alice"}, false))
	defer ts.Close()
	if code, _ := get(t, ts.URL+"/runs/run-1"); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _ := get(t, ts.URL+"/runs/run-1?token=wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/runs/run-1", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("bearer: %v %v", err, resp)
	}
	resp.Body.Close()
	// ?token= sets a cookie and leaves the URL.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = c.Get(ts.URL + "/runs/run-1?token=s3cret&step=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/runs/run-1?step=1" || len(ck) != 1 || !ck[0].HttpOnly {
		t.Fatalf("token link: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), ck)
	}
	req, _ = http.NewRequest("GET", ts.URL+"/runs/run-1", nil)
	req.AddCookie(ck[0])
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("cookie: %v %v", err, resp)
	}
	resp.Body.Close()
}

func TestEventsStreamNewSteps(t *testing.T) {
	dir := t.TempDir()
	st := fixture(t, dir, fixtureOpts{steps: 2, groups: 1, group: 2})
	s, err := New(Options{RunsDir: dir, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/runs/run-1/events?after=2")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	if err := st.PutStep("run-1", &pb.StepMetrics{Step: 3, MeanReward: 0.25}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	deadline := time.After(10 * time.Second)
	lines := make(chan string)
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			if strings.HasPrefix(l, "data: ") && strings.Contains(l, `"step":3`) {
				if !strings.Contains(l, `"reward":0.25`) {
					t.Errorf("step event %s", l)
				}
				return
			}
			if strings.Contains(l, `"step":1,`) || strings.Contains(l, `"step":2,`) {
				t.Errorf("the stream repeated a step the client has: %s", l)
			}
		case <-deadline:
			t.Fatal("no event for the new step")
		}
	}
}

func TestResumedRunShowsTheInterruptedAndReplayedStep(t *testing.T) {
	dir := t.TempDir()
	st := fixture(t, dir, fixtureOpts{steps: 3, groups: 1, group: 2})
	// The process died during step 3: resume from the checkpoint of step 2,
	// which discards step 3's episodes, then step 3 is played again.
	if err := st.RecordResume("run-1", 2); err != nil {
		t.Fatal(err)
	}
	if err := st.Truncate("run-1", 2); err != nil {
		t.Fatal(err)
	}
	if err := st.PutStep("run-1", &pb.StepMetrics{Step: 3, MeanReward: 0.5}); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s)
	defer ts.Close()
	_, body := get(t, ts.URL+"/runs/run-1")
	if !strings.Contains(body, "from the checkpoint of step 2: step 3 was interrupted (2 stored episodes discarded) and played again") {
		t.Errorf("the run page does not show the resume")
	}
	if !strings.Contains(body, `<td>3 <span class="resume">replayed</span></td>`) {
		t.Errorf("step 3 is not marked as replayed")
	}
	_, body = get(t, ts.URL+"/runs/run-1?format=json")
	var p RunPage
	if err := json.Unmarshal([]byte(body), &p); err != nil || len(p.Resumes) != 1 || p.Resumes[0].Interrupted != 3 || p.Resumes[0].Dropped != 2 {
		t.Errorf("resumes %+v (%v)", p.Resumes, err)
	}
	_, body = get(t, ts.URL+"/?format=json")
	if !strings.Contains(body, `"resumes": 1`) {
		t.Errorf("runs page: %s", body)
	}
}
