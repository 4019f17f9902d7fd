package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// TestMemberPaths: each member's view says how this node reaches the
// others' nodes now (direct, or unreachable once one is off), since when,
// and when the two last synced; status says the same, across groups.
func TestMemberPaths(t *testing.T) {
	t.Parallel()
	names := []string{"Ana", "Beto", "Carmen"}
	net := nodetest.New(t, 3, nodetest.Options{Name: func(i int) string { return names[i] }})
	net.ConnectAll()
	gid := net.Group("g")
	a, b, c := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// (A session B started at the same moment is refused; it is tried
	// again.)
	net.WaitFor(30*time.Second, "a sync with B", func() bool {
		_, err := a.SyncWith(ctx, b.Host().ID())
		return err == nil
	})
	byName := func() map[string]node.MemberView {
		ms, err := a.Members(gid)
		if err != nil {
			t.Fatal(err)
		}
		out := make(map[string]node.MemberView)
		for _, m := range ms {
			out[m.Name] = m
		}
		return out
	}
	ms := byName()
	if me := ms[names[0]]; me.Path != "" || me.LastSync != nil {
		t.Errorf("A's own entry has a path: %+v", me)
	}
	for _, who := range []*nodetest.Node{b, c} {
		if m := ms[names[who.Index]]; m.Path != node.PathDirect || m.PathSince == nil {
			t.Errorf("%s: path %q since %v, want direct since the connection", names[who.Index], m.Path, m.PathSince)
		}
	}
	if ms[names[1]].LastSync == nil {
		t.Errorf("B: no last sync after a sync")
	}

	c.Stop()
	net.WaitFor(30*time.Second, "A sees C unreachable", func() bool {
		m := byName()[names[2]]
		return m.Path == node.PathUnreachable && m.PathSince != nil
	})
	st := a.Status()
	got := map[string]string{}
	for _, p := range st.Paths {
		got[p.Name] = p.Path
	}
	if got[names[1]] != node.PathDirect || got[names[2]] != node.PathUnreachable || len(got) != 2 {
		t.Errorf("status paths %v, want B direct and C unreachable", got)
	}
}
