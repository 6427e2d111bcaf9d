package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// uidBase starts this process's range of run uids: high enough to belong to
// no real account, and offset by pid so that two processes on one host
// rarely share uids (sharing would only make them share a process limit).
var uidBase = 1_500_000_000 + (os.Getpid()%1_000_000)*1024

var uidPool struct {
	sync.Mutex
	used  map[int]bool // handed out and not yet released
	dirty map[int]bool // released with zombies still counted against it
	next  int
}

// acquireUID hands out uids round-robin, so that a uid just released is the
// last to be reused. A uid released dirty (zombies the host's init had not
// reaped yet still count against RLIMIT_NPROC) is reused only once it owns
// no process at all.
func acquireUID() int {
	uidPool.Lock()
	defer uidPool.Unlock()
	if uidPool.used == nil {
		uidPool.used, uidPool.dirty = map[int]bool{}, map[int]bool{}
	}
	for i := range 1024 {
		u := uidBase + (uidPool.next+i)%1024
		if uidPool.used[u] {
			continue
		}
		if uidPool.dirty[u] {
			if live, zombies := procsOf(u); len(live) > 0 || zombies > 0 {
				continue
			}
			delete(uidPool.dirty, u)
		}
		uidPool.used[u] = true
		uidPool.next = (uidPool.next + i + 1) % 1024
		return u
	}
	// More than 1024 runs at once in one process: share a uid (and so a
	// process limit) rather than fail.
	uidPool.next = (uidPool.next + 1) % 1024
	return uidBase + uidPool.next
}

func releaseUID(u int, clean bool) {
	uidPool.Lock()
	defer uidPool.Unlock()
	delete(uidPool.used, u)
	if !clean {
		uidPool.dirty[u] = true
	}
}

// reapUID kills whatever still runs under the run's uid: processes that
// left the session (setsid) or a pid namespace that bwrap tears down after
// its outer process is gone. The uid belongs to this run only. It reports
// whether the uid ended with no process at all, zombies included; zombies
// are not waited for, since their reaper may be the host's init.
func reapUID(uid int) bool {
	deadline := time.Now().Add(3 * time.Second)
	for {
		live, zombies := procsOf(uid)
		if len(live) == 0 || time.Now().After(deadline) {
			return len(live) == 0 && zombies == 0
		}
		for _, pid := range live {
			killIfUID(pid, uid)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// procsOf lists the live processes owned by uid and counts its zombies.
func procsOf(uid int) (live []int, zombies int) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, 0
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		u, state, ok := procOwner(pid)
		switch {
		case !ok || u != uid:
		case state == 'Z' || state == 'X':
			zombies++
		default:
			live = append(live, pid)
		}
	}
	return live, zombies
}

// procOwner returns a process's owner and state letter.
func procOwner(pid int) (uid int, state byte, ok bool) {
	var st syscall.Stat_t
	if syscall.Stat("/proc/"+strconv.Itoa(pid), &st) != nil {
		return 0, 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, false
	}
	return int(st.Uid), b[i+2], true
}

const (
	sysPidfdOpen       = 434 // same number on every architecture Go supports
	sysPidfdSendSignal = 424
)

// killIfUID signals pid only if it still belongs to uid; a pidfd pins the
// process so that a recycled pid is never hit.
func killIfUID(pid, uid int) {
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno == syscall.ENOSYS {
		if u, _, ok := procOwner(pid); ok && u == uid {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return
	}
	if errno != 0 {
		return
	}
	defer syscall.Close(int(fd))
	if u, _, ok := procOwner(pid); !ok || u != uid {
		return
	}
	_, _, _ = syscall.Syscall6(sysPidfdSendSignal, fd, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
}

// countTasks counts the threads of every process owned by uid.
func countTasks(uid int) int {
	n := 0
	d, err := os.Open("/proc")
	if err != nil {
		return 0
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, name := range names {
		if _, err := strconv.Atoi(name); err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+name, &st) != nil || int(st.Uid) != uid {
			continue
		}
		if t, err := os.ReadDir("/proc/" + name + "/task"); err == nil {
			n += len(t)
		} else {
			n++
		}
	}
	return n
}
