package awsproto

import "time"

// The services' strictness options (eventsim.DeliveryOptions,
// sqssim.Strictness) share one convention, so that a zero value of an
// options struct means "strict as documented" and a test can still turn a
// single behaviour off: a zero field takes its default, a negative one turns
// the behaviour off.

// ResolveRatio resolves a share of calls or events (0 to 1) by that
// convention; a share above 1 is 1.
func ResolveRatio(v, def float64) float64 {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return min(v, 1)
}

// ResolveDuration resolves a delay bound by that convention.
func ResolveDuration(v, def time.Duration) time.Duration {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}
