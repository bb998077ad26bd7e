package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flow-auditor/flow-auditor/agent"
	"github.com/flow-auditor/flow-auditor/correlate"
	"github.com/flow-auditor/flow-auditor/internal/podnet"
	"github.com/flow-auditor/flow-auditor/pipeline"
)

// Where the agent serves, on the node namespace's loopback.
const (
	metricsAddr = "127.0.0.1:9817"
	hubbleAddr  = "127.0.0.1:4245"
)

// play starts the agent, plays normal behaviour and the attacks while the
// live table prints, stops the agent and reports.
func (r *run) play(ctx context.Context, objs correlate.Objects, ix *correlate.Index) error {
	stopAgent, err := r.startAgent(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = stopAgent() }()
	before, err := scrape(ctx, r.hc, r.addr)
	if err != nil {
		return err
	}
	normalStart := time.Now()
	live := &live{r: r, table: newLiveTable(r.p, normalStart)}
	live.start(ctx)
	defer live.stop()

	// Normal behaviour goes on until the attacks have been reported.
	normalCtx, stopNormal := context.WithCancel(ctx)
	var normalWG sync.WaitGroup
	// The calls stop before the namespaces they run in go away.
	defer func() { stopNormal(); normalWG.Wait() }()
	var calls atomic.Int64
	var failed atomic.Pointer[string]
	r.p.phase("normal behaviour for %s: the gateway calls the triage agent, which asks the specialists and the tool-service; agents resolve LLM APIs through kube-dns and call them; specialists and the tool-service query postgresql (the agent learns each workload's baseline for its first %s)",
		r.cfg.Normal, r.cfg.Learning)
	normalWG.Go(func() {
		r.traffic.playNormal(normalCtx, 400*time.Millisecond, &calls, func(c Call, err error) {
			msg := fmt.Sprintf("%s -> %s %s/%d: %v", c.From, c.To, c.Port.Protocol, c.Port.Port, err)
			failed.CompareAndSwap(nil, &msg)
		})
	})
	normalFailed := func() error {
		if msg := failed.Load(); msg != nil {
			return fmt.Errorf("normal traffic failed: %s", *msg)
		}
		return nil
	}
	// Two drains more: what they bring belongs to the normal phase.
	if err := sleep(ctx, r.cfg.Normal+2*r.cfg.Interval); err != nil {
		return err
	}
	if err := normalFailed(); err != nil {
		return err
	}
	live.stop()
	live.table.summary(fmt.Sprintf("normal phase: %d calls (and their DNS lookups)", calls.Load()))
	attackStart := time.Now()

	if r.cfg.Interactive {
		if err := waitEnter(ctx, r.cfg.Stdin, r.p, "press Enter to play the attacks"); err != nil {
			return err
		}
	}
	live.start(ctx)
	r.p.phase("the attacks, while normal behaviour goes on")
	if err := r.attack(ctx); err != nil {
		return err
	}
	if err := r.waitAttacksReported(ctx); err != nil {
		return err
	}
	stopNormal()
	normalWG.Wait()
	if err := normalFailed(); err != nil {
		return err
	}
	if err := sleep(ctx, 2*r.cfg.Interval); err != nil {
		return err
	}
	after, err := scrape(ctx, r.hc, r.addr)
	if err != nil {
		return err
	}
	// The agent's last drain reaches the collector before Run returns.
	if err := stopAgent(); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	live.stop()
	live.table.summary("attack phase")
	r.sum.Normal.Calls = int(calls.Load())
	r.sum.Metrics = changes(before, after)
	return r.report(objs, ix, attackStart)
}

