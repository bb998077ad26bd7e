package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The programs stamp flows, drops and DNS answers with jiffies: reading
// them costs one load, where the coarse clock is a helper call. jiffyClock
// pairs jiffies with CLOCK_MONOTONIC. The kernel advances jiffies once per
// TICK_NSEC nanoseconds of CLOCK_MONOTONIC (the coarse clock's resolution),
// and updates the coarse clock at the same tick, so one reading of both
// (auditor_clock) converts every jiffies value to what the coarse clock
// said at that tick. The phase of the coarse clock's updates against the
// tick drifts (parts per million) and wraps, so the pairing holds to within
// a tick: a converted time is never later than the packet (beyond the
// microseconds a tick's update takes), and at most two ticks earlier.
type jiffyClock struct {
	tick   int64 // nanoseconds per jiffy
	offset int64 // CLOCK_MONOTONIC_COARSE nanoseconds, less jiffies × tick
}

// mono is the CLOCK_MONOTONIC nanoseconds of jiffies j.
func (c jiffyClock) mono(j uint64) int64 { return c.offset + int64(j)*c.tick }

// calibrate runs the clock program to pair jiffies with the coarse clock.
func calibrate(prog *ebpf.Program) (jiffyClock, error) {
	var res unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC_COARSE, &res); err != nil {
		return jiffyClock{}, fmt.Errorf("coarse clock resolution: %w", err)
	}
	c := jiffyClock{tick: res.Nano()}
	if c.tick <= 0 || c.tick > int64(time.Second) {
		return jiffyClock{}, fmt.Errorf("coarse clock resolution %d ns: not a tick length", c.tick)
	}
	// A tick between the two reads, or a read between the kernel's update
	// of jiffies and of the clock, puts a reading one tick off: the median
	// of three leaves it out.
	in := make([]byte, 64) // BPF_PROG_RUN wants at least an Ethernet header
	out := make([]byte, len(in))
	var offsets []int64
	for range 3 {
		if _, err := prog.Run(&ebpf.RunOptions{Data: in, DataOut: out}); err != nil {
			return jiffyClock{}, fmt.Errorf("read the kernel clocks: %w", err)
		}
		j := binary.NativeEndian.Uint64(out[0:])
		mono := binary.NativeEndian.Uint64(out[8:])
		if j == 0 && mono == 0 {
			return jiffyClock{}, errors.New("read the kernel clocks: the clock program wrote nothing")
		}
		offsets = append(offsets, int64(mono)-int64(j)*c.tick)
	}
	slices.Sort(offsets)
	c.offset = offsets[1]
	return c, nil
}

// clock converts jiffies to wall time around one moment.
type clock struct {
	wall time.Time
	mono int64 // CLOCK_MONOTONIC at wall
	j    jiffyClock
}

func (c jiffyClock) now() clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return clock{wall: time.Now().UTC(), mono: ts.Nano(), j: c}
}

func (o *Objects) nowClock() clock { return o.jiffies.now() }

func (c clock) time(jiffies uint64) time.Time {
	return c.wall.Add(time.Duration(c.j.mono(jiffies) - c.mono))
}
