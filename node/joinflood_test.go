package node_test

import (
	"bufio"
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protodelim"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/internal/wire"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestMemberCannotUseUpAnInvitesAttempts: every member knows an invite's
// id (it is in the roster), and a member node may open the join protocol
// (to pass a joiner on). A member's node that asks about a newcomer's
// invite over and over, as fast as it can, is refused itself, but the
// newcomer holding the code still joins. Before, its attempts used up the
// invite's own allowance, and the newcomer was told "too many attempts
// with this invite" for as long as the flood went on.
func TestMemberCannotUseUpAnInvitesAttempts(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Latency: 2 * time.Millisecond})
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	carmen.Stop()
	gid := net.Group("juchitan")
	carmen.Start()
	ctx := context.Background()
	inv, err := ana.CreateInvite(ctx, gid, 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code, err := crypto.ParseInviteCode(inv.Code)
	if err != nil {
		t.Fatal(err)
	}
	hello := &wire.JoinHello{Version: 2, Group: gid[:], Invite: code.ID[:]}
	ask := func() bool {
		s, err := beto.Host().NewStream(ctx, ana.Host().ID(), node.JoinProtocol)
		if err != nil {
			return false
		}
		defer s.Reset()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := protodelim.MarshalTo(s, hello); err != nil {
			return false
		}
		var ch wire.JoinChallenge
		if err := (protodelim.UnmarshalOptions{MaxSize: 4096}).UnmarshalFrom(bufio.NewReader(s), &ch); err != nil {
			return false
		}
		return ch.Status == wire.JoinStatus_JOIN_BUSY
	}
	flooding, stop := sync.WaitGroup{}, make(chan struct{})
	flooding.Add(1)
	go func() {
		defer flooding.Done()
		for {
			select {
			case <-stop:
				return
			default:
				ask()
			}
		}
	}()
	net.WaitFor(10*time.Second, "the flooding member is refused", ask)
	_, err = carmen.Join(ctx, inv.Code)
	close(stop)
	flooding.Wait()
	if err != nil {
		t.Fatalf("the newcomer, while a member floods its invite: %v", err)
	}
}
