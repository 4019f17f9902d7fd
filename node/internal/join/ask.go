package join

import (
	"bufio"
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node/internal/wire"
)

// Ask runs the joiner's side of the join protocol with node ai, from the
// door host (whose identity is the invite's key): a join, or with check
// set, a question whether the group counts the member. id is the joiner's
// identity and member its encoded member record (alert.EncodeMember). A
// refusal is returned as a response with its status; an error means that
// no answer came.
func Ask(ctx context.Context, door host.Host, ai peer.AddrInfo, inv crypto.Invite, id *crypto.Identity, member []byte, check bool) (*wire.JoinResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if err := door.Connect(ctx, ai); err != nil {
		return nil, err
	}
	s, err := door.NewStream(ctx, ai.ID, Protocol)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	r := bufio.NewReader(s)
	if _, err := protodelim.MarshalTo(s, &wire.JoinHello{Version: Version, Group: inv.Group[:], Invite: inv.ID[:], Check: check}); err != nil {
		return nil, err
	}
	var ch wire.JoinChallenge
	if err := wire.ReadDelimitedFrom(r, &ch, MaxChallenge); err != nil {
		return nil, fmt.Errorf("no answer: %v", err)
	}
	if ch.Status != wire.JoinStatus_JOIN_OK {
		return &wire.JoinResponse{Status: ch.Status, Detail: ch.Detail}, nil
	}
	proof, err := inv.ProveJoin(id, ch.Nonce, member)
	if err != nil {
		return nil, err
	}
	req := &wire.JoinRequest{Member: member, InviteSig: proof.Invite, MemberSig: proof.Member, NodeSig: proof.Node}
	if _, err := protodelim.MarshalTo(s, req); err != nil {
		return nil, err
	}
	s.CloseWrite()
	var resp wire.JoinResponse
	if err := wire.ReadDelimitedFrom(r, &resp, MaxResponse); err != nil {
		return nil, fmt.Errorf("no answer: %v", err)
	}
	return &resp, nil
}
