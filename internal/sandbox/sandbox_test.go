package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is one way of running the sandbox; every behaviour test runs in each.
type env struct {
	name   string
	mode   string
	python string
}

func envs() []env {
	es := []env{
		{"bwrap", ModeBwrap, ""},
		{"namespaces", ModeNamespaces, ""},
		{"none", ModeNone, ""},
	}
	// The distribution's interpreter is reachable by an unprivileged uid,
	// unlike a pyenv one under /root, so "none" can drop privileges with it.
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		es = append(es, env{"none-system-python", ModeNone, "/usr/bin/python3"})
	}
	return es
}

// newRunner builds a runner for e, skipping when its mode cannot work here.
func newRunner(t *testing.T, e env, edit func(*Config)) *Runner {
	t.Helper()
	scratch := t.TempDir()
	// Searchable by others, as os.TempDir() is, so that "none" mode can run
	// the program under an unprivileged uid.
	for _, d := range []string{scratch, filepath.Dir(scratch)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config{Isolation: e.mode, Python: e.python, Timeout: 5 * time.Second, ScratchRoot: scratch}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if errors.Is(err, ErrUnavailable) && e.mode != ModeAuto {
		t.Skipf("%s isolation unavailable on this machine: %v", e.mode, err)
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// forEnv runs body as a parallel subtest per environment.
func forEnv(t *testing.T, edit func(*Config), body func(t *testing.T, r *Runner)) {
	for _, e := range envs() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			body(t, newRunner(t, e, edit))
		})
	}
}

func marker(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "flowsteer-test-" + hex.EncodeToString(b)
}

// alive lists processes whose command line holds m.
func alive(m string) []int {
	var pids []int
	names, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err == nil && bytes.Contains(b, []byte(m)) {
			pid, _ := strconv.Atoi(strings.Split(n, "/")[2])
			pids = append(pids, pid)
		}
	}
	return pids
}

func assertGone(t *testing.T, m string) {
	t.Helper()
	if pids := alive(m); len(pids) > 0 {
		t.Errorf("processes of the run survive it: %v", pids)
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("scratch root not cleaned up: %v", names)
	}
}

func run(t *testing.T, r *Runner, s Spec) Result {
	t.Helper()
	res, err := r.Run(context.Background(), s)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestValidate(t *testing.T) {
	cases := []struct {
		cfg   Config
		field string
	}{
		{Config{}, ""},
		{Config{Timeout: -1}, "Timeout"},
		{Config{CPUSeconds: -1}, "CPUSeconds"},
		{Config{MemoryBytes: -1}, "MemoryBytes"},
		{Config{MemoryBytes: 1 << 20}, "MemoryBytes"},
		{Config{OutputBytes: -1}, "OutputBytes"},
		{Config{MaxProcs: -1}, "MaxProcs"},
		{Config{FileBytes: -1}, "FileBytes"},
		{Config{MaxParallel: -1}, "MaxParallel"},
		{Config{Isolation: "docker"}, "Isolation"},
		{Config{ScratchRoot: "relative/dir"}, "ScratchRoot"},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%+v: unexpected error %v", c.cfg, err)
		case c.field != "" && (err == nil || !strings.Contains(err.Error(), "Config."+c.field)):
			t.Errorf("%+v: error %v does not name %s", c.cfg, err, c.field)
		}
		if c.field != "" {
			if _, err := New(c.cfg); err == nil {
				t.Errorf("New accepted %+v", c.cfg)
			}
		}
	}
}

func TestAuto(t *testing.T) {
	r := newRunner(t, env{"auto", ModeAuto, ""}, nil)
	iso := r.Isolation()
	t.Logf("auto isolation: %+v", iso)
	if iso.Mode == ModeNone || !iso.Network || !iso.Filesystem {
		if iso.Note == "" {
			t.Errorf("reduced isolation %+v without a Note", iso)
		}
	}
	res := run(t, r, Spec{Code: "print('ok')"})
	if res.Isolation != iso {
		t.Errorf("Result.Isolation %+v, runner says %+v", res.Isolation, iso)
	}
}

