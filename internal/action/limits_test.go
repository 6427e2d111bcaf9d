package action

import (
	"strings"
	"testing"
	"time"
)

// Inputs built to defeat naive scanning: each must parse in well under a
// second at the size limit.
func TestLargeRepliesParseInLinearTime(t *testing.T) {
	fill := func(unit string) string {
		return strings.Repeat(unit, MaxReplyBytes/len(unit))
	}
	cases := map[string]string{
		"opening tags":          fill("<action>"),
		"mixed stray tags":      fill("<operator>[prompt]</true>"),
		"almost tags":           fill("<actio[operato<"),
		"fences":                fill("```~~~`"),
		"unclosed fences":       "```" + fill("~~ "),
		"think opens":           fill("<think>"),
		"think closes":          fill("</think>"),
		"finish phrases":        "not " + fill("let's finish "),
		"operator names":        fill("Programmer "),
		"nested action content": "<action>add" + fill("<count>1</count>")[:MaxReplyBytes-30] + "</action>",
		"markup":                fill("<b"),
		"long reasoning":        "<reasoning>" + fill("x")[:MaxReplyBytes-100] + "</reasoning><action>finish</action>",
	}
	for name, reply := range cases {
		t.Run(name, func(t *testing.T) {
			if len(reply) > MaxReplyBytes {
				reply = reply[:MaxReplyBytes]
			}
			start := time.Now()
			for _, lenient := range []bool{false, true} {
				_, _ = Parse(reply, Options{Lenient: lenient, Operators: library})
			}
			_ = PromptText(reply)
			_, _ = StripThink(reply)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}
