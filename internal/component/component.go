// Package component holds the factories of flowsteer's pluggable parts:
// executor backends, policies, operator libraries, run stores, reward
// kinds. It follows the OpenTelemetry Collector: every kind of a seam is a
// Factory with a kind name, a typed config that has defaults and its own
// Validate, and a constructor, registered once in the seam's Registry.
// Every entry point (CLI flags, YAML run configs, TrainerService requests)
// decodes a kind and its options through that registry, so the kinds and
// their options are the same everywhere, and help texts and docs/config.md
// list them from it.
//
// A kind is one file in the package that owns its seam:
//
//	func init() {
//		component.Register(executor.Backends, component.Factory[Config, executor.Backend, executor.Deps]{
//			Kind: "sim", Doc: "offline simulated executor",
//			Default: DefaultConfig,
//			Create:  func(ctx context.Context, c Config, d executor.Deps) (executor.Backend, error) { ... },
//		})
//	}
//
// A config's options are its exported fields with a `yaml` tag; a `doc`
// tag describes one for help and docs, and a `flag` tag names its
// command-line flag (flags of several kinds may share a name, such as
// --temperature). Option values are scalars, durations or string lists.
package component

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Config is a kind's typed configuration.
type Config interface {
	// Validate names the first bad option.
	Validate() error
}

// Factory makes the kind named Kind of a seam whose parts are T, from a
// config C and the dependencies D the entry point provides (a seed, a
// context dialer, a closer list: whatever the seam's callers share).
type Factory[C Config, T, D any] struct {
	Kind string
	// Doc is one line for help texts and docs/config.md.
	Doc string
	// Default returns the config with every option at its default.
	Default func() C
	// Create builds the part; c has passed Validate.
	Create func(ctx context.Context, c C, deps D) (T, error)
	// Traits are seam-specific facts about the kind that entry points
	// check without creating it (e.g. policy.TraitLearns).
	Traits []string
}

// Option describes one option of a kind, read from its config's fields.
type Option struct {
	Key     string // YAML key
	Flag    string // command-line flag name ("" = none)
	Type    string // Go type, e.g. "string", "int", "time.Duration"
	Default string // the default, as text
	Doc     string
	// Vet says what a server must check before it accepts the option
	// from a client (the `vet` tag): "file" names a file on its machine,
	// "addr" a network address ("" = nothing).
	Vet   string
	field int
}

// Registry holds the factories of one seam. Safe for concurrent use; kinds
// are registered from init functions.
type Registry[T, D any] struct {
	seam  string
	mu    sync.RWMutex
	kinds map[string]*entry[T, D]
}

type entry[T, D any] struct {
	kind, doc string
	traits    []string
	typ       reflect.Type
	def       func() Config
	create    func(context.Context, Config, D) (T, error)
	options   []Option
}

// NewRegistry returns an empty registry; seam names it in errors
// ("backend kind \"x\" ...").
func NewRegistry[T, D any](seam string) *Registry[T, D] {
	return &Registry[T, D]{seam: seam, kinds: map[string]*entry[T, D]{}}
}

// Seam is the name given to NewRegistry.
func (r *Registry[T, D]) Seam() string { return r.seam }

// Register adds f to r. A kind registered twice, an empty kind, a missing
// Default or Create, or a config that is not a struct is a programming
// error and panics, as http.Handle does.
func Register[C Config, T, D any](r *Registry[T, D], f Factory[C, T, D]) {
	if err := TryRegister(r, f); err != nil {
		panic(err)
	}
}