func TestSpecRejected(t *testing.T) {
	r := newRunner(t, env{"auto", ModeAuto, ""}, nil)
	bad := []Spec{
		{Files: map[string]string{"../escape.txt": "x"}},
		{Files: map[string]string{"a/../../escape.txt": "x"}},
		{Files: map[string]string{"/etc/escape.txt": "x"}},
		{Files: map[string]string{"": "x"}},
		{Files: map[string]string{"a//b": "x"}},
		{Files: map[string]string{"./a": "x"}},
		{Files: map[string]string{"main.py": "x"}},
		{Timeout: time.Hour},
		{Timeout: -time.Second},
	}
	for _, s := range bad {
		if _, err := r.Run(context.Background(), s); err == nil {
			t.Errorf("Run accepted %+v", s)
		}
	}
	if _, err := os.Stat(filepath.Join(r.Config().ScratchRoot, "..", "escape.txt")); err == nil {
		t.Error("a rejected file was written anyway")
	}
}

func TestBasics(t *testing.T) {
	cases := []struct {
		name   string
		spec   Spec
		stdout string
		stderr string
		exit   int
		killed string
	}{
		{"hello", Spec{Code: "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\nsys.exit(3)"}, "hello\n", "oops\n", 3, ""},
		{"stdin", Spec{Code: "import sys\nprint(sys.stdin.read().upper(), end='')", Stdin: "abc\ndef\n"}, "ABC\nDEF\n", "", 0, ""},
		{"files", Spec{
			Code:  "import helper\nprint(helper.twice(open('data/in.txt').read()))",
			Files: map[string]string{"helper.py": "def twice(s):\n    return s * 2\n", "data/in.txt": "ab"},
		}, "abab\n", "", 0, ""},
		{"args", Spec{Code: "import sys\nprint(sys.argv[1:])", Args: []string{"x", "y z"}}, "['x', 'y z']\n", "", 0, ""},
		{"exception", Spec{Code: "raise ValueError('bad')"}, "", "ValueError: bad", 1, ""},
		{"unicode", Spec{Code: "print('é→✓')"}, "é→✓\n", "", 0, ""},
		// The program must not be a pid namespace's init, whose kernel-side
		// signal protection would swallow this.
		{"signal", Spec{Code: "import os, signal\nprint('before', flush=True)\nos.kill(os.getpid(), signal.SIGTERM)\nprint('after')"}, "before\n", "", 143, "signal: terminated"},
	}
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		for _, c := range cases {
			res := run(t, r, c.spec)
			if res.Stdout != c.stdout || !strings.Contains(res.Stderr, c.stderr) || res.ExitCode != c.exit {
				t.Errorf("%s: got stdout %q stderr %q exit %d, want %q, %q, %d", c.name, res.Stdout, res.Stderr, res.ExitCode, c.stdout, c.stderr, c.exit)
			}
			if res.Killed != c.killed || res.TimedOut || res.Truncated {
				t.Errorf("%s: unexpected stop %+v", c.name, res)
			}
		}
		assertEmpty(t, r.Config().ScratchRoot)
	})
}

func TestTimeout(t *testing.T) {
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		m := marker(t)
		start := time.Now()
		res := run(t, r, Spec{Code: "while True:\n    pass", Args: []string{m}, Timeout: time.Second})
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("took %v for a 1s timeout", el)
		}
		if !res.TimedOut || res.Killed != "timeout" {
			t.Errorf("not reported as a timeout: %+v", res)
		}
		assertGone(t, m)
		assertEmpty(t, r.Config().ScratchRoot)
	})
}

