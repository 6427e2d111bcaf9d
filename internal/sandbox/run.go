package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// harnessConfig is the JSON the harness reads; see harnessSource.
type harnessConfig struct {
	Ops     []mountOp `json:"ops,omitempty"`
	Root    string    `json:"root,omitempty"`
	PivotNR int       `json:"pivot_nr,omitempty"`
	UserNS  bool      `json:"userns"`
	Stage   string    `json:"stage,omitempty"`
	Cwd     string    `json:"cwd"`
	Rlimits [][]any   `json:"rlimits"`
	UID     int       `json:"uid"`
	GID     int       `json:"gid"`
	Exe     string    `json:"exe"`
	Argv    []string  `json:"argv"`
	// Seccomp is the filter the harness loads before exec (seccomp.go).
	Seccomp string `json:"seccomp,omitempty"`
}

func (r *Runner) run(ctx context.Context, p *plan, s Spec) (Result, error) {
	timeout := r.cfg.Timeout
	if s.Timeout > 0 {
		timeout = s.Timeout
	}
	scratch, err := os.MkdirTemp(r.cfg.ScratchRoot, "flowsteer-run-")
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: scratch dir: %w", err)
	}
	defer removeAll(scratch)

	uid, gid := -1, -1
	uidClean := true
	if p.dropUID {
		uid = acquireUID()
		defer func() { releaseUID(uid, uidClean) }()
		gid = uid
	}
	work := filepath.Join(scratch, "work")
	owner := -1
	if p.mode == ModeNone {
		// The isolated modes copy the files into the run's tmpfs, where
		// the harness gives them to the run's uid.
		owner = uid
	}
	if err := writeWork(work, s, owner, gid); err != nil {
		return Result{}, fmt.Errorf("sandbox: scratch dir: %w", err)
	}
	if p.mode == ModeNone && uid >= 0 {
		// Without a private root the program reaches its files through the
		// host path, so the run's uid must be let into the scratch dir.
		if err := os.Chown(scratch, uid, gid); err != nil {
			return Result{}, fmt.Errorf("sandbox: scratch dir: %w", err)
		}
	}

	argv, cfgJSON, attr, home, err := r.command(p, s, scratch, work, uid, gid)
	if err != nil {
		return Result{}, err
	}
	// The harness reads its config from fd 4, not its argv: argv stays
	// readable in /proc/PID/cmdline (the harness is pid 1 of the program's
	// pid namespace) and would show the host's layout to the program.
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	defer cfgR.Close()
	var cg *runCgroup
	if h := hostCgroups(); h.version != "" {
		// The tmpfs mounts of the isolated modes are RAM the run holds too.
		mem := r.cfg.MemoryBytes
		if p.mode != ModeNone {
			mem += 2 * r.cfg.DiskBytes
		}
		// bwrap, its init and the harness's init count as processes too.
		if cg, err = h.newRun(mem, r.cfg.MaxProcs+4); err != nil {
			cfgW.Close()
			return Result{}, fmt.Errorf("sandbox: cgroup: %w", err)
		}
		defer cg.remove()
		if cg.fd != nil {
			attr.UseCgroupFD, attr.CgroupFD = true, int(cg.fd.Fd())
		}
		if argv, err = cg.joinFirst(argv, uid, gid); err != nil {
			cfgW.Close()
			return Result{}, fmt.Errorf("sandbox: cgroup: %w", err)
		}
	}
	go func() {
		_, _ = cfgW.Write(cfgJSON) // EPIPE when the child died first
		cfgW.Close()
	}()

	k := &killer{}
	stdout := &capWriter{limit: r.cfg.OutputBytes, overflow: func() { k.kill("output") }}
	stderr := &capWriter{limit: r.cfg.OutputBytes, overflow: func() { k.kill("output") }}
	// The pipes are ours rather than exec's, so that Wait returns as soon as
	// the program exits: leftovers are killed first, and only then are the
	// pipes drained, instead of Wait blocking on a descendant holding them.
	pipes, err := newStdio(s.Stdin, stdout, stderr)
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: %w", err)
	}
	defer pipes.close()

	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir = work
	cmd.Env = []string{
		"PATH=" + filepath.Dir(r.py.exe) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + home,
		"LANG=C.UTF-8",
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONIOENCODING=utf-8",
		// Numeric libraries size thread pools to the host's cores, which
		// runs into RLIMIT_NPROC and RLIMIT_AS for no gain here.
		"OMP_NUM_THREADS=1",
		"OPENBLAS_NUM_THREADS=1",
		"MKL_NUM_THREADS=1",
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pipes.childIn, pipes.childOut, pipes.childErr
	cmd.ExtraFiles = []*os.File{pipes.childStatus, cfgR}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error {
		if ctx.Err() != nil {
			k.kill("cancelled")
		} else {
			k.kill("timeout")
		}
		return nil
	}
	// Backstop in case the group kill did not take the leader down.
	cmd.WaitDelay = 500 * time.Millisecond

	start := time.Now()
	err = cmd.Start()
	pipes.started()
	cfgR.Close()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: start %s: %w", argv[0], err)
	}
	k.started(cmd.Process.Pid)
	if cg != nil {
		if err := cg.add(cmd.Process.Pid); err != nil {
			k.kill("cancelled")
			_ = cmd.Wait()
			return Result{}, err
		}
	}
	waitErr := cmd.Wait()
	dur := time.Since(start)
	pgid := k.finished()
	// The leader is reaped, but its group id stays reserved while any member
	// lives, so this reaches only leftovers of this run.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if uid >= 0 {
		uidClean = reapUID(uid)
	}
	pipes.drain()
	status := string(pipes.status)

	reason := k.why()
	failed := strings.IndexByte(status, 'E') // "E" starts the harness's error message
	if failed >= 0 || (!strings.HasPrefix(status, "S") && reason != "timeout" && reason != "cancelled") {
		msg := ""
		if failed >= 0 {
			msg = status[failed+1:]
		}
		if msg == "" {
			msg = strings.TrimSpace(tail(stderr.String(), 2000))
		}
		if msg == "" && waitErr != nil {
			msg = waitErr.Error()
		}
		return Result{}, fmt.Errorf("sandbox: %s setup failed: %s", p.mode, msg)
	}
	if cmd.ProcessState == nil {
		return Result{}, fmt.Errorf("sandbox: wait: %w", waitErr)
	}

	res := Result{
		Stdout:    stdout.String(),
		Stderr:    stderr.String(),
		Truncated: stdout.truncated || stderr.truncated,
		Duration:  dur,
		Isolation: p.iso,
		Killed:    reason,
		TimedOut:  reason == "timeout",
	}
	var why string
	res.ExitCode, why = classify(cmd.ProcessState, p.mode, r.cfg.CPUSeconds, res.Stderr)
	if res.Killed == "" {
		res.Killed = why
	}
	res.Isolation.Seccomp = true
	if cg != nil {
		res.Isolation.Cgroup = cg.version
		if res.ExitCode != 0 && (res.Killed == "" || strings.HasPrefix(res.Killed, "signal")) && cg.oomKilled() {
			res.Killed = "memory"
		}
	}
	if reason == "cancelled" {
		return res, ctx.Err()
	}
	return res, nil
}

