package trainer

import (
	"reflect"
	"testing"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// TestConfigCredentialsMatchTheClients guards the one struct the trainer
// config repeats on purpose: trainer.Credentials (canvas.auth, policy.auth)
// mirrors the public client's flowsteer.Credentials, because domain
// packages do not import the public client and the client does not export
// internal types. The conversion in setup.go checks names and types at
// compile time but not the YAML tags, so this test does.
func TestConfigCredentialsMatchTheClients(t *testing.T) {
	cfg, cl := reflect.TypeFor[trainer.Credentials](), reflect.TypeFor[flowsteer.Credentials]()
	if cfg.NumField() != cl.NumField() {
		t.Fatalf("trainer.Credentials has %d fields, flowsteer.Credentials %d", cfg.NumField(), cl.NumField())
	}
	for i := range cfg.NumField() {
		a, b := cfg.Field(i), cl.Field(i)
		if a.Name != b.Name || a.Type != b.Type || a.Tag != b.Tag {
			t.Errorf("field %d: trainer %s %s `%s`, client %s %s `%s`", i, a.Name, a.Type, a.Tag, b.Name, b.Type, b.Tag)
		}
	}
}
