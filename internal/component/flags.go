package component

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// BindFlags adds one flag to fs for every distinct `flag` tag over the
// kinds of r (kinds that share a flag name share the flag; its help names
// them). Flags already in fs are left alone, so a command may declare one
// itself. Only the flags a user sets reach a config (FromFlags): a kind's
// defaults come from its Default, never from a flag's zero value.
func (r *Registry[T, D]) BindFlags(fs *pflag.FlagSet) {
	type use struct {
		kinds []string
		opt   Option
		defs  map[string]string
	}
	uses := map[string]*use{}
	var names []string
	for _, k := range r.Kinds() {
		info, _ := r.Lookup(k)
		for _, o := range info.Options {
			if o.Flag == "" {
				continue
			}
			u, ok := uses[o.Flag]
			if !ok {
				u = &use{opt: o, defs: map[string]string{}}
				uses[o.Flag] = u
				names = append(names, o.Flag)
			}
			u.kinds = append(u.kinds, k)
			u.defs[k] = o.Default
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if fs.Lookup(name) != nil {
			continue
		}
		u := uses[name]
		help := strings.Join(u.kinds, ", ") + ": " + u.opt.Doc
		var other []string
		for _, k := range u.kinds[1:] {
			if u.defs[k] != u.opt.Default {
				other = append(other, fmt.Sprintf("%s %s", k, u.defs[k]))
			}
		}
		if len(other) > 0 {
			help += " (default for " + strings.Join(other, ", ") + ")"
		}
		def := u.opt.Default
		switch u.opt.Type {
		case "int":
			var v int
			fmt.Sscan(def, &v)
			fs.Int(name, v, help)
		case "int64":
			var v int64
			fmt.Sscan(def, &v)
			fs.Int64(name, v, help)
		case "float64":
			var v float64
			fmt.Sscan(def, &v)
			fs.Float64(name, v, help)
		case "bool":
			fs.Bool(name, def == "true", help)
		case "time.Duration":
			d, _ := time.ParseDuration(def)
			fs.Duration(name, d, help)
		case "[]string":
			var v []string
			if def != "" {
				v = strings.Split(def, ",")
			}
			fs.StringSlice(name, v, help)
		default:
			fs.String(name, def, help)
		}
	}
}

// FromFlags returns the options of kind that were set on the command line,
// for Decode. A set flag that belongs only to other kinds is an error, so
// that --base-url with --backend sim is not silently ignored.
func (r *Registry[T, D]) FromFlags(fs *pflag.FlagSet, kind string) (map[string]any, error) {
	info, ok := r.Lookup(kind)
	if !ok {
		return nil, r.UnknownKind(kind)
	}
	mine := map[string]Option{}
	for _, o := range info.Options {
		if o.Flag != "" {
			mine[o.Flag] = o
		}
	}
	set := map[string]any{}
	for _, k := range r.Kinds() {
		other, _ := r.Lookup(k)
		for _, o := range other.Options {
			if o.Flag == "" || !fs.Changed(o.Flag) {
				continue
			}
			m, ok := mine[o.Flag]
			if !ok {
				return nil, fmt.Errorf("--%s is an option of %s kind %s, not of %s", o.Flag, r.seam, k, kind)
			}
			if m.Type == "[]string" {
				v, _ := fs.GetStringSlice(o.Flag)
				set[m.Key] = v
			} else {
				set[m.Key] = Text(fs.Lookup(o.Flag).Value.String())
			}
		}
	}
	return set, nil
}

// Describe lists the kinds with their docs, for a flag's help.
func (r *Registry[T, D]) Describe() string {
	var parts []string
	for _, k := range r.Kinds() {
		info, _ := r.Lookup(k)
		if info.Doc != "" {
			parts = append(parts, k+" ("+info.Doc+")")
		} else {
			parts = append(parts, k)
		}
	}
	return strings.Join(parts, ", ")
}

// Markdown documents the registry's kinds and their options: one table
// per kind (option key, flag, type, default, doc). docs/config.md holds
// it, and a test fails when the file and the registry disagree.
func (r *Registry[T, D]) Markdown() string {
	var b strings.Builder
	for _, k := range r.Kinds() {
		info, _ := r.Lookup(k)
		fmt.Fprintf(&b, "### %s kind `%s`\n\n%s", r.seam, k, info.Doc)
		if len(info.Traits) > 0 {
			fmt.Fprintf(&b, " (traits: %s)", strings.Join(info.Traits, ", "))
		}
		b.WriteString("\n\n")
		if len(info.Options) == 0 {
			b.WriteString("No options.\n\n")
			continue
		}
		b.WriteString("| option | flag | type | default | meaning |\n| --- | --- | --- | --- | --- |\n")
		for _, o := range info.Options {
			flag := ""
			if o.Flag != "" {
				flag = "`--" + o.Flag + "`"
			}
			def := o.Default
			if def != "" {
				def = "`" + def + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", o.Key, flag, o.Type, def, strings.ReplaceAll(o.Doc, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// FlagError renames the options in a kind's error after their flags: a
// Validate that says "openai.base_url must be ..." says "--base-url must
// be ..." on a command line.
func (r *Registry[T, D]) FlagError(kind string, err error) error {
	if err == nil {
		return nil
	}
	info, ok := r.Lookup(kind)
	if !ok {
		return err
	}
	msg := err.Error()
	for _, o := range info.Options {
		if o.Flag == "" {
			continue
		}
		for _, k := range []string{kind + "." + o.Key, r.seam + "." + o.Key} {
			if strings.Contains(msg, k) {
				return fmt.Errorf("--%s %s: %s", r.seam, kind, strings.Replace(msg, k, "--"+o.Flag, 1))
			}
		}
	}
	return fmt.Errorf("--%s %s: %w", r.seam, kind, err)
}
