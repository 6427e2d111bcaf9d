package sandbox

import (
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Escape attempts of generated code (SPEC section 9): each program tries
// to get out in several ways and prints one line per attempt,
// "<name> ESCAPED <what it got>" or "<name> blocked <the error>". A missing
// line fails the test as surely as an escape does, so a program that died
// early cannot pass for a blocked one.
const attemptPrelude = `import os, sys, socket, signal
def attempt(name, f):
    try:
        r = f()
        print(name, "ESCAPED", repr(r)[:300], flush=True)
    except BaseException as e:
        print(name, "blocked", type(e).__name__, str(e)[:200], flush=True)
`

// attempts parses the program's report.
func attempts(t *testing.T, res Result, names ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		name, rest, ok := strings.Cut(line, " ")
		if ok {
			got[name] = rest
		}
	}
	for _, n := range names {
		if _, ok := got[n]; !ok {
			t.Errorf("attempt %s reported nothing (exit %d, killed %q)\nstdout %q\nstderr %q", n, res.ExitCode, res.Killed, res.Stdout, tail(res.Stderr, 600))
		}
	}
	return got
}

func escaped(got map[string]string, name string) bool { return strings.HasPrefix(got[name], "ESCAPED") }

// repoFile finds the repository's go.mod by walking up from the package.
func repoFile(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "go.mod")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = filepath.Dir(dir)
	}
}

// sharedUIDNone reports a "none" runner whose program keeps the caller's
// uid (root, or the unprivileged caller) with no pid namespace: it may
// signal every process of that uid, the test binary's included (as root,
// every process on the host). Note says isolation is off; the tests that
// would take the caller down with them skip there.
func sharedUIDNone(r *Runner) bool {
	return r.Isolation().Mode == ModeNone && !r.plan.dropUID
}

func TestEscapeNetwork(t *testing.T) {
	code := attemptPrelude + `
port = int(sys.argv[1])
attempt("loopback_tcp", lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close())
attempt("abstract_unix", lambda: socket.socket(socket.AF_UNIX).connect("\0" + sys.argv[2]))
for i, host in enumerate(sys.argv[3:]):
    attempt("external_tcp_%d" % i, lambda: socket.create_connection((host, 53), timeout=2).close())
    def udp():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        return s.sendto(b"\0" * 12, (host, 53))
    attempt("external_udp_%d" % i, udp)
`
	external := []string{"1.1.1.1", "8.8.8.8"}
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		var accepted atomic.Int32
		serve := func(ln net.Listener) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}
		tcp, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer tcp.Close()
		go serve(tcp)
		// An abstract unix socket has no file to hide: only a network
		// namespace keeps it out of reach (X11, D-Bus and others use them).
		abstract := marker(t)
		unix, err := net.Listen("unix", "@"+abstract)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close()
		go serve(unix)

		args := []string{strconv.Itoa(tcp.Addr().(*net.TCPAddr).Port), abstract}
		names := []string{"loopback_tcp", "abstract_unix"}
		if r.Isolation().Network {
			args = append(args, external...)
			for i := range external {
				names = append(names, "external_tcp_"+strconv.Itoa(i), "external_udp_"+strconv.Itoa(i))
			}
		}
		start := time.Now()
		res := run(t, r, Spec{Code: code, Args: args})
		got := attempts(t, res, names...)
		time.Sleep(50 * time.Millisecond)
		if !r.Isolation().Network {
			// The control: without a network namespace both host listeners
			// must be reached, or this test could not see the protection
			// missing.
			if !escaped(got, "loopback_tcp") || !escaped(got, "abstract_unix") || accepted.Load() != 2 {
				t.Errorf("Network=false but the host's listeners were not reached (%d accepted): %v", accepted.Load(), got)
			}
			t.Skipf("runner reports Network=false (%s)", r.Isolation().Note)
		}
		for _, n := range names {
			if escaped(got, n) {
				t.Errorf("%s: %s", n, got[n])
			}
		}
		if n := accepted.Load(); n != 0 {
			t.Errorf("the host's listeners accepted %d connections from the sandbox", n)
		}
		// No route at all, rather than a timeout: the attempts fail at once.
		if el := time.Since(start); el > 4*time.Second {
			t.Errorf("network attempts took %v: something answered or hung instead of being unreachable", el)
		}
	})
}