// startAgent runs the real agent on the node namespace, with the snapshot
// as inventory and the demo's collector as an extra sink, and waits until
// it is ready. stop ends it in order (last drain included) and returns
// Run's error; it may be called more than once.
func (r *run) startAgent(ctx context.Context) (stop func() error, err error) {
	r.coll = newCollector(r.s.Addrs(), r.net.tp.Prefix())
	acfg := agent.Defaults()
	acfg.Source = agent.SourceEBPF
	acfg.Snapshots = []string{filepath.Join(r.cfg.Out, FileSnapshot)}
	acfg.Netns = "/run/netns/" + r.net.tp.NodeName
	acfg.Interfaces = "^" + r.net.tp.Prefix()
	acfg.NodeName = NodeName
	acfg.Interval = r.cfg.Interval
	acfg.LearningPeriod = r.cfg.Learning
	acfg.Baseline = agent.BaselineMemory
	acfg.MetricsAddr = metricsAddr
	acfg.HubbleAddr = hubbleAddr
	acfg.ShutdownTimeout = 10 * time.Second
	var a *agent.Agent
	// The agent's listeners are opened inside the node namespace: on its
	// loopback, not the machine's.
	err = podnet.Do(r.net.tp.Node, func() (err error) {
		a, err = agent.New(acfg, r.cfg.Log, agent.Options{Sinks: []pipeline.Sink{r.coll}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start the agent: %w", err)
	}
	agentCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- a.Run(agentCtx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	r.addr = a.MetricsAddr()
	r.hc = nodeHTTP(r.net.tp.Node)
	if err := r.waitReady(ctx); err != nil {
		return nil, errors.Join(err, stop())
	}
	r.p.phase("agent running: the real eBPF programs on the %d interfaces of %s (source ebpf, drained every %s), the snapshot as inventory, metrics at http://%s/metrics and Hubble at %s inside that namespace",
		r.net.interfaces(), r.net.tp.NodeName, r.cfg.Interval, a.MetricsAddr(), a.HubbleAddr())
	r.p.printf("  (while it runs: ip netns exec %s curl -s http://%s/metrics | grep ^auditor_)\n", r.net.tp.NodeName, a.MetricsAddr())
	return stop, nil
}

// attack makes each attack's call once and prints what happened.
func (r *run) attack(ctx context.Context) error {
	for _, at := range r.s.Attacks {
		o := r.traffic.call(ctx, at.Call, attackDialTimeout)
		from := r.s.Pod(at.From)
		res := AttackResult{Name: at.Name, From: from.Namespace + "/" + from.Name, To: r.target(at.To),
			Port: fmt.Sprintf("%s/%d", at.Port.Protocol, at.Port.Port)}
		switch {
		case o.Err == nil:
			res.Outcome = "connected: " + o.Response
		case isTimeout(o.Err):
			res.Outcome = fmt.Sprintf("blocked: no answer in %s", attackDialTimeout)
		default:
			res.Outcome = "failed: " + o.Err.Error()
		}
		r.sum.Attacks = append(r.sum.Attacks, res)
		r.p.printf("  attack: %s: %s -> %s %s: %s\n", at.Name, res.From, res.To, res.Port, res.Outcome)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// live prints the collector's events into the live table as they come.
type live struct {
	r      *run
	table  *liveTable
	next   int
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (l *live) print() {
	evs, next := l.r.coll.since(l.next)
	l.next = next
	l.table.add(evs)
}

func (l *live) start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	l.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.r.coll.notify:
				l.print()
			}
		}
	})
}

// stop stops printing, then prints what came since.
func (l *live) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.wg.Wait()
	l.cancel = nil
	l.print()
}

// target names a pod or host key in the output.
func (r *run) target(key string) string {
	if p := r.s.Pod(key); p != nil {
		return p.Namespace + "/" + p.Name
	}
	h := r.s.Host(key)
	if h.FQDN != "" {
		return h.FQDN
	}
	return h.IP.String()
}

func (r *run) waitReady(ctx context.Context) error {
	limit := time.Now().Add(20 * time.Second)
	for !ready(ctx, r.hc, r.addr) {
		if time.Now().After(limit) {
			return errors.New("the agent did not become ready in 20s")
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// waitAttacksReported waits until the agent reported a violation for every
// attack, or a few drains more.
func (r *run) waitAttacksReported(ctx context.Context) error {
	limit := time.Now().Add(8*r.cfg.Interval + 5*time.Second)
	for time.Now().Before(limit) {
		all := true
		evs := r.coll.all()
		for i := range r.s.Attacks {
			if worst(attackEvents(r.s, evs, i)) == nil {
				all = false
				break
			}
		}
		if all {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return nil // the report says which attack went unreported
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func waitEnter(ctx context.Context, in io.Reader, p *printer, prompt string) error {
	if in == nil {
		return nil
	}
	p.printf("\n  %s (Ctrl-C tears everything down) ", prompt)
	done := make(chan struct{})
	go func() {
		_, _ = bufio.NewReader(in).ReadString('\n')
		close(done)
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return nil
	}
}
