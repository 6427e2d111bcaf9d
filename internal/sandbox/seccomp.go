package sandbox

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"sync"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
)

// The seccomp filter every run gets, in every mode, installed by the
// harness right before it execs the program (after no_new_privs, so an
// unprivileged process may load it, and after the mount work it needs
// itself). It denies with EPERM what generated code has no use for and
// what escapes start with: new namespaces (unshare, setns, clone with any
// CLONE_NEW* flag), mounting and root changes, ptrace and cross-process
// memory access, kernel modules and kexec, the kernel keyring, BPF and
// perf events, userfaultfd, and host-wide settings (clock, hostname,
// swap, reboot). clone3 answers ENOSYS: its flags sit in memory a filter
// cannot read, and ENOSYS makes the C library fall back to clone, whose
// flags it can. The filter is assembled by github.com/elastic/go-seccomp-bpf
// (a maintained, pure-Go policy compiler) rather than written by hand.
var deniedSyscalls = []string{
	"unshare", "setns",
	"mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"open_by_handle_at", "name_to_handle_at",
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
	"add_key", "request_key", "keyctl",
	"bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "quotactl", "acct",
	"swapon", "swapoff", "reboot", "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "vhangup", "iopl", "ioperm",
}

// cloneNewFlags is every CLONE_NEW* flag: NEWTIME, NEWNS, NEWCGROUP,
// NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
const cloneNewFlags = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

var (
	filterOnce sync.Once
	filterB64  string
	filterErr  error
)

// seccompFilter returns the filter as the harness loads it: the raw
// sock_filter array (8 bytes per instruction, native byte order), base64.
func seccompFilter() (string, error) {
	filterOnce.Do(func() { filterB64, filterErr = buildFilter() })
	return filterB64, filterErr
}

func buildFilter() (string, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return "", fmt.Errorf("sandbox: seccomp: %w", err)
	}
	var names []string
	for _, n := range deniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok { // not every architecture has every call
			names = append(names, n)
		}
	}
	groups := []seccomp.SyscallGroup{
		{Action: seccomp.ActionErrno, Names: names},
		{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{{
			Name: "clone", Conditions: seccomp.ArgumentConditions{{Argument: cloneFlagsArg(), Operation: seccomp.BitsSet, Value: cloneNewFlags}},
		}}},
	}
	if _, ok := info.SyscallNames["clone3"]; ok {
		// No tracer is attached, so SECCOMP_RET_TRACE fails the call with ENOSYS.
		groups = append(groups, seccomp.SyscallGroup{Action: seccomp.ActionTrace, Names: []string{"clone3"}})
	}
	policy := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: groups}
	insts, err := policy.Assemble()
	if err != nil {
		return "", fmt.Errorf("sandbox: seccomp: %w", err)
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return "", fmt.Errorf("sandbox: seccomp: %w", err)
	}
	buf := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		buf = binary.NativeEndian.AppendUint16(buf, r.Op)
		buf = append(buf, r.Jt, r.Jf)
		buf = binary.NativeEndian.AppendUint32(buf, r.K)
	}
	return base64.StdEncoding.EncodeToString(buf), nil
}

// cloneFlagsArg is the argument of clone that holds its flags: the first
// on every architecture flowsteer builds for (s390 swaps the first two).
func cloneFlagsArg() uint32 { return 0 }
