package runstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is held (flock, exclusive) by the process running a run. A run
// stored as running whose lock nobody holds was interrupted: its process
// died without recording an end (kill -9, a crash, a power cut).
const LockFile = "run.lock"

// StatusInterrupted is how readers show a run stored as running whose
// process is gone (never stored itself: a resume continues the run).
const StatusInterrupted = "interrupted"

// Lock takes dir's run lock for this process until release; it fails when
// another process runs the run.
func Lock(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is being run by another process", dir)
		}
		return nil, err
	}
	return func() { f.Close() }, nil // closing the descriptor releases the lock
}

// Alive says whether some process holds dir's run lock now.
func Alive(dir string) bool {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return errors.Is(err, syscall.EWOULDBLOCK)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// ShownStatus is the status to show for a run stored as status in dir:
// interrupted for a pending or running run whose process is gone.
func ShownStatus(dir, status string) string {
	if (status == StatusRunning || status == StatusPending) && !Alive(dir) {
		return StatusInterrupted
	}
	return status
}
