package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// workDir is where the program's directory appears inside the isolated
// modes; a fixed path keeps tracebacks and HOME the same from run to run.
// It is a size-capped tmpfs that the harness fills with a copy of the
// scratch dir, which is bound read-only at stageDir: a bind of the host's
// scratch dir itself would let a program write file after file, each under
// RLIMIT_FSIZE, until the host's disk is full.
const (
	workDir  = "/sandbox"
	stageDir = "/.flowsteer-input"
)

// interpreter is the real Python behind Config.Python (shims resolved away),
// with the directories a private root must show for it to start.
type interpreter struct {
	exe   string
	binds []mountOp // read-only binds of its installation, outside /usr
}

type plan struct {
	mode    string
	bwrap   string    // bwrap binary (bwrap mode)
	ops     []mountOp // private root layout, less the scratch bind
	dropUID bool      // caller is root: each run switches to a uid of its own
	userns  bool      // namespaces mode for a non-root caller
	iso     Isolation
	// bwrap feature flags, from its --help.
	bwrapSize, bwrapPerms bool
}

// mountOp is one step of the private root. Src is the bind source, the
// symlink target, or the tmpfs mode.
type mountOp struct {
	Kind string // "ro", "rw", "dev" (binds), "symlink", "tmpfs", "proc"
	Src  string
	Dst  string
	Size int64 // tmpfs size in bytes
}

func (o mountOp) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{o.Kind, o.Src, o.Dst, o.Size})
}

var (
	cacheMu     sync.Mutex
	interpCache = map[string]*interpreter{}
	planCache   = map[string]planResult{}
)

type planResult struct {
	p   *plan
	err error
}

// findInterpreter asks the interpreter where it really lives. It runs with
// the parent's environment on purpose: version-manager shims (pyenv) need it
// to pick the real binary, and this call runs no generated code.
func findInterpreter(name string) (*interpreter, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("sandbox: interpreter %q: %w", name, err)
	}
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if py, ok := interpCache[path]; ok {
		return py, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-I", "-c",
		`import sys, json; print(json.dumps({"exe": sys.executable, "prefix": sys.prefix, "base": sys.base_prefix, "major": sys.version_info[0]}))`).Output()
	if err != nil {
		return nil, fmt.Errorf("sandbox: interpreter %q does not run: %w", path, err)
	}
	var info struct {
		Exe, Prefix, Base string
		Major             int
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Exe == "" || !filepath.IsAbs(info.Exe) {
		return nil, fmt.Errorf("sandbox: interpreter %q: cannot read its location from %q", path, out)
	}
	if info.Major < 3 {
		return nil, fmt.Errorf("sandbox: interpreter %q is Python %d, need 3", path, info.Major)
	}
	py := &interpreter{exe: filepath.Clean(info.Exe)}
	for _, d := range []string{info.Base, info.Prefix, filepath.Dir(info.Exe)} {
		if d == "" {
			continue
		}
		d = filepath.Clean(d)
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue
		}
		// Bind at the path Python reports (so a venv's pyvenv.cfg is found
		// next to its executable) and at the resolved one (absolute symlinks
		// inside the installation point there).
		py.binds = addBind(py.binds, real, d)
		py.binds = addBind(py.binds, real, real)
	}
	interpCache[path] = py
	return py, nil
}

// addBind adds a read-only bind unless the layout already shows src at dst
// (/usr is bound whole; nested prefixes of one installation repeat).
func addBind(binds []mountOp, src, dst string) []mountOp {
	if dst == "/" || src == "/" {
		return binds
	}
	if dst == "/usr" || strings.HasPrefix(dst, "/usr/") {
		if src == dst {
			return binds
		}
	}
	for _, b := range binds {
		if rel, ok := under(dst, b.Dst); ok && filepath.Join(b.Src, rel) == src {
			return binds
		}
	}
	return append(binds, mountOp{Kind: "ro", Src: src, Dst: dst})
}

// under reports whether p is dir or inside it, and the rest of the path.
func under(p, dir string) (string, bool) {
	if p == dir {
		return ".", true
	}
	if strings.HasPrefix(p, dir+"/") {
		return p[len(dir)+1:], true
	}
	return "", false
}

// etcFiles are the parts of /etc an interpreter and libc look at; the rest
// (host configuration, credentials) stays out.
var etcFiles = []string{
	"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group",
	"/etc/mime.types",
}

