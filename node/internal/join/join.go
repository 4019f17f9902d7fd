// Package join is the join protocol on the wire (PROTOCOL.md, "Join"):
// the admin node's side, the door ([Door]), which reads a joiner's hello,
// challenges it, checks its proof and passes the joiner on to the node
// that redeems its invite when that is another; and the joiner's side
// ([Ask]). What an invite allows, and what a joiner is given, is decided
// by the node that holds the groups, behind [Redeemer].
//
// A [Door] is safe for concurrent use: each stream is served by the
// goroutine that calls [Door.Serve]. The functions hold no state.
package join

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// Protocol is the libp2p protocol id of the join protocol.
const Protocol protocol.ID = "/takecare/join/2.0.0"

// Limits of the join protocol: its version, the largest message of each
// kind, in bytes, and how long a session may take.
const (
	Version      = 2
	MaxHello     = 256
	MaxChallenge = 4 << 10
	MaxRequest   = 16 << 10
	MaxResponse  = 32 << 20
	Timeout      = 30 * time.Second
)

// Refusal is an answer that refuses a join, with the status and the
// reason the joiner is sent.
type Refusal struct {
	Status wire.JoinStatus
	Detail string
}

// Refuse returns a refusal whose reason is formatted as by fmt.Sprintf.
func Refuse(status wire.JoinStatus, format string, a ...any) *Refusal {
	return &Refusal{Status: status, Detail: fmt.Sprintf(format, a...)}
}

func (r *Refusal) Error() string { return "join: refused (" + r.Status.String() + "): " + r.Detail }

// Response is the refusal as a join response.
func (r *Refusal) Response() *wire.JoinResponse {
	return &wire.JoinResponse{Status: r.Status, Detail: r.Detail}
}

// ErrNotForPeer ends a session without an answer: the stream is reset.
var ErrNotForPeer = errors.New("join: not for this peer")

// ParseHello checks a hello's version and returns the group and invite it
// names.
func ParseHello(h *wire.JoinHello) (crypto.GroupID, crypto.InviteID, error) {
	var iid crypto.InviteID
	if h.Version != Version {
		return crypto.GroupID{}, iid, fmt.Errorf("join protocol version %d is not supported (this node speaks %d)", h.Version, Version)
	}
	gid, err := crypto.GroupIDFromBytes(h.Group)
	if err != nil || len(h.Invite) != len(iid) {
		return crypto.GroupID{}, iid, errors.New("malformed request")
	}
	copy(iid[:], h.Invite)
	return gid, iid, nil
}

// CheckRequest checks a join request against the invite (as the roster
// holds it) and the challenge this node sent: the member record decodes,
// and the invite key, the member's signing key and the key of the node the
// record names all signed the transcript. It returns the record, or the
// refusal to send.
func CheckRequest(gid crypto.GroupID, inv alert.InviteState, nonce []byte, req *wire.JoinRequest) (alert.MemberInfo, *wire.JoinResponse) {
	member, err := alert.DecodeMember(req.Member)
	if err != nil {
		return alert.MemberInfo{}, &wire.JoinResponse{Status: wire.JoinStatus_JOIN_BAD_PROOF, Detail: "malformed member record"}
	}
	proof := crypto.JoinProof{Invite: req.InviteSig, Member: req.MemberSig, Node: req.NodeSig}
	if err := crypto.VerifyJoin(inv.Key, gid, inv.ID, nonce, req.Member, member.Keys, member.Peer, proof); err != nil {
		return alert.MemberInfo{}, &wire.JoinResponse{Status: wire.JoinStatus_JOIN_BAD_PROOF, Detail: "the proof does not verify (" + userErr(err) + ")"}
	}
	return member, nil
}

// userErr drops the package prefix of an error for a message to a person.
func userErr(err error) string {
	s := err.Error()
	for _, p := range []string{"crypto: ", "alert: ", "node: "} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}
