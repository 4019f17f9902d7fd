package syncer

// Conversions between sync's wire messages and the reconcile package.

import (
	"errors"
	"math"
	"time"

	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/reconcile"
)

// envelopeAges converts the ages a sync message gives its n envelopes, in
// milliseconds, each kept within [0, a century] (Message.Anchor narrows
// it to MaxClockError anyway); nil unless it gives one for each.
func envelopeAges(ms []int64, n int) []time.Duration {
	const century = int64(100 * 365 * 24 * time.Hour / time.Millisecond)
	if len(ms) != n {
		return nil
	}
	out := make([]time.Duration, n)
	for i, a := range ms {
		out[i] = time.Duration(min(max(a, 0), century)) * time.Millisecond
	}
	return out
}

func rangesToWire(rs []reconcile.Range) []*wire.Range {
	out := make([]*wire.Range, 0, len(rs))
	for _, r := range rs {
		w := &wire.Range{UpperCreated: r.Upper.Created, UpperId: r.Upper.ID, Mode: uint32(r.Mode)}
		switch r.Mode {
		case reconcile.Fingerprint:
			w.Fingerprint = append([]byte(nil), r.Fingerprint[:]...)
		case reconcile.IDList:
			w.Ids = make([][]byte, len(r.IDs))
			for i, id := range r.IDs {
				w.Ids[i] = append([]byte(nil), id[:]...)
			}
		}
		out = append(out, w)
	}
	return out
}

func rangesFromWire(ws []*wire.Range) ([]reconcile.Range, error) {
	if len(ws) > reconcile.MaxRanges {
		return nil, errors.New("sync: too many ranges")
	}
	out := make([]reconcile.Range, 0, len(ws))
	for _, w := range ws {
		r := reconcile.Range{Upper: reconcile.Bound{Created: w.UpperCreated, ID: w.UpperId}, Mode: reconcile.Mode(w.Mode)}
		if w.Mode > math.MaxUint8 {
			return nil, errors.New("sync: bad range mode")
		}
		switch r.Mode {
		case reconcile.Fingerprint:
			if len(w.Fingerprint) != reconcile.FingerprintLen {
				return nil, errors.New("sync: bad fingerprint")
			}
			copy(r.Fingerprint[:], w.Fingerprint)
		case reconcile.IDList:
			if len(w.Ids) > reconcile.MaxListedIDs {
				return nil, errors.New("sync: id list too long")
			}
			r.IDs = make([]reconcile.ID, len(w.Ids))
			for i, b := range w.Ids {
				if len(b) != len(reconcile.ID{}) {
					return nil, errors.New("sync: bad id")
				}
				copy(r.IDs[i][:], b)
			}
		}
		out = append(out, r)
	}
	return out, nil
}
