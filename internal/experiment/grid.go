package experiment

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Outcome is one held-out episode of one cell.
type Outcome struct {
	TaskID   string  `json:"task_id"`
	Family   string  `json:"family"`
	Reward   float64 `json:"reward"`
	Correct  bool    `json:"correct"`
	Released bool    `json:"released"`
	Finished bool    `json:"finished"`
	Turns    int     `json:"turns"`
	DSL      string  `json:"dsl"`
	Failed   bool    `json:"failed,omitempty"` // the episode errored; left out of every statistic
}

// Cell is the result of one (arm, seed): every held-out episode, plus
// what the arm needs to be reproduced (Note: a checkpoint, the searched
// workflows) and its wall time.
type Cell struct {
	Arm      string    `json:"arm"`
	Seed     int64     `json:"seed"`
	Outcomes []Outcome `json:"outcomes"`
	Note     string    `json:"note,omitempty"`
	Seconds  float64   `json:"seconds"`
}

// CellRunner plays one cell.
type CellRunner interface {
	RunCell(ctx context.Context, arm Arm, seed int64) (Cell, error)
}

// ResultsFile is where a run's cells go, one JSON line each.
const ResultsFile = "results.jsonl"

// LoadCells reads the cells of dir's results file; a missing file is no
// cells. A torn last line (a run killed while writing) is ignored, since
// that cell is simply run again.
func LoadCells(dir string) ([]Cell, error) {
	f, err := os.Open(filepath.Join(dir, ResultsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Cell
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var c Cell
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			continue
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

func appendCell(dir string, c Cell) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, ResultsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	// A torn last line (a run killed mid-write) must not swallow this
	// cell: start it on a line of its own.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if r, err := os.Open(f.Name()); err == nil {
			if _, err := r.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
				b = append([]byte{'\n'}, b...)
			}
			r.Close()
		}
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Run plays every cell of the grid that dir's results file does not hold
// yet, in order (arms outer, seeds inner), appending each as it completes,
// and returns all cells of the grid. progress hears one line per cell.
func Run(ctx context.Context, cfg Config, dir string, r CellRunner, progress io.Writer) ([]Cell, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	done, err := LoadCells(dir)
	if err != nil {
		return nil, err
	}
	have := map[string]Cell{}
	for _, c := range done {
		have[cellKey(c.Arm, c.Seed)] = c
	}
	total := len(cfg.Arms) * len(cfg.Seeds)
	var out []Cell
	n := 0
	for _, arm := range cfg.Arms {
		for _, seed := range cfg.Seeds {
			n++
			if c, ok := have[cellKey(arm.Name, seed)]; ok {
				fmt.Fprintf(progress, "[%d/%d] %s seed %d: done before, skipped\n", n, total, arm.Name, seed)
				out = append(out, c)
				continue
			}
			if err := ctx.Err(); err != nil {
				return out, err
			}
			start := time.Now()
			fmt.Fprintf(progress, "[%d/%d] %s seed %d ...\n", n, total, arm.Name, seed)
			c, err := r.RunCell(ctx, arm, seed)
			if err != nil {
				return out, fmt.Errorf("%s seed %d: %w", arm.Name, seed, err)
			}
			c.Arm, c.Seed, c.Seconds = arm.Name, seed, time.Since(start).Seconds()
			if err := appendCell(dir, c); err != nil {
				return out, err
			}
			s := summarizeCell(c)
			fmt.Fprintf(progress, "[%d/%d] %s seed %d: %d episodes, accuracy %.3f, finished %.2f, turns %.1f (%.0fs)\n",
				n, total, arm.Name, seed, s.n, s.acc, s.fin, s.turns, c.Seconds)
			out = append(out, c)
		}
	}
	return out, nil
}

func cellKey(arm string, seed int64) string { return fmt.Sprintf("%s\x00%d", arm, seed) }

type cellSummary struct {
	n               int
	acc, fin, turns float64
}

func summarizeCell(c Cell) cellSummary {
	var s cellSummary
	for _, o := range c.Outcomes {
		if o.Failed {
			continue
		}
		s.n++
		if o.Correct {
			s.acc++
		}
		if o.Finished {
			s.fin++
		}
		s.turns += float64(o.Turns)
	}
	if s.n > 0 {
		s.acc, s.fin, s.turns = s.acc/float64(s.n), s.fin/float64(s.n), s.turns/float64(s.n)
	}
	return s
}
