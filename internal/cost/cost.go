// Package cost turns token counts into money and rolls them up. Token
// accounting happens where calls are made (executor responses, operator
// usage, canvas executions, policy decisions); this package holds the
// per-backend-and-model usage lines those layers sum, the price table that
// prices them, and the summaries the trainer stores per episode, group,
// step and run.
//
// Keeping prices out of the canvas means a remote canvas needs no price
// table: it reports tokens per backend and model, and whoever reads them
// (trainer, eval, report) prices them with its own table.
package cost

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Line is the work done on one backend and model.
type Line struct {
	Backend   string
	Model     string
	Calls     int
	CacheHits int
	// InputTokens are the billed prompt tokens (calls that reached the
	// backend); CachedInputTokens is the part of them the provider served
	// from its own prompt cache, billed at the cached-input price.
	InputTokens       int64
	CachedInputTokens int64
	OutputTokens      int64
	// Saved* are the tokens of calls answered from flowsteer's cache:
	// never billed, reported as savings.
	SavedInputTokens  int64
	SavedOutputTokens int64
	LatencySeconds    float64
	Simulated         bool
}

func (l Line) key() string { return l.Backend + "\x00" + l.Model }

// Label names the line's backend and model, as in Summary.Unpriced.
func (l Line) Label() string {
	if l.Backend == "" {
		return l.Model
	}
	return l.Backend + "/" + l.Model
}

// Tokens is every token the line's calls processed, cache hits included:
// the size of the work, whoever paid for it.
func (l Line) Tokens() int64 {
	return l.InputTokens + l.OutputTokens + l.SavedInputTokens + l.SavedOutputTokens
}

func (l *Line) add(o Line) {
	l.Calls += o.Calls
	l.CacheHits += o.CacheHits
	l.InputTokens += o.InputTokens
	l.CachedInputTokens += o.CachedInputTokens
	l.OutputTokens += o.OutputTokens
	l.SavedInputTokens += o.SavedInputTokens
	l.SavedOutputTokens += o.SavedOutputTokens
	l.LatencySeconds += o.LatencySeconds
	l.Simulated = l.Simulated || o.Simulated
}

// Usage is a set of lines, one per backend and model, sorted by backend
// then model. The zero value is empty and ready to use.
type Usage []Line

// Add merges one line into u.
func (u *Usage) Add(l Line) {
	for i := range *u {
		if (*u)[i].key() == l.key() {
			(*u)[i].add(l)
			return
		}
	}
	*u = append(*u, l)
	sort.Slice(*u, func(i, j int) bool { return (*u)[i].key() < (*u)[j].key() })
}

// Merge adds every line of o to u.
func (u *Usage) Merge(o Usage) {
	for _, l := range o {
		u.Add(l)
	}
}

// Total sums every line into one (Backend and Model left empty).
func (u Usage) Total() Line {
	var t Line
	for _, l := range u {
		t.add(l)
	}
	return t
}

// Price is what one model costs, in money per million tokens.
type Price struct {
	// Backend matches the executor backend's name (or "policy" for the
	// policy's own generation); empty matches any backend.
	Backend     string  `yaml:"backend" json:"backend"`
	Model       string  `yaml:"model" json:"model"`
	Input       float64 `yaml:"input" json:"input"`
	Output      float64 `yaml:"output" json:"output"`
	CachedInput float64 `yaml:"cached_input" json:"cached_input"`
}

// Table is a price table: the first entry matching backend and model
// wins, an exact backend before an empty one.
type Table []Price

// Validate names the first bad entry, as in config files under key.
func (t Table) Validate(key string) error {
	seen := map[string]bool{}
	for i, p := range t {
		at := fmt.Sprintf("%s[%d]", key, i)
		if strings.TrimSpace(p.Model) == "" {
			return fmt.Errorf("%s.model must not be empty", at)
		}
		for name, v := range map[string]float64{"input": p.Input, "output": p.Output, "cached_input": p.CachedInput} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s.%s must be a finite number >= 0, got %v", at, name, v)
			}
		}
		k := p.Backend + "\x00" + p.Model
		if seen[k] {
			return fmt.Errorf("%s: backend %q model %q is priced twice", at, p.Backend, p.Model)
		}
		seen[k] = true
	}
	return nil
}

// Lookup returns the price of backend and model.
func (t Table) Lookup(backend, model string) (Price, bool) {
	for _, p := range t {
		if p.Backend == backend && p.Model == model {
			return p, true
		}
	}
	for _, p := range t {
		if p.Backend == "" && p.Model == model {
			return p, true
		}
	}
	return Price{}, false
}

// Money is what a line costs: billed input at the input price (its cached
// part at the cached-input price), output at the output price; saved is
// what its cache hits would have cost. ok is false for an unpriced model,
// whose money is 0.
func (t Table) Money(l Line) (money, saved float64, ok bool) {
	p, ok := t.Lookup(l.Backend, l.Model)
	if !ok {
		return 0, 0, false
	}
	const m = 1e6
	money = (float64(l.InputTokens-l.CachedInputTokens)*p.Input + float64(l.CachedInputTokens)*p.CachedInput + float64(l.OutputTokens)*p.Output) / m
	saved = (float64(l.SavedInputTokens)*p.Input + float64(l.SavedOutputTokens)*p.Output) / m
	return money, saved, true
}

// Workflow is what one run of a workflow costs in money, cache hits
// priced as if they had been paid (its cost as a workflow, independent of
// what happened to be cached); ok is false when a line is unpriced.
func (t Table) Workflow(u Usage) (money float64, ok bool) {
	ok = true
	for _, l := range u {
		m, s, priced := t.Money(l)
		money += m + s
		ok = ok && priced
	}
	return money, ok
}
