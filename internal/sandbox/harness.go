package sandbox

// harnessSource is the Python preamble every run starts with (python -I -S -c
// harnessSource, its config JSON on fd 4, read and closed first so that
// neither the program nor /proc/1/cmdline shows it). It exists because os/exec can run nothing
// between clone and exec: mount work, resource limits and the drop to an
// unprivileged uid have to happen inside the child, in that order (mounts
// need root, the uid drop must come last), and then the user's program is
// exec'd so that nothing of the harness stays in its address space.
//
// Status goes to fd 3: "S" right before exec, "E<reason>" on failure. The fd
// is close-on-exec for the program, so generated code cannot forge it; an
// exit code can be forged, which is why the exit status is not used for this.
//
// In the namespaces mode the harness stays behind as the pid namespace's
// init (see _init) and a forked child goes on to exec the program.
//
// The config (built in Go, see harnessConfig) holds:
//
//	ops       mount operations applied under root (namespaces mode only)
//	root      host directory the new root tmpfs is mounted on
//	pivot_nr  pivot_root syscall number for this architecture
//	userns    true when running as root of a user namespace (non-root caller)
//	stage     read-only copy source of the program's files (isolated modes),
//	          copied into cwd, a tmpfs, and handed to uid
//	cwd       directory the program starts in
//	rlimits   [name, soft, hard] for the resource module
//	uid, gid  unprivileged ids to switch to, -1 to keep the current ones
//	exe, argv what to exec
//	seccomp   the seccomp filter (base64 sock_filter array) loaded last
const harnessSource = `
import os, sys, json, resource

def _libc():
    import ctypes
    return ctypes, ctypes.CDLL(None, use_errno=True)

def _check(ctypes, rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))

def _mounts(c):
    ctypes, libc = _libc()
    RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
    def enc(x):
        return None if x is None else x.encode()
    def mount(src, dst, fs, flags, data=None):
        _check(ctypes, libc.mount(enc(src), enc(dst), enc(fs), ctypes.c_ulong(flags), enc(data)),
               "mount %s on %s" % (src or fs, dst))
    def remount(path, flags):
        # Flags the kernel locked on the source mount (user namespaces) must be
        # repeated on remount, so start from what statvfs reports.
        f = os.statvfs(path).f_flag
        keep = f & (RDONLY | NOSUID | NODEV | NOEXEC)
        for st, ms in ((1024, 1024), (2048, 2048), (4096, 1 << 21)):
            if f & st:
                keep |= ms
        mount(None, path, None, REMOUNT | BIND | flags | keep)
    os.umask(0o022)
    mount(None, "/", None, REC | PRIVATE)
    root = c["root"]
    mount("tmpfs", root, "tmpfs", NOSUID | NODEV, "mode=0755,size=1m")
    kinds = {"ro": RDONLY | NOSUID | NODEV, "rw": NOSUID | NODEV, "dev": NOSUID | NOEXEC}
    for op in c["ops"]:
        kind, t = op[0], root + op[2]
        if kind == "tmpfs":
            os.makedirs(t, exist_ok=True)
            mount("tmpfs", t, "tmpfs", NOSUID | NODEV, "mode=%s,size=%d" % (op[1], op[3]))
        elif kind == "symlink":
            os.makedirs(os.path.dirname(t), exist_ok=True)
            os.symlink(op[1], t)
        elif kind == "proc":
            os.makedirs(t, exist_ok=True)
            try:
                mount("proc", t, "proc", NOSUID | NODEV | NOEXEC)
            except OSError:
                # A user namespace may not mount proc when the host's is
                # partly masked; binding the host's would show its processes.
                if not c["userns"]:
                    raise
        else:
            src = op[1]
            if os.path.isdir(src):
                os.makedirs(t, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(t), exist_ok=True)
                open(t, "a").close()
            mount(src, t, None, BIND | REC)
            remount(t, kinds[kind])
    os.chdir(root)
    _check(ctypes, libc.syscall(c["pivot_nr"], b".", b"."), "pivot_root")
    _check(ctypes, libc.umount2(b".", 2), "detach old root")
    os.chdir("/")
    remount("/", RDONLY)
    libc.sethostname(b"sandbox", 7)

def _drop_caps():
    ctypes, libc = _libc()
    for cap in range(64):
        if libc.prctl(24, cap, 0, 0, 0) != 0:
            break
    hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(ctypes, libc.capset(hdr, data), "capset")

def _init(child):
    # pid 1 of the new pid namespace: reap orphans, and report the program's
    # end the way bwrap does. The program is not pid 1 itself because the
    # kernel drops default-action signals (SIGXCPU of RLIMIT_CPU, a kill
    # from inside) aimed at a namespace's init.
    for fd in (0, 1, 2, 3):
        os.close(fd)
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            os._exit(125)
        if pid == child:
            os._exit(128 + os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st))

def _stage(c):
    # Copy the program's files from the read-only stage into its tmpfs
    # (cwd), then give them to the run's uid. Under bwrap as root only
    # CAP_SETUID, CAP_SETGID and CAP_CHOWN are left, so this reads files
    # root owns and chdir happened while root still owned cwd.
    import shutil
    src, dst = c["stage"], c["cwd"]
    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and not os.path.islink(s):
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d, follow_symlinks=False)
    if c["uid"] >= 0:
        for base, dirs, files in os.walk(dst):
            for n in dirs + files:
                os.lchown(os.path.join(base, n), c["uid"], c["gid"])
        os.chown(dst, c["uid"], c["gid"])

def _config():
    chunks = []
    while True:
        b = os.read(4, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(4)
    return json.loads(b"".join(chunks))

def _seccomp(prog):
    # PR_SET_SECCOMP (22), SECCOMP_MODE_FILTER (2), a struct sock_fprog.
    import base64
    ctypes, libc = _libc()
    raw = base64.b64decode(prog)
    buf = ctypes.create_string_buffer(raw, len(raw))
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fp = Fprog(len(raw) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(ctypes, libc.prctl(22, 2, ctypes.byref(fp), 0, 0), "seccomp")

def _main():
    c = _config()
    if c.get("ops") is not None:
        _mounts(c)
        child = os.fork()
        if child:
            _init(child)
    os.chdir(c["cwd"])
    if c.get("stage"):
        _stage(c)
    for name, soft, hard in c["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if c["uid"] >= 0:
        os.setgroups([])
        os.setgid(c["gid"])
        os.setuid(c["uid"])
    elif c["userns"]:
        _drop_caps()
    ctypes, libc = _libc()
    _check(ctypes, libc.prctl(38, 1, 0, 0, 0), "no_new_privs")
    if c.get("seccomp"):
        _seccomp(c["seccomp"])
    os.set_inheritable(3, False)
    os.write(3, b"S")
    os.execv(c["exe"], c["argv"])

try:
    _main()
except BaseException as e:
    try:
        os.write(3, ("E%s: %s" % (type(e).__name__, e)).encode()[:4000])
    except Exception:
        pass
    os._exit(121)
`
