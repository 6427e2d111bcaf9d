package report

import (
	"strings"
	"testing"

	"github.com/flowsteer/flowsteer/internal/runstore"
)

func TestReportRendersStoredSectionsEscaped(t *testing.T) {
	page := render(t, Data{Run: runstore.Run{ID: "r1"}, Sections: []runstore.Section{
		{Key: "llm-before-after", Title: "Before / after <training>", Facts: []string{"policy: SmolLM2 & LoRA"},
			Table: &runstore.SectionTable{Header: []string{"metric", "eval:llm@0"}, Rows: [][]string{{"mean reward R", "<b>0.1</b>"}}}},
		{Key: "facts-only", Title: "Only facts", Facts: []string{"one line"}},
	}})
	for _, want := range []string{
		`<section id="section-llm-before-after"><h2>Before / after &lt;training&gt;</h2>`,
		`<li>policy: SmolLM2 &amp; LoRA</li>`,
		`<th>eval:llm@0</th>`,
		`<td>mean reward R</td><td>&lt;b&gt;0.1&lt;/b&gt;</td>`,
		`<section id="section-facts-only"><h2>Only facts</h2>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Index(page, "section-llm-before-after") > strings.Index(page, "section-facts-only") {
		t.Error("sections are not in the given order")
	}
	if strings.Contains(page, "<b>0.1</b>") {
		t.Error("a section's cell was not escaped")
	}
}

func TestReportWithoutSectionsHasNoSectionElement(t *testing.T) {
	if page := render(t, Data{}); strings.Contains(page, "<section") {
		t.Error("a run without sections renders a <section>")
	}
}
