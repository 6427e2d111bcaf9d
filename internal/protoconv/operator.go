package protoconv

import (
	"fmt"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/operator"
)

var roleFromPB = invert(roleToPB)

// OperatorFromPB converts an operator another process describes
// (OperatorService.DescribeOperators) into a definition without Impl;
// roles this build does not know are left out.
func OperatorFromPB(o *pb.OperatorInfo) operator.Def {
	d := operator.Def{Name: o.GetName(), Group: o.GetGroup(), Description: o.GetDescription(), WhenToUse: o.GetWhenToUse(),
		Inputs: o.GetInputs(), Outputs: o.GetOutputs()}
	for _, r := range o.GetRoles() {
		if role, ok := roleFromPB[r]; ok {
			d.Roles = append(d.Roles, role)
		}
	}
	return d
}

// FieldValueToPB converts one input or output field of an operator.
func FieldValueToPB(v operator.Value) *pb.FieldValue {
	switch {
	case v.Bool != nil:
		return &pb.FieldValue{Value: &pb.FieldValue_Flag{Flag: *v.Bool}}
	case len(v.List) > 0:
		return &pb.FieldValue{Value: &pb.FieldValue_List{List: &pb.StringList{Values: v.List}}}
	}
	return &pb.FieldValue{Value: &pb.FieldValue_Text{Text: v.Text}}
}

// FieldValueFromPB converts one field from the wire; a number becomes
// its text.
func FieldValueFromPB(v *pb.FieldValue) operator.Value {
	switch x := v.GetValue().(type) {
	case *pb.FieldValue_Flag:
		b := x.Flag
		return operator.Value{Bool: &b}
	case *pb.FieldValue_List:
		return operator.Value{List: x.List.GetValues()}
	case *pb.FieldValue_Number:
		return operator.Value{Text: fmt.Sprint(x.Number)}
	case *pb.FieldValue_Text:
		return operator.Value{Text: x.Text}
	}
	return operator.Value{}
}
