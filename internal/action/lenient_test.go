package action

import (
	"strings"
	"testing"
)

var lenientOn = Options{Lenient: true, Operators: library}

func TestLenientReadsFinishingPhrasesAsFinish(t *testing.T) {
	for _, reply := range []string{
		"Let's finish.",
		"let’s finish here",
		"LET US FINISH",
		"Everything checks out, so I will finish.",
		"I'll finish now.",
		"We can finish: the answer is formatted.",
		"Ready to finish.",
		"Time to finish the workflow.",
		"The workflow is complete.",
		"The  workflow\tis now complete",
		"The workflow is done!",
		"Our workflow is finished; Programmer and Review did their job.",
		"<reasoning>Format is in place.</reasoning>\nThe workflow is complete.",
	} {
		a := mustParse(t, reply, lenientOn)
		same(t, a, Action{Kind: Finish, Position: -1, Lenient: true})
	}
}

func TestLenientDoesNotFinishOnHedgedPhrases(t *testing.T) {
	for _, reply := range []string{
		"I will not finish the workflow yet",
		"We shouldn't finish the workflow before adding Test and Format",
		"Once Test passes the workflow is complete",
		"If the workflow is done, stop",
		"Should I finish the workflow?",
		"I can't finish now",
		"Before we finish the workflow I want a Review and a Verify",
		"The workflow is not complete",
		"finishing touches are needed",
	} {
		if a, err := Parse(reply, lenientOn); err == nil && a.Kind == Finish {
			t.Errorf("%q read as finish", reply)
		}
	}
}

func TestLenientReadsOneOperatorNameAsAdd(t *testing.T) {
	for _, reply := range []string{
		"Next I add a programmer to compute it.",
		"PROGRAMMER",
		"Programmer, then Programmer's output gets checked later by programmer.",
		"<operator>Programmer</operator>",
		"Next: Programmer\n```\nReview ? Revise : done\n```",
	} {
		a := mustParse(t, reply, lenientOn)
		same(t, a, Action{Kind: Add, Operator: "Programmer", Position: -1, Lenient: true})
	}
}

func TestLenientMatchesWholeWordsOnly(t *testing.T) {
	_, err := Parse("Programmers are testing; reviews follow.", lenientOn)
	wantReason(t, err, "no <action> tag found")
}

func TestLenientRefusesSeveralOperatorNames(t *testing.T) {
	_, err := Parse("Add Programmer and then Review.", lenientOn)
	e := wantReason(t, err, "no <action> tag found and the text names several operators (Programmer, Review)")
	if !strings.Contains(e.Fix, "<action>add</action>") {
		t.Errorf("Fix = %q", e.Fix)
	}
}

func TestLenientRefusesTextWithoutPhraseOrName(t *testing.T) {
	_, err := Parse("Hmm, not sure.", lenientOn)
	wantReason(t, err, "no <action> tag found")
}

func TestLenientOffRefusesReplyWithoutActionTag(t *testing.T) {
	for _, reply := range []string{"Let's finish.", "Add Programmer."} {
		_, err := Parse(reply, Options{Operators: library})
		wantReason(t, err, "no <action> tag found")
	}
}

func TestLenientIsNotUsedWhenAnActionTagExists(t *testing.T) {
	for _, reply := range []string{
		"Let's finish. <action>add</action><operator>Format</operator>",
		"<action>add</action>Programmer",
		"<action>finish. Programmer",
	} {
		a, err := Parse(reply, lenientOn)
		if a.Lenient {
			t.Errorf("%q: lenient action %+v (err %v)", reply, a, err)
		}
	}
}

func TestLenientKeepsTheReflection(t *testing.T) {
	a := mustParse(t, "<think>all good</think>The workflow is complete.", lenientOn)
	if a.Reasoning != "all good" || a.Kind != Finish {
		t.Errorf("got %+v", a)
	}
}
