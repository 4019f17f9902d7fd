package transport

import (
	"testing"
	"time"
)

// TestDialBackoffCap: a member node seen lately is dialled again within
// minutes; one gone for hours or days, every half hour or two hours, so
// that phones that are off cost the others little.
func TestDialBackoffCap(t *testing.T) {
	for _, c := range []struct {
		unseen time.Duration
		want   time.Duration
	}{
		{0, 5 * time.Minute},
		{59 * time.Minute, 5 * time.Minute},
		{2 * time.Hour, 30 * time.Minute},
		{25 * time.Hour, 2 * time.Hour},
		{time.Since(time.Time{}), 2 * time.Hour}, // never seen
	} {
		if got := dialBackoffCap(c.unseen); got != c.want {
			t.Errorf("unseen %s: cap %s, want %s", c.unseen, got, c.want)
		}
	}
}
