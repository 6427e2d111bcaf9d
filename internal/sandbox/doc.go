// Package sandbox runs untrusted, LLM-generated Python (SPEC section 9): the
// Programmer operator's code and code-task tests both come through here.
//
// Data path: operators (and the code scorers in internal/task) build a Spec
// with the program text, stdin and any extra files, and call Runner.Run; the
// Result (captured stdout/stderr, exit code, why it was stopped) goes back to
// the operator as the execution feedback. Nothing else in the project starts
// generated code.
//
// Every run gets a fresh 0700 scratch directory under Config.ScratchRoot,
// holding main.py and Spec.Files; it is the program's cwd and HOME, and it is
// removed when the run ends, whatever the ending. The program gets an
// environment built from scratch (PATH, HOME, LANG=C.UTF-8 and a few fixed
// settings), so nothing of the parent's environment, API keys included,
// reaches it. The interpreter runs with -E -s: -I without -P, that is, no
// PYTHON* variables and no user site, but main.py's directory stays on
// sys.path so that Spec.Files can be imported (tests importing a solution).
//
// # How a run is started
//
// A small Python harness (harnessSource) runs first, inside whatever
// isolation the mode provides. It does the mount work (namespaces mode), sets
// RLIMIT_CPU, RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NPROC and RLIMIT_CORE with the
// resource module, switches to an unprivileged uid when the caller is root,
// sets no_new_privs and then execs `python -E -s -B -X utf8 main.py ARGS...`.
// Where there is a new pid namespace the program is not its init (the kernel
// would swallow signals such as RLIMIT_CPU's SIGXCPU aimed at an init):
// bwrap's init or the harness stays behind as pid 1 and reports the
// program's end, a signal death as 128+N.
// RLIMIT_NPROC does not bind root, so as root each concurrent run gets a uid
// of its own from a high, otherwise unused range: the process limit is then
// per run, and every process left over after a run can be found by uid and
// killed. The wall-clock limit, output cap and cancellation are enforced
// from Go: the program is a session leader, and the whole session (and, in
// the isolated modes, its pid namespace) is killed with SIGKILL.
//
// Output is read through a writer that keeps at most Config.OutputBytes per
// stream; once a stream overflows the run is killed (Killed == "output"),
// since its output is already unusable and it may be a flood. A
// MemoryError (RLIMIT_AS) reads as Killed == "memory", SIGXCPU or a SIGKILL
// after the CPU budget as "cpu".
//
// # Isolation modes
//
//   - "bwrap": bubblewrap builds a new root holding read-only binds of /usr,
//     the /bin and /lib links, a few /etc files and the interpreter's prefix,
//     a size-capped tmpfs /tmp, a private /proc and minimal /dev, and at
//     /sandbox a tmpfs of Config.DiskBytes that the harness fills with a
//     copy of the scratch directory (bound read-only at /.flowsteer-input);
//     new network, pid, ipc and uts namespaces, --die-with-parent. The
//     project's files and the rest of / are not there, and nothing the
//     program writes reaches the host's disk.
//   - "namespaces": the same layout built without bubblewrap: Go clones the
//     child into new mount, pid, network, ipc and uts namespaces (plus a user
//     namespace when not root) and the harness mounts the new root and
//     pivots into it.
//   - "none": resource limits and the uid switch only. The program can use
//     the network and read whatever the run's uid can read; Isolation.Note
//     says so. As root with an interpreter the unprivileged uid cannot reach
//     (pyenv under /root, for instance), or a ScratchRoot other users cannot
//     search, the run stays root, and the Note says that the process limit
//     is then not enforced and escaped processes are not found.
//
// A caller that is not root cannot hand out uids: the runs keep its uid (in
// a user namespace where one is made), so RLIMIT_NPROC is set to MaxProcs on
// top of the caller's own task count, and the Note says so.
//
// "auto" (the default) tries bwrap, then namespaces, then none, once per
// interpreter and mode in the process, by running a probe program that
// checks the network and filesystem are really cut off. Runner.Isolation and
// Result.Isolation report what was applied; an explicitly requested mode that
// does not work makes New fail with ErrUnavailable instead of silently
// running with less.
//
// In every mode the harness loads a seccomp filter right before exec
// (seccomp.go: no namespaces, mount, ptrace, modules, keyring, ...), and
// where the host lets this process make cgroups each run gets one with a
// memory and a pids limit for all its processes together (cgroup.go; v2,
// else v1; Isolation.Cgroup says which). Without one, memory is capped per
// process only (RLIMIT_AS; the tmpfs mounts are RAM too, bounded by
// DiskBytes each). The harness reads its config from fd 4, so nothing of
// it shows in /proc/PID/cmdline. In "none" mode files written in the
// scratch directory count only against RLIMIT_FSIZE each.
package sandbox
