//go:build race

package cluster

import "time"

// Bounds on the PING round trips of a node whose NATS is paused, under
// the race detector, which makes every step of the loop many times
// slower. A loop that waited on the paused NATS would hold a PING for the
// whole pause (2 s).
const (
	medianLimit = 500 * time.Millisecond
	maxLimit    = 1500 * time.Millisecond
)
