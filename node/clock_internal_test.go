package node

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestClockStatus: the person is warned when this clock is off from the
// median of the others; with two others, one of which agrees, it is not
// this clock that is off; old measurements are forgotten.
func TestClockStatus(t *testing.T) {
	now := time.UnixMilli(1_750_000_000_000)
	for _, c := range []struct {
		name string
		offs []time.Duration // other clocks minus this one
		off  bool
		secs int64
	}{
		{"nobody met", nil, false, 0},
		{"one other, agreeing", []time.Duration{10 * time.Second}, false, -10},
		{"one other, two hours ahead", []time.Duration{2 * time.Hour}, true, -7200},
		{"two others, one agrees", []time.Duration{0, 25 * time.Hour}, false, 0},
		{"two others, both disagree", []time.Duration{25 * time.Hour, 25*time.Hour + time.Minute}, true, -90000},
		{"three others, two wrong clocks", []time.Duration{0, -25 * time.Hour, 6 * time.Minute}, false, 0},
		{"this one is six minutes ahead", []time.Duration{-6 * time.Minute, -6 * time.Minute, -25*time.Hour - 6*time.Minute}, true, 360},
	} {
		t.Run(c.name, func(t *testing.T) {
			var k clocks
			for i, o := range c.offs {
				k.note(peer.ID(rune('a'+i)), o, now)
			}
			st := k.status(now.Add(time.Minute))
			if st.Off != c.off || st.OffsetSeconds != c.secs || st.Peers != len(c.offs) {
				t.Errorf("status %+v, want off %v, %d s, %d peers", st, c.off, c.secs, len(c.offs))
			}
			if st := k.status(now.Add(clockFresh + time.Second)); st.Peers != 0 || st.Off {
				t.Errorf("an hour later: %+v", st)
			}
		})
	}
	var k clocks
	for i := range maxClockPeers + 10 {
		k.note(peer.ID(string(rune(i+1))), 0, now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(k.peer) != maxClockPeers {
		t.Errorf("%d clocks kept", len(k.peer))
	}
}
