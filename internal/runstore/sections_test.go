package runstore

import (
	"errors"
	"reflect"
	"testing"
)

func TestSectionsKeepOrderAndReplaceByKey(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r1", "r2")
	first := Section{Key: "llm-before-after", Title: "Before / after", Facts: []string{"policy: x"},
		Table: &SectionTable{Header: []string{"metric", "before", "after"}, Rows: [][]string{{"reward", "0.1", "0.2"}}}}
	second := Section{Key: "another", Title: "Another"}
	for _, sec := range []Section{first, second} {
		if err := s.PutSection("r1", sec); err != nil {
			t.Fatalf("PutSection(%q): %v", sec.Key, err)
		}
	}
	replaced := first
	replaced.Facts = []string{"policy: y"}
	if err := s.PutSection("r1", replaced); err != nil {
		t.Fatalf("PutSection(replace): %v", err)
	}
	got, err := s.Sections("r1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Section{replaced, second}; !reflect.DeepEqual(got, want) {
		t.Errorf("Sections = %+v, want %+v (replaced in place, first-added order)", got, want)
	}
	if other, err := s.Sections("r2"); err != nil || len(other) != 0 {
		t.Errorf("Sections(r2) = %v, %v; want none", other, err)
	}
}

func TestPutSectionRefusesBadSections(t *testing.T) {
	s, _ := newStore(t)
	mustCreate(t, s, "r1")
	for name, tc := range map[string]struct {
		run  string
		sec  Section
		want error
	}{
		"missing run":     {"nope", Section{Key: "k", Title: "T"}, ErrNotFound},
		"empty key":       {"r1", Section{Title: "T"}, ErrInvalid},
		"key with spaces": {"r1", Section{Key: "a b", Title: "T"}, ErrInvalid},
		"upper-case key":  {"r1", Section{Key: "Key", Title: "T"}, ErrInvalid},
		"empty title":     {"r1", Section{Key: "k"}, ErrInvalid},
		"no header":       {"r1", Section{Key: "k", Title: "T", Table: &SectionTable{Rows: [][]string{{"a"}}}}, ErrInvalid},
		"ragged row":      {"r1", Section{Key: "k", Title: "T", Table: &SectionTable{Header: []string{"a", "b"}, Rows: [][]string{{"1"}}}}, ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.PutSection(tc.run, tc.sec); !errors.Is(err, tc.want) {
				t.Errorf("PutSection = %v, want %v", err, tc.want)
			}
		})
	}
	if got, _ := s.Sections("r1"); len(got) != 0 {
		t.Errorf("refused sections were stored: %+v", got)
	}
}
