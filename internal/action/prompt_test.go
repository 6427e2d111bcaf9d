package action

import "testing"

func TestPromptText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"prompt tag", "<reasoning>why</reasoning><prompt> Compute 17*23 in Python. </prompt>", "Compute 17*23 in Python."},
		{"bracket prompt tag", "[PROMPT]Be exact.[/PROMPT]", "Be exact."},
		{"prompt tag keeps code", "<prompt>Start:\n```\n</prompt>\n```\ndone</prompt>", "Start:\n```\n</prompt>\n```\ndone"},
		{"plain text", "  Compute the product exactly and print it.  ", "Compute the product exactly and print it."},
		{"text without think and reasoning",
			"<think>hmm</think><reasoning>why</reasoning>\nCheck the units carefully.", "Check the units carefully."},
		{"text without template-opened think", "so...</think>Check the units.", "Check the units."},
		{"text without tags", "<response>Check <b>every</b> step.</response>", "Check every step."},
		{"stray action dropped with its content", "<action>set_prompt</action>Check every step.", "Check every step."},
		{"comparisons survive", "Return a < b and b > c.", "Return a < b and b > c."},
		{"code keeps its tags", "Use:\n```\n<b>x</b>\n```", "Use:\n```\n<b>x</b>\n```"},
		{"prompt tag in code is not used", "```\n<prompt>x</prompt>\n```\nReal text.", "```\n<prompt>x</prompt>\n```\nReal text."},
		{"empty", "<think>only thinking</think>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PromptText(tt.in); got != tt.want {
				t.Errorf("PromptText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
