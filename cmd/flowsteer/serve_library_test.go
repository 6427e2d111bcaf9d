package main

import (
	"strings"
	"testing"
)

// --operator-library NAME=ADDR is sugar for a library of kind remote,
// decoded through operator.Libraries like any other spec.
func TestOperatorLibraryFlagIsARemoteLibrarySpec(t *testing.T) {
	specs, err := librarySpecs([]string{"team=127.0.0.1:50060", "b=dns:///ops:50060"})
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || specs[0].Name != "team" || specs[0].Kind != "remote" || specs[0].Options["addr"] != "127.0.0.1:50060" || specs[1].Options["addr"] != "dns:///ops:50060" {
		t.Errorf("specs %+v", specs)
	}
	for _, bad := range [][]string{{"team"}, {"=127.0.0.1:1"}, {"team="}, {"a=x:1", "a=y:2"}} {
		if _, err := librarySpecs(bad); err == nil || !strings.Contains(err.Error(), "--operator-library") {
			t.Errorf("%q: %v, want an error naming --operator-library", bad, err)
		}
	}
}
