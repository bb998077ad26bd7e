package hubble

import (
	"math/rand/v2"
	"time"
)

// backoff is exponential with a cap and jitter: each delay is drawn from
// [d/2, d] where d doubles per failure up to max, so that the agents of a
// whole cluster do not reconnect to a restarted relay in lockstep.
type backoff struct {
	initial, max time.Duration
	cur          time.Duration
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max}
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.initial
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

func (b *backoff) reset() { b.cur = 0 }
