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
// yet, cfg.CellConcurrency at a time, and returns all cells of the grid in
// grid order (arms outer, seeds inner). Cells start in grid order; each is
// appended to the results file as it completes, by this goroutine alone
// (the one writer), so a killed or cancelled run leaves whole cells that a
// re-run skips. The first failing cell cancels the cells in flight: Run
// returns the cells that completed and that cell's error. progress hears
// one line when a cell starts and one when it ends.
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
	type job struct {
		i    int // grid position
		arm  Arm
		seed int64
	}
	total := len(cfg.Arms) * len(cfg.Seeds)
	slot := make([]*Cell, total)
	var todo []job
	for ai, arm := range cfg.Arms {
		for si, seed := range cfg.Seeds {
			i := ai*len(cfg.Seeds) + si
			if c, ok := have[cellKey(arm.Name, seed)]; ok {
				fmt.Fprintf(progress, "[%d/%d] %s seed %d: done before, skipped\n", i+1, total, arm.Name, seed)
				slot[i] = &c
				continue
			}
			todo = append(todo, job{i, arm, seed})
		}
	}
	type result struct {
		job
		cell Cell
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// This goroutine starts the cells, in grid order, and is the one
	// writer of the results file and of progress; at most
	// CellConcurrency cells are in flight.
	results := make(chan result)
	inFlight := 0
	var firstErr error
	collect := func() {
		res := <-results
		inFlight--
		switch {
		case firstErr != nil:
			// A cell ended after another failed: it was cancelled, or
			// finished anyway; either way the run stops here, and a
			// finished cell is still kept below.
			if res.err != nil {
				return
			}
		case res.err != nil:
			firstErr = fmt.Errorf("%s seed %d: %w", res.arm.Name, res.seed, res.err)
			cancel()
			return
		}
		if err := appendCell(dir, res.cell); err != nil {
			if firstErr == nil {
				firstErr = err
				cancel()
			}
			return
		}
		s := summarizeCell(res.cell)
		fmt.Fprintf(progress, "[%d/%d] %s seed %d: %d episodes, accuracy %.3f, finished %.2f, turns %.1f (%.0fs)\n",
			res.i+1, total, res.arm.Name, res.seed, s.n, s.acc, s.fin, s.turns, res.cell.Seconds)
		c := res.cell
		slot[res.i] = &c
	}
	limit := max(1, cfg.CellConcurrency)
	for _, j := range todo {
		for inFlight >= limit {
			collect()
		}
		if firstErr != nil {
			break
		}
		if err := ctx.Err(); err != nil {
			firstErr = err
			break
		}
		fmt.Fprintf(progress, "[%d/%d] %s seed %d ...\n", j.i+1, total, j.arm.Name, j.seed)
		inFlight++
		go func(j job) {
			start := time.Now()
			c, err := r.RunCell(ctx, j.arm, j.seed)
			c.Arm, c.Seed, c.Seconds = j.arm.Name, j.seed, time.Since(start).Seconds()
			results <- result{j, c, err}
		}(j)
	}
	for inFlight > 0 {
		collect()
	}
	var out []Cell
	for _, c := range slot {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out, firstErr
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
