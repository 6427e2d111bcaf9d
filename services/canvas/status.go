package canvas

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/internal/canvas"
)

// toStatus picks the status code for a domain error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, canvas.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, canvas.ErrClosed), errors.Is(err, canvas.ErrDone):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, canvas.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, canvas.ErrExhausted):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