// A child that leaves the session and holds the output pipes must neither
// survive nor keep Run waiting.
func TestEscapedGrandchild(t *testing.T) {
	code := `import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
print("parent done")
`
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		if r.Isolation().Mode == ModeNone && !r.plan.dropUID {
			t.Skipf("no pid namespace and no uid of its own: %s", r.Isolation().Note)
		}
		m := marker(t)
		start := time.Now()
		res := run(t, r, Spec{Code: code, Args: []string{m}})
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("Run waited %v for a detached grandchild", el)
		}
		if !strings.Contains(res.Stdout, "parent done") {
			t.Errorf("stdout %q", res.Stdout)
		}
		assertGone(t, m)
	})
}

func TestCPULimit(t *testing.T) {
	// A wall clock well past the CPU limit, so a loaded machine cannot turn
	// this into a timeout.
	forEnv(t, func(c *Config) { c.CPUSeconds, c.Timeout = 1, 15*time.Second }, func(t *testing.T, r *Runner) {
		res := run(t, r, Spec{Code: "while True:\n    pass"})
		if res.Killed != "cpu" || res.TimedOut {
			t.Errorf("busy loop not stopped by the CPU limit: %+v", res)
		}
	})
}

func TestMemory(t *testing.T) {
	cases := []struct{ name, code string }{
		{"bytearray", "x = bytearray(2 * 1024**3)\nprint('allocated')"},
		{"growing", "x = []\nwhile True:\n    x.append(bytearray(1 << 20))"},
	}
	forEnv(t, func(c *Config) { c.MemoryBytes = 128 << 20 }, func(t *testing.T, r *Runner) {
		for _, c := range cases {
			m := marker(t)
			res := run(t, r, Spec{Code: c.code, Args: []string{m}})
			if res.ExitCode == 0 || strings.Contains(res.Stdout, "allocated") {
				t.Errorf("%s: allocation succeeded: %+v", c.name, res)
			}
			if res.Killed != "memory" {
				t.Errorf("%s: Killed = %q, want memory (stderr %q)", c.name, res.Killed, tail(res.Stderr, 300))
			}
			if res.TimedOut {
				t.Errorf("%s: ran into the timeout instead of the memory limit", c.name)
			}
			assertGone(t, m)
		}
	})
}

func TestFileSizeLimit(t *testing.T) {
	forEnv(t, func(c *Config) { c.FileBytes = 1 << 20 }, func(t *testing.T, r *Runner) {
		res := run(t, r, Spec{Code: "open('big', 'wb').write(b'x' * (4 << 20))\nprint('written')"})
		if res.ExitCode == 0 || strings.Contains(res.Stdout, "written") {
			t.Errorf("4 MiB file written under a 1 MiB limit: %+v", res)
		}
	})
}

func TestFilesystem(t *testing.T) {
	self, err := filepath.Abs("sandbox_test.go")
	if err != nil {
		t.Fatal(err)
	}
	code := `import sys
for path in sys.argv[1:3]:
    try:
        with open(path, "w") as f:
            f.write("escaped")
        print("wrote", path)
    except OSError as e:
        print("write failed", path, e)
try:
    print("read", len(open(sys.argv[3]).read()))
except OSError as e:
    print("read failed", e)
`
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		tmpEscape := "/tmp/flowsteer-escape-" + marker(t)
		dirEscape := filepath.Join(t.TempDir(), "escape")
		t.Cleanup(func() { os.Remove(tmpEscape) })
		res := run(t, r, Spec{Code: code, Args: []string{tmpEscape, dirEscape, self}})
		_, tmpErr := os.Stat(tmpEscape)
		_, dirErr := os.Stat(dirEscape)
		if !r.Isolation().Filesystem {
			// The report says unprotected; /tmp is world-writable, so the
			// escape must show, proving this test sees a missing protection.
			if tmpErr != nil {
				t.Errorf("Filesystem=false but the /tmp write did not reach the host: %s", res.Stdout)
			}
			t.Skipf("runner reports Filesystem=false (%s)", r.Isolation().Note)
		}
		if tmpErr == nil || dirErr == nil {
			t.Errorf("write outside the scratch dir reached the host: %s", res.Stdout)
		}
		if strings.Contains(res.Stdout, "read ") && !strings.Contains(res.Stdout, "read failed") {
			t.Errorf("project file readable: %s", res.Stdout)
		}
	})
}

