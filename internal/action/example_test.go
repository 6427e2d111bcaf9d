package action_test

import (
	"errors"
	"fmt"

	"github.com/flowsteer/flowsteer/internal/action"
)

func ExampleParse() {
	reply := `<reasoning>Several samples, then a vote.</reasoning>
<action>add</action><structure>parallel</structure><operators>Programmer, Custom, AnswerGenerate</operators>`
	a, err := action.Parse(reply, action.Options{Lenient: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(a)
	fmt.Println(a.Reasoning)

	_, err = action.Parse(`<action>add</action><structure>loop</structure><operators>Review</operators><count>three</count>`,
		action.Options{})
	var e *action.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason)
		fmt.Println(e.Fix)
	}
	// Output:
	// add parallel [Programmer, Custom, AnswerGenerate]
	// Several samples, then a vote.
	// <count> must be an integer, got 'three'
	// write <count>3</count>
}

func ExampleRender() {
	a := action.Action{Kind: action.Add, Structure: action.Conditional, Condition: "Review", True: "Revise",
		False: action.Done, Position: -1}
	fmt.Println(action.Render(a))
	// Output:
	// <action>add</action><structure>conditional</structure><condition>Review</condition><true>Revise</true><false>done</false>
}
