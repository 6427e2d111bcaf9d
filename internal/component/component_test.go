package component

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type widgetConfig struct {
	Size    int           `yaml:"size" flag:"widget-size" doc:"how big"`
	Name    string        `yaml:"name" flag:"name" doc:"what it is called"`
	Timeout time.Duration `yaml:"timeout" doc:"how long"`
	Tags    []string      `yaml:"tags" flag:"tags"`
}

func (c widgetConfig) Validate() error {
	if c.Size < 1 {
		return errors.New("size must be at least 1")
	}
	return nil
}

type gadgetConfig struct {
	Name string `yaml:"name" flag:"name" doc:"its name"`
}

func (gadgetConfig) Validate() error { return nil }

func newTestRegistry(t *testing.T) *Registry[string, int] {
	t.Helper()
	r := NewRegistry[string, int]("thing")
	Register(r, Factory[widgetConfig, string, int]{
		Kind: "widget", Doc: "a widget", Traits: []string{"round"},
		Default: func() widgetConfig { return widgetConfig{Size: 3, Timeout: time.Second} },
		Create: func(_ context.Context, c widgetConfig, d int) (string, error) {
			return strings.Repeat("w", c.Size*d) + c.Name, nil
		},
	})
	Register(r, Factory[gadgetConfig, string, int]{
		Kind: "gadget", Default: func() gadgetConfig { return gadgetConfig{Name: "g"} },
		Create: func(_ context.Context, c gadgetConfig, _ int) (string, error) { return c.Name, nil },
	})
	return r
}

func TestDecodeAppliesDefaultsThenOptionsThenValidates(t *testing.T) {
	r := newTestRegistry(t)
	c, err := r.Decode("widget", map[string]any{"size": Text("2"), "timeout": Text("30s"), "tags": []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	w := c.(widgetConfig)
	if w.Size != 2 || w.Timeout != 30*time.Second || len(w.Tags) != 2 {
		t.Errorf("decoded %+v", w)
	}
	if c, _ := r.Decode("widget", nil); c.(widgetConfig).Size != 3 {
		t.Errorf("defaults not applied: %+v", c)
	}
	if _, err := r.Decode("widget", map[string]any{"size": 0}); err == nil || !strings.Contains(err.Error(), "size") {
		t.Errorf("size 0: %v, want Validate's error", err)
	}
	out, err := r.Create(context.Background(), "widget", w, 2)
	if err != nil || out != "wwww" {
		t.Errorf("Create = %q, %v", out, err)
	}
}

func TestDecodeRefusesUnknownKindsAndOptionsByName(t *testing.T) {
	r := newTestRegistry(t)
	if _, err := r.Decode("widget", map[string]any{"colour": "red"}); err == nil || !strings.Contains(err.Error(), `"colour"`) || !strings.Contains(err.Error(), "size, name, timeout, tags") {
		t.Errorf("unknown option: %v", err)
	}
	if _, err := r.Decode("sprocket", nil); err == nil || !strings.Contains(err.Error(), "gadget, widget") {
		t.Errorf("unknown kind: %v", err)
	}
	if _, err := r.Decode("widget", map[string]any{"size": Text("big")}); err == nil || !strings.Contains(err.Error(), "size") {
		t.Errorf("bad value: %v", err)
	}
	if _, err := r.Create(context.Background(), "widget", gadgetConfig{}, 1); err == nil {
		t.Error("Create accepted another kind's config")
	}
}

func TestRegisterRefusesDuplicatesAndBadFactories(t *testing.T) {
	r := newTestRegistry(t)
	err := TryRegister(r, Factory[gadgetConfig, string, int]{Kind: "gadget", Default: func() gadgetConfig { return gadgetConfig{} },
		Create: func(context.Context, gadgetConfig, int) (string, error) { return "", nil }})
	if err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("duplicate: %v", err)
	}
	if err := TryRegister(r, Factory[gadgetConfig, string, int]{Kind: "no create", Default: func() gadgetConfig { return gadgetConfig{} }}); err == nil {
		t.Error("a factory without Create or with a space in its kind was registered")
	}
	if got := strings.Join(r.Kinds(), ","); got != "gadget,widget" {
		t.Errorf("Kinds = %s", got)
	}
	if info, _ := r.Lookup("widget"); !info.HasTrait("round") || info.Options[0].Default != "3" || info.Options[0].Flag != "widget-size" {
		t.Errorf("Lookup = %+v", info)
	}
}

func TestFlagsAreSharedAndOnlySetOnesReachTheConfig(t *testing.T) {
	r := newTestRegistry(t)
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	r.BindFlags(fs)
	if fs.Lookup("name") == nil || fs.Lookup("widget-size") == nil || !strings.Contains(fs.Lookup("name").Usage, "gadget, widget") {
		t.Fatalf("flags not bound as expected")
	}
	if err := fs.Parse([]string{"--name", "x"}); err != nil {
		t.Fatal(err)
	}
	set, err := r.FromFlags(fs, "gadget")
	if err != nil || len(set) != 1 || set["name"] != Text("x") {
		t.Errorf("gadget: %v, %v", set, err)
	}
	if err := fs.Parse([]string{"--widget-size", "5"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.FromFlags(fs, "gadget"); err == nil || !strings.Contains(err.Error(), "--widget-size") {
		t.Errorf("a widget flag with kind gadget: %v", err)
	}
	set, err = r.FromFlags(fs, "widget")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := r.Decode("widget", set); err != nil || c.(widgetConfig).Size != 5 || c.(widgetConfig).Name != "x" {
		t.Errorf("widget from flags: %+v, %v", c, err)
	}
}

func TestChangedKeepsOnlyWhatDiffersFromTheDefaults(t *testing.T) {
	type section struct {
		Kind  string         `yaml:"kind"`
		Seed  int            `yaml:"seed"`
		Model string         `yaml:"model"`
		More  map[string]any `yaml:",inline"`
	}
	def := section{Kind: "a", Seed: 1}
	got, err := Changed(section{Kind: "b", Seed: 1, Model: "m", More: map[string]any{"x": 2}}, def, "kind")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["model"] != "m" || got["x"] != 2 {
		t.Errorf("Changed = %v", got)
	}
}

func TestFlagErrorNamesTheFlag(t *testing.T) {
	r := newTestRegistry(t)
	err := r.FlagError("widget", errors.New("widget.size must be at least 1"))
	if err == nil || !strings.Contains(err.Error(), "--widget-size must be at least 1") {
		t.Errorf("FlagError = %v", err)
	}
}
