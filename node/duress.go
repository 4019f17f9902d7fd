package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// DuressProtocol is the libp2p protocol id through which a member's duress
// node hands its warning to member nodes (PROTOCOL.md, "Duress").
const DuressProtocol protocol.ID = "/takecare/duress/1.0.0"

// Limits of the duress protocol.
const (
	maxDuressWarning = 4 << 10
	maxDuressAnswer  = 16 << 10
	duressAskTimeout = 10 * time.Second
	// DuressTTL is how long a duress warning stays in the feeds.
	DuressTTL = 7 * 24 * time.Hour
	// maxDuressTargetPeers is how many member nodes per group the kit
	// names (the keystore slot may keep fewer).
	maxDuressTargetPeers = 8
)

// Duress warnings: how a member warns its groups when its profile is opened
// with the duress passphrase.
//
// The duress passphrase opens only a [crypto.DuressKit]: the member id, the
// member's duress key, and for each group a few member nodes to reach. The
// duress node (a bare libp2p host whose identity is the duress key) signs a
// duress alert with the duress key and hands it to those nodes through
// [DuressProtocol]. Each member node that takes it checks it against the
// duress key in the member's record, seals it in each of its groups the
// member belongs to, stores and publishes it, and answers with those
// groups' tags. Every other node checks the duress signature in its
// pipeline (open): a duress signature is accepted on a duress alert and on
// nothing else, and a duress alert only with a duress signature.

// DuressOptions configure [RaiseDuress]. The zero value is usable.
type DuressOptions struct {
	// Host, if set, is used instead of building one; its key must be the
	// kit's node key. RaiseDuress does not close it.
	Host host.Host
	// Libp2p adds options when building a host.
	Libp2p []libp2p.Option
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what happens; nil discards it. It never names anyone.
	Logger *slog.Logger
	// Retry is the wait between rounds of attempts (default 500 ms).
	Retry time.Duration
}

// DuressReport says what [RaiseDuress] managed.
type DuressReport struct {
	Groups  int // groups in the kit
	Warned  int // groups a member node confirmed it passed the warning to
	Reached int // member nodes that took the warning
}

// RaiseDuress signs a duress warning with the kit's duress key and hands it
// to member nodes named in the kit, until a node of every group in the kit
// has confirmed it passed the warning to that group, or ctx ends. It tries
// every group's nodes at once, and again every opts.Retry. It returns
// ctx's error if some group was not warned.
func RaiseDuress(ctx context.Context, kit *crypto.DuressKit, opts DuressOptions) (DuressReport, error) {
	r := DuressReport{Groups: len(kit.Targets)}
	if len(kit.Targets) == 0 {
		return r, nil
	}
	opts = opts.withDefaults()
	req, err := duressWarning(kit, opts.Now())
	if err != nil {
		return r, err
	}
	h := opts.Host
	if h == nil {
		h, err = libp2p.New(append([]libp2p.Option{
			libp2p.Identity(kit.NodeKey()),
			libp2p.NoListenAddrs,
			libp2p.UserAgent(userAgent),
		}, opts.Libp2p...)...)
		if err != nil {
			return r, fmt.Errorf("node: starting the duress node: %w", err)
		}
		defer h.Close()
	}
	if h.ID() != kit.Key().PeerID() {
		return r, errors.New("node: the duress node's key is not the kit's duress key")
	}
	round := &duressRound{h: h, req: req, log: opts.Logger, r: &r,
		warned: make(map[crypto.DuressGroupTag]bool), took: make(map[peer.ID]bool)}
	for !round.ask(ctx, kit) {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(opts.Retry):
		}
	}
	return r, nil
}

