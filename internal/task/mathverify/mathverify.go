// Package mathverify runs Hugging Face's math-verify (PyPI "math-verify",
// the math grader of TRL, open-r1 and lighteval) as a long-lived Python
// worker and serves it to the scorers as a task.MathGrader.
//
// One worker process per Grader, started on the first answer to grade.
// Concurrent GradeMath calls are batched: whatever is waiting when the
// worker is free goes out as one JSON line (up to MaxBatch answers), so a
// whole evaluation costs one Python start, never one per item. When the
// worker cannot start (no interpreter, math-verify not installed) or dies,
// GradeMath returns an error and the task scorer falls back to its Go
// grader, saying so in the result. `make mathverify` installs the pinned
// math-verify into .venv (tools/requirements-mathverify.txt).
//
//	g := mathverify.New(mathverify.Config{})
//	defer g.Close()
//	scorer := task.Scorer{Math: g}
package mathverify

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/flowsteer/flowsteer/internal/task"
)

//go:embed worker.py
var workerSource string

// Defaults of Config.
const (
	DefaultMaxBatch = 64
	DefaultTimeout  = 120 * time.Second
	// PythonEnv names the interpreter to run the worker with.
	PythonEnv = "FLOWSTEER_MATHVERIFY_PYTHON"
)

// Config configures a Grader; the zero value uses the defaults.
type Config struct {
	// Python is the interpreter that has math-verify installed. Empty:
	// $FLOWSTEER_MATHVERIFY_PYTHON, else .venv/bin/python in the working
	// directory or one of its three parents (where `make mathverify`
	// installs it), else python3.
	Python   string
	MaxBatch int           // answers per batch, default DefaultMaxBatch
	Timeout  time.Duration // per batch, default DefaultTimeout
}

// Grader is a math-verify worker; safe for concurrent use.
type Grader struct {
	cfg      Config
	once     sync.Once
	startErr error
	name     string
	queue    chan *pending
	done     chan struct{}
	closeMu  sync.Mutex
	closed   bool
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	lines    chan []byte
	dead     error // set by the dispatcher when the worker failed
}

type pending struct {
	ctx   context.Context
	items []task.MathItem
	reply chan result
}

type result struct {
	verdicts []task.MathVerdict
	err      error
}

// New returns a Grader; the worker starts on the first GradeMath.
func New(cfg Config) *Grader {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Grader{cfg: cfg, name: "math-verify", queue: make(chan *pending), done: make(chan struct{})}
}

// Name is "math-verify <version>" once the worker has started.
func (g *Grader) Name() string {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	return g.name
}

// Python is the interpreter Config resolves to.
func (c Config) python() string {
	if c.Python != "" {
		return c.Python
	}
	if p := os.Getenv(PythonEnv); p != "" {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		for i := 0; i < 4; i++ {
			p := filepath.Join(wd, ".venv", "bin", "python")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			wd = filepath.Dir(wd)
		}
	}
	return "python3"
}

// Start starts the worker now (GradeMath would on first use) and reports
// whether math-verify is available.
func (g *Grader) Start() error {
	g.once.Do(func() { g.startErr = g.start() })
	return g.startErr
}

func (g *Grader) start() error {
	py := g.cfg.python()
	cmd := exec.Command(py, "-u", "-c", workerSource)
	cmd.Stderr = io.Discard
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("math-verify worker: start %s: %w", py, err)
	}
	lines := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<26)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(lines)
	}()
	var hello struct {
		Ready   bool   `json:"ready"`
		Version string `json:"version"`
		Error   string `json:"error"`
	}
	select {
	case l, ok := <-lines:
		if !ok || json.Unmarshal(l, &hello) != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("math-verify worker (%s) ended without a greeting", py)
		}
	case <-time.After(g.cfg.Timeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("math-verify worker (%s) did not start in %s", py, g.cfg.Timeout)
	}
	if !hello.Ready {
		_ = cmd.Wait()
		return fmt.Errorf("math-verify is not available to %s (%s): run make mathverify or set %s", py, hello.Error, PythonEnv)
	}
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.closed {
		_ = stdin.Close()
		_ = cmd.Wait()
		return errors.New("math-verify worker closed")
	}
	g.name = "math-verify " + hello.Version
	g.cmd, g.stdin, g.lines = cmd, stdin, lines
	go g.dispatch()
	return nil
}