func TestNetwork(t *testing.T) {
	code := `import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
    print("connected")
except OSError as e:
    print("failed", e)
`
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var mu sync.Mutex
		accepted := 0
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				accepted++
				mu.Unlock()
				c.Close()
			}
		}()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		res := run(t, r, Spec{Code: code, Args: []string{port}})
		time.Sleep(100 * time.Millisecond)
		mu.Lock()
		n := accepted
		mu.Unlock()
		if !r.Isolation().Network {
			// The control: without a network namespace the connection must
			// arrive, or this test could not see a missing protection.
			if n == 0 {
				t.Errorf("Network=false but the listener saw nothing: %s", res.Stdout)
			}
			t.Skipf("runner reports Network=false (%s)", r.Isolation().Note)
		}
		if n != 0 || strings.Contains(res.Stdout, "connected") {
			t.Errorf("program reached the host's listener: %s", res.Stdout)
		}
	})
}

func TestForkBomb(t *testing.T) {
	const maxProcs = 16
	forEnv(t, func(c *Config) { c.Timeout, c.MaxProcs = 2*time.Second, maxProcs }, func(t *testing.T, r *Runner) {
		if !r.Isolation().ProcessLimit {
			t.Skipf("runner reports no process limit (%s)", r.Isolation().Note)
		}
		m := marker(t)
		// Watch how many processes the bomb reaches while it runs.
		stop := make(chan struct{})
		peak := make(chan int)
		go func() {
			most := 0
			for {
				select {
				case <-stop:
					peak <- most
					return
				case <-time.After(5 * time.Millisecond):
					most = max(most, len(alive(m)))
				}
			}
		}()
		start := time.Now()
		res := run(t, r, Spec{Code: "import os\nwhile True:\n    os.fork()", Args: []string{m}})
		close(stop)
		if el := time.Since(start); el > 4*time.Second {
			t.Errorf("fork bomb run took %v", el)
		}
		if res.ExitCode == 0 && res.Killed == "" {
			t.Errorf("fork bomb ended cleanly?: %+v", res)
		}
		// bwrap, its init and the harness's init carry the marker in their
		// command lines too. Without a uid of its own the limit sits on top
		// of the caller's task count, so the peak says nothing there.
		if p := <-peak; p > maxProcs+3 && r.plan.dropUID {
			t.Errorf("fork bomb reached %d processes under MaxProcs=%d", p, maxProcs)
		}
		assertGone(t, m)
		// The machine (and the runner) still work.
		if res := run(t, r, Spec{Code: "print('fine')"}); res.Stdout != "fine\n" {
			t.Errorf("run after the fork bomb: %+v", res)
		}
		assertEmpty(t, r.Config().ScratchRoot)
	})
}

// The process limit must actually bind: more threads than MaxProcs fail.
func TestProcessLimit(t *testing.T) {
	code := `import threading, time
n = 0
try:
    for _ in range(64):
        threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
        n += 1
except RuntimeError:
    pass
print(n)
`
	forEnv(t, func(c *Config) { c.MaxProcs = 8 }, func(t *testing.T, r *Runner) {
		if !r.Isolation().ProcessLimit {
			t.Skipf("runner reports no process limit (%s)", r.Isolation().Note)
		}
		if !r.plan.dropUID {
			t.Skipf("the limit is relative to the caller's own task count: %s", r.Isolation().Note)
		}
		res := run(t, r, Spec{Code: code})
		n, err := strconv.Atoi(strings.TrimSpace(res.Stdout))
		if err != nil || n >= 8 {
			t.Errorf("started %q threads under MaxProcs=8 (stderr %q)", res.Stdout, tail(res.Stderr, 200))
		}
	})
}

