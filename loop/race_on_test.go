//go:build race

package loop

// raceEnabled: the race detector slows the loop several times over, so
// tests that bound a duration allow more under it.
const raceEnabled = true
