package ebpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/flow-auditor/flow-auditor/bpf"
	"github.com/flow-auditor/flow-auditor/flow"
)

// finalSendTimeout bounds how long the final drain waits for the consumer.
const finalSendTimeout = 10 * time.Second

// Source is the eBPF flow source. New loads the programs; Run attaches
// them, emits each drain's records and detaches everything before it
// returns; Close unloads the programs.
type Source struct {
	cfg  Config
	log  *zap.Logger
	mode AttachMode // resolved: AttachTCX or AttachTC

	ns     netns.NsHandle
	nl     *netlink.Handle
	objs   *bpf.Objects
	dnsRd  *bpf.DNSReader
	ifaces *interfaces
	dns    *dnsStage
	drain  *drainer
}

// New checks privileges and kernel features, then loads the programs. An
// *UnsupportedError says what is missing; a *bpf.UnknownDropReasonError
// names a reason this kernel lacks.
func New(cfg Config, log *zap.Logger) (_ *Source, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := CheckSupport(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, &UnsupportedError{What: "cannot lift the memlock limit for eBPF maps", Err: err}
	}
	s := &Source{cfg: cfg, log: log, ns: -1}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	if cfg.NetnsPath == "" {
		s.ns, err = netns.Get()
	} else {
		s.ns, err = netns.GetFromPath(cfg.NetnsPath)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %q: %w", cfg.NetnsPath, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(s.ns), &st); err != nil {
		return nil, fmt.Errorf("stat network namespace: %w", err)
	}
	if isOwnNetns(s.ns) {
		s.nl, err = netlink.NewHandle() // no setns: see inNetns
	} else {
		s.nl, err = netlink.NewHandleAt(s.ns)
	}
	if err != nil {
		return nil, fmt.Errorf("netlink in network namespace: %w", err)
	}

	s.mode = cfg.Attach
	if s.mode == AttachAuto {
		s.mode = AttachTC
		if ok, _ := haveTCX(); ok {
			s.mode = AttachTCX
		}
	}
	s.objs, err = bpf.Load(bpf.Options{
		FlowEntries: cfg.FlowEntries,
		DropEntries: cfg.DropEntries,
		RingBytes:   cfg.RingBytes,
		DropReasons: cfg.DropReasons,
		NetnsInode:  st.Ino,
		TC:          s.mode == AttachTC,
	})
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, &UnsupportedError{What: "not permitted to load eBPF programs (needs root or CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN)", Err: err}
		}
		return nil, err
	}
	s.dnsRd, err = s.objs.NewDNSReader()
	if err != nil {
		return nil, err
	}
	att := &attacher{ns: s.ns, nl: s.nl, mode: s.mode, ingress: s.objs.Ingress(), egress: s.objs.Egress()}
	s.ifaces = newInterfaces(log, s.ns, att, cfg.Interfaces)
	cache := newDNSCache(cfg.DNSClients, cfg.DNSNamesPerClient)
	s.dns = &dnsStage{log: log, rd: s.dnsRd, cache: cache}
	s.drain = &drainer{
		log:      log,
		objs:     s.objs,
		ifaces:   s.ifaces,
		nl:       s.nl,
		dns:      cache,
		conns:    newConnTable(cfg.Connections, cfg.ConnectionIdle),
		node:     cfg.NodeName,
		interval: cfg.Interval,
	}
	if ids, err := s.objs.ProgramIDs(); err == nil {
		log.Info("programs loaded", zap.String("mode", string(s.mode)), zap.Any("program_ids", ids))
	}
	return s, nil
}

