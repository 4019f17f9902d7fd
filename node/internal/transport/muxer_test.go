package transport

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// countingConn counts the bytes a connection carries, both ways.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(b []byte) (int, error) {
	k, err := c.Conn.Read(b)
	c.n.Add(int64(k))
	return k, err
}

func (c countingConn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	c.n.Add(int64(k))
	return k, err
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// TestIdleConnectionSilent: an idle connection between two hosts with the
// node's muxer carries nothing: yamux sends no keep-alive of its own (the
// node's liveness probe is the one keep-alive), nor pings to measure the
// round-trip time. yamux's intervals are cut to 50 ms for the test, so
// that either left on would send about 20 pings in the second measured.
func TestIdleConnectionSilent(t *testing.T) {
	oldKeep, oldRTT := yamux.DefaultTransport.KeepAliveInterval, yamux.DefaultTransport.MeasureRTTInterval
	yamux.DefaultTransport.KeepAliveInterval, yamux.DefaultTransport.MeasureRTTInterval = 50*time.Millisecond, 50*time.Millisecond
	defer func() {
		yamux.DefaultTransport.KeepAliveInterval, yamux.DefaultTransport.MeasureRTTInterval = oldKeep, oldRTT
	}()

	var carried atomic.Int64
	dial := tcp.WithDialerForAddr(func(ma.Multiaddr) (tcp.ContextDialer, error) {
		return dialFunc(func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{c, &carried}, nil
		}), nil
	})
	newHost := func(opts ...libp2p.Option) host.Host {
		h, err := libp2p.New(append([]libp2p.Option{Muxer(), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	a := newHost(libp2p.Transport(tcp.NewTCPTransport, dial))
	b := newHost()
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	// Identify runs once, at the start; then nothing is due.
	time.Sleep(500 * time.Millisecond)
	before := carried.Load()
	time.Sleep(time.Second)
	if n := carried.Load() - before; n > 0 {
		t.Fatalf("an idle connection carried %d bytes in a second (yamux keep-alive on?)", n)
	}
	if len(a.Network().ConnsToPeer(b.ID())) == 0 {
		t.Fatal("the connection closed")
	}
}
