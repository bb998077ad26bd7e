package bpf

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// The programs stamp with jiffies; converted, a stamp must say what the
// coarse clock said at the same moment, to within a tick: the phase of the
// clock's updates against the tick drifts by parts per million, and wraps.
func TestJiffiesConvertToTheCoarseClock(t *testing.T) {
	o := load(t, Options{})
	c := o.jiffies
	if c.tick <= 0 {
		t.Fatalf("tick %d ns", c.tick)
	}
	in, out := make([]byte, 64), make([]byte, 64)
	deadline := time.Now().Add(50 * time.Millisecond)
	for n := 0; n < 20 || time.Now().Before(deadline); n++ {
		if _, err := o.objs.AuditorClock.Run(&ebpf.RunOptions{Data: in, DataOut: out}); err != nil {
			t.Fatal(err)
		}
		j, coarse := binary.NativeEndian.Uint64(out), int64(binary.NativeEndian.Uint64(out[8:]))
		// The clock's update lags the tick by some microseconds.
		slack := c.tick + int64(time.Millisecond)
		if d := c.mono(j) - coarse; d < -slack || d > slack {
			t.Fatalf("jiffies %d convert to %d ns, the coarse clock said %d (%d ns apart, a tick is %d)", j, c.mono(j), coarse, d, c.tick)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDNSAnswerTimes(t *testing.T) {
	o := load(t, Options{})
	rd, err := o.NewDNSReader()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	before := time.Now()
	run(t, o.Egress(), frame{}.build(b4, a4, udp(53, 33333, []byte("\x12\x34\x81\x80 an answer"))))
	after := time.Now()
	rd.SetDeadline(time.Now())
	a, err := rd.Read()
	if err != nil {
		t.Fatal(err)
	}
	// Jiffies lag by up to a tick, and the conversion by up to another.
	slack := 2*time.Duration(o.jiffies.tick) + time.Millisecond
	if a.Time.Before(before.Add(-slack)) || a.Time.After(after.Add(time.Millisecond)) {
		t.Errorf("answer at %v, outside the run %v..%v", a.Time, before, after)
	}
}
