package server

import (
	"context"
	"slices"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"github.com/cilium/cilium/api/v1/relay"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// ServerStatus reports the ring (num_flows held, max_flows, seen_flows),
// uptime, the flow rate over the last minute, and one connected node: a
// relay's view of a cluster of one.
func (s *Server) ServerStatus(context.Context, *observer.ServerStatusRequest) (*observer.ServerStatusResponse, error) {
	st := s.Stats()
	return &observer.ServerStatusResponse{
		NumFlows:            st.Held,
		MaxFlows:            st.Capacity,
		SeenFlows:           st.Seen,
		UptimeNs:            uint64(time.Since(s.start).Nanoseconds()),
		NumConnectedNodes:   wrapperspb.UInt32(1),
		NumUnavailableNodes: wrapperspb.UInt32(0),
		Version:             s.cfg.Version,
		FlowsRate:           s.ring.rate(time.Now()),
	}, nil
}

// GetNodes reports this node.
func (s *Server) GetNodes(context.Context, *observer.GetNodesRequest) (*observer.GetNodesResponse, error) {
	st := s.Stats()
	node := &observer.Node{
		Name:      s.cfg.NodeName,
		Version:   s.cfg.Version,
		State:     relay.NodeState_NODE_CONNECTED,
		UptimeNs:  uint64(time.Since(s.start).Nanoseconds()),
		NumFlows:  st.Held,
		MaxFlows:  st.Capacity,
		SeenFlows: st.Seen,
		Tls:       &observer.TLS{Enabled: s.cfg.TLS != nil},
	}
	if s.cfg.TLS != nil {
		node.Tls.ServerName = s.cfg.TLS.ServerName
	}
	if a := s.address.Load(); a != nil {
		node.Address = *a
	}
	return &observer.GetNodesResponse{Nodes: []*observer.Node{node}}, nil
}

// GetNamespaces lists the namespaces of the flows in the ring, sorted.
func (s *Server) GetNamespaces(context.Context, *observer.GetNamespacesRequest) (*observer.GetNamespacesResponse, error) {
	seen := map[string]bool{}
	oldest, next := s.ring.bounds()
	s.ring.scan(oldest, next, false, func(f *flowpb.Flow) bool {
		for _, ns := range []string{f.GetSource().GetNamespace(), f.GetDestination().GetNamespace()} {
			if ns != "" {
				seen[ns] = true
			}
		}
		return true
	})
	names := make([]string, 0, len(seen))
	for ns := range seen {
		names = append(names, ns)
	}
	slices.Sort(names)
	out := &observer.GetNamespacesResponse{Namespaces: make([]*observer.Namespace, 0, len(names))}
	for _, ns := range names {
		out.Namespaces = append(out.Namespaces, &observer.Namespace{Namespace: ns})
	}
	return out, nil
}
