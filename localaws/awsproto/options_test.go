package awsproto

import (
	"testing"
	"time"
)

func TestResolveRatio(t *testing.T) {
	for _, c := range []struct{ v, def, want float64 }{
		{0, 0.25, 0.25}, {-1, 0.25, 0}, {0.5, 0.25, 0.5}, {3, 0.25, 1},
	} {
		if got := ResolveRatio(c.v, c.def); got != c.want {
			t.Errorf("ResolveRatio(%v, %v) = %v, want %v", c.v, c.def, got, c.want)
		}
	}
}

func TestResolveDuration(t *testing.T) {
	for _, c := range []struct{ v, def, want time.Duration }{
		{0, time.Second, time.Second}, {-1, time.Second, 0}, {time.Hour, time.Second, time.Hour},
	} {
		if got := ResolveDuration(c.v, c.def); got != c.want {
			t.Errorf("ResolveDuration(%v, %v) = %v, want %v", c.v, c.def, got, c.want)
		}
	}
}
