// Package action holds the one edit a policy makes per turn and the parser
// that reads it out of the policy's reply.
//
// Data path: a policy (usually a language model) writes a reply with a short
// reflection and one action in XML-like tags; Parse turns that reply into an
// Action; the canvas (internal/canvas) validates the Action against its
// operator library and applies it to the workflow graph. A reply that cannot
// be parsed yields an *Error whose Reason and Fix the canvas hands back to the
// policy as feedback, so a bad reply costs a turn but never an episode.
//
//	a, err := action.Parse(reply, action.Options{Lenient: true, Operators: names})
//	if err != nil {
//		var e *action.Error
//		errors.As(err, &e) // e.Reason, e.Fix: feedback for the policy
//	}
//
// The package knows nothing of any operator library: names are kept as the
// policy wrote them and Validate checks only the shape of an action. The
// one place a library leaks in is Options.Operators, which the lenient
// fallback needs to recognise a bare operator name.
//
// # Reading rules
//
// The grammar is SPEC section 4. Choices the SPEC leaves open:
//
//   - Tags are matched case-insensitively in both <tag>...</tag> and
//     [tag]...[/tag] form, and an opening and closing tag may use different
//     brackets. A tag has no spaces or attributes inside its brackets.
//   - Fenced code is any run of three or more backticks (or tildes) up to the
//     next such run of the same character, wherever it sits on a line;
//     language models often open or close fences mid-line. A fence that is
//     never closed is not a fence, because a stray ``` must not hide the real
//     action that follows it. Tags inside fences are ignored, but the content
//     of a tag found outside them is taken from the original text, so a
//     <prompt> keeps its code blocks.
//   - Tags with the same name do not nest: an opening tag pairs with the next
//     tag of its name if that is a closing one, and is plain text otherwise
//     (so "I'll add an <operator> now" in free text does no harm). The content
//     of every tag except <action> is opaque: tags inside a <prompt> or a
//     <reasoning> are text.
//   - Only the first <action> counts. The other tags of that action are
//     looked up in the text after its opening tag up to the next <action>,
//     and then, for tags not found there, in the text before it, so that a
//     policy that writes <operator> before <action> is still understood while
//     tags after the action win over examples quoted in the reflection.
//   - A <think> block (the model's own reasoning) is removed before any tag
//     is looked for; see StripThink.
//   - Invalid UTF-8 in a reply is replaced with U+FFFD so that every string in
//     an Action is valid UTF-8 (actions travel in protobuf strings).
//   - Replies over MaxReplyBytes are refused unread; everything else is read
//     in time linear in its length.
//
// The lenient fallback (Options.Lenient) for replies with no <action> tag is
// described in lenient.go.
package action
