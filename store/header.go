package store

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
)

// Header is what the store knows about a message without opening it.
type Header struct {
	ID      alert.ID
	Group   crypto.GroupID
	Tag     crypto.KeyTag // which epoch key opens the envelope
	Author  crypto.MemberID
	Created time.Time // the author's claim ([alert.Message.Created])
	// Expires is when the message expires by this node's clock
	// ([alert.Message.Local] of its expiry); zero: only retention removes
	// it.
	Expires  time.Time
	Priority uint8 // higher is sent first by sync
	Received time.Time
	// Sent is when the message was made by this node's clock
	// ([alert.Message.Sent]). Headers written before it existed read it
	// as Created.
	Sent time.Time
}

// Header sizes: version 1 had no Sent.
const (
	headerSizeV1 = 32 + 16 + 8 + 32 + 8 + 8 + 1 + 8
	headerSize   = headerSizeV1 + 8
)

// deleteAt is when Prune deletes the message: its expiry, held back by as
// much as a copy arriving later could be counted as younger than this one
// (up to alert.MaxClockError after Created), so that a replay after the
// deletion is still seen as expired. Zero: only retention removes it.
func (h Header) deleteAt() time.Time {
	if h.Expires.IsZero() {
		return time.Time{}
	}
	return h.Expires.Add(h.Created.Add(alert.MaxClockError).Sub(h.Sent))
}

func (h Header) marshal() []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, h.ID[:]...)
	b = append(b, h.Group[:]...)
	b = append(b, h.Tag[:]...)
	b = append(b, h.Author[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.UnixMilli()))
	var exp int64
	if !h.Expires.IsZero() {
		exp = h.Expires.UnixMilli()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(exp))
	b = append(b, h.Priority)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Received.UnixMilli()))
	return binary.BigEndian.AppendUint64(b, uint64(h.Sent.UnixMilli()))
}

func unmarshalHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != headerSize && len(b) != headerSizeV1 {
		return h, ErrCorrupt
	}
	copy(h.ID[:], b[0:32])
	copy(h.Group[:], b[32:48])
	copy(h.Tag[:], b[48:56])
	copy(h.Author[:], b[56:88])
	h.Created = time.UnixMilli(int64(binary.BigEndian.Uint64(b[88:96])))
	if exp := int64(binary.BigEndian.Uint64(b[96:104])); exp != 0 {
		h.Expires = time.UnixMilli(exp)
	}
	h.Priority = b[104]
	h.Received = time.UnixMilli(int64(binary.BigEndian.Uint64(b[105:113])))
	h.Sent = h.Created
	if len(b) == headerSize {
		h.Sent = time.UnixMilli(int64(binary.BigEndian.Uint64(b[113:121])))
	}
	return h, nil
}

// Item is a message's place in its epoch's set: what sync reconciles.
type Item struct {
	Created int64 // Unix milliseconds
	ID      alert.ID
}

// Compare orders items by creation time, then id.
func (a Item) Compare(b Item) int {
	if a.Created != b.Created {
		if a.Created < b.Created {
			return -1
		}
		return 1
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}
