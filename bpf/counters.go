package bpf

import "fmt"

// Losses count, per cause, what the programs could not record since they
// were loaded.
type Losses struct {
	// RingbufFull: DNS answers not copied because the ring buffer was full.
	RingbufFull uint64 `json:"ringbuf_full"`
	// FlowMapFull: packets of new flows not counted because the flow map was
	// full (the map is emptied at every drain).
	FlowMapFull uint64 `json:"flow_map_full"`
	// DropMapFull: dropped packets not counted because the drop map was full.
	DropMapFull uint64 `json:"drop_map_full"`
	// ParseFailures: IP packets whose headers could not be read.
	ParseFailures uint64 `json:"parse_failures"`
}

// Losses sums the per-CPU loss counters.
func (o *Objects) Losses() (Losses, error) {
	var l Losses
	for c, dst := range map[auditorCounter]*uint64{
		auditorCounterCOUNTER_RINGBUF_FULL:  &l.RingbufFull,
		auditorCounterCOUNTER_FLOWS_FULL:    &l.FlowMapFull,
		auditorCounterCOUNTER_DROPS_FULL:    &l.DropMapFull,
		auditorCounterCOUNTER_PARSE_FAILURE: &l.ParseFailures,
	} {
		var perCPU []uint64
		if err := o.objs.Counters.Lookup(c, &perCPU); err != nil {
			return l, fmt.Errorf("read loss counter %d: %w", c, err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return l, nil
}
