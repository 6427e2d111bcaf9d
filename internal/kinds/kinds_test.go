package kinds

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/config.md's generated part from the registries")

const (
	beginMarker = "<!-- BEGIN GENERATED: go test ./internal/kinds -update -->"
	endMarker   = "<!-- END GENERATED -->"
)

// docs/config.md lists every registered kind and option, as the
// registries describe them: a kind or an option added without its docs
// fails here (go test ./internal/kinds -update rewrites the part).
func TestConfigDocsListEveryKindAndOption(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "config.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated part between %q and %q", path, beginMarker, endMarker)
	}
	want := beginMarker + "\n\n" + Markdown() + endMarker
	got := doc[i : j+len(endMarker)]
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc[:i]+want+doc[j+len(endMarker):]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale: its kinds and options differ from the registries; run go test ./internal/kinds -update", path)
}