// rootLayout is the private root shared by the bwrap and namespaces modes.
// The tmpfs sizes are placeholders: runOps sets each run's DiskBytes.
func rootLayout(py *interpreter, tmpBytes int64) []mountOp {
	ops := []mountOp{{Kind: "ro", Src: "/usr", Dst: "/usr"}}
	for _, d := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				ops = append(ops, mountOp{Kind: "symlink", Src: target, Dst: d})
			}
		case fi.IsDir():
			ops = append(ops, mountOp{Kind: "ro", Src: d, Dst: d})
		}
	}
	etc := append([]string(nil), etcFiles...)
	if m, _ := filepath.Glob("/etc/python3*"); len(m) > 0 {
		etc = append(etc, m...) // Debian's sitecustomize for the system python
	}
	for _, f := range etc {
		if _, err := os.Stat(f); err == nil {
			ops = append(ops, mountOp{Kind: "ro", Src: f, Dst: f})
		}
	}
	ops = append(ops,
		mountOp{Kind: "proc", Dst: "/proc"},
		mountOp{Kind: "tmpfs", Src: "0755", Dst: "/dev", Size: 64 << 10},
	)
	for _, d := range []string{"null", "zero", "full", "random", "urandom"} {
		ops = append(ops, mountOp{Kind: "dev", Src: "/dev/" + d, Dst: "/dev/" + d})
	}
	ops = append(ops,
		mountOp{Kind: "symlink", Src: "/proc/self/fd", Dst: "/dev/fd"},
		mountOp{Kind: "symlink", Src: "/proc/self/fd/0", Dst: "/dev/stdin"},
		mountOp{Kind: "symlink", Src: "/proc/self/fd/1", Dst: "/dev/stdout"},
		mountOp{Kind: "symlink", Src: "/proc/self/fd/2", Dst: "/dev/stderr"},
		// Size-capped: tmpfs pages are RAM, and RLIMIT_FSIZE caps one file only.
		mountOp{Kind: "tmpfs", Src: "1777", Dst: "/dev/shm", Size: tmpBytes},
		mountOp{Kind: "tmpfs", Src: "1777", Dst: "/tmp", Size: tmpBytes},
	)
	// After /tmp so an interpreter installed under /tmp is not hidden by it.
	return append(ops, py.binds...)
}

// runOps is the layout of one run: the plan's root with every tmpfs sized
// to the runner's DiskBytes (the plan is cached across runners), the
// scratch dir read-only at stageDir and a tmpfs for the program at workDir.
func (r *Runner) runOps(p *plan, work string) []mountOp {
	ops := make([]mountOp, 0, len(p.ops)+2)
	for _, o := range p.ops {
		if o.Kind == "tmpfs" && o.Dst != "/dev" {
			o.Size = r.cfg.DiskBytes
		}
		ops = append(ops, o)
	}
	return append(ops,
		mountOp{Kind: "ro", Src: work, Dst: stageDir},
		mountOp{Kind: "tmpfs", Src: "0700", Dst: workDir, Size: r.cfg.DiskBytes},
	)
}

// pivotRootNR is the pivot_root syscall number, which glibc has no wrapper
// for; the namespaces mode is not offered where it is unknown.
var pivotRootNR = map[string]int{
	"amd64": 155, "arm64": 41, "riscv64": 41, "loong64": 41,
	"386": 217, "arm": 218, "ppc64le": 203, "ppc64": 203, "s390x": 217,
}

// choosePlan settles the isolation mode, probing each candidate once per
// process: probes start interpreters and cost a noticeable fraction of a
// second, and the answer does not change while the process lives.
func choosePlan(r *Runner) (*plan, error) {
	modes := []string{r.cfg.Isolation}
	if r.cfg.Isolation == ModeAuto {
		modes = []string{ModeBwrap, ModeNamespaces, ModeNone}
	}
	var why []string
	for _, m := range modes {
		key := r.py.exe + "\x00" + m
		if m == ModeNone {
			// Whether the run can leave root depends on the scratch root.
			key += "\x00" + strconv.FormatBool(searchable(r.cfg.ScratchRoot))
		}
		cacheMu.Lock()
		res, ok := planCache[key]
		cacheMu.Unlock()
		if !ok {
			p, err := probeMode(r, m)
			res = planResult{p, err}
			cacheMu.Lock()
			planCache[key] = res
			cacheMu.Unlock()
		}
		if res.err == nil {
			return res.p, nil
		}
		why = append(why, m+": "+res.err.Error())
	}
	return nil, fmt.Errorf("%w: %s", ErrUnavailable, strings.Join(why, "; "))
}

const (
	asRootNote = ", so the process-count limit does not apply, it can write anywhere, and processes that leave its session can outlive the run"
	// Without root a run cannot get a uid of its own.
	sharedNPROCNote = "the process-count limit also counts the caller's own processes (not running as root)"
)

const offNote = "isolation is off: no network namespace, so generated code can reach the network, and no private root, so it can read any file its uid can read"

