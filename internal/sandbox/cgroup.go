package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Memory and process limits per run, not per process: RLIMIT_AS caps each
// process, so MaxProcs processes could together hold MaxProcs times
// MemoryBytes. Where the host lets this process make cgroups, each run gets
// one with memory (MemoryBytes, its tmpfs pages included, no swap) and
// pids (MaxProcs) limits: cgroup v2, the child cloned straight into it
// (CLONE_INTO_CGROUP), or cgroup v1's memory and pids hierarchies, the
// child moved in right after it starts (the harness runs no generated code
// before). Isolation.Cgroup says which was reached; "" means none, and the
// per-process limits alone apply.

const (
	CgroupV2 = "v2"
	CgroupV1 = "v1"
)

type cgroupHost struct {
	version string
	v2Base  string // v2: the directory runs are made under
	v1Mem   string // v1: this process's memory cgroup directory
	v1Pids  string // v1: this process's pids cgroup directory
	why     string // why there is none
}

var (
	cgroupOnce sync.Once
	cgHost     cgroupHost
	cgSeq      atomic.Int64
)

// hostCgroups finds, once, whether and how runs get cgroups here.
func hostCgroups() cgroupHost {
	cgroupOnce.Do(func() { cgHost = probeCgroups() })
	return cgHost
}

func probeCgroups() cgroupHost {
	own, err := ownCgroups()
	if err != nil {
		return cgroupHost{why: err.Error()}
	}
	if p, ok := own[""]; ok && len(own) == 1 {
		base := filepath.Join("/sys/fs/cgroup", p)
		if err := enableV2(base); err != nil {
			return cgroupHost{why: "cgroup v2: " + err.Error()}
		}
		h := cgroupHost{version: CgroupV2, v2Base: base}
		if err := h.try(); err != nil {
			return cgroupHost{why: "cgroup v2: " + err.Error()}
		}
		return h
	}
	mem, okm := own["memory"]
	pids, okp := own["pids"]
	if !okm || !okp {
		return cgroupHost{why: "no cgroup v2 and no v1 memory and pids controllers"}
	}
	h := cgroupHost{version: CgroupV1, v1Mem: filepath.Join("/sys/fs/cgroup/memory", mem), v1Pids: filepath.Join("/sys/fs/cgroup/pids", pids)}
	if err := h.try(); err != nil {
		return cgroupHost{why: "cgroup v1: " + err.Error()}
	}
	return h
}

// ownCgroups maps controller ("" for the v2 hierarchy) to this process's
// cgroup path.
func ownCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				out[""] = parts[2]
			}
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, sc.Err()
}

// enableV2 makes sure memory and pids are delegated to children of base.
func enableV2(base string) error {
	ctl, err := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	if strings.Contains(string(ctl), "memory") && strings.Contains(string(ctl), "pids") {
		return nil
	}
	// Fails while base holds processes itself (cgroup v2 keeps processes
	// in leaves), as a server in its own cgroup usually does.
	return os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+memory +pids"), 0)
}

// try makes and removes one run cgroup.
func (h cgroupHost) try() error {
	c, err := h.newRun(64<<20, 8)
	if err != nil {
		return err
	}
	c.remove()
	return nil
}

// runCgroup is one run's cgroup (v2: one directory; v1: one per controller).
type runCgroup struct {
	version string
	dirs    []string
	fd      *os.File // v2: for CLONE_INTO_CGROUP
}

func (h cgroupHost) newRun(mem int64, procs int) (*runCgroup, error) {
	name := fmt.Sprintf("flowsteer-run-%d-%d", os.Getpid(), cgSeq.Add(1))
	c := &runCgroup{version: h.version}
	write := func(dir, file, v string) error {
		return os.WriteFile(filepath.Join(dir, file), []byte(v), 0)
	}
	fail := func(err error) (*runCgroup, error) {
		c.remove()
		return nil, err
	}
	switch h.version {
	case CgroupV2:
		dir := filepath.Join(h.v2Base, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		c.dirs = []string{dir}
		if err := write(dir, "memory.max", strconv.FormatInt(mem, 10)); err != nil {
			return fail(err)
		}
		_ = write(dir, "memory.swap.max", "0") // absent without swap accounting
		if err := write(dir, "pids.max", strconv.Itoa(procs)); err != nil {
			return fail(err)
		}
		fd, err := os.Open(dir)
		if err != nil {
			return fail(err)
		}
		c.fd = fd
	case CgroupV1:
		mdir, pdir := filepath.Join(h.v1Mem, name), filepath.Join(h.v1Pids, name)
		for _, d := range []string{mdir, pdir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return fail(err)
			}
			c.dirs = append(c.dirs, d)
		}
		if err := write(mdir, "memory.limit_in_bytes", strconv.FormatInt(mem, 10)); err != nil {
			return fail(err)
		}
		_ = write(mdir, "memory.memsw.limit_in_bytes", strconv.FormatInt(mem, 10)) // absent without swap accounting
		if err := write(pdir, "pids.max", strconv.Itoa(procs)); err != nil {
			return fail(err)
		}
	default:
		return nil, errors.New("no cgroups")
	}
	return c, nil
}

// joinFirst makes argv join the run's v1 cgroups before anything else runs:
// a shell writes its own pid into each cgroup.procs, then execs argv, so
// every process argv forks is born inside. Adding the child's pid after
// Start (add) is too late for bwrap, which forks its sandbox at once: v1
// moves only the pid written, not children it already has (a memory bomb
// under bwrap escaped the limit that way). v2 needs none of this: the child
// is cloned straight into its cgroup. uid >= 0: the run's uid, which must
// be able to write the files.
func (c *runCgroup) joinFirst(argv []string, uid, gid int) ([]string, error) {
	if c.version != CgroupV1 {
		return argv, nil
	}
	procs := make([]string, len(c.dirs))
	for i, d := range c.dirs {
		procs[i] = filepath.Join(d, "cgroup.procs")
		if uid >= 0 {
			if err := os.Chown(procs[i], uid, gid); err != nil {
				return nil, err
			}
		}
	}
	script := `for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 126; shift; done; shift; exec "$@"`
	out := append([]string{"/bin/sh", "-c", script, "sh"}, procs...)
	out = append(out, "--")
	return append(out, argv...), nil
}

// add moves pid in (v1; v2 clones the child in directly).
func (c *runCgroup) add(pid int) error {
	if c.version != CgroupV1 {
		return nil
	}
	for _, d := range c.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return fmt.Errorf("sandbox: cgroup %s: %w", d, err)
		}
	}
	return nil
}

// oomKilled says whether the memory limit killed a process of the run.
func (c *runCgroup) oomKilled() bool {
	switch c.version {
	case CgroupV2:
		b, _ := os.ReadFile(filepath.Join(c.dirs[0], "memory.events"))
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
				return true
			}
		}
	case CgroupV1:
		b, _ := os.ReadFile(filepath.Join(c.dirs[0], "memory.oom_control"))
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
				return true
			}
		}
		b, _ = os.ReadFile(filepath.Join(c.dirs[0], "memory.failcnt"))
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n > 0 {
			return true
		}
	}
	return false
}

// remove kills what is left in the cgroup and removes it; the kernel
// refuses to remove a cgroup until its last process is reaped.
func (c *runCgroup) remove() {
	if c.fd != nil {
		c.fd.Close()
	}
	for _, d := range c.dirs {
		for i := 0; i < 50; i++ {
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			if err := os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
