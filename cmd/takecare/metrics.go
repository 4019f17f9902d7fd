package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/takecare-network/takecare/node"
)

// serveMetrics serves, on l (a loopback address), counters an operator
// can watch, from status (the node's Status): GET /metrics in the
// Prometheus text exposition format (version 0.0.4). They are counts
// only: never a peer, member or group. It returns when ctx ends.
func serveMetrics(ctx context.Context, l net.Listener, status func() node.Status) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		writeMetrics(w, status())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// writeMetrics writes the counters of st.
func writeMetrics(w interface{ Write([]byte) (int, error) }, st node.Status) {
	metric := func(name, kind, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, kind, name, v)
	}
	paths := map[string]int64{}
	for _, p := range st.Paths {
		paths[p.Path]++
	}
	fmt.Fprintf(w, "# HELP takecare_member_nodes Other members' nodes by how they are reached now.\n# TYPE takecare_member_nodes gauge\n")
	for _, k := range []string{node.PathDirect, node.PathRelayed, node.PathUnreachable} {
		fmt.Fprintf(w, "takecare_member_nodes{path=%q} %d\n", k, paths[k])
	}
	metric("takecare_peers", "gauge", "Member nodes connected now.", int64(st.Peers))
	metric("takecare_messages", "gauge", "Messages held in the store.", int64(st.Messages))
	metric("takecare_received_accepted_total", "counter", "Envelopes received that were new and valid.", st.Received.Accepted)
	metric("takecare_relay_slots", "gauge", "Relays this node holds a slot on.", int64(st.RelaySlots))
	metric("takecare_hole_punch_succeeded_total", "counter", "Hole punches this node started that gave a direct connection.", st.HolePunch.Succeeded)
	metric("takecare_hole_punch_failed_total", "counter", "Hole punches this node started that failed.", st.HolePunch.Failed)
	if r := st.Relay; r != nil {
		metric("takecare_relay_reservations", "gauge", "Slots other member nodes hold on this relay.", r.Reservations)
		metric("takecare_relay_circuits", "gauge", "Relayed connections open now.", r.Circuits)
		metric("takecare_relay_bytes_total", "counter", "Bytes relayed since the daemon started.", r.Bytes)
		metric("takecare_relay_refused_total", "counter", "Reservations and circuits refused since the daemon started.", r.Refused)
	}
}
