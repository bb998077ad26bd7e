package hubble

import (
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"google.golang.org/protobuf/proto"
)

// maxBoundary bounds the flows remembered at the last timestamp. Hubble
// timestamps have nanosecond resolution, so more than a handful of flows at
// one instant is rare; beyond the bound a resume may repeat some.
const maxBoundary = 256

// resume tracks where a stream left off: the newest flow time, and the
// flows seen at exactly that time. A reconnect asks for flows since that
// time (Hubble includes the boundary), and the flows already seen at the
// boundary are dropped, so that nothing is repeated and nothing is skipped.
type resume struct {
	last     time.Time
	boundary []*flowpb.Flow
	// replaying is true after a reconnect until a flow newer than the
	// boundary arrives: only then can a flow be a repeat.
	replaying bool
}

// since is the Since of the next request: nil on a first connection
// without a configured start.
func (r *resume) since() (time.Time, bool) {
	return r.last, !r.last.IsZero()
}

func (r *resume) reconnected() { r.replaying = !r.last.IsZero() }

// seen records f at time t and reports whether it repeats a flow delivered
// before the reconnect.
func (r *resume) seen(f *flowpb.Flow, t time.Time) (repeat bool) {
	switch {
	case t.After(r.last):
		r.last = t
		r.boundary = append(r.boundary[:0], f)
		r.replaying = false
		return false
	case t.Equal(r.last):
		if r.replaying {
			for _, b := range r.boundary {
				if proto.Equal(b, f) {
					return true
				}
			}
		}
		if len(r.boundary) < maxBoundary {
			r.boundary = append(r.boundary, f)
		}
		return false
	default:
		// Older than the newest flow: a relay merging nodes delivers slightly
		// out of order. Since a resume asks from r.last, such a flow was not
		// replayed; pass it on.
		return false
	}
}