// command builds the argv and process attributes of one run: the harness,
// inside bwrap or new namespaces as the plan says, and its config. home is
// the program's HOME as it sees it.
func (r *Runner) command(p *plan, s Spec, scratch, work string, uid, gid int) (argv []string, cfgJSON []byte, attr *syscall.SysProcAttr, home string, err error) {
	hc := harnessConfig{
		UID: uid, GID: gid, UserNS: p.userns, Cwd: work, Exe: r.py.exe,
		// -E -s is -I without -P: the environment and user site stay out,
		// but main.py's directory stays on sys.path so that Spec.Files can
		// be imported.
		Argv: append([]string{r.py.exe, "-E", "-s", "-B", "-X", "utf8", "main.py"}, s.Args...),
	}
	if hc.Seccomp, err = seccompFilter(); err != nil {
		return nil, nil, nil, "", err
	}
	nproc := int64(r.cfg.MaxProcs)
	if uid < 0 && os.Geteuid() != 0 {
		// RLIMIT_NPROC counts every task of the real uid, the caller's own
		// included, so the budget is added on top of what already runs.
		nproc += int64(countTasks(os.Getuid()))
	}
	cpu := int64(r.cfg.CPUSeconds)
	hc.Rlimits = [][]any{
		{"RLIMIT_CPU", cpu, cpu + 1}, // SIGXCPU first, SIGKILL a second later if caught
		{"RLIMIT_AS", r.cfg.MemoryBytes, r.cfg.MemoryBytes},
		{"RLIMIT_FSIZE", r.cfg.FileBytes, r.cfg.FileBytes},
		{"RLIMIT_NPROC", nproc, nproc},
		{"RLIMIT_CORE", 0, 0},
	}
	home = work
	if p.mode != ModeNone {
		home = workDir
		hc.Cwd = workDir
		hc.Stage = stageDir
	}
	attr = &syscall.SysProcAttr{
		// A session of its own: the whole tree can be killed as a group,
		// and it has no controlling terminal to inject input into.
		Setsid:    true,
		Pdeathsig: syscall.SIGKILL,
	}
	harness := []string{r.py.exe, "-I", "-S", "-c", harnessSource}
	switch p.mode {
	case ModeBwrap:
		argv = append(p.bwrapArgs(r.runOps(p, work)), "--")
		argv = append(argv, harness...)
	case ModeNamespaces:
		hc.Root = filepath.Join(scratch, "root")
		if err := os.Mkdir(hc.Root, 0o700); err != nil {
			return nil, nil, nil, "", fmt.Errorf("sandbox: scratch dir: %w", err)
		}
		hc.Ops = r.runOps(p, work)
		hc.PivotNR = pivotRootNR[runtime.GOARCH]
		attr.Cloneflags = syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		if p.userns {
			attr.Cloneflags |= syscall.CLONE_NEWUSER
			attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
			attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		}
		argv = harness
	default:
		argv = harness
	}
	cfgJSON, err = json.Marshal(hc)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("sandbox: %w", err)
	}
	return argv, cfgJSON, attr, home, nil
}