// Run attaches the programs, sends every drain's records to out, and on
// ctx's end shuts down kernel side first: it detaches every program, reads
// the DNS answers left in the ring, makes a final drain, sends it, and
// closes out. A Source runs once.
func (s *Source) Run(ctx context.Context, out chan<- []flow.Record) (err error) {
	defer close(out)
	drops, err := s.objs.AttachDrops()
	if err != nil {
		if errors.Is(err, cebpf.ErrNotSupported) {
			return &UnsupportedError{What: "kernel cannot attach to the kfree_skb tracepoint", Err: err}
		}
		return err
	}
	dropsOpen := true
	defer func() {
		if dropsOpen {
			_ = drops.Close()
		}
	}()

	stages, cancel := context.WithCancel(ctx)
	defer cancel()
	ifDone := make(chan error, 1)
	dnsDone := make(chan error, 1)
	drainDone := make(chan error, 1)
	go func() { ifDone <- s.ifaces.Run(stages) }()
	go func() { dnsDone <- s.dns.Run(stages) }()
	go func() { drainDone <- s.drain.Run(stages, out) }()

	var errs []error
	wait := func(ch *chan error) {
		if *ch != nil {
			if err := <-*ch; err != nil {
				errs = append(errs, err)
			}
			*ch = nil
		}
	}
	select {
	case <-ctx.Done():
	case err := <-ifDone:
		errs, ifDone = append(errs, err), nil
	case err := <-dnsDone:
		errs, dnsDone = append(errs, err), nil
	case err := <-drainDone:
		errs, drainDone = append(errs, err), nil
	}
	cancel()

	// Kernel side first: nothing new enters the maps or the ring.
	wait(&ifDone)
	if err := drops.Close(); err != nil {
		errs = append(errs, fmt.Errorf("detach kfree_skb: %w", err))
	}
	dropsOpen = false
	// The answers still in the ring name the final drain's flows.
	if dnsDone != nil {
		if err := s.dnsRd.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flush DNS ring: %w", err))
			_ = s.dnsRd.Close()
		}
	}
	wait(&dnsDone)
	wait(&drainDone)

	recs, err := s.drain.drain()
	if err != nil {
		errs = append(errs, fmt.Errorf("final drain: %w", err))
	} else if len(recs) > 0 {
		timer := time.NewTimer(finalSendTimeout)
		defer timer.Stop()
		select {
		case out <- recs:
			s.drain.recordsOut.Add(uint64(len(recs)))
		case <-timer.C:
			s.drain.recordsLost.Add(uint64(len(recs)))
			s.log.Warn("consumer gone: final records dropped", zap.Int("records", len(recs)))
		}
	}
	return errors.Join(errs...)
}

// Close unloads the programs and releases the namespace. Call it after Run
// returned (or instead of Run).
func (s *Source) Close() error {
	var errs []error
	if s.dnsRd != nil {
		if err := s.dnsRd.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
		s.dnsRd = nil
	}
	if s.objs != nil {
		errs = append(errs, s.objs.Close())
		s.objs = nil
	}
	if s.nl != nil {
		s.nl.Close()
		s.nl = nil
	}
	if s.ns != -1 {
		errs = append(errs, s.ns.Close())
		s.ns = -1
	}
	return errors.Join(errs...)
}

// Mode is the attach mode in use: AttachTCX or AttachTC.
func (s *Source) Mode() AttachMode { return s.mode }

// Ready reports whether the programs are attached to the interfaces
// present when Run started.
func (s *Source) Ready() bool { return s.ifaces.ready.Load() }

// Interfaces lists the interfaces the programs are attached to.
func (s *Source) Interfaces() []Interface { return s.ifaces.list() }

// ProgramIDs are the kernel IDs of the loaded programs.
func (s *Source) ProgramIDs() ([]cebpf.ProgramID, error) { return s.objs.ProgramIDs() }

// Stats count what the source did and lost.
type Stats struct {
	// Kernel: what the programs could not record, per cause.
	Kernel bpf.Losses `json:"kernel_losses"`
	// RecordsOut were handed to the consumer; RecordsLost were not,
	// because it did not keep up.
	RecordsOut  uint64 `json:"records_out"`
	RecordsLost uint64 `json:"records_lost"`
	// OtherProtocol counts kernel entries of protocols a record cannot
	// carry (not TCP, UDP, SCTP, ICMP).
	OtherProtocol uint64 `json:"other_protocol"`
	// DNSAnswers parsed; DNSFailures: copied payloads that were not a
	// complete, successful answer (truncated, split across segments).
	DNSAnswers  uint64 `json:"dns_answers"`
	DNSFailures uint64 `json:"dns_failures"`
	// Drains done; FlowMapFill and DropMapFill: entries in each map at
	// the last drain, against FlowMapSize and DropMapSize.
	Drains      uint64 `json:"drains"`
	FlowMapFill uint64 `json:"flow_map_fill"`
	DropMapFill uint64 `json:"drop_map_fill"`
	FlowMapSize uint64 `json:"flow_map_size"`
	DropMapSize uint64 `json:"drop_map_size"`
	// Interfaces the programs are attached to now.
	Interfaces int `json:"interfaces"`
}

// Stats reads the counters; the kernel's are read from the per-CPU maps.
func (s *Source) Stats() (Stats, error) {
	st := Stats{
		RecordsOut:    s.drain.recordsOut.Load(),
		RecordsLost:   s.drain.recordsLost.Load(),
		OtherProtocol: s.drain.otherProtocol.Load(),
		DNSAnswers:    s.dns.answers.Load(),
		DNSFailures:   s.dns.failures.Load(),
		Drains:        s.drain.drains.Load(),
		FlowMapFill:   s.drain.flowFill.Load(),
		DropMapFill:   s.drain.dropFill.Load(),
		FlowMapSize:   uint64(s.cfg.FlowEntries),
		DropMapSize:   uint64(s.cfg.DropEntries),
		Interfaces:    len(s.ifaces.list()),
	}
	if s.objs == nil {
		return st, errors.New("source closed")
	}
	k, err := s.objs.Losses()
	st.Kernel = k
	return st, err
}
