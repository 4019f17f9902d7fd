package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"github.com/takecare-network/takecare/node/internal/transport"
)

// The node's background work while it runs (Run): its goroutines, its
// timers, and what it does when a connection opens or closes.

// Run runs the node's background work (reconnecting to members, pruning,
// local discovery) until ctx is done, then closes the node.
func (n *Node) Run(ctx context.Context) error {
	defer n.Close()
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer sub.Close()
	defer n.watchConns()()
	defer n.startMDNS()()
	n.spawn(func() {
		n.dialer.Run(n.ctx)
	})
	n.spawn(func() {
		n.runWatchdog(n.ctx)
	})
	// When this node's addresses change (Wi-Fi to mobile data), its links
	// may all be dead: probe every member node now.
	addrs, err := n.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	defer addrs.Close()
	moved := make(chan struct{}, 1)
	if n.cfg.PingInterval > 0 {
		n.spawn(func() { n.keepAlive(n.ctx, moved) })
	}
	return n.loop(ctx, sub.Out(), addrs.Out(), moved)
}

// loop is Run's timers and events: pruning and epoch upkeep, periodic
// sync, retrying a full disk, peers identified, and this node's addresses
// changing (moved is then signalled, for liveness). It returns when ctx
// or the node ends.
func (n *Node) loop(ctx context.Context, identified, addrs <-chan any, moved chan<- struct{}) error {
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	resync := time.NewTicker(n.cfg.SyncInterval)
	defer resync.Stop()
	disk := time.NewTicker(n.cfg.DiskRetry)
	defer disk.Stop()
	n.prune()
	// A repair scheduled before the node stopped did not happen. Each
	// group sees to it in its turn; the loop does not wait for them (it
	// drains the connection events meanwhile).
	n.spawn(func() {
		for _, g := range n.groupList() {
			if n.inTurn(g, func() { n.reconsiderEpoch(g) }) != nil {
				return
			}
		}
	})
	n.syncer.KickAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.ctx.Done():
			return n.stopped()
		case <-prune.C:
			n.prune()
			n.maintainEpochs()
		case <-resync.C:
			n.syncer.Periodic()
		case <-disk.C:
			n.retryStorage()
		case e := <-identified:
			id := e.(event.EvtPeerIdentificationCompleted)
			n.reach.SawUs(id.Peer, id.Conn, id.ObservedAddr)
			n.peerIdentified(id.Peer)
		case <-addrs:
			n.log.Debug("this node's addresses changed: checking every link")
			select {
			case moved <- struct{}{}:
			default:
			}
			n.dialer.Moved()
		}
	}
}

// watchConns tells the parts of the node of every connection that opens
// or closes, from now on and for those already open, until the returned
// function is called. Every new connection counts, not only a change of
// connectedness: a node that comes back (a phone back in coverage, a
// restarted daemon) often finds the other side still holding its old, dead
// connection, so the other side's connectedness never changes.
func (n *Node) watchConns() (stop func()) {
	conns := &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			n.notePath(c.RemotePeer())
			n.peerConnected(c.RemotePeer())
			n.reach.Connected(c)
			n.reach.DirectUp(c)
		},
		DisconnectedF: func(_ network.Network, c network.Conn) {
			n.notePath(c.RemotePeer())
			n.reach.Disconnected(c.RemotePeer())
			n.peerDisconnected(c.RemotePeer())
			if !n.connected(c.RemotePeer()) {
				n.foreign.Forget(c.RemotePeer())
				n.relayCodes.forget(c.RemotePeer())
			}
		},
	}
	n.host.Network().Notify(conns)
	// Connections made before we subscribed get the same treatment (their
	// path is known since now).
	for _, p := range n.host.Network().Peers() {
		n.notePath(p)
		n.peerConnected(p)
	}
	return func() { n.host.Network().StopNotify(conns) }
}

// startMDNS starts local discovery if Config.MDNS asks for it, until the
// returned function is called.
func (n *Node) startMDNS() (stop func()) {
	if !n.cfg.MDNS {
		return func() {}
	}
	svc := mdns.NewMdnsService(n.host, mdnsService,
		transport.NewMDNSNotifee(n.host.ID(), n.access, n.host.Peerstore(), n.dialer.Poke))
	if err := svc.Start(); err != nil {
		n.log.Warn("local discovery unavailable", "err", err)
		return func() {}
	}
	return func() { svc.Close() }
}
