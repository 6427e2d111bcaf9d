package runstore

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/flowsteer/flowsteer/internal/fsutil"
)

// OwnerFile names, inside a run directory, the tenant that created the run
// (a server's authenticated identity, "token:alice"); a run without one
// belongs to the anonymous tenant (runs made by `flowsteer train`, or on
// an open loopback server). Services compare it with the caller on every
// call that names the run and answer NotFound for another tenant's.
const OwnerFile = "owner"

// WriteOwner records owner in dir atomically (a temporary file renamed
// into place), so a reader sees no owner or the whole one.
func WriteOwner(dir, owner string) error {
	return fsutil.WriteFileAtomic(filepath.Join(dir, OwnerFile), []byte(owner+"\n"), 0o600)
}

// ReadOwner returns the tenant recorded in dir, "" when none is.
func ReadOwner(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, OwnerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// IsRunFile says whether a file name inside a run directory is one of the
// run's own records (its database and journals, config, owner, lock,
// store record),
// which no checkpoint may overwrite.
func IsRunFile(name string) bool {
	switch name {
	case OwnerFile, LockFile, SpecFile, "config.yaml", "run.db", "run.db-wal", "run.db-shm", "run.db-journal":
		return true
	}
	return strings.HasPrefix(name, "run.db")
}
