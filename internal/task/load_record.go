package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// rec is one raw record seen through a layout: field access whose errors
// name the layout and the field, so a LoadError reads like
// `tasks.jsonl:3: gsm8k record has no "question" field`.
type rec struct {
	format string
	f      map[string]json.RawMessage
	raw    json.RawMessage
	defID  string // id to use when the layout has none
}

func (r rec) has(name string) bool {
	v, ok := r.f[name]
	return ok && jsonKind(v) != "null"
}

// first returns the first of names the record has, or "".
func (r rec) first(names ...string) string {
	for _, n := range names {
		if r.has(n) {
			return n
		}
	}
	return ""
}

func (r rec) missing(names ...string) error {
	if len(names) == 1 {
		return fmt.Errorf("%s record has no %q field", r.format, names[0])
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return fmt.Errorf("%s record has none of the fields %s", r.format, strings.Join(q, ", "))
}

func (r rec) bad(name, format string, args ...any) error {
	return fmt.Errorf("%s record field %q %s", r.format, name, fmt.Sprintf(format, args...))
}

func (r rec) wrongType(name, want string) error {
	return r.bad(name, "is a JSON %s, want %s", jsonKind(r.f[name]), want)
}

// str reads a required string field; with several names the first present
// one is read (layouts renamed fields across releases).
func (r rec) str(names ...string) (string, error) {
	n := r.first(names...)
	if n == "" {
		return "", r.missing(names...)
	}
	var s string
	if err := json.Unmarshal(r.f[n], &s); err != nil {
		return "", r.wrongType(n, "a string")
	}
	return s, nil
}

// nonEmpty is str that also refuses an empty or blank value.
func (r rec) nonEmpty(names ...string) (string, error) {
	s, err := r.str(names...)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", r.bad(r.first(names...), "is empty")
	}
	return s, nil
}

// optStr reads an optional string field; absent or null gives "".
func (r rec) optStr(names ...string) (string, error) {
	if r.first(names...) == "" {
		return "", nil
	}
	return r.str(names...)
}

// scalar reads a string or a number as text (ids and answers are stored
// either way across releases).
func (r rec) scalar(names ...string) (string, error) {
	n := r.first(names...)
	if n == "" {
		return "", r.missing(names...)
	}
	switch jsonKind(r.f[n]) {
	case "string":
		return r.str(n)
	case "number":
		return strings.TrimSpace(string(r.f[n])), nil
	}
	return "", r.wrongType(n, "a string or a number")
}

// strList reads an array of strings; a lone string counts as a list of one.
func (r rec) strList(name string) ([]string, error) {
	if !r.has(name) {
		return nil, r.missing(name)
	}
	return r.decodeStrList(name, r.f[name])
}

func (r rec) decodeStrList(name string, raw json.RawMessage) ([]string, error) {
	switch jsonKind(raw) {
	case "string":
		return []string{rawString(raw)}, nil
	case "array":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, r.wrongType(name, "an array of strings")
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			switch jsonKind(it) {
			case "string":
				out = append(out, rawString(it))
			case "number":
				out = append(out, string(it))
			default:
				return nil, r.bad(name, "item %d is a JSON %s, want a string", i, jsonKind(it))
			}
		}
		return out, nil
	}
	return nil, r.bad(name, "is a JSON %s, want an array of strings", jsonKind(raw))
}

// object decodes an object-valued field.
func (r rec) object(name string) (rec, error) {
	if !r.has(name) {
		return rec{}, r.missing(name)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.f[name], &m); err != nil || m == nil {
		return rec{}, r.wrongType(name, "an object")
	}
	return rec{format: r.format + " " + name, f: m, raw: r.f[name]}, nil
}

// id reads an id field (string or number) and prefixes bare numbers with
// the source, since "11" alone would collide across data sets.
func (r rec) id(source string, names ...string) (string, error) {
	if r.first(names...) == "" {
		return r.defID, nil
	}
	s, err := r.scalar(names...)
	if err != nil {
		return "", err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return r.defID, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return source + "-" + s, nil
	}
	return s, nil
}

// dedupe drops empty and repeated strings, keeping the first occurrence.
func dedupe(items []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range items {
		s = strings.TrimSpace(s)
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

var errNoRecords = errors.New("no records")