func TestOutputFlood(t *testing.T) {
	const limit = 8 << 10
	cases := []struct{ name, code string }{
		{"stdout", "while True:\n    print('x' * 999)"},
		{"stderr", "import sys\nwhile True:\n    print('y' * 999, file=sys.stderr)"},
	}
	forEnv(t, func(c *Config) { c.OutputBytes = limit }, func(t *testing.T, r *Runner) {
		for _, c := range cases {
			start := time.Now()
			res := run(t, r, Spec{Code: c.code})
			if len(res.Stdout) > limit || len(res.Stderr) > limit {
				t.Errorf("%s: kept %d/%d bytes over a %d cap", c.name, len(res.Stdout), len(res.Stderr), limit)
			}
			got := res.Stdout
			if c.name == "stderr" {
				got = res.Stderr
			}
			if len(got) != limit || !res.Truncated || res.Killed != "output" {
				t.Errorf("%s: len %d truncated %v killed %q", c.name, len(got), res.Truncated, res.Killed)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("%s: flood ran %v", c.name, el)
			}
		}
	})
}

func TestCancel(t *testing.T) {
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		m := marker(t)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		start := time.Now()
		res, err := r.Run(ctx, Spec{Code: "while True:\n    pass", Args: []string{m}})
		if el := time.Since(start); el > 1500*time.Millisecond {
			t.Errorf("cancelled run returned after %v", el)
		}
		if !errors.Is(err, context.Canceled) || res.Killed != "cancelled" || res.TimedOut {
			t.Errorf("got err %v, result %+v", err, res)
		}
		assertGone(t, m)
		assertEmpty(t, r.Config().ScratchRoot)

		if _, err := r.Run(ctx, Spec{Code: "print(1)"}); !errors.Is(err, context.Canceled) {
			t.Errorf("Run on a cancelled ctx: %v", err)
		}
	})
}

func TestMaxParallel(t *testing.T) {
	r := newRunner(t, env{"auto", ModeAuto, ""}, func(c *Config) { c.MaxParallel = 1 })
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Run(context.Background(), Spec{Code: "import time\ntime.sleep(0.5)"}); err != nil {
				t.Error(err)
			}
		}()
	}
	// A third caller whose ctx ends while it waits for the slot gets an
	// error and runs nothing.
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := r.Run(ctx, Spec{Code: "print(1)"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting Run with an expired ctx: %v", err)
	}
	wg.Wait()
	if el := time.Since(start); el < time.Second {
		t.Errorf("two 0.5s runs with MaxParallel=1 took %v", el)
	}
}

// Not parallel: t.Setenv changes the whole process.
func TestEnvironment(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-flowsteer-test-secret")
	t.Setenv("PYTHONPATH", "/nonexistent-flowsteer")
	code := `import json, os, sys
print(json.dumps({"env": dict(os.environ), "path": sys.path, "cwd": os.getcwd(), "home": os.path.expanduser("~")}))`
	for _, e := range envs() {
		t.Run(e.name, func(t *testing.T) {
			r := newRunner(t, e, nil)
			res := run(t, r, Spec{Code: code})
			var got struct {
				Env  map[string]string
				Path []string
				Cwd  string
				Home string
			}
			if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
				t.Fatalf("%v: %q %q", err, res.Stdout, res.Stderr)
			}
			for k, v := range got.Env {
				if strings.Contains(v, "sk-flowsteer") || k == "OPENAI_API_KEY" || k == "PYTHONPATH" {
					t.Errorf("parent environment leaked: %s=%s", k, v)
				}
			}
			if fmt.Sprint(got.Path) != "" && strings.Contains(fmt.Sprint(got.Path), "nonexistent-flowsteer") {
				t.Errorf("PYTHONPATH honoured: %v", got.Path)
			}
			if got.Cwd != got.Home || got.Env["LANG"] != "C.UTF-8" {
				t.Errorf("cwd %q home %q env %v", got.Cwd, got.Home, got.Env)
			}
			assertEmpty(t, r.Config().ScratchRoot)
		})
	}
}