// TryRegister is Register returning the error instead of panicking.
func TryRegister[C Config, T, D any](r *Registry[T, D], f Factory[C, T, D]) error {
	if strings.TrimSpace(f.Kind) == "" || strings.ContainsAny(f.Kind, " :") {
		return fmt.Errorf("%s kind %q: a kind is a non-empty name without spaces or colons", r.seam, f.Kind)
	}
	if f.Default == nil || f.Create == nil {
		return fmt.Errorf("%s kind %q: Default and Create are required", r.seam, f.Kind)
	}
	typ := reflect.TypeOf(f.Default())
	if typ == nil || typ.Kind() != reflect.Struct {
		return fmt.Errorf("%s kind %q: its config must be a struct, got %v", r.seam, f.Kind, typ)
	}
	opts, err := options(f.Default())
	if err != nil {
		return fmt.Errorf("%s kind %q: %w", r.seam, f.Kind, err)
	}
	e := &entry[T, D]{
		kind: f.Kind, doc: f.Doc, traits: f.Traits, typ: typ, options: opts,
		def: func() Config { return f.Default() },
		create: func(ctx context.Context, c Config, d D) (T, error) {
			tc, ok := c.(C)
			if !ok {
				var zero T
				return zero, fmt.Errorf("%s kind %q: config is %T, want %v", r.seam, f.Kind, c, typ)
			}
			return f.Create(ctx, tc, d)
		},
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.kinds[f.Kind]; dup {
		return fmt.Errorf("%s kind %q is already registered", r.seam, f.Kind)
	}
	r.kinds[f.Kind] = e
	return nil
}

// Kinds lists the registered kinds, sorted.
func (r *Registry[T, D]) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KindInfo describes a registered kind.
type KindInfo struct {
	Kind    string
	Doc     string
	Traits  []string
	Options []Option
}

// HasTrait reports whether the kind declared trait t.
func (k KindInfo) HasTrait(t string) bool {
	for _, x := range k.Traits {
		if x == t {
			return true
		}
	}
	return false
}

// Lookup describes kind; ok is false when it is not registered.
func (r *Registry[T, D]) Lookup(kind string) (KindInfo, bool) {
	e, ok := r.get(kind)
	if !ok {
		return KindInfo{}, false
	}
	return KindInfo{Kind: e.kind, Doc: e.doc, Traits: e.traits, Options: append([]Option(nil), e.options...)}, true
}

func (r *Registry[T, D]) get(kind string) (*entry[T, D], bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.kinds[kind]
	return e, ok
}

// UnknownKind is the error for a kind that is not registered; it lists the
// ones that are.
func (r *Registry[T, D]) UnknownKind(kind string) error {
	return fmt.Errorf("%s kind %q is not one of %s", r.seam, kind, strings.Join(r.Kinds(), ", "))
}

// Default returns kind's config with every option at its default.
func (r *Registry[T, D]) Default(kind string) (Config, error) {
	e, ok := r.get(kind)
	if !ok {
		return nil, r.UnknownKind(kind)
	}
	return e.def(), nil
}

// Decode returns kind's config: the defaults with the options in set
// applied, then validated. set maps option keys to values: Go values of
// the field's type, or text as a YAML scalar would read ("30s", "4",
// "true"). A key the kind does not have is an error naming it and the
// kind's options.
func (r *Registry[T, D]) Decode(kind string, set map[string]any) (Config, error) {
	e, ok := r.get(kind)
	if !ok {
		return nil, r.UnknownKind(kind)
	}
	ptr := reflect.New(e.typ)
	ptr.Elem().Set(reflect.ValueOf(e.def()))
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := findOption(e.options, k)
		if !ok {
			return nil, fmt.Errorf("%s kind %s has no option %q (its options: %s)", r.seam, kind, k, optionKeys(e.options))
		}
		var n yaml.Node
		if s, isText := set[k].(Text); isText {
			n = yaml.Node{Kind: yaml.ScalarNode, Value: string(s)}
		} else if err := n.Encode(set[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if err := n.Decode(ptr.Elem().Field(o.field).Addr().Interface()); err != nil {
			return nil, fmt.Errorf("%s (%s kind %s): %w", k, r.seam, kind, err)
		}
	}
	c := ptr.Elem().Interface().(Config)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Create builds kind from c (from Decode or Default) and deps.
func (r *Registry[T, D]) Create(ctx context.Context, kind string, c Config, deps D) (T, error) {
	e, ok := r.get(kind)
	if !ok {
		var zero T
		return zero, r.UnknownKind(kind)
	}
	return e.create(ctx, c, deps)
}

// Text is an option value given as text (a flag, a proto string map):
// Decode reads it as a plain YAML scalar, so "30s" fills a duration and
// "4" an int.
type Text string

func findOption(opts []Option, key string) (Option, bool) {
	for _, o := range opts {
		if o.Key == key {
			return o, true
		}
	}
	return Option{}, false
}

func optionKeys(opts []Option) string {
	if len(opts) == 0 {
		return "none"
	}
	ks := make([]string, len(opts))
	for i, o := range opts {
		ks[i] = o.Key
	}
	return strings.Join(ks, ", ")
}

// options reads a config's options from its struct fields.
func options(def any) ([]Option, error) {
	v := reflect.ValueOf(def)
	t := v.Type()
	var out []Option
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		out = append(out, Option{Key: tag, Flag: f.Tag.Get("flag"), Type: f.Type.String(), Default: text(v.Field(i)), Doc: f.Tag.Get("doc"), Vet: f.Tag.Get("vet"), field: i})
	}
	return out, nil
}

func text(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v.Interface())
}

// Changed returns the keys of a YAML section (a struct, possibly with an
// inline map of further options) whose values differ from def's, except
// the keys in skip: the options a config file set, for Decode. Keys a
// section always writes (fields kept for older files) then count only
// where they were changed.
func Changed(cur, def any, skip ...string) (map[string]any, error) {
	toMap := func(v any) (map[string]any, error) {
		b, err := yaml.Marshal(v)
		if err != nil {
			return nil, err
		}
		m := map[string]any{}
		return m, yaml.Unmarshal(b, &m)
	}
	c, err := toMap(cur)
	if err != nil {
		return nil, err
	}
	d, err := toMap(def)
	if err != nil {
		return nil, err
	}
	for _, k := range skip {
		delete(c, k)
	}
	for k, v := range c {
		if dv, ok := d[k]; ok && reflect.DeepEqual(dv, v) {
			delete(c, k)
		}
	}
	return c, nil
}
