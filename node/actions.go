package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/store"
)

// AlertRequest is what a member fills in to send an alert.
type AlertRequest struct {
	Kind     string // a word from alert.UserKinds, or "panic"
	Severity string // info, warning, urgent or critical
	Region   string
	Place    string
	Text     string
	TTL      time.Duration // default alert.DefaultTTL
	// Mistake makes an all clear (kind allclear only) say that this
	// member sent a panic by mistake: it carries that as a notice, which
	// each reader words in its own language, and no Text.
	Mistake bool
}

// SendAlert sends an alert to a group and returns its id. The alert is
// stored before it is published, so it reaches members who are offline now
// when they next sync; [Node.Delivery] says where it went (in a group with
// no other member: nowhere, ever, since a newcomer reads nothing sent
// before; it is still shown and passed to local hooks).
func (n *Node) SendAlert(ctx context.Context, gid crypto.GroupID, r AlertRequest) (alert.ID, error) {
	g, err := n.group(gid)
	if err != nil {
		return alert.ID{}, err
	}
	kind, err := alert.ParseKind(r.Kind)
	if err != nil {
		return alert.ID{}, err
	}
	sev, err := alert.ParseSeverity(r.Severity)
	if err != nil {
		return alert.ID{}, err
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = alert.DefaultTTL
	}
	if ttl < 0 || ttl > alert.MaxTTL {
		return alert.ID{}, withParams(ErrOutOfRange, []string{"what", "ttl", "min", "1", "max", paramDur(alert.MaxTTL)}, "ttl must be between 1s and %s", alert.MaxTTL)
	}
	now := n.now()
	a := &alert.Alert{
		Kind: kind, Severity: sev, Region: strings.TrimSpace(r.Region), Place: strings.TrimSpace(r.Place),
		Text: r.Text, Expires: now.Add(ttl),
	}
	if r.Mistake {
		if kind != alert.KindAllClear {
			return alert.ID{}, fmt.Errorf("%w: only an all clear says a panic was a mistake", alert.ErrInvalid)
		}
		a.Text, a.Notice = "", &alert.Notice{What: alert.NoticeMistake, Who: n.me, WhoName: n.id.Name(), Since: now}
	}
	m, err := n.send(ctx, g, a)
	if err != nil {
		return alert.ID{}, err
	}
	n.confirmHandover(ctx, m.ID)
	n.log.Info("alert sent", "group", gid.String()[:8], "msg_id", m.ID.Short())
	return m.ID, nil
}

// Panic sends a critical panic alert to a group.
func (n *Node) Panic(ctx context.Context, gid crypto.GroupID, text string) (alert.ID, error) {
	return n.SendAlert(ctx, gid, AlertRequest{Kind: string(alert.KindPanic), Severity: alert.SevCritical.String(), Text: text})
}

// MemberView describes a member for `takecare members --json`.
type MemberView struct {
	Name     string     `json:"name"`
	ID       string     `json:"id"`
	Role     string     `json:"role"`
	Verified bool       `json:"verified"`
	LastSeen *time.Time `json:"last_seen"` // null if never
	You      bool       `json:"you"`
	Peer     string     `json:"peer"`
	// Label is the name with the short member id when another member's
	// name can be taken for it (names.go).
	Label string `json:"label"`
	// Path is how this node reaches the member's node now: "direct",
	// "relayed" (through Via: a member's name, or "relay" and a peer id
	// prefix) or "unreachable"; empty for you (paths.go).
	Path string `json:"path,omitempty"`
	Via  string `json:"via,omitempty"`
	// PathSince is since when Path holds, as this node saw it; LastSync
	// when the last sync session with the member's node ended well (null:
	// not since this node started).
	PathSince *time.Time `json:"path_since,omitempty"`
	LastSync  *time.Time `json:"last_sync,omitempty"`
}