// GradeMath implements task.MathGrader.
func (g *Grader) GradeMath(ctx context.Context, items []task.MathItem) ([]task.MathVerdict, error) {
	if err := g.Start(); err != nil {
		return nil, err
	}
	p := &pending{ctx: ctx, items: items, reply: make(chan result, 1)}
	select {
	case g.queue <- p:
	case <-g.done:
		return nil, g.deadErr()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-p.reply:
		return r.verdicts, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Grader) deadErr() error {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.dead != nil {
		return g.dead
	}
	return errors.New("math-verify worker closed")
}

// dispatch owns the worker's pipes: it takes the first waiting call, adds
// the others that are waiting (up to MaxBatch answers), sends them as one
// batch and hands each caller its verdicts.
func (g *Grader) dispatch() {
	var id int64
	for {
		var first *pending
		select {
		case first = <-g.queue:
		case <-g.done:
			return
		}
		batch := []*pending{first}
		n := len(first.items)
	gather:
		for n < g.cfg.MaxBatch {
			select {
			case p := <-g.queue:
				batch = append(batch, p)
				n += len(p.items)
			default:
				break gather
			}
		}
		id++
		verdicts, err := g.roundTrip(id, batch)
		off := 0
		for _, p := range batch {
			if err != nil {
				p.reply <- result{err: err}
				continue
			}
			p.reply <- result{verdicts: verdicts[off : off+len(p.items)]}
			off += len(p.items)
		}
		if err != nil {
			g.fail(err)
			return
		}
	}
}

func (g *Grader) roundTrip(id int64, batch []*pending) ([]task.MathVerdict, error) {
	var items []task.MathItem
	for _, p := range batch {
		items = append(items, p.items...)
	}
	line, err := json.Marshal(map[string]any{"id": id, "items": items})
	if err != nil {
		return nil, err
	}
	if _, err := g.stdin.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("math-verify worker: %w", err)
	}
	select {
	case l, ok := <-g.lines:
		if !ok {
			return nil, errors.New("math-verify worker exited")
		}
		var resp struct {
			ID      int64              `json:"id"`
			Results []task.MathVerdict `json:"results"`
			Error   string             `json:"error"`
		}
		if err := json.Unmarshal(l, &resp); err != nil {
			return nil, fmt.Errorf("math-verify worker: bad reply: %w", err)
		}
		if resp.Error != "" || resp.ID != id || len(resp.Results) != len(items) {
			return nil, fmt.Errorf("math-verify worker: batch %d: %d results for %d answers %s", id, len(resp.Results), len(items), resp.Error)
		}
		return resp.Results, nil
	case <-time.After(g.cfg.Timeout):
		return nil, fmt.Errorf("math-verify worker: no reply in %s", g.cfg.Timeout)
	}
}

// fail marks the worker dead after an error and stops it; later calls get
// the error at once and the scorer falls back to the Go grader.
func (g *Grader) fail(err error) {
	g.closeMu.Lock()
	g.dead = err
	g.closeMu.Unlock()
	_ = g.Close()
}

// Close stops the worker; it is safe to call more than once.
func (g *Grader) Close() error {
	g.closeMu.Lock()
	defer g.closeMu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	close(g.done)
	if g.cmd == nil {
		return nil
	}
	_ = g.stdin.Close() // the worker ends at EOF
	waited := make(chan struct{})
	go func() { _ = g.cmd.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		_ = g.cmd.Process.Kill()
		<-waited
	}
	return nil
}

var _ task.MathGrader = (*Grader)(nil)
