// Package chatapitest is a loopback chat-completions server for tests of
// the code that calls one (internal/chatapi, the openai executor backend,
// the llm policy): it counts and records the requests and lets each test
// decide the answer to the n-th one.
package chatapitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a loopback chat-completions server whose answer to the n-th
// request (from 0) is decided by its handler.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:PORT).
	URL string

	handle func(w http.ResponseWriter, r *http.Request, n int, body map[string]any)
	n      atomic.Int64
	mu     sync.Mutex
	reqs   []Request
}

// Request is what the server saw of one request.
type Request struct {
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Raw    []byte         // the body as sent
	Body   map[string]any // the body decoded as a JSON object
}

// New starts a server closed at the test's end. handle answers the n-th
// request, given its decoded body; a body that is not JSON fails the test
// (every client under test sends JSON).
func New(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, n int, body map[string]any)) *Server {
	t.Helper()
	s := &Server{handle: handle}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.n.Add(1) - 1)
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request %d: body is not JSON: %v", n, err)
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: raw, Body: body})
		s.mu.Unlock()
		s.handle(w, r, n, body)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Count is the number of requests seen so far.
func (s *Server) Count() int { return int(s.n.Load()) }

// Requests returns the requests seen so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// WriteStatus answers with code and an OpenAI-style error body naming msg.
func WriteStatus(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"message":%q,"type":"x"}}`, msg)
}

// SystemUser returns the contents of the last system and the last user
// message of a chat request body; err when raw is not a JSON object.
func SystemUser(raw []byte) (system, user string, err error) {
	var body struct {
		Messages []struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return "", "", err
	}
	for _, m := range body.Messages {
		switch m.Role {
		case "system":
			system = m.Content
		case "user":
			user = m.Content
		}
	}
	return system, user, nil
}
