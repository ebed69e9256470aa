//go:build !race

package cluster

import "time"

// Bounds on the PING round trips of a node whose NATS is paused: the
// median under the 5 ms. The longest is bounded loosely: under a
// client sending flat out, the longest round trip is 20-75 ms on the
// shared two-core machine with or without NATS (one local WATCH gives the
// same), from the loop's own work and the other processes; a loop that
// waited on the paused NATS would hold a PING for the whole pause (2 s).
const (
	medianLimit = 5 * time.Millisecond
	maxLimit    = 500 * time.Millisecond
)
