//go:build !race

package cluster

import "time"

// stallLimit is the longest PING round trip allowed with NATS paused,
// given the longest with NATS flowing: no worse than twice that, plus the
// issue's 5 ms. The bound is relative because the machine is shared: a
// PING waits for CPU time as well as for the loop, and other processes'
// load puts tens of milliseconds into the round trips of any run. A loop
// that waited on the paused NATS would hold a PING for the whole pause.
func stallLimit(flowing time.Duration) time.Duration { return 2*flowing + 5*time.Millisecond }

// medianLimit bounds the median PING round trip with NATS paused: the
// issue's 5 ms. A loop that waited on NATS would hold most PINGs.
const medianLimit = 5 * time.Millisecond
