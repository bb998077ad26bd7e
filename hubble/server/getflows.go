package server

import (
	"context"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// query is a validated GetFlowsRequest.
type query struct {
	white, black filterList
	mask         fieldMask
	since, until *time.Time
	number       uint64
	first        bool
	follow       bool
}

func newQuery(req *observer.GetFlowsRequest) (*query, error) {
	if req.GetFirst() && req.GetFollow() {
		return nil, status.Error(codes.InvalidArgument, "first cannot be specified with follow")
	}
	q := &query{number: req.GetNumber(), first: req.GetFirst(), follow: req.GetFollow()}
	var err error
	if q.white, err = compile(req.GetWhitelist()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "whitelist: %v", err)
	}
	if q.black, err = compile(req.GetBlacklist()); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "blacklist: %v", err)
	}
	if q.mask, err = newFieldMask(req.GetFieldMask()); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for _, tt := range []struct {
		ts  *timestamppb.Timestamp
		out **time.Time
	}{{req.GetSince(), &q.since}, {req.GetUntil(), &q.until}} {
		if tt.ts == nil {
			continue
		}
		if err := tt.ts.CheckValid(); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "time range: %v", err)
		}
		t := tt.ts.AsTime()
		*tt.out = &t
	}
	return q, nil
}

// inRange reports whether f's time is within since and until. A flow
// without a time is outside any bounded range.
func (q *query) inRange(f *flowpb.Flow) bool {
	if q.since == nil && q.until == nil {
		return true
	}
	ts := f.GetTime()
	if ts == nil {
		return false
	}
	t := ts.AsTime()
	return (q.since == nil || !t.Before(*q.since)) && (q.until == nil || !t.After(*q.until))
}

func (q *query) wants(f *flowpb.Flow) bool {
	return q.inRange(f) && selects(q.white, q.black, f)
}

// GetFlows streams flows from the ring: history as the request selects it,
// then, when following, every new flow that passes the filters until the
// client leaves, a flow past until arrives, or the server shuts down.
//
// History is chosen as Hubble does:
//   - first: the oldest matching flows, up to number (0: all);
//   - since: the matching flows from since on, up to number unless following;
//   - follow without number or since: none, only what arrives from now on;
//   - otherwise: the newest matching flows, up to number (0: all).
func (s *Server) GetFlows(req *observer.GetFlowsRequest, stream observer.Observer_GetFlowsServer) error {
	q, err := newQuery(req)
	if err != nil {
		return err
	}
	oldest, next := s.ring.bounds()
	var (
		sent    uint64
		sendErr error
	)
	limited := func() bool { return q.number > 0 && sent >= q.number }
	switch {
	case q.first || q.since != nil:
		s.ring.scan(oldest, next, false, func(f *flowpb.Flow) bool {
			if !q.wants(f) {
				return true
			}
			if sendErr = stream.Send(s.response(q, f)); sendErr != nil {
				return false
			}
			sent++
			return q.follow || !limited()
		})
	case q.follow && q.number == 0:
	default:
		var newest []*flowpb.Flow
		s.ring.scan(oldest, next, true, func(f *flowpb.Flow) bool {
			if q.wants(f) {
				newest = append(newest, f)
				sent++
			}
			return !limited()
		})
		for i := len(newest) - 1; i >= 0 && sendErr == nil; i-- {
			sendErr = stream.Send(s.response(q, newest[i]))
		}
	}
	if sendErr != nil || !q.follow {
		return sendErr
	}
	s.followers.Add(1)
	defer s.followers.Add(-1)
	return s.followFrom(stream.Context(), q, next, stream)
}

func (s *Server) followFrom(ctx context.Context, q *query, cur uint64, stream observer.Observer_GetFlowsServer) error {
	b := newBatch()
	for {
		b.reset()
		next, lost, wake := s.ring.readFrom(cur, b)
		cur = next
		if lost > 0 {
			s.followerLost.Add(lost)
			if err := stream.Send(s.lostResponse(lost)); err != nil {
				return err
			}
		}
		s.ring.resolve(b)
		for _, it := range b.items {
			f := it.pb
			if q.until != nil && f.GetTime() != nil && f.GetTime().AsTime().After(*q.until) {
				return nil
			}
			if !q.wants(f) {
				continue
			}
			if err := stream.Send(s.response(q, f)); err != nil {
				return err
			}
		}
		b.reset()
		if wake == nil {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.closed:
			return nil
		}
	}
}

func (s *Server) response(q *query, f *flowpb.Flow) *observer.GetFlowsResponse {
	return &observer.GetFlowsResponse{
		ResponseTypes: &observer.GetFlowsResponse_Flow{Flow: q.mask.apply(f)},
		NodeName:      f.GetNodeName(),
		Time:          f.GetTime(),
	}
}

// lostResponse tells a follower how many flows it missed, as Hubble does
// for its own ring.
func (s *Server) lostResponse(n uint64) *observer.GetFlowsResponse {
	now := timestamppb.Now()
	return &observer.GetFlowsResponse{
		ResponseTypes: &observer.GetFlowsResponse_LostEvents{LostEvents: &flowpb.LostEvent{
			Source:        flowpb.LostEventSource_HUBBLE_RING_BUFFER,
			NumEventsLost: n,
			First:         now,
			Last:          now,
		}},
		NodeName: s.cfg.NodeName,
		Time:     now,
	}
}
