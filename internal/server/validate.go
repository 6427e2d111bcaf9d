package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Validators map request message types to checks that return an error
// naming the bad field.
//
// go-grpc-middleware's validator interceptor needs a Validate method on
// the message types themselves, which our generated code does not have
// (protovalidate would need the Buf registry, which we cannot reach), so
// this small table does the same job for our own messages.
type Validators map[protoreflect.FullName]func(proto.Message) error

// Add registers a check for the message type of m.
func Add[M proto.Message](v Validators, check func(M) error) {
	var zero M
	v[zero.ProtoReflect().Descriptor().FullName()] = func(m proto.Message) error {
		typed, ok := m.(M)
		if !ok {
			return nil
		}
		return check(typed)
	}
}

func (v Validators) check(m any) error {
	// First, whether the message decoded at all (see requestCodec).
	if why, bad := claimDecodeError(m); bad {
		return status.Error(codes.InvalidArgument, "the request does not decode: "+why)
	}
	pm, ok := m.(proto.Message)
	if !ok || len(v) == 0 {
		return nil
	}
	if f, ok := v[pm.ProtoReflect().Descriptor().FullName()]; ok {
		if err := f(pm); err != nil {
			if _, isStatus := status.FromError(err); isStatus {
				return err
			}
			return status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return nil
}

// Unary validates requests of unary calls.
func (v Validators) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := v.check(req); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// Stream validates every message a client sends on a stream.
func (v Validators) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &validatingStream{ServerStream: ss, v: v})
	}
}

type validatingStream struct {
	grpc.ServerStream
	v Validators
}

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.v.check(m)
}
