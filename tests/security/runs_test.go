package security

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Finding 4d: `flowsteer train` killed in its first second left a run
// directory that neither --resume nor a new run accepted. The run record
// is now valid from the first byte (owner, config written atomically, a
// resume of a run killed before its record existed starts it), and a run
// whose process died shows as interrupted, not running.
func TestTrainKilledAtAnyMomentIsResumableOrEmpty(t *testing.T) {
	bin := binary(t)
	root := t.TempDir()
	cfg := filepath.Join(root, "tiny.yaml")
	if err := os.WriteFile(cfg, []byte("name: tiny\nsteps: 1\nbatch_tasks: 1\ngroup_size: 2\neval: {tasks: 2, baselines: []}\ncheckpoint: {every: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(root, "runs")
	for _, at := range []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second} {
		t.Run(at.String(), func(t *testing.T) {
			dir := filepath.Join(runs, "killed-"+at.String())
			cmd := exec.Command(bin, "train", "--config", cfg, "--dir", dir, "--no-progress")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(at)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()

			list, err := exec.Command(bin, "runs", "list", "--runs-dir", runs).CombinedOutput()
			if err != nil {
				t.Fatalf("runs list: %v\n%s", err, list)
			}
			for _, line := range strings.Split(string(list), "\n") {
				if strings.HasPrefix(line, filepath.Base(dir)+" ") && (strings.Contains(line, " running ") || strings.Contains(line, " pending ")) {
					t.Errorf("a killed run is listed as live: %s", line)
				}
			}
			var out []byte
			if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
				out, err = exec.Command(bin, "train", "--resume", dir, "--no-progress").CombinedOutput()
				if err != nil {
					t.Fatalf("killed at %s: --resume failed: %v\n%s", at, err, out)
				}
			} else {
				// Clearly empty: no config, so no run; a new run takes the directory.
				out, err = exec.Command(bin, "train", "--config", cfg, "--dir", dir, "--no-progress").CombinedOutput()
				if err != nil {
					t.Fatalf("killed at %s before any config: a new run in its directory failed: %v\n%s", at, err, out)
				}
			}
			if !strings.Contains(string(out), "done: ") {
				t.Fatalf("killed at %s: the run did not complete:\n%s", at, out)
			}
		})
	}
}
