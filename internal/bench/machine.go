package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
)

// Machine describes where a report was measured.
type Machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"` // runtime.NumCPU: logical CPUs this process may use
	GOMAXPROCS int    `json:"gomaxprocs"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	Go         string `json:"go"`
	// LoadAvg is the 1-minute load average when the run started (from
	// /proc/loadavg; "" where there is none): above Cores, other work
	// shared the CPUs and absolute times say little.
	LoadAvg string `json:"load_avg,omitempty"`
}

// DescribeMachine reads the CPU model from /proc/cpuinfo (where there is one).
func DescribeMachine() Machine {
	return Machine{
		CPU: cpuModel("/proc/cpuinfo"), Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Go: runtime.Version(), LoadAvg: loadAvg("/proc/loadavg"),
	}
}

func loadAvg(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return ""
}

// String is one line: "CPU, N cores (GOMAXPROCS n), os/arch, go
// version, load average L at the start".
func (m Machine) String() string {
	s := fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s/%s, %s", m.CPU, m.Cores, m.GOMAXPROCS, m.GOOS, m.GOARCH, m.Go)
	if m.LoadAvg != "" {
		s += ", load average " + m.LoadAvg + " at the start"
	}
	return s
}

// cpuModel returns the first "model name" of a cpuinfo file (x86), else
// its "Hardware" or "CPU part" line (some ARM kernels), else "unknown CPU".
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	var fallback string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case v == "":
		case k == "model name":
			return v
		case (k == "Hardware" || k == "CPU part") && fallback == "":
			fallback = k + " " + v
		}
	}
	if fallback != "" {
		return fallback
	}
	return "unknown CPU"
}