// bwrapArgs turns a run's layout (runOps) into bubblewrap options.
func (p *plan) bwrapArgs(ops []mountOp) []string {
	a := []string{p.bwrap,
		"--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--hostname", "sandbox", "--die-with-parent", "--new-session",
	}
	if p.dropUID {
		// Running as root without a user namespace: the harness needs these
		// to hand the program's files to the run's uid and switch to it;
		// bwrap drops everything else, and the switch drops these.
		a = append(a, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN")
	} else {
		a = append(a, "--unshare-user")
	}
	made := map[string]bool{"/": true}
	for _, o := range ops {
		// bwrap makes missing parents 0700, which would lock the run's uid
		// out of, say, /root/.pyenv/versions/X once the harness drops root.
		var parents []string
		for d := filepath.Dir(o.Dst); !made[d]; d = filepath.Dir(d) {
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			a = append(a, "--perms", "0755", "--dir", parents[i])
			made[parents[i]] = true
		}
		made[o.Dst] = true
		switch o.Kind {
		case "ro":
			a = append(a, "--ro-bind", o.Src, o.Dst)
		case "rw":
			a = append(a, "--bind", o.Src, o.Dst)
		case "dev":
			a = append(a, "--dev-bind", o.Src, o.Dst)
		case "symlink":
			a = append(a, "--symlink", o.Src, o.Dst)
		case "proc":
			a = append(a, "--proc", o.Dst)
		case "tmpfs":
			if p.bwrapPerms {
				a = append(a, "--perms", o.Src)
			}
			if p.bwrapSize {
				a = append(a, "--size", strconv.FormatInt(o.Size, 10))
			}
			a = append(a, "--tmpfs", o.Dst)
		}
	}
	return append(a, "--remount-ro", "/", "--chdir", workDir)
}

// classify turns the wait status into the exit code and a best-effort
// reason the program stopped.
func classify(ps *os.ProcessState, mode string, cpuLimit int, stderr string) (int, string) {
	ws, _ := ps.Sys().(syscall.WaitStatus)
	code := ws.ExitStatus()
	var sig syscall.Signal
	if ws.Signaled() {
		sig = ws.Signal()
		code = 128 + int(sig)
	} else if mode != ModeNone && code > 128 && code < 128+65 {
		// bwrap and the harness's init report a signal death as 128+N.
		sig = syscall.Signal(code - 128)
	}
	memHint := strings.Contains(stderr, "MemoryError") || strings.Contains(stderr, "Cannot allocate memory") ||
		strings.Contains(stderr, "out of memory")
	switch {
	case code == 0:
		return 0, ""
	case sig == syscall.SIGXCPU:
		return code, "cpu"
	case sig == syscall.SIGKILL:
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			if used >= time.Duration(cpuLimit)*time.Second {
				return code, "cpu"
			}
		}
		return code, "signal: " + sig.String()
	case memHint:
		return code, "memory"
	case sig != 0:
		return code, "signal: " + sig.String()
	}
	return code, ""
}

// killer kills the run's session once, remembering the first reason.
type killer struct {
	mu     sync.Mutex
	pid    int
	reason string
}

