package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/dynamic"

	"github.com/flow-auditor/flow-auditor/baseline"
	"github.com/flow-auditor/flow-auditor/suggest"
)

// observationReader reads the agents' ObservedTraffic baseline of a
// namespace: the live cluster behind the kubeconfig is one.
type observationReader interface {
	observations(ctx context.Context, namespace string) ([]baseline.Observation, error)
}

// observations reads every peer entry of the namespace's ObservedTraffic
// objects, and those of other namespaces' objects whose peer is in it (the
// ingress side of a flow into the namespace is recorded at its source).
func (s *clusterSource) observations(ctx context.Context, namespace string) ([]baseline.Observation, error) {
	rc, err := s.restConfig()
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, usageError(fmt.Errorf("client for %s: %w", rc.Host, err))
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	// Every namespace: a flow from another namespace into this one is kept
	// as the egress entry of its source's object.
	obs, err := baseline.Read(rctx, dyn, "", time.Time{})
	if err != nil {
		return nil, failure(fmt.Errorf("read ObservedTraffic from %s: %w", rc.Host, err))
	}
	return obs, nil
}

// observeCluster feeds the namespace's observed traffic, from the agents'
// ObservedTraffic baseline, to a suggest.Observer. With since the window
// ends at the newest observation, as with flow files.
func observeCluster(ctx context.Context, r observationReader, in suggest.Input, since time.Duration) (*suggest.Observer, error) {
	all, err := r.observations(ctx, in.Namespace)
	if err != nil {
		return nil, err
	}
	var newest time.Time
	n := 0
	for i := range all {
		if !touchesNamespace(&all[i], in.Namespace) {
			continue
		}
		n++
		if all[i].TimeLast.After(newest) {
			newest = all[i].TimeLast
		}
	}
	if n == 0 {
		return nil, usageError(fmt.Errorf("no observed traffic for namespace %s in the cluster's ObservedTraffic objects; run the agents or pass --flows", in.Namespace))
	}
	if since > 0 {
		in.From = newest.Add(-since)
	}
	obs := suggest.NewObserver(in)
	for i := range all {
		obs.AddWorkload(&all[i].Record, int(all[i].Flows))
	}
	return obs, nil
}

func touchesNamespace(ob *baseline.Observation, ns string) bool {
	return (ob.Src.Workload != "" && ob.Src.Namespace == ns) || (ob.Dst.Workload != "" && ob.Dst.Namespace == ns)
}
