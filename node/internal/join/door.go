package join

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/transport"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/ratelimit"
)

// Redeemer is what the door needs of the node that holds the groups.
type Redeemer interface {
	// Find returns invite iid of group gid as the group's roster holds
	// it, and the node that redeems it (the node of the admin who made
	// it), for a hello from peer from (door: the invite's door peer;
	// else a member node passing a joiner on). It returns a *Refusal to
	// answer with, or ErrNotForPeer to end the session without a word.
	Find(from peer.ID, door bool, gid crypto.GroupID, iid crypto.InviteID) (alert.InviteState, peer.ID, error)
	// Answer answers a request whose proof verified: with check, whether
	// the group counts member; else the member's redemption of inv.
	Answer(gid crypto.GroupID, inv alert.InviteState, member alert.MemberInfo, check bool) *wire.JoinResponse
}

// Streams opens streams to other nodes (a libp2p host).
type Streams interface {
	ID() peer.ID
	NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error)
}

// Door is the admin node's side of the join protocol.
type Door struct {
	groups  Redeemer
	streams Streams
	log     *slog.Logger
	// limit bounds how often a peer may start a session (each costs
	// little, and a flood is refused). A door peer's identity is its
	// invite's key, so counting per peer counts per invite for joiners;
	// a member node passing joiners on is counted as itself, so that no
	// member can use up the attempts of an invite.
	limit *ratelimit.Limiter[peer.ID]
	now   func() time.Time
}

// NewDoor returns a door that asks groups about invites, reaches other
// nodes through streams, and logs refusals to log; now is the node's
// clock.
func NewDoor(groups Redeemer, streams Streams, log *slog.Logger, now func() time.Time) *Door {
	return &Door{groups: groups, streams: streams, log: log, now: now, limit: ratelimit.New[peer.ID](4, 64, 1024)}
}

// session is the door's side of one join stream.
type session struct {
	*Door
	s      network.Stream
	r      *bufio.Reader
	remote peer.ID
	door   *transport.Door
}

// Serve serves one join stream from s's remote peer, until ctx ends or
// the session does: door is the invite the peer is the door peer of, or
// nil for a member node passing a joiner on. It returns ErrNotForPeer or
// another error when the stream should be reset, nil when it should be
// closed.
func (d *Door) Serve(ctx context.Context, s network.Stream, door *transport.Door) error {
	js := &session{Door: d, s: s, r: bufio.NewReader(s), remote: s.Conn().RemotePeer(), door: door}
	return js.serve(ctx)
}

func (js *session) refuse(r *Refusal) error {
	js.log.Info("refused a join", "peer", js.remote, "status", r.Status, "reason", r.Detail)
	_, err := protodelim.MarshalTo(js.s, &wire.JoinChallenge{Status: r.Status, Detail: r.Detail})
	return err
}

func (js *session) answer(resp *wire.JoinResponse) error {
	if resp.Status != wire.JoinStatus_JOIN_OK && resp.Status != wire.JoinStatus_JOIN_ALREADY_MEMBER {
		js.log.Info("refused a join", "peer", js.remote, "status", resp.Status, "reason", resp.Detail)
	}
	_, err := protodelim.MarshalTo(js.s, resp)
	return err
}

func (js *session) serve(ctx context.Context) error {
	var hello wire.JoinHello
	if err := wire.ReadDelimitedFrom(js.r, &hello, MaxHello); err != nil {
		return err
	}
	gid, iid, err := ParseHello(&hello)
	if err != nil {
		return js.refuse(Refuse(wire.JoinStatus_JOIN_FAILED, "%v", err))
	}
	if js.door != nil && (js.door.Group != gid || js.door.Invite != iid) {
		return ErrNotForPeer // a door peer asks only about its own invite
	}
	if !js.limit.Allow(js.remote, js.now()) {
		return js.refuse(Refuse(wire.JoinStatus_JOIN_BUSY, "too many attempts with this invite; try again in a minute"))
	}
	inv, redeemer, err := js.groups.Find(js.remote, js.door != nil, gid, iid)
	var refused *Refusal
	switch {
	case errors.As(err, &refused):
		return js.refuse(refused)
	case err != nil:
		return err
	case !hello.Check && redeemer != js.streams.ID():
		// Only the node of the admin who made the invite redeems it.
		if js.door == nil {
			return js.refuse(Refuse(wire.JoinStatus_JOIN_UNAVAILABLE, "only the node that made the invite redeems it"))
		}
		return js.relay(ctx, redeemer, &hello)
	}
	member, badProof, err := js.challenge(gid, inv)
	switch {
	case err != nil:
		return err
	case badProof != nil:
		return js.answer(badProof)
	}
	return js.answer(js.groups.Answer(gid, inv, member, hello.Check))
}

// challenge sends the joiner a fresh nonce, reads its request and checks
// it. It returns the member the request names, or the refusal to answer.
func (js *session) challenge(gid crypto.GroupID, inv alert.InviteState) (alert.MemberInfo, *wire.JoinResponse, error) {
	nonce := make([]byte, crypto.JoinNonceSize)
	rand.Read(nonce)
	if _, err := protodelim.MarshalTo(js.s, &wire.JoinChallenge{Nonce: nonce}); err != nil {
		return alert.MemberInfo{}, nil, err
	}
	var req wire.JoinRequest
	if err := wire.ReadDelimitedFrom(js.r, &req, MaxRequest); err != nil {
		return alert.MemberInfo{}, nil, err
	}
	member, refused := CheckRequest(gid, inv, nonce, &req)
	return member, refused, nil
}

// relay passes a joiner on to the node that redeems its invite and copies
// the rest of the session both ways.
func (js *session) relay(ctx context.Context, to peer.ID, hello *wire.JoinHello) error {
	unreachable := Refuse(wire.JoinStatus_JOIN_UNAVAILABLE, "the node of the admin who made this invite cannot be reached from here now")
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	out, err := js.streams.NewStream(ctx, to, Protocol)
	if err != nil {
		return js.refuse(unreachable)
	}
	defer out.Close()
	out.SetDeadline(time.Now().Add(Timeout))
	if _, err := protodelim.MarshalTo(out, hello); err != nil {
		out.Reset()
		return js.refuse(unreachable)
	}
	js.log.Debug("passing a joiner on", "to", to)
	done := make(chan struct{})
	go func() {
		// Joiner to redeemer: what the joiner sent after its hello.
		io.Copy(out, io.LimitReader(js.r, MaxRequest))
		out.CloseWrite()
		close(done)
	}()
	// Redeemer to joiner: the challenge and the response.
	_, err = io.Copy(js.s, io.LimitReader(out, MaxChallenge+MaxResponse+64))
	<-done
	return err
}
