package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/cost"
	"github.com/flowsteer/flowsteer/internal/eval"
)

// loadPrices reads a price table file ("" is an empty table).
func loadPrices(path string) (cost.Table, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--prices: %w", err)
	}
	var t cost.Table
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("--prices %s: %w", path, err)
	}
	if err := t.Validate("prices"); err != nil {
		return nil, fmt.Errorf("--prices %s: %w", path, err)
	}
	return t, nil
}

// costTable prints accuracy next to tokens and money per task, by family
// and overall, so fixed workflows compare on both axes.
func costTable(results []eval.Result) string {
	type agg struct {
		n, correct       int
		tokens, wfTokens int64
		money, wfMoney   float64
		unpriced         bool
	}
	by := map[string]*agg{}
	add := func(k string, r eval.Result) {
		a := by[k]
		if a == nil {
			a = &agg{}
			by[k] = a
		}
		a.n++
		if r.Correct {
			a.correct++
		}
		a.tokens += r.Tokens
		a.wfTokens += r.WorkflowTokens
		a.money += r.Money
		a.wfMoney += r.WorkflowMoney
		a.unpriced = a.unpriced || r.Unpriced
	}
	for _, r := range results {
		add(string(r.Family), r)
		add("all", r)
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		if k != "all" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	keys = append(keys, "all")
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %5s %9s %14s %14s %14s %14s\n", "family", "tasks", "accuracy", "tokens/task", "billed/task", "money/task", "billed$/task")
	for _, k := range keys {
		a := by[k]
		n := float64(a.n)
		flag := ""
		if a.unpriced {
			flag = "  (unpriced model: money 0)"
		}
		fmt.Fprintf(&b, "%-8s %5d %9.3f %14.0f %14.0f %14.6f %14.6f%s\n", k, a.n, float64(a.correct)/n, float64(a.wfTokens)/n, float64(a.tokens)/n, a.wfMoney/n, a.money/n, flag)
	}
	b.WriteString("tokens/task and money/task count every call of the workflow (cache hits included); billed excludes calls answered from the cache\n")
	return b.String()
}