func TestEscapeReadsHostFiles(t *testing.T) {
	goMod := repoFile(t)
	code := attemptPrelude + `
go_mod, run_db, scratch_root = sys.argv[1:4]
def read(p):
    with open(p, "rb") as f:
        return f.read(200)
attempt("repo_go_mod", lambda: read(go_mod))
attempt("repo_dir", lambda: os.listdir(os.path.dirname(go_mod)))
attempt("run_db", lambda: read(run_db))
attempt("run_dir", lambda: os.listdir(os.path.dirname(run_db)))
attempt("run_db_via_proc_root", lambda: read("/proc/1/root" + run_db))
attempt("run_db_via_cwd", lambda: read(os.path.relpath(run_db)))
attempt("scratch_root", lambda: os.listdir(scratch_root))
`
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		// A run's database in a directory of its own, outside the scratch
		// root, as a trainer keeps it next to the canvas.
		secret := marker(t)
		runDir := t.TempDir()
		runDB := filepath.Join(runDir, "run.db")
		if err := os.WriteFile(runDB, []byte("SQLite format 3\x00"+secret), 0o644); err != nil {
			t.Fatal(err)
		}
		names := []string{"repo_go_mod", "repo_dir", "run_db", "run_dir", "run_db_via_proc_root", "run_db_via_cwd", "scratch_root"}
		res := run(t, r, Spec{Code: code, Args: []string{goMod, runDB, r.Config().ScratchRoot}})
		got := attempts(t, res, names...)
		if !r.Isolation().Filesystem {
			t.Skipf("runner reports Filesystem=false (%s)", r.Isolation().Note)
		}
		for _, n := range names {
			if escaped(got, n) {
				t.Errorf("%s: %s", n, got[n])
			}
		}
		if strings.Contains(res.Stdout+res.Stderr, secret) || strings.Contains(res.Stdout, "module github.com") {
			t.Errorf("host file contents reached the program's output:\n%s", res.Stdout)
		}
	})
}

