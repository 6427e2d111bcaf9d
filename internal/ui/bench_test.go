package ui

import (
	"io"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// BenchmarkPages10kEpisodes renders each page of a run of 10,000 episodes
// (50 steps x 25 groups x 8 episodes, each with a 12-turn log and a replay
// record) through the handler, HTML and JSON; the issue asks for under a
// second per page.
func BenchmarkPages10kEpisodes(b *testing.B) {
	dir, err := os.MkdirTemp("", "ui-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	t0 := time.Now()
	fixture(b, dir, fixtureOpts{steps: 50, groups: 25, group: 8, question: "What is two plus two?", output: "four"})
	b.Logf("fixture: 10,000 episodes written in %s", time.Since(t0).Round(time.Millisecond))
	s, err := New(Options{RunsDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pages := []struct{ name, path string }{
		{"runs", "/"},
		{"run", "/runs/run-1"},
		{"run-json", "/runs/run-1?format=json"},
		{"group", "/runs/run-1/steps/50/groups/s50-g24"},
		{"episode", "/runs/run-1/episodes/ep_37_12_5"},
		{"trace", "/runs/run-1/episodes/ep_1_0_0/trace"},
		{"search-episode", "/search?q=ep_50_24_7"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for range b.N {
				w := httptest.NewRecorder()
				s.ServeHTTP(w, httptest.NewRequest("GET", p.path, nil))
				if w.Code != 200 && w.Code != 303 {
					b.Fatalf("%s: %d %s", p.path, w.Code, w.Body.String())
				}
				_, _ = io.Copy(io.Discard, w.Body)
			}
		})
	}
}
