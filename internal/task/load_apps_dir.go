package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// APPS as released (hendrycks/apps, APPS.tar.gz): one directory per problem,
// e.g. test/0000/, holding question.txt, input_output.json, solutions.json,
// metadata.json ({"difficulty", "url"}) and, for call-based problems,
// starter_code.py. Load reads such a tree when it finds question.txt files
// below the path (the path itself may be one problem's directory).

// appsProblemDirs lists the directories under root that hold question.txt,
// in lexical order; none means root is not an APPS tree.
func appsProblemDirs(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && d.Name() == "question.txt" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	sort.Strings(dirs)
	return dirs, err
}

// loadAPPSDirs turns each problem directory into the record convAPPS reads
// (the field names of the converted release: question, input_output,
// solutions, starter_code, difficulty) so one converter serves both forms.
// Ids are "apps-" plus the directory below root ("apps-0000", or
// "apps-test/0000" when root holds train/ and test/).
func loadAPPSDirs(root string, dirs []string) ([]Task, error) {
	out := make([]Task, 0, len(dirs))
	for _, dir := range dirs {
		rel, err := filepath.Rel(root, dir)
		if err != nil || rel == "." {
			rel = filepath.Base(dir)
		}
		fields := map[string]json.RawMessage{}
		read := func(name string) ([]byte, bool, error) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, fs.ErrNotExist) {
				return nil, false, nil
			}
			return b, err == nil, err
		}
		fail := func(name string, err error) error {
			return &LoadError{File: filepath.Join(dir, name), Err: err}
		}
		q, _, err := read("question.txt")
		if err != nil {
			return nil, fail("question.txt", err)
		}
		fields["question"], _ = json.Marshal(string(q))
		for _, name := range []string{"input_output.json", "solutions.json"} {
			b, ok, err := read(name)
			if err != nil {
				return nil, fail(name, err)
			}
			if !ok {
				continue
			}
			if !json.Valid(b) {
				return nil, fail(name, errors.New("invalid JSON"))
			}
			fields[strings.TrimSuffix(name, ".json")] = json.RawMessage(b)
		}
		if !hasField(fields, "input_output") {
			return nil, fail("input_output.json", errors.New("missing: the problem has no tests (APPS ships some training problems without them; leave them out)"))
		}
		if b, ok, err := read("starter_code.py"); err != nil {
			return nil, fail("starter_code.py", err)
		} else if ok {
			fields["starter_code"], _ = json.Marshal(string(b))
		}
		if b, ok, err := read("metadata.json"); err != nil {
			return nil, fail("metadata.json", err)
		} else if ok {
			var md struct {
				Difficulty string `json:"difficulty"`
			}
			if err := json.Unmarshal(b, &md); err != nil {
				return nil, fail("metadata.json", fmt.Errorf("invalid JSON: %w", err))
			}
			if md.Difficulty != "" {
				fields["difficulty"], _ = json.Marshal(md.Difficulty)
			}
		}
		t, err := convAPPS(rec{format: FormatAPPS, f: fields, defID: "apps-" + filepath.ToSlash(rel)})
		if err != nil {
			return nil, &LoadError{File: dir, Err: err}
		}
		out = append(out, t)
	}
	return out, nil
}

func hasField(f map[string]json.RawMessage, name string) bool {
	v, ok := f[name]
	return ok && jsonKind(v) != "null"
}