func probeMode(r *Runner, mode string) (*plan, error) {
	root := os.Geteuid() == 0
	tmpBytes := r.cfg.DiskBytes
	var candidates []*plan
	switch mode {
	case ModeBwrap:
		bw, err := exec.LookPath("bwrap")
		if err != nil {
			return nil, errors.New("bwrap not found on PATH")
		}
		help, _ := exec.Command(bw, "--help").CombinedOutput()
		candidates = append(candidates, &plan{
			mode: ModeBwrap, bwrap: bw, ops: rootLayout(r.py, tmpBytes),
			dropUID: root, bwrapSize: strings.Contains(string(help), "--size"),
			bwrapPerms: strings.Contains(string(help), "--perms"),
			iso:        Isolation{Mode: ModeBwrap, Network: true, Filesystem: true, ProcessLimit: true, Note: nonRootNote(root)},
		})
	case ModeNamespaces:
		if _, ok := pivotRootNR[runtime.GOARCH]; !ok {
			return nil, fmt.Errorf("pivot_root syscall number unknown on %s", runtime.GOARCH)
		}
		candidates = append(candidates, &plan{
			mode: ModeNamespaces, ops: rootLayout(r.py, tmpBytes), dropUID: root, userns: !root,
			iso: Isolation{Mode: ModeNamespaces, Network: true, Filesystem: true, ProcessLimit: true, Note: nonRootNote(root)},
		})
	case ModeNone:
		if root && !searchable(r.cfg.ScratchRoot) {
			candidates = append(candidates, &plan{mode: ModeNone, iso: Isolation{
				Mode: ModeNone,
				Note: offNote + "; it also runs as root, because the scratch root " + r.cfg.ScratchRoot +
					" is not searchable by other users" + asRootNote,
			}})
		} else if root {
			candidates = append(candidates, &plan{mode: ModeNone, dropUID: true, iso: Isolation{
				Mode: ModeNone, ProcessLimit: true,
				Note: offNote + ", and write where any user may (such as /tmp)",
			}})
			candidates = append(candidates, &plan{mode: ModeNone, iso: Isolation{
				Mode: ModeNone,
				Note: offNote + "; it also runs as root, because the interpreter " + r.py.exe +
					" cannot be reached by an unprivileged uid" + asRootNote,
			}})
		} else {
			candidates = append(candidates, &plan{mode: ModeNone, iso: Isolation{
				Mode: ModeNone, ProcessLimit: true,
				Note: offNote + " or write, processes that leave its session can outlive the run, and " + sharedNPROCNote,
			}})
		}
	}
	var err error
	for _, p := range candidates {
		if err = probe(r, p); err == nil {
			return p, nil
		}
	}
	return nil, err
}

// probeCode fails unless the protections the plan claims are really there.
const probeCode = `import os, socket, sys
bad = []
net, fs, drop = sys.argv[1:4]
if net == "1" and [n for _, n in socket.if_nameindex() if n != "lo"]:
    bad.append("network interfaces visible")
if fs == "1":
    for p in sys.argv[4:]:
        if os.path.exists(p):
            bad.append("host path visible: " + p)
if drop == "1" and os.getuid() == 0:
    bad.append("still root")
print("ok" if not bad else "; ".join(bad))
`

func probe(r *Runner, p *plan) error {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	args := []string{flag(p.iso.Network), flag(p.iso.Filesystem), flag(p.dropUID)}
	if p.iso.Filesystem {
		marker, err := os.CreateTemp(r.cfg.ScratchRoot, "flowsteer-probe-*")
		if err != nil {
			return err
		}
		marker.Close()
		defer os.Remove(marker.Name())
		args = append(args, marker.Name())
		args = append(args, projectSamples(p.ops)...)
	}
	// Limits of the default Config, so that the cached answer does not
	// depend on the limits of the Runner that happened to probe first.
	pr := &Runner{cfg: Config{Python: r.cfg.Python, ScratchRoot: r.cfg.ScratchRoot}.withDefaults(), py: r.py}
	pr.cfg.Timeout = 20 * time.Second
	res, err := pr.run(context.Background(), p, Spec{Code: probeCode, Args: args})
	if err != nil {
		return err
	}
	if res.ExitCode != 0 || strings.TrimSpace(res.Stdout) != "ok" {
		return fmt.Errorf("probe failed (exit %d): %s", res.ExitCode, strings.TrimSpace(res.Stdout+" "+tail(res.Stderr, 400)))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// searchable reports whether every directory down to dir lets other users
// through, which "none" mode needs to run the program as another uid: Python
// opens main.py by its absolute path.
func searchable(dir string) bool {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == "/" {
			return true
		}
	}
}

// projectSamples picks a few entries of the working directory (the project,
// usually) that the private root must not show. Entries on the way to a
// bind are left out: an interpreter in the project's own venv legitimately
// makes its parent directories appear.
func projectSamples(ops []mountOp) []string {
	wd, err := os.Getwd()
	if err != nil || wd == "/" {
		return nil
	}
	ents, err := os.ReadDir(wd)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		path := filepath.Join(wd, e.Name())
		shown := false
		for _, o := range ops {
			if _, ok := under(o.Dst, path); ok {
				shown = true
			}
			if _, ok := under(path, o.Dst); ok {
				shown = true
			}
		}
		if !shown {
			out = append(out, path)
		}
		if len(out) == 3 {
			break
		}
	}
	return out
}

func nonRootNote(root bool) string {
	if root {
		return ""
	}
	return sharedNPROCNote
}
