package action

// Error is why a reply or an action was refused, phrased for the policy:
// Reason names the problem and Fix says what to write instead. The canvas
// shows both as feedback, which is how a policy learns the action format.
type Error struct {
	Reason string
	Fix    string
}

func (e *Error) Error() string {
	if e.Fix == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Fix
}

func errorf(reason, fix string) *Error { return &Error{Reason: reason, Fix: fix} }

// Examples used in Fix texts, one per tag, so every hint shows the exact
// syntax the parser accepts.
var tagExample = map[string]string{
	"action":    "<action>add</action><operator>Programmer</operator>",
	"operator":  "<operator>Programmer</operator>",
	"operators": "<operators>Programmer, Custom, AnswerGenerate</operators>",
	"structure": "<structure>parallel</structure>",
	"condition": "<condition>Review</condition>",
	"true":      "<true>Revise</true>",
	"false":     "<false>done</false>",
	"count":     "<count>3</count>",
	"position":  "<position>0</position>",
	"target":    "<target>node_3</target>",
	"prompt":    "<prompt>Write and run Python that computes the answer exactly.</prompt>",
	"answer":    "<answer>42</answer>",
}

const kindsFix = "use one of add, delete, modify, set_prompt, finish, e.g. <action>delete</action><target>node_3</target>"
