//go:build race

package cluster

import "time"

// stallLimit is the longest PING round trip allowed with NATS paused,
// given the longest with NATS flowing. The race detector slows the loop's
// own work (parsing a 256 KiB read) by an order of magnitude, so the bound
// is relative: a loop that waited on the paused NATS would hold a PING
// for the whole pause (seconds).
func stallLimit(flowing time.Duration) time.Duration {
	return max(5*time.Millisecond, 3*flowing)
}

// medianLimit bounds the median PING round trip with NATS paused; the
// race detector makes every step of the loop many times slower.
const medianLimit = 500 * time.Millisecond
