package task

import "testing"

func TestExtractCodePrefersFencedCodeOverAnAnswerTagWithoutCode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"```python\nprint(6 * 7)\n```\n<answer>42</answer>", "print(6 * 7)"},
		{"<answer>```python\ndef f():\n    return 1\n```</answer>", "def f():\n    return 1"},
		{"<answer>def f(): return 2</answer>", "def f(): return 2"},
	}
	for _, c := range cases {
		if got := ExtractCode(c.in); got != c.want && got != c.want+"\n" {
			t.Errorf("ExtractCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestAnswerTagOffsetsSurviveCaseFoldingThatChangesLength(t *testing.T) {
	// "İ" lower-cases to two runes of three bytes: offsets taken from a
	// lower-cased copy would cut the wrong bytes.
	got, ok := lastAnswerTag("İİİİ <ANSWER>Paris</Answer> tail")
	if !ok || got != "Paris" {
		t.Fatalf("lastAnswerTag = %q, %v", got, ok)
	}
	if got, _ := lastAnswerTag("<answer>1</answer> then <answer>2"); got != "2" {
		t.Fatalf("unclosed last tag = %q", got)
	}
}
