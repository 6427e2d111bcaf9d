package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"
)

// problem is one finding about one object (or the whole build when obj is
// nil).
type problem struct {
	dir   string
	obj   *object
	field string // JSON pointer into the object, "" for the object itself
	msg   string
}

func (p problem) String() string {
	s := p.dir + ": "
	if p.obj != nil {
		s += p.obj.ref() + ": "
	}
	if p.field != "" {
		s += p.field + ": "
	}
	return s + p.msg
}

type report struct {
	objects  []object
	problems []problem
}

type checker struct {
	versions   []string
	validators []validator.Validator
}

func newChecker(schemas string, versions []string) (*checker, error) {
	abs, err := filepath.Abs(schemas)
	if err != nil {
		return nil, err
	}
	loc := filepath.Join(abs, "{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}", "{{ .ResourceKind }}{{ .KindSuffix }}.json")
	c := &checker{versions: versions}
	for _, v := range versions {
		if _, err := os.Stat(filepath.Join(versionDir(abs, v), "_definitions.json")); err != nil {
			return nil, fmt.Errorf("no schemas for Kubernetes %s under %s", v, abs)
		}
		val, err := validator.New([]string{loc}, validator.Opts{
			KubernetesVersion: v,
			// Unknown fields and duplicate keys are errors, and an object
			// without a schema (a typo in apiVersion or kind) fails rather
			// than being skipped.
			Strict:               true,
			IgnoreMissingSchemas: false,
		})
		if err != nil {
			return nil, err
		}
		c.validators = append(c.validators, val)
	}
	return c, nil
}

// checkDir renders dir and runs every check on the result.
func (c *checker) checkDir(dir string) report {
	objs, err := render(dir)
	if err != nil {
		return report{problems: []problem{{dir: dir, msg: err.Error()}}}
	}
	rep := report{objects: objs}
	add := func(o *object, field, msg string) {
		rep.problems = append(rep.problems, problem{dir: dir, obj: o, field: field, msg: msg})
	}
	if len(objs) == 0 {
		add(nil, "", "the kustomization renders no objects")
	}
	for i := range objs {
		o := &objs[i]
		c.validateSchema(o, add)
		checkPolicy(o, add)
	}
	checkRefs(objs, add)
	return rep
}

// validateSchema runs kubeconform on o for each Kubernetes version; an
// error found for several versions is reported once, naming them.
func (c *checker) validateSchema(o *object, add func(*object, string, string)) {
	type finding struct{ field, msg string }
	var order []finding
	seen := map[finding][]string{}
	for i, val := range c.validators {
		res := val.ValidateResource(resource.Resource{Path: o.origin, Bytes: o.yaml})
		var fs []finding
		switch res.Status {
		case validator.Valid:
		case validator.Invalid:
			// kubeconform lists the top-level causes only ("/spec:
			// validation failed"); the error text holds the whole tree.
			for _, l := range errorLeaves(res.Err) {
				fs = append(fs, finding{l[0], l[1]})
			}
			if len(fs) == 0 {
				for _, ve := range res.ValidationErrors {
					fs = append(fs, finding{ve.Path, ve.Msg})
				}
			}
			if len(fs) == 0 {
				fs = append(fs, finding{"", fmt.Sprint(res.Err)})
			}
		case validator.Error:
			fs = append(fs, finding{"", fmt.Sprint(res.Err)})
		case validator.Empty:
			fs = append(fs, finding{"", "empty object"})
		case validator.Skipped:
			fs = append(fs, finding{"", "skipped by the validator (no schema used)"})
		}
		for _, f := range fs {
			f.msg = normalize(f.msg)
			if _, ok := seen[f]; !ok {
				order = append(order, f)
			}
			seen[f] = append(seen[f], c.versions[i])
		}
	}
	for _, f := range order {
		field := f.field
		if field == "" && strings.Contains(f.msg, "could not find schema") {
			field = "/kind"
		}
		add(o, field, f.msg+" [schema, Kubernetes "+strings.Join(seen[f], ", ")+"]")
	}
}

// additionalRE matches jsonschema's "additional properties 'a', 'b' not
// allowed", whose order follows a map's.
var additionalRE = regexp.MustCompile(`^additional properties (.*) not allowed$`)

// normalize makes a message the same from run to run and version to
// version.
func normalize(msg string) string {
	if m := additionalRE.FindStringSubmatch(msg); m != nil {
		names := strings.Split(m[1], ", ")
		sort.Strings(names)
		return "additional properties " + strings.Join(names, ", ") + " not allowed"
	}
	return msg
}

// leafRE matches one "at '/json/pointer': message" entry of a jsonschema
// error as kubeconform prints it (the tree on one line).
var leafRE = regexp.MustCompile(`at '([^']*)': (.*?)(?:\s+-\s+at '|$)`)

// errorLeaves extracts [pointer, message] pairs from a validation error,
// dropping a generic "validation failed" entry whose field has a more
// precise one below it.
func errorLeaves(err error) [][2]string {
	if err == nil {
		return nil
	}
	text := err.Error()
	var all [][2]string
	for i := 0; i < len(text); {
		m := leafRE.FindStringSubmatchIndex(text[i:])
		if m == nil {
			break
		}
		all = append(all, [2]string{text[i+m[2] : i+m[3]], strings.TrimSpace(text[i+m[4] : i+m[5]])})
		i += m[5]
	}
	var out [][2]string
	for _, a := range all {
		generic := a[1] == "validation failed" || strings.HasPrefix(a[1], "oneOf failed") || strings.HasPrefix(a[1], "anyOf failed")
		deeper := false
		for _, b := range all {
			if b != a && (b[0] == a[0] || strings.HasPrefix(b[0], a[0]+"/")) && b[1] != a[1] {
				deeper = true
			}
		}
		if generic && deeper {
			continue
		}
		out = append(out, a)
	}
	return out
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
