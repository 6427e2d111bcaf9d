package canvas

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/server"
)

func (s *Service) create(ctx context.Context, req *pb.CreateEpisodeRequest) (*canvas.Episode, canvas.Observation, error) {
	cfg, rw, err := protoconv.ConfigFromPB(req.GetConfig())
	if err != nil {
		return nil, canvas.Observation{}, status.Error(codes.InvalidArgument, err.Error())
	}
	t := protoconv.TaskFromPB(req.GetTask())
	e, obs, err := s.c.Create(canvas.WithOwner(ctx, auth.Tenant(ctx)), t, cfg, rw)
	return e, obs, toStatus(err)
}

// episode finds id for the caller: an episode of another tenant is
// NotFound with the very message of a missing one, so ids do not leak.
func (s *Service) episode(ctx context.Context, id string) (*canvas.Episode, error) {
	e, err := s.c.Get(id)
	if err != nil {
		return nil, toStatus(err)
	}
	if !auth.CanAccess(ctx, e.Owner()) {
		return nil, status.Errorf(codes.NotFound, "%v: no episode %q on this canvas", canvas.ErrNotFound, id)
	}
	return e, nil
}

func (s *Service) CreateEpisode(ctx context.Context, req *pb.CreateEpisodeRequest) (*pb.CreateEpisodeResponse, error) {
	if s.draining() {
		return nil, errDraining
	}
	_, obs, err := s.create(ctx, req)
	if err != nil {
		return nil, err
	}
	return &pb.CreateEpisodeResponse{Observation: protoconv.ObservationToPB(obs)}, nil
}

func (s *Service) Step(ctx context.Context, req *pb.StepRequest) (*pb.StepResponse, error) {
	e, err := s.episode(ctx, req.GetEpisodeId())
	if err != nil {
		return nil, err
	}
	obs, err := e.Step(ctx, protoconv.InputFromPB(req.GetAction()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.StepResponse{Observation: protoconv.ObservationToPB(obs)}, nil
}

func (s *Service) GetEpisode(ctx context.Context, req *pb.GetEpisodeRequest) (*pb.GetEpisodeResponse, error) {
	e, err := s.episode(ctx, req.GetEpisodeId())
	if err != nil {
		return nil, err
	}
	ep, next := pageTurns(protoconv.SnapshotToPB(e.Snapshot(req.GetIncludeTurns())), int(req.GetTurnsFrom()))
	return &pb.GetEpisodeResponse{Episode: ep, NextTurnsFrom: int32(next)}, nil
}

func (s *Service) CloseEpisode(ctx context.Context, req *pb.CloseEpisodeRequest) (*pb.CloseEpisodeResponse, error) {
	if _, err := s.episode(ctx, req.GetEpisodeId()); err != nil {
		return nil, err
	}
	snap, err := s.c.Close(ctx, req.GetEpisodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CloseEpisodeResponse{Episode: fitReply(protoconv.SnapshotToPB(snap))}, nil
}

// replyBudget leaves room under the server's send limit for the rest of
// the reply and gRPC's framing.
const replyBudget = server.MaxSendBytes - 1<<20

// fitReply keeps an episode record under the send limit by dropping its
// oldest turns (each Turn carries its number, so a reader sees where the
// history starts): a reply that cannot be sent would otherwise fail after
// its side effect (a CloseEpisode that closed the episode anyway).
func fitReply(ep *pb.Episode) *pb.Episode {
	size := proto.Size(ep)
	if size <= replyBudget {
		return ep
	}
	drop := 0
	for drop < len(ep.Turns) && size > replyBudget {
		size -= proto.Size(ep.Turns[drop]) + 8
		drop++
	}
	ep.Turns = ep.Turns[drop:]
	return ep
}

// pageTurns keeps the turns of ep from index from on that fit under the
// send limit, and returns the index where the next page starts (0: none),
// so a record of any size is read page by page (GetEpisode's turns_from).
// A page holds at least one turn, whatever its size (a turn is bounded by
// the request limits, far under the send limit).
func pageTurns(ep *pb.Episode, from int) (*pb.Episode, int) {
	turns := ep.Turns
	if from >= len(turns) {
		ep.Turns = nil
		return ep, 0
	}
	ep.Turns = nil
	size := proto.Size(ep)
	end := from
	for end < len(turns) {
		n := proto.Size(turns[end]) + 8 // field tag and length
		if end > from && size+n > replyBudget {
			break
		}
		size += n
		end++
	}
	ep.Turns = turns[from:end]
	if end < len(turns) {
		return ep, end
	}
	return ep, 0
}
