package agent

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/flow-auditor/flow-auditor/flow"
)

// slowReturnSource closes its records at once but returns from Run only a
// while later, as a file source preempted between the two does: the
// pipeline has drained and ended cleanly before the source says it is done.
type slowReturnSource struct{ out chan flow.Record }

func (s *slowReturnSource) Records() <-chan flow.Record { return s.out }

func (s *slowReturnSource) Run(ctx context.Context) error {
	close(s.out)
	time.Sleep(200 * time.Millisecond)
	return nil
}

// TestFinishedSourceKeepsServing: a source that finished without error
// leaves the agent serving what it read until it is stopped, whichever of
// the source and the pipeline the agent hears of first.
func TestFinishedSourceKeepsServing(t *testing.T) {
	a, err := New(testConfig(), zap.NewNop(), Options{Source: &slowReturnSource{out: make(chan flow.Record)}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("the agent stopped on its own once its source finished: %v", err)
	case <-time.After(time.Second):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stopped with %v", err)
	}
}
