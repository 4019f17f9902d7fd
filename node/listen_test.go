package node_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/store"
)

// loopbackNode starts a node on loopback that listens where told.
func loopbackNode(t *testing.T, listen ...string) *node.Node {
	t.Helper()
	id, err := crypto.NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir()+"/store.db", crypto.NewStorageKey(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(node.Config{Identity: id, Store: st, ListenAddrs: listen, Libp2p: []libp2p.Option{libp2p.DisableRelay()}})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); st.Close() })
	return n
}

// TestListenPortTaken: the saved port is taken by another program. The
// node listens on a free port instead, says so (Listening, a status
// warning), and can be reached there.
func TestListenPortTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	want := "/ip4/127.0.0.1/tcp/" + port
	n := loopbackNode(t, want, "/ip4/127.0.0.1/udp/0/quic-v1", "/p2p-circuit")

	ls := n.Listening()
	if len(ls) != 2 {
		t.Fatalf("Listening = %+v; want the two addresses, without the relay one", ls)
	}
	l := ls[0]
	if l.Want != want || !l.Moved || l.Why != "port_taken" || !strings.HasPrefix(l.Got, "/ip4/127.0.0.1/tcp/") || strings.HasSuffix(l.Got, "/"+port) {
		t.Fatalf("Listening[0] = %+v; want moved to another port of 127.0.0.1", l)
	}
	if ls[1].Moved || ls[1].Got == "" {
		t.Errorf("Listening[1] = %+v; want bound as asked", ls[1])
	}
	ws := n.Status().Warnings
	if len(ws) != 1 || ws[0].Code != node.WarnListenMoved || ws[0].Params["got"] != l.Got || !strings.Contains(ws[0].Text, "port is taken") {
		t.Errorf("warnings %+v", ws)
	}

	// Reachable where it says.
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: n.Host().ID(), Addrs: []ma.Multiaddr{ma.StringCast(l.Got)}}); err != nil {
		t.Fatalf("dialling the node where it moved: %v", err)
	}
}

// TestListenAddressGone: the saved IP address is not this device's any
// more (it moved to another network). The node listens on every interface
// instead, and says why.
func TestListenAddressGone(t *testing.T) {
	t.Parallel()
	n := loopbackNode(t, "/ip4/192.0.2.1/tcp/0") // TEST-NET-1: never a local address
	ls := n.Listening()
	if len(ls) != 1 || !ls[0].Moved || ls[0].Why != "ip_gone" || !strings.HasPrefix(ls[0].Got, "/ip4/0.0.0.0/tcp/") {
		t.Fatalf("Listening = %+v; want moved to every interface", ls)
	}
}
