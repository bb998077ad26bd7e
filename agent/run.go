package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Run runs the agent until ctx ends (SIGTERM), then shuts down in order,
// bounded by Config.ShutdownTimeout:
//  1. stop the source: the kernel side first, with a last drain of its maps;
//  2. drain the pipeline: every record in flight reaches the sinks;
//  3. flush the baseline to the cluster;
//  4. detach every program;
//  5. stop the servers.
//
// It returns nil after an orderly shutdown, even one cut short by the
// timeout (what was lost is counted and logged), and an error when the
// source or the pipeline failed on its own.
func (a *Agent) Run(ctx context.Context) error {
	bg := context.WithoutCancel(ctx)
	serveCtx, stopServing := context.WithCancel(bg)
	defer stopServing()
	var servers sync.WaitGroup

	servers.Go(func() {
		if err := serveHTTP(serveCtx, a.metricsLis, a.metrics.Registry(), a.health); err != nil {
			a.log.Error("metrics server stopped", zap.Error(err))
		}
	})
	if a.hubble != nil {
		servers.Go(func() {
			if err := a.hubble.Serve(serveCtx, a.hubbleLis); err != nil {
				a.log.Error("hubble server stopped", zap.Error(err))
			}
		})
	}
	if a.inv.run != nil {
		servers.Go(func() {
			if err := a.inv.run(serveCtx); err != nil {
				a.log.Error("inventory stopped", zap.Error(err))
			}
		})
	}
	servers.Go(func() { a.reportReady(serveCtx) })

	writerCtx, stopWriter := context.WithCancel(bg)
	writerDone := make(chan struct{})
	if a.writer != nil {
		a.writer.Store = a.store
		// What the agents learned before (this one before a restart, or
		// other nodes') is read before the first flow is judged, so that
		// known peers are not reported again.
		syncCtx, cancel := context.WithTimeout(ctx, initialSyncTimeout)
		if err := a.writer.Sync(syncCtx); err != nil {
			a.log.Warn("cannot read the baseline from the cluster; starting without it", zap.Error(err))
		}
		cancel()
		go func() { defer close(writerDone); _ = a.writer.Run(writerCtx) }()
	} else {
		close(writerDone)
	}

	pipeCtx, stopPipe := context.WithCancel(bg)
	defer stopPipe()
	pipeDone := make(chan error, 1)
	go func() { pipeDone <- a.pipe.Run(pipeCtx) }()

	srcCtx, stopSource := context.WithCancel(bg)
	defer stopSource()
	srcDone := make(chan error, 1)
	go func() {
		// A source that can wait (a file) waits for the inventory, so that
		// its flows resolve; the kernel cannot wait: its flows before the
		// caches sync are counted as unresolved.
		runCtx := srcCtx
		if _, ok := a.source.(waiter); ok && !a.waitSynced(ctx) {
			// Stopped first: run it with nothing to do, so that it closes
			// its output and the pipeline drains.
			c, cancel := context.WithCancel(bg)
			cancel()
			runCtx = c
		}
		srcDone <- a.source.Run(runCtx)
	}()

	a.log.Info("agent started",
		zap.String("source", a.cfg.Source), zap.String("metrics_addr", a.MetricsAddr()),
		zap.String("hubble_addr", a.HubbleAddr()), zap.String("baseline", a.cfg.Baseline))

	var failed error
	srcFinished := false
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-srcDone:
			srcFinished = true
			srcDone = nil
			if err != nil {
				failed = err
				a.log.Error("source failed", zap.Error(err))
				break wait
			}
			a.log.Info("source finished; serving until stopped")
		case err := <-pipeDone:
			pipeDone = nil
			if err == nil && !srcFinished && srcDone != nil {
				// The pipeline ends cleanly only once the source closed its
				// records, as its Run returns: both were ready, and select
				// picked the pipeline. Take the source's word first.
				select {
				case serr := <-srcDone:
					srcFinished, srcDone = true, nil
					if serr != nil {
						failed = serr
						a.log.Error("source failed", zap.Error(serr))
						break wait
					}
					a.log.Info("source finished; serving until stopped")
				case <-ctx.Done():
					break wait
				}
			}
			if srcFinished && err == nil {
				continue // drained what the finished source sent
			}
			why := "pipeline ended"
			if err != nil {
				why = err.Error()
			}
			a.health.stopped.Store(&why)
			failed = errors.New("pipeline stopped: " + why)
			break wait
		}
	}

	a.log.Info("shutting down", zap.Duration("timeout", a.cfg.ShutdownTimeout))
	a.health.stopping.Store(true)
	// The timeout bounds the whole shutdown: stopping the source and
	// draining get 60% of it, a stuck stage 10%, flushing the baseline up
	// to 90%, detaching and stopping the servers the rest.
	start, total := time.Now(), a.cfg.ShutdownTimeout
	deadline, cancel := context.WithDeadline(bg, start.Add(total*6/10))
	defer cancel()
	flushBy, cancelFlush := context.WithDeadline(bg, start.Add(total*9/10))
	defer cancelFlush()

	// 1. The kernel side first: the source drains its maps once more and
	// closes its output.
	stopSource()
	if !srcFinished {
		select {
		case err := <-srcDone:
			if err != nil && failed == nil {
				a.log.Warn("source stopped with an error", zap.Error(err))
			}
		case <-deadline.Done():
			a.log.Warn("source did not stop in time")
		}
	}
	// 2. Drain: closing the source's output drains every stage in turn.
	if pipeDone != nil {
		select {
		case <-pipeDone:
		case <-deadline.Done():
			a.log.Warn("pipeline did not drain in time; what was queued is counted as lost")
			stopPipe()
			select {
			case <-pipeDone:
			case <-time.After(total / 10):
				// A sink stuck inside its own code cannot be stopped:
				// leave it rather than hang the shutdown.
				a.log.Error("a pipeline stage is stuck; stopping without it")
			}
		}
	}
	// 3. Flush the baseline.
	stopWriter()
	<-writerDone
	if a.writer != nil {
		if err := a.writer.Flush(flushBy); err != nil {
			a.log.Warn("baseline flush failed", zap.Error(err))
		}
	}
	// 4. Detach every program.
	if d, ok := a.source.(detacher); ok {
		if err := d.Close(); err != nil {
			a.log.Warn("detach failed", zap.Error(err))
		}
	}
	// 5. Stop serving.
	stopServing()
	servers.Wait()
	a.log.Info("agent stopped")
	return failed
}

// waitSynced waits until the inventory has synced; false if ctx ended first.
func (a *Agent) waitSynced(ctx context.Context) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !a.inv.synced() {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// initialSyncTimeout bounds the wait for the cluster's baseline at start.
const initialSyncTimeout = 15 * time.Second

// reportReady keeps auditor_ready in step with /readyz.
func (a *Agent) reportReady(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		a.metrics.SetReady(a.health.ready() == nil)
		select {
		case <-ctx.Done():
			a.metrics.SetReady(false)
			return
		case <-tick.C:
		}
	}
}
