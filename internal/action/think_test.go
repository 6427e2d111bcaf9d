package action

import "testing"

func TestStripThink(t *testing.T) {
	tests := []struct {
		name, in, reasoning, rest string
	}{
		{"no think", "  <action>finish</action> ", "", "  <action>finish</action> "},
		{"leading block", "<think>\nplan\n</think>\n<action>finish</action>", "plan", "<action>finish</action>"},
		{"any case", "<THINK>plan</Think>rest", "plan", "rest"},
		{"several blocks", "<think>a</think>x<think>b</think>y", "a\n\nb", "x y"},
		{"template-opened", "plan it\n</think>\nrest", "plan it", "rest"},
		{"unclosed leading runs to the action", "<think>plan\n<action>finish</action>", "plan", "<action>finish</action>"},
		{"unclosed leading runs to a bracket action", "<think>plan [action]finish[/action]", "plan", "[action]finish[/action]"},
		{"unclosed leading without action", "<think>plan forever", "plan forever", ""},
		{"unclosed later tag is dropped", "text <think> more", "", "text   more"},
		{"stray close after a block", "<think>a</think>x</think>y", "a", "x y"},
		{"nested opens stay in the block", "<think>a<think>b</think>c", "a<think>b", "c"},
		{"no new tag where pieces meet", "<thi<think>x</think>nk>", "x", "<thi nk>"},
		{"bracket think is text", "[think]a[/think] b", "", "[think]a[/think] b"},
		{"spaced tag is text", "< think>a</ think>", "", "< think>a</ think>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rest := StripThink(tt.in)
			if r != tt.reasoning || rest != tt.rest {
				t.Errorf("StripThink(%q) = %q, %q; want %q, %q", tt.in, r, rest, tt.reasoning, tt.rest)
			}
		})
	}
}
