//go:build llm

package e2e

// The flowsteer commands with the small real model (make test-llm):
// `flowsteer llm serve` and `--backend llamacpp`.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/porttest"
)

// llamaServers lists the llama_cpp.server processes listening on port.
func llamaServers(t *testing.T, port int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		cl := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cl, "llama_cpp.server") && strings.Contains(cl, "--port "+strconv.Itoa(port)+" ") {
			out = append(out, e.Name()+" "+cl)
		}
	}
	return out
}

func TestLLMServeAnswersWithLogprobsAndStopsOnSIGINT(t *testing.T) {
	port := porttest.Free(t)
	urlFile := t.TempDir() + "/url"
	cmd := exec.Command(binary(t), "llm", "serve", "--port", strconv.Itoa(port), "--url-file", urlFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	want := fmt.Sprintf("http://127.0.0.1:%d/v1", port)
	var got []string
	deadline := time.After(3 * time.Minute)
	for len(got) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("llm serve exited early: %v\n%s", <-done, stderr.String())
			}
			got = append(got, l)
		case <-deadline:
			t.Fatalf("llm serve printed %q in 3 minutes\n%s", got, stderr.String())
		}
	}
	if got[0] != "FLOWSTEER_LLM_BASE_URL="+want || got[1] != "FLOWSTEER_LLM_MODEL=SmolLM2-135M-Instruct" {
		t.Fatalf("llm serve printed %q", got)
	}
	if b, err := os.ReadFile(urlFile); err != nil || strings.TrimSpace(string(b)) != want {
		t.Fatalf("--url-file: %q %v", b, err)
	}

	// What an LLM policy needs from it: chat completions with logprobs.
	body := `{"model":"SmolLM2-135M-Instruct","messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"temperature":0,"logprobs":true,"top_logprobs":2}`
	resp, err := http.Post(want+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cr struct {
		Model   string `json:"model"`
		Choices []struct {
			Message  struct{ Content string } `json:"message"`
			Logprobs struct {
				Content []struct {
					Token       string  `json:"token"`
					Logprob     float64 `json:"logprob"`
					TopLogprobs []struct {
						Token string `json:"token"`
					} `json:"top_logprobs"`
				} `json:"content"`
			} `json:"logprobs"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(raw, &cr); err != nil || resp.StatusCode != 200 || len(cr.Choices) != 1 {
		t.Fatalf("chat completion %d: %v\n%s", resp.StatusCode, err, raw)
	}
	lp := cr.Choices[0].Logprobs.Content
	if cr.Model != "SmolLM2-135M-Instruct" || cr.Choices[0].Message.Content == "" || len(lp) == 0 || lp[0].Logprob > 0 || len(lp[0].TopLogprobs) != 2 {
		t.Fatalf("chat completion without the expected logprobs:\n%s", raw)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("llm serve after SIGINT: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("llm serve did not stop after SIGINT\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Fatalf("stderr: %s", stderr.String())
	}
	if left := llamaServers(t, port); len(left) > 0 {
		t.Fatalf("llama.cpp server left running:\n%s", strings.Join(left, "\n"))
	}
	if _, err := os.Stat(urlFile); !os.IsNotExist(err) {
		t.Fatalf("--url-file left behind: %v", err)
	}
}

func TestLLMRunWorkflowWithBackendLlamaCpp(t *testing.T) {
	port := porttest.Free(t)
	out, err := exec.Command(binary(t), "run-workflow", "--backend", "llamacpp", "--llamacpp-port", strconv.Itoa(port),
		"--dsl", "AnswerGenerate", "--task-file", "../../data/suite/eval.jsonl", "--limit", "1").CombinedOutput()
	if err != nil {
		t.Fatalf("run-workflow --backend llamacpp: %v\n%s", err, out)
	}
	for _, w := range []string{"executor: llamacpp / SmolLM2-135M-Instruct", "llama.cpp server ready at http://127.0.0.1:" + strconv.Itoa(port), "AnswerGenerate", "final answer:", "correct: "} {
		if !strings.Contains(string(out), w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(string(out), "SIMULATED") {
		t.Fatalf("a real model's run is labelled simulated:\n%s", out)
	}
	if left := llamaServers(t, port); len(left) > 0 {
		t.Fatalf("llama.cpp server left running after run-workflow:\n%s", strings.Join(left, "\n"))
	}
	// A bad configuration stops before anything starts, naming the fix.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	out, err = exec.Command(binary(t), "run-workflow", "--backend", "llamacpp", "--llamacpp-port", strconv.Itoa(taken),
		"--dsl", "AnswerGenerate", "--task-file", "../../data/suite/eval.jsonl", "--limit", "1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("port %d is in use", taken)) {
		t.Fatalf("run-workflow on a taken port: %v\n%s", err, out)
	}
}