// Members lists a group's current members.
func (n *Node) Members(gid crypto.GroupID) ([]MemberView, error) {
	g, err := n.group(gid)
	if err != nil {
		return nil, err
	}
	var out []MemberView
	names := n.memberNames()
	for _, m := range g.roster.Members() {
		id := m.ID()
		v := MemberView{Name: m.Name, Label: n.who(g, id).Label, ID: id.String(), Role: m.Role.String(), Verified: n.isVerified(id), You: id == n.me, Peer: m.Peer.String()}
		v.LastSeen = timeOrNil(n.lastSeen(m.Peer))
		if !v.You {
			n.paths.mu.Lock()
			path, via, since, synced := n.memberPath(m.Peer, names)
			n.paths.mu.Unlock()
			v.Path, v.Via, v.PathSince, v.LastSync = path, via, timeOrNil(since), timeOrNil(synced)
		}
		out = append(out, v)
	}
	return out, nil
}

// timeOrNil is t in UTC to the second, or nil for the zero time.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Second)
	return &t
}

// Status describes the node for `takecare status`.
type Status struct {
	Name     string      `json:"name"`
	MemberID string      `json:"member_id"`
	Peer     string      `json:"peer"`
	Addrs    []string    `json:"addrs"`
	Groups   []GroupInfo `json:"groups"`
	Messages int         `json:"messages"`
	Peers    int         `json:"peers"` // connected member nodes
	Since    time.Time   `json:"since"`
	// Received counts envelopes received since the node started, by
	// outcome of the validation pipeline.
	Received Received `json:"received"`
	// Clock says whether this node's clock agrees with the other member
	// nodes' it met in the last hour.
	Clock ClockStatus `json:"clock"`
	// Storage says whether the node can write to its disk.
	Storage store.Health `json:"storage"`
	// Warnings are what the person should know now (an empty list when
	// all is well).
	Warnings []Warning `json:"warnings"`
	// Paths says how each other member's node is reached now (paths.go).
	Paths []PathView `json:"paths"`
	// Relay counts what this node relays for others, if it is a relay
	// (relay.go).
	Relay *RelayStats `json:"relay,omitempty"`
	// RelaySlots is how many relays this node holds a slot on, so that
	// members can reach it behind NAT.
	RelaySlots int `json:"relay_slots"`
	// HolePunch counts attempts to replace a relayed connection to a
	// member node with a direct one.
	HolePunch PunchStats `json:"hole_punch"`
}

// Received counts pipeline outcomes.
type Received struct {
	Accepted int64 `json:"accepted"`
	Ignored  int64 `json:"ignored"`  // duplicates, stale, not yet known
	Rejected int64 `json:"rejected"` // provably bad: would not open, bad signature, malformed, removed member
}

// Status reports who this node is and how connected each group is.
func (n *Node) Status() Status {
	st := Status{
		Name: n.id.Name(), MemberID: n.me.String(), Peer: n.host.ID().String(),
		Groups: n.Groups(), Messages: n.store.Count(), Since: n.started.UTC(), Clock: n.clocks.status(n.now()),
		Received: Received{
			Accepted: n.stats.accepted.Load(), Ignored: n.stats.ignored.Load(), Rejected: n.stats.rejected.Load(),
		},
		Storage: n.store.Health(), Warnings: n.warnings(),
		Paths: n.Paths(), Relay: n.RelayStats(), RelaySlots: n.reach.SlotCount(),
		HolePunch: n.reach.PunchStats(),
	}
	if st.Groups == nil {
		st.Groups = []GroupInfo{}
	}
	for _, a := range n.host.Addrs() {
		st.Addrs = append(st.Addrs, a.String())
	}
	st.Peers = len(n.connectedMembers())
	return st
}

// PunchStats counts the hole punches this node started since it started
// (it starts one for each relayed connection another node opens to it):
// each is one DCUtR exchange with up to three tries.
type PunchStats = transport.PunchStats
