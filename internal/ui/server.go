package ui

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowsteer/flowsteer/internal/runstore"
)

//go:embed assets
var assets embed.FS

// Options configure a Server.
type Options struct {
	// RunsDir holds the run directories (each with its run store).
	RunsDir string
	// Version is shown in the footer and written into bundles.
	Version string
	// JaegerURL, when set, is the base of a Jaeger UI: trace pages link
	// to JaegerURL/trace/<id>.
	JaegerURL string
	// Poll is how often the events stream looks for new steps (1 s).
	Poll   time.Duration
	Logger *slog.Logger
}

// Server serves the viewer. Create it with New; Close closes the stores it
// opened.
type Server struct {
	o    Options
	tmpl *template.Template
	mux  *http.ServeMux

	mu     sync.Mutex
	stores map[string]runstore.Store
}

// New returns a viewer over o.RunsDir.
func New(o Options) (*Server, error) {
	if o.RunsDir == "" {
		return nil, errors.New("ui: no runs directory")
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	t, err := template.New("").Funcs(funcs).ParseFS(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("ui: templates: %w", err)
	}
	s := &Server{o: o, tmpl: t, stores: map[string]runstore.Store{}}
	static, _ := fs.Sub(assets, "assets")
	m := http.NewServeMux()
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", s.page("runs", s.runsData))
	m.HandleFunc("GET /search", s.search)
	m.HandleFunc("GET /runs/{run}", s.page("run", s.runData))
	m.HandleFunc("GET /runs/{run}/events", s.events)
	m.HandleFunc("GET /runs/{run}/report", s.report)
	m.HandleFunc("GET /runs/{run}/steps/{step}/groups/{group}", s.page("group", s.groupData))
	m.HandleFunc("GET /runs/{run}/episodes/{episode}", s.page("episode", s.episodeData))
	m.HandleFunc("GET /runs/{run}/episodes/{episode}/trace", s.page("trace", s.traceData))
	m.HandleFunc("GET /runs/{run}/episodes/{episode}/bundle", s.bundle)
	s.mux = m
	return s, nil
}

// ServeHTTP implements http.Handler; every answer forbids framing and
// inline scripts other than the viewer's own file.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	s.mux.ServeHTTP(w, r)
}

// Close closes the stores the viewer opened.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for k, st := range s.stores {
		errs = append(errs, st.Close())
		delete(s.stores, k)
	}
	return errors.Join(errs...)
}

type httpError struct {
	code int
	err  error
}

func (e *httpError) Error() string { return e.err.Error() }

func notFoundf(format string, a ...any) error {
	return &httpError{http.StatusNotFound, fmt.Errorf(format, a...)}
}

// validRunName refuses names that are not one directory under RunsDir.
func validRunName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`) && filepath.Base(name) == name
}

// store opens (once) the store of a run directory.
func (s *Server) store(run string) (runstore.Store, error) {
	if !validRunName(run) {
		return nil, notFoundf("no run %q", run)
	}
	dir := filepath.Join(s.o.RunsDir, run)
	if !runstore.Exists(dir) {
		return nil, notFoundf("no run %q under %s", run, s.o.RunsDir)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stores[run]; ok {
		return st, nil
	}
	st, err := runstore.Open(dir)
	if err != nil {
		return nil, err
	}
	s.stores[run] = st
	return st, nil
}

// runNames lists the run directories, newest name last.
func (s *Server) runNames() ([]string, error) {
	entries, err := os.ReadDir(s.o.RunsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && runstore.Exists(filepath.Join(s.o.RunsDir, e.Name())) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// page serves one page: HTML, or its data as JSON with ?format=json.
func (s *Server) page(name string, data func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := data(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(d)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := s.tmpl.ExecuteTemplate(w, name+".html", pageData{Title: name, Version: s.o.Version, Data: d}); err != nil {
			s.o.Logger.Warn("ui: render", "page", name, "err", err)
		}
	}
}

type pageData struct {
	Title   string
	Version string
	Data    any
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	switch {
	case errors.As(err, &he):
		code = he.code
	case errors.Is(err, runstore.ErrNotFound), errors.Is(err, runstore.ErrNoReplay):
		code = http.StatusNotFound
	}
	if code == http.StatusInternalServerError {
		s.o.Logger.Warn("ui", "path", r.URL.Path, "err", err)
	}
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = s.tmpl.ExecuteTemplate(w, "error.html", pageData{Title: "error", Version: s.o.Version, Data: map[string]any{"Code": code, "Message": err.Error()}})
}

// search finds a run by name, an episode by id or an episode by trace id.
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	names, err := s.runNames()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	target := ""
	for _, n := range names {
		if n == q {
			target = "/runs/" + url.PathEscape(n)
			break
		}
	}
	for _, n := range names {
		if target != "" {
			break
		}
		st, err := s.store(n)
		if err != nil {
			continue
		}
		if _, err := st.EpisodeByID(n, q); err == nil {
			target = "/runs/" + url.PathEscape(n) + "/episodes/" + url.PathEscape(q)
			break
		}
		if ep, err := st.EpisodeOfTrace(n, strings.ToLower(q)); err == nil && ep != "" {
			target = "/runs/" + url.PathEscape(n) + "/episodes/" + url.PathEscape(ep) + "/trace"
		}
	}
	if target == "" {
		s.fail(w, r, notFoundf("nothing matches %q: search takes a run name, an episode id or a trace id", q))
		return
	}
	if r.URL.Query().Get("format") == "json" {
		target += "?format=json"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// report serves the run's report.html as written by `flowsteer report`.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	run := r.PathValue("run")
	if _, err := s.store(run); err != nil {
		s.fail(w, r, err)
		return
	}
	path := filepath.Join(s.o.RunsDir, run, "report.html")
	if _, err := os.Stat(path); err != nil {
		s.fail(w, r, notFoundf("run %q has no report.html yet: write it with flowsteer report %s", run, run))
		return
	}
	// The report is ours but self-contained with inline script and style:
	// it gets a policy of its own.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:")
	http.ServeFile(w, r, path)
}

func stepParam(r *http.Request) (int64, error) {
	v, err := strconv.ParseInt(r.PathValue("step"), 10, 64)
	if err != nil {
		return 0, notFoundf("step %q is not a number", r.PathValue("step"))
	}
	return v, nil
}
