package ui

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
)

var funcs = template.FuncMap{
	"f2":         func(v float64) string { return fmt.Sprintf("%+.3f", v) },
	"f3":         func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"pct":        func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) },
	"runURL":     runURL,
	"episodeURL": episodeURL,
	"groupURL":   groupURL,
	"pathEscape": url.PathEscape,
	"lower":      strings.ToLower,
	"add":        func(a, b int) int { return a + b },
	"sub":        func(a, b int) int { return a - b },
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"contains": func(xs []int64, x int64) bool {
		for _, v := range xs {
			if v == x {
				return true
			}
		}
		return false
	},
}
