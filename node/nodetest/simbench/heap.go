package main

import (
	"runtime"
	"strings"
)

// owners names, for the memory table, who holds heap memory: the first
// frame of an allocation's stack, from the allocation outwards, that
// belongs to one of these packages.
var owners = []struct{ prefix, name string }{
	{"github.com/takecare-network/takecare/store", "store (index, write queue)"},
	{"github.com/takecare-network/takecare/alert", "alert (rosters)"},
	{"github.com/takecare-network/takecare/crypto", "crypto (keys)"},
	{"github.com/takecare-network/takecare/node/nodetest", "simulation harness"},
	{"main.", "simulation harness"},
	{"github.com/takecare-network/takecare/node", "node (groups, epochs, sync, feed)"},
	{"go.etcd.io/bbolt", "bbolt"},
	{"github.com/libp2p/go-libp2p-pubsub", "GossipSub"},
	{"github.com/libp2p/go-libp2p/p2p/net/mock", "mocknet (the simulated links)"},
	{"github.com/libp2p/go-libp2p", "libp2p host (peerstore, identify, resource manager)"},
	{"github.com/libp2p/go-flow-metrics", "libp2p host (peerstore, identify, resource manager)"},
	{"github.com/multiformats", "libp2p host (peerstore, identify, resource manager)"},
}

// heapByOwner returns the heap in use as the last garbage collection
// found it, from the allocation profile's samples (runtime.MemProfileRate
// bytes each, on average), by owner.
func heapByOwner() map[string]uint64 {
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		n, ok = runtime.MemProfile(recs, false)
		if ok {
			recs = recs[:n]
			break
		}
	}
	out := make(map[string]uint64)
	for _, r := range recs {
		out[ownerOf(r.Stack())] += uint64(r.InUseBytes())
	}
	return out
}

func ownerOf(stack []uintptr) string {
	frames := runtime.CallersFrames(stack)
	for {
		f, more := frames.Next()
		for _, o := range owners {
			if strings.HasPrefix(f.Function, o.prefix) {
				return o.name
			}
		}
		if !more {
			return "other (Go runtime, standard library)"
		}
	}
}
