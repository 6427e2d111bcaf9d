package canvas

import (
	"errors"
	"fmt"
	"strings"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// maxTextBytes bounds an action's text, the text of its structured fields
// together, and each prompt of a RunWorkflow request; larger inputs are
// refused with InvalidArgument before they reach the domain. The limits on
// a task are protoconv.ValidateTask's, shared with the trainer's Evaluate.
const maxTextBytes = 64 << 10

// AddValidators registers request checks for this service's messages.
func AddValidators(v server.Validators) {
	server.Add(v, func(m *pb.CreateEpisodeRequest) error { return validateCreate("", m) })
	server.Add(v, func(m *pb.StepRequest) error {
		if err := requireID(m.GetEpisodeId()); err != nil {
			return err
		}
		return validateAction("action", m.GetAction())
	})
	server.Add(v, func(m *pb.GetEpisodeRequest) error {
		if m.GetTurnsFrom() < 0 {
			return fmt.Errorf("turns_from must be >= 0, got %d", m.GetTurnsFrom())
		}
		return requireID(m.GetEpisodeId())
	})
	server.Add(v, func(m *pb.CloseEpisodeRequest) error { return requireID(m.GetEpisodeId()) })
	server.Add(v, func(m *pb.InteractRequest) error {
		switch x := m.GetMsg().(type) {
		case *pb.InteractRequest_Open:
			return validateCreate("open.", x.Open)
		case *pb.InteractRequest_Resume:
			if err := requireID(x.Resume.GetEpisodeId()); err != nil {
				return fmt.Errorf("resume.%w", err)
			}
		case *pb.InteractRequest_Action:
			return validateAction("action", x.Action)
		default:
			return errors.New("msg is required: send open, resume or action")
		}
		return nil
	})
	server.Add(v, func(m *pb.RunWorkflowRequest) error {
		if blank(m.GetDsl()) {
			return errors.New("dsl is required")
		}
		if len(m.GetDsl()) > workflow.MaxTextBytes {
			return fmt.Errorf("dsl is %d bytes, at most %d", len(m.GetDsl()), workflow.MaxTextBytes)
		}
		for id, p := range m.GetPrompts() {
			if len(p) > maxTextBytes {
				return fmt.Errorf("prompts[%s] is %d bytes, at most %d", id, len(p), maxTextBytes)
			}
		}
		return protoconv.ValidateTask("task", m.GetTask())
	})
	server.Add(v, func(m *pb.ListOperatorsRequest) error {
		if f := m.GetFamily(); f != pb.TaskFamily_TASK_FAMILY_UNSPECIFIED && protoconv.FamilyFromPB(f) == "" {
			return fmt.Errorf("family has unknown value %d", f)
		}
		return nil
	})
}

// requireID refuses a missing id, and one longer than any id a canvas
// makes before any lookup (the id is not echoed back).
func requireID(id string) error {
	if blank(id) {
		return errors.New("episode_id is required")
	}
	if len(id) > canvas.MaxIDBytes {
		return fmt.Errorf("episode_id is %d bytes; episode ids are at most %d", len(id), canvas.MaxIDBytes)
	}
	return nil
}

func validateCreate(prefix string, m *pb.CreateEpisodeRequest) error {
	if err := protoconv.ValidateTask(prefix+"task", m.GetTask()); err != nil {
		return err
	}
	if c := m.GetConfig(); c != nil && c.MaxRounds != nil && (c.GetMaxRounds() < 1 || c.GetMaxRounds() > canvas.MaxRoundsLimit) {
		return fmt.Errorf("%sconfig.max_rounds must be in 1..%d, got %d", prefix, canvas.MaxRoundsLimit, c.GetMaxRounds())
	}
	return nil
}

// validateAction refuses only what no canvas could read (missing or huge);
// everything else about an action is canvas feedback, never an RPC error.
func validateAction(field string, a *pb.Action) error {
	if a == nil {
		return fmt.Errorf("%s is required", field)
	}
	if len(a.GetText()) > maxTextBytes {
		return fmt.Errorf("%s.text is %d bytes, at most %d", field, len(a.GetText()), maxTextBytes)
	}
	// A NUL byte in text is an invalid reply, canvas feedback like any
	// other (internal/canvas); in structured fields it is malformed input.
	if s := a.GetStructured(); s != nil && len(s.GetOperators()) > 64 {
		return fmt.Errorf("%s.structured.operators has %d entries, at most 64", field, len(s.GetOperators()))
	}
	if s := a.GetStructured(); s != nil {
		n := len(s.GetOperator()) + len(s.GetCondition()) + len(s.GetIfTrue()) + len(s.GetIfFalse()) + len(s.GetTarget()) +
			len(s.GetPrompt()) + len(s.GetAnswer()) + len(s.GetReasoning())
		for _, op := range s.GetOperators() {
			n += len(op)
		}
		if n > maxTextBytes {
			return fmt.Errorf("%s.structured holds %d bytes of text, at most %d", field, n, maxTextBytes)
		}
		for _, f := range append([]string{s.GetOperator(), s.GetCondition(), s.GetIfTrue(), s.GetIfFalse(), s.GetTarget(), s.GetPrompt(), s.GetAnswer(), s.GetReasoning()}, s.GetOperators()...) {
			if strings.IndexByte(f, 0) >= 0 {
				return fmt.Errorf("%s.structured holds a NUL byte", field)
			}
		}
	}
	return nil
}

// blank reports whether s is empty after trimming white space.
func blank(s string) bool { return strings.TrimSpace(s) == "" }
