// Package fsutil holds the one atomic file write the run store, the
// trainer, the report, the embedded checkpoint and the CLI share.
package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic writes data to path through a temporary file in the same
// folder (named "."+base(path)+"-*") and a rename, so a reader polling for
// path, or a process killed at any moment, sees the old file or the whole
// new one, never a torn one. The file is synced before the rename and
// given perm; the rename itself is synced on a best-effort basis (some
// filesystems refuse to sync a folder, which costs only durability). On
// error the temporary file is removed.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