func (o DuressOptions) withDefaults() DuressOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Retry <= 0 {
		o.Retry = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// duressWarning is the warning of kit's member, signed with the kit's
// duress key: who and when, as fields each reader words in its own
// language (alert.NoticeDuress).
func duressWarning(kit *crypto.DuressKit, now time.Time) (*wire.DuressWarning, error) {
	body, err := alert.Encode(now, &alert.Alert{
		Kind: alert.KindDuress, Severity: alert.SevCritical, Expires: now.Add(DuressTTL),
		Notice: &alert.Notice{What: alert.NoticeDuress, Who: kit.Member, WhoName: kit.Name, Since: now},
	})
	if err != nil {
		return nil, err
	}
	return &wire.DuressWarning{Inner: kit.SignWarning(body).Marshal()}, nil
}

// duressRound is the state of RaiseDuress between its rounds of attempts.
type duressRound struct {
	h      host.Host
	req    *wire.DuressWarning
	log    *slog.Logger
	r      *DuressReport
	warned map[crypto.DuressGroupTag]bool // groups a node passed the warning to
	took   map[peer.ID]bool               // nodes that took the warning
}

// ask hands the warning, all at once, to every node of a group not warned
// yet that did not take it already, and reports whether every group is
// warned now.
func (d *duressRound) ask(ctx context.Context, kit *crypto.DuressKit) bool {
	var ask []peer.AddrInfo
	seen := make(map[peer.ID]bool)
	for _, t := range kit.Targets {
		if d.warned[t.Group] {
			continue
		}
		for _, ai := range t.Peers {
			if !d.took[ai.ID] && !seen[ai.ID] {
				seen[ai.ID] = true
				ask = append(ask, ai)
			}
		}
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, ai := range ask {
		wg.Go(func() {
			tags, err := askDuress(ctx, d.h, ai, d.req)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				d.log.Debug("duress warning not taken", "peer", ai.ID, "err", err)
				return
			}
			d.took[ai.ID] = true
			d.r.Reached++
			for _, t := range tags {
				d.warned[t] = true
			}
		})
	}
	wg.Wait()
	d.r.Warned = 0
	for _, t := range kit.Targets {
		if d.warned[t.Group] {
			d.r.Warned++
		}
	}
	return d.r.Warned == d.r.Groups
}

// askDuress hands the warning to one member node and returns the tags of
// the groups it passed it to.
func askDuress(ctx context.Context, h host.Host, ai peer.AddrInfo, req *wire.DuressWarning) ([]crypto.DuressGroupTag, error) {
	ctx, cancel := context.WithTimeout(ctx, duressAskTimeout)
	defer cancel()
	if sw, ok := h.Network().(*swarm.Swarm); ok {
		// Retries come every half second; the swarm's own backoff would
		// refuse them for longer.
		sw.Backoff().Clear(ai.ID)
	}
	if err := h.Connect(ctx, ai); err != nil {
		return nil, err
	}
	s, err := h.NewStream(ctx, ai.ID, DuressProtocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := protodelim.MarshalTo(s, req); err != nil {
		return nil, err
	}
	s.CloseWrite()
	var ans wire.DuressAnswer
	if err := readDelimited(s, &ans, maxDuressAnswer); err != nil {
		return nil, fmt.Errorf("no answer: %v", err)
	}
	if ans.Error != "" {
		return nil, fmt.Errorf("refused: %s", ans.Error)
	}
	var tags []crypto.DuressGroupTag
	for _, b := range ans.Groups {
		var t crypto.DuressGroupTag
		if len(b) == len(t) {
			copy(t[:], b)
			tags = append(tags, t)
		}
	}
	return tags, nil
}

// handleDuress takes a duress warning from a member's duress node (the
// gater lets in only the duress nodes of current members) and passes it to
// every group of this node that the member belongs to.
func (n *Node) handleDuress(s network.Stream) {
	defer s.Close()
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.leave()
	s.SetDeadline(time.Now().Add(duressAskTimeout))
	from := s.Conn().RemotePeer()
	var req wire.DuressWarning
	if err := readDelimited(io.LimitReader(s, maxDuressWarning), &req, maxDuressWarning); err != nil {
		s.Reset()
		return
	}
	ans := &wire.DuressAnswer{}
	tags, err := n.relayDuress(n.ctx, from, req.Inner)
	if err != nil {
		n.log.Info("refused a duress warning", "peer", from, "err", err)
		ans.Error = "refused"
	}
	for _, t := range tags {
		ans.Groups = append(ans.Groups, t[:])
	}
	protodelim.MarshalTo(s, ans)
	s.CloseWrite()
	// The duress node has no business here once its warning is passed on.
	n.spawn(func() {
		select {
		case <-n.ctx.Done():
		case <-time.After(cutOffDelay):
			n.host.Network().ClosePeer(from)
		}
	})
}

// relayDuress checks a duress warning that the duress node from handed
// over, and seals, stores, handles and publishes it in every group whose
// roster holds its author as a current member with that duress node. It
// returns the tags of those groups.
func (n *Node) relayDuress(ctx context.Context, from peer.ID, raw []byte) ([]crypto.DuressGroupTag, error) {
	in, err := crypto.ParseInner(raw)
	if err != nil {
		return nil, err
	}
	var tags []crypto.DuressGroupTag
	for _, g := range n.groupList() {
		m, ok := g.roster.Member(in.Author)
		if !ok || m.Removed || m.Duress.IsZero() || m.Duress.PeerID() != from {
			continue
		}
		if err := in.VerifyDuress(m.Duress); err != nil {
			return nil, err
		}
		keys := g.currentKeys()
		msg, err := alert.Decode(g.id, keys.Epoch(), in.Author, in.Body)
		if err != nil {
			return nil, err
		}
		if err := msg.Validate(n.now()); err != nil {
			return nil, err
		}
		if err := checkSigner(msg, true); err != nil {
			return nil, err
		}
		if !n.store.Has(msg.ID) {
			env, err := n.storeOwn(g, keys, in)
			if err != nil {
				return tags, err
			}
			n.handle(g, msg)
			n.publish(ctx, g, env)
		}
		tags = append(tags, crypto.GroupDuressTag(g.id))
	}
	if len(tags) == 0 {
		return nil, errors.New("no group of this node has that member with that duress node")
	}
	n.duressMu.Lock()
	n.duressTaken[in.Author] = true
	n.duressMu.Unlock()
	n.refreshAccess()
	return tags, nil
}

// checkSigner enforces what a duress signature may sign: a duress warning
// and nothing else; and a duress warning only with it.
func checkSigner(m *alert.Message, duressSigned bool) error {
	a, ok := m.Content.(*alert.Alert)
	isWarning := ok && a.Kind == alert.KindDuress
	switch {
	case duressSigned && !isWarning:
		return reject("a duress key signed something other than a duress warning")
	case !duressSigned && isWarning && m.Via == nil:
		// (A warning a bridge sends for a member who texted the duress
		// PIN is signed by the bridge, with the member's grant: via.go.)
		return reject("a duress warning not signed with the duress key")
	}
	return nil
}

// DuressTargets lists, for each group this member belongs to, up to eight
// other member nodes to hand a duress warning to, with their last known
// addresses: nodes connected now first, then admins' nodes, then by when
// they were last seen. A node with no known address is left out. The
// daemon keeps this list in the keystore's duress kit.
func (n *Node) DuressTargets() []crypto.DuressTarget {
	var out []crypto.DuressTarget
	for _, g := range n.groupList() {
		if me, ok := g.roster.Member(n.me); !ok || me.Removed {
			continue
		}
		type cand struct {
			ai    peer.AddrInfo
			live  bool
			admin bool
			seen  time.Time
		}
		var cs []cand
		for _, m := range g.roster.Members() {
			p := m.Peer
			if m.ID() == n.me || p == n.host.ID() {
				continue
			}
			addrs := n.dialer.AddrsOf(p)
			live := n.connected(p)
			if live {
				// The address of a working connection first.
				for _, c := range n.host.Network().ConnsToPeer(p) {
					addrs = append([]ma.Multiaddr{c.RemoteMultiaddr()}, addrs...)
					break
				}
			}
			if len(addrs) == 0 {
				continue
			}
			cs = append(cs, cand{peer.AddrInfo{ID: p, Addrs: ma.Unique(addrs)}, live, m.Role == alert.RoleAdmin, n.lastSeen(p)})
		}
		slices.SortStableFunc(cs, func(a, b cand) int {
			if a.live != b.live {
				return boolFirst(a.live)
			}
			if a.admin != b.admin {
				return boolFirst(a.admin)
			}
			return b.seen.Compare(a.seen)
		})
		t := crypto.DuressTarget{Group: crypto.GroupDuressTag(g.id)}
		for _, c := range cs[:min(len(cs), maxDuressTargetPeers)] {
			t.Peers = append(t.Peers, c.ai)
		}
		out = append(out, t)
	}
	return out
}

func boolFirst(a bool) int {
	if a {
		return -1
	}
	return 1
}
