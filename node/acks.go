package node

// Acknowledgements and message references: [Node.Ack] answers a message,
// [Node.ResolveMessage] finds one by id prefix (docs/PROTOCOL.md,
// "Acknowledgements").

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/store"
)

// AckResult describes an acknowledgement just sent.
type AckResult struct {
	ID    string `json:"id"`    // the acknowledgement
	Entry Entry  `json:"entry"` // the acknowledged message, with its acks
}

// Ack acknowledges an alert, alarm or check-in. ref is the message's id or
// a unique prefix of it, in any of this node's groups; status is seen (the
// default), responding or unable. The acknowledgement goes to the message's
// group, where everyone, the sender included, sees it on the message.
func (n *Node) Ack(ctx context.Context, ref, status string) (AckResult, error) {
	st := alert.AckSeen
	if strings.TrimSpace(status) != "" {
		var err error
		if st, err = alert.ParseAckStatus(status); err != nil {
			return AckResult{}, fmt.Errorf("%w %q (one of: seen, responding, unable)", ErrBadAckStatus, status)
		}
	}
	id, err := n.ResolveMessage(ref)
	if err != nil {
		return AckResult{}, err
	}
	h, _ := n.store.Header(id)
	g, err := n.group(h.Group)
	if err != nil {
		return AckResult{}, err
	}
	m, err := n.loadMessage(h)
	if err != nil {
		return AckResult{}, fmt.Errorf("reading message %s: %w", id.Short(), err)
	}
	if !ackable(m) {
		return AckResult{}, ErrNotAckable
	}
	sent, err := n.send(ctx, g, &alert.Ack{Ref: id, Status: st})
	if err != nil {
		return AckResult{}, err
	}
	n.log.Info("acknowledged", "group", g.id.String()[:8], "msg_id", sent.ID.Short())
	e, _ := n.entry(g, m)
	return AckResult{ID: sent.ID.String(), Entry: e}, nil
}

func ackable(m *alert.Message) bool {
	switch m.Content.(type) {
	case *alert.Alert, *alert.CheckIn, *alert.CheckInDone:
		return true
	}
	return false
}

// ResolveMessage finds a message of one of this node's groups by its full id
// or a unique prefix of at least [MinIDPrefix] hex digits. If a prefix
// matches several messages but only one of them is shown in the feed, that
// one is meant.
func (n *Node) ResolveMessage(ref string) (alert.ID, error) {
	ref = strings.ToLower(strings.TrimSpace(ref))
	if err := checkIDRef(ref); err != nil {
		return alert.ID{}, err
	}
	mine := func(h store.Header) bool { _, err := n.group(h.Group); return err == nil }
	if len(ref) == 64 {
		var id alert.ID
		hex.Decode(id[:], []byte(ref))
		if h, ok := n.store.Header(id); ok && mine(h) {
			return id, nil
		}
		return alert.ID{}, withParams(ErrNoSuchMessage, []string{"ref", id.Short()}, "%v %s", ErrNoSuchMessage, id.Short())
	}
	hs := n.store.Headers(func(h store.Header) bool { return strings.HasPrefix(h.ID.String(), ref) && mine(h) })
	if len(hs) > 1 {
		var shown []store.Header
		for _, h := range hs {
			if m, err := n.loadMessage(h); err == nil && ackable(m) {
				shown = append(shown, h)
			}
		}
		if len(shown) == 1 {
			hs = shown
		}
	}
	h, err := messageRefs.pick(hs, false, ref, "")
	return h.ID, err
}

// messageRefs resolves references to messages (resolve.go).
var messageRefs = resolver[store.Header]{
	what: "message", word: "message", notFound: ErrNoSuchMessage, minPrefix: MinIDPrefix,
	id:    func(h store.Header) string { return h.ID.String() },
	label: func(h store.Header) string { return h.ID.Short() },
}
