package node

import (
	"context"
	"fmt"
	"time"

	"github.com/takecare-network/takecare/alert"
)

// DuressReport says what [Node.RaiseDuress] managed.
type DuressReport struct {
	Groups  int // groups warned
	Reached int // member nodes that received the warnings
}

// RaiseDuress warns every group this member belongs to that the profile was
// just opened with the duress passphrase: the member is probably being
// forced, and what comes from them from now on should not be trusted. It
// waits, until ctx ends, for a connection to a member node and hands it the
// warnings through sync, so that they survive the wipe that follows.
func (n *Node) RaiseDuress(ctx context.Context) (DuressReport, error) {
	var r DuressReport
	text := fmt.Sprintf("%s opened takecare with the duress passphrase: they are probably being forced to. "+
		"Their profile is being wiped. Do not trust what comes from them from now on, and consider removing them from the group.", n.id.Name())
	for _, g := range n.groupList() {
		if me, ok := g.roster.Member(n.me); !ok || me.Removed {
			continue
		}
		a := &alert.Alert{Kind: alert.KindDuress, Severity: alert.SevCritical, Text: text, Expires: n.now().Add(7 * 24 * time.Hour)}
		if _, err := n.send(ctx, g, a); err != nil {
			return r, err
		}
		r.Groups++
	}
	if r.Groups == 0 {
		return r, nil
	}
	n.dialer.poke()
	for {
		for p := range n.access.Load().members {
			if p == n.host.ID() || !n.connected(p) {
				continue
			}
			if st, err := n.SyncWith(ctx, p); err == nil && st.Scopes > 0 {
				r.Reached++
			}
		}
		if r.Reached > 0 {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