func (k *killer) kill(reason string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.reason == "" {
		k.reason = reason
	}
	if k.pid > 0 {
		// Held under the lock so that finished cannot let the pid be
		// reused between the check and the signal.
		_ = syscall.Kill(-k.pid, syscall.SIGKILL)
		_ = syscall.Kill(k.pid, syscall.SIGKILL)
	}
}

// started arms the killer; a kill asked for before (output can overflow
// before Start returns) is carried out now.
func (k *killer) started(pid int) {
	k.mu.Lock()
	k.pid = pid
	pending := k.reason != ""
	k.mu.Unlock()
	if pending {
		k.kill("")
	}
}

// finished disarms the killer after Wait and returns the group id.
func (k *killer) finished() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	pid := k.pid
	k.pid = 0
	return pid
}

func (k *killer) why() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reason
}

// capWriter keeps the first limit bytes and drops the rest, so memory stays
// bounded however much the program prints.
type capWriter struct {
	buf       []byte
	limit     int
	truncated bool
	overflow  func()
}

func (w *capWriter) Write(p []byte) (int, error) {
	room := w.limit - len(w.buf)
	if len(p) <= room {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		w.buf = append(w.buf, p[:room]...)
	}
	if !w.truncated {
		w.truncated = true
		w.overflow()
	}
	// Report success: an error would close the pipe and the program would
	// see EPIPE instead of being killed with a clear reason.
	return len(p), nil
}

func (w *capWriter) String() string { return string(w.buf) }

// stdio holds the run's pipes: stdin, stdout, stderr and the harness's
// status fd (3).
type stdio struct {
	childIn, childOut, childErr, childStatus *os.File // the child's ends
	in, out, errR, statusR                   *os.File // ours
	stdin                                    string
	stdout, stderr                           *capWriter
	status                                   []byte
	wg                                       sync.WaitGroup
	files                                    []*os.File
}

func newStdio(stdin string, stdout, stderr *capWriter) (*stdio, error) {
	t := &stdio{stdin: stdin, stdout: stdout, stderr: stderr}
	for _, pair := range []struct{ r, w **os.File }{
		{&t.childIn, &t.in}, {&t.out, &t.childOut}, {&t.errR, &t.childErr}, {&t.statusR, &t.childStatus},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.close()
			return nil, err
		}
		*pair.r, *pair.w = r, w
		t.files = append(t.files, r, w)
	}
	return t, nil
}

// started closes the child's ends in this process and starts the copying.
func (t *stdio) started() {
	for _, f := range []*os.File{t.childIn, t.childOut, t.childErr, t.childStatus} {
		f.Close()
	}
	t.wg.Add(4)
	go func() {
		defer t.wg.Done()
		// Write errors (EPIPE) only mean the program did not read it all.
		_, _ = t.in.WriteString(t.stdin)
		t.in.Close()
	}()
	copyTo := func(w io.Writer, r *os.File) {
		defer t.wg.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				_, _ = w.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}
	go copyTo(t.stdout, t.out)
	go copyTo(t.stderr, t.errR)
	go copyTo(statusWriter{&t.status}, t.statusR)
}

// drain waits for the pipes to reach EOF. Everything that could hold them
// has been killed by now, except where nothing can find a process that
// left the session; for that case the wait is bounded and the pipes are
// closed under it.
func (t *stdio) drain() {
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(500 * time.Millisecond):
	}
	for _, f := range []*os.File{t.in, t.out, t.errR, t.statusR} {
		f.Close()
	}
	<-done
}

func (t *stdio) close() {
	for _, f := range t.files {
		f.Close()
	}
}

// statusWriter keeps the harness's few status bytes; more would be a
// harness bug, so it is capped.
type statusWriter struct{ b *[]byte }

func (w statusWriter) Write(p []byte) (int, error) {
	if room := 8192 - len(*w.b); room > 0 {
		*w.b = append(*w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// writeWork creates the program's directory with main.py and Spec.Files,
// owned by the run's uid when there is one.
func writeWork(work string, s Spec, uid, gid int) error {
	if err := os.Mkdir(work, 0o700); err != nil {
		return err
	}
	files := map[string]string{"main.py": s.Code}
	for name, body := range s.Files {
		files[name] = body
	}
	for name, body := range files {
		path := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			return err
		}
	}
	if uid < 0 {
		return nil
	}
	return filepath.WalkDir(work, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

// removeAll deletes a scratch dir even when the program left directories
// without write or search permission behind.
func removeAll(dir string) {
	if os.RemoveAll(dir) == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(dir)
}