func TestEscapeSignalsHostProcesses(t *testing.T) {
	code := attemptPrelude + `
pid = int(sys.argv[1])
attempt("kill_pid", lambda: os.kill(pid, signal.SIGKILL))
attempt("kill_group", lambda: os.killpg(pid, signal.SIGKILL))
attempt("read_environ", lambda: open("/proc/%d/environ" % pid, "rb").read())
attempt("kill_all", lambda: os.kill(-1, signal.SIGKILL))
`
	forEnv(t, nil, func(t *testing.T, r *Runner) {
		if sharedUIDNone(r) {
			t.Skipf("runs under the caller's uid (%d) without a pid namespace, where kill(-1) would kill every process of that uid, this test's included: %s", os.Geteuid(), r.Isolation().Note)
		}
		secret := marker(t)
		victim := exec.Command("sleep", "60")
		victim.Env = []string{"FLOWSTEER_SECRET=" + secret}
		// A group of its own, so that killpg names a real group.
		victim.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := victim.Start(); err != nil {
			t.Skipf("cannot start a sleep process to aim at: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = victim.Wait(); close(exited) }()
		defer func() { _ = victim.Process.Kill(); <-exited }()

		res := run(t, r, Spec{Code: code, Args: []string{strconv.Itoa(victim.Process.Pid)}})
		got := attempts(t, res, "kill_pid", "kill_group", "read_environ", "kill_all")
		select {
		case <-exited:
			t.Fatalf("the host's sleep process was killed from the sandbox: %v", got)
		case <-time.After(100 * time.Millisecond):
		}
		if err := victim.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("the host's sleep process is gone: %v", err)
		}
		for _, n := range []string{"kill_pid", "kill_group", "read_environ"} {
			if escaped(got, n) {
				t.Errorf("%s: %s", n, got[n])
			}
		}
		if strings.Contains(res.Stdout+res.Stderr, secret) {
			t.Errorf("the host process's environment reached the program:\n%s", res.Stdout)
		}
		// kill(-1) may report success where it signalled the run's own
		// processes; what counts is that the host's survived (above) and
		// that this test process is still here to check.
	})
}

// TestEscapeFillsDisk: a program writing file after file (each under
// RLIMIT_FSIZE) must hit the sandbox's own space limit, and the host's
// scratch root must not receive the data.
func TestEscapeFillsDisk(t *testing.T) {
	const fileBytes = 1 << 20
	code := attemptPrelude + `
def fill(where, most):
    chunk = b"x" * (1 << 20)
    written = 0
    for i in range(most):
        with open(os.path.join(where, "fill-%d" % i), "wb") as f:
            f.write(chunk)
        written += len(chunk)
    return written
def fill_reporting(where, most):
    try:
        return fill(where, most)
    except OSError as e:
        total = sum(os.path.getsize(os.path.join(where, n)) for n in os.listdir(where) if n.startswith("fill-"))
        raise OSError(e.errno, "%s after %d bytes" % (e.strerror, total))
attempt("fill_cwd", lambda: fill_reporting(".", int(sys.argv[1])))
os.makedirs("/tmp/fill", exist_ok=True)
attempt("fill_tmp", lambda: fill_reporting("/tmp/fill", int(sys.argv[1])))
`
	forEnv(t, func(c *Config) { c.FileBytes = fileBytes }, func(t *testing.T, r *Runner) {
		limit := r.Config().DiskBytes
		// Far past the limit, yet bounded so that a missing limit fills
		// the host's disk by no more than this.
		most := int(4*limit/fileBytes) + 4
		root := r.Config().ScratchRoot
		stop := make(chan struct{})
		peak := make(chan int64)
		go func() {
			var most int64
			for {
				most = max(most, treeBytes(root))
				select {
				case <-stop:
					peak <- most
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		res := run(t, r, Spec{Code: code, Args: []string{strconv.Itoa(most)}})
		close(stop)
		hostPeak := <-peak
		got := attempts(t, res, "fill_cwd", "fill_tmp")
		assertEmpty(t, root)
		if !r.Isolation().Filesystem {
			t.Skipf("runner reports Filesystem=false (%s): the scratch dir is the host's disk; it was removed afterwards (peak %d bytes on the host)", r.Isolation().Note, hostPeak)
		}
		for _, n := range []string{"fill_cwd", "fill_tmp"} {
			if escaped(got, n) {
				t.Errorf("%s: wrote %d MiB without hitting a limit of %d bytes: %s", n, most, limit, got[n])
			} else if !strings.Contains(got[n], "No space left on device") && !strings.Contains(got[n], "too large") {
				t.Errorf("%s: stopped by %s, want the space limit (ENOSPC)", n, got[n])
			}
		}
		if res.ExitCode != 0 || res.Killed != "" {
			t.Errorf("a full disk should be an error the program sees, not a kill: %+v", res)
		}
		if hostPeak > 1<<20 {
			t.Errorf("the host's scratch root reached %d bytes: the program's writes land on the host's disk", hostPeak)
		}
	})
}

// treeBytes sums the sizes of the files under dir (0 when it is gone).
func treeBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestEscapeForkBombLeavingSession: a fork bomb whose children each start
// a session of their own (so a kill of the run's session misses them) is
// held to the process limit, stopped at the wall clock, and leaves nothing
// behind.
func TestEscapeForkBombLeavingSession(t *testing.T) {
	const maxProcs = 16
	code := `import os, time
while True:
    try:
        if os.fork() == 0:
            os.setsid()
    except OSError:
        time.sleep(0.01)
`
	forEnv(t, func(c *Config) { c.Timeout, c.MaxProcs = 2*time.Second, maxProcs }, func(t *testing.T, r *Runner) {
		if !r.Isolation().ProcessLimit {
			t.Skipf("runner reports no process limit (%s)", r.Isolation().Note)
		}
		if sharedUIDNone(r) {
			// Neither a pid namespace nor a uid of its own finds processes
			// that left the session; the Note says they can outlive the run.
			t.Skipf("no pid namespace and no uid of its own: %s", r.Isolation().Note)
		}
		m := marker(t)
		var mu sync.Mutex
		most := 0
		stop := make(chan struct{})
		watched := make(chan struct{})
		go func() {
			defer close(watched)
			for {
				n := len(alive(m))
				mu.Lock()
				most = max(most, n)
				mu.Unlock()
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		res := run(t, r, Spec{Code: code, Args: []string{m}})
		close(stop)
		<-watched
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("the bomb's run took %v under a 2s limit", el)
		}
		if !res.TimedOut {
			t.Errorf("the bomb was not stopped at the wall clock: %+v", res)
		}
		if most > maxProcs+3 && r.plan.dropUID {
			t.Errorf("the bomb reached %d processes under MaxProcs=%d", most, maxProcs)
		}
		// Everything it forked is gone, within a moment.
		deadline := time.Now().Add(2 * time.Second)
		for len(alive(m)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		assertGone(t, m)
		if res := run(t, r, Spec{Code: "print('fine')"}); res.Stdout != "fine\n" {
			t.Errorf("run after the bomb: %+v", res)
		}
		assertEmpty(t, r.Config().ScratchRoot)
	})
}
