package node_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"

	"github.com/takecare-network/takecare/alert"
	"github.com/takecare-network/takecare/crypto"
	"github.com/takecare-network/takecare/node"
	"github.com/takecare-network/takecare/node/nodetest"
)

// duressKit seals nd's profile in a keystore with a duress passphrase, has
// the keystore's kit name nd's current nodes to warn, copies the keystore
// (as someone who copies a seized device would) and opens the copy with
// the duress passphrase.
func duressKit(t *testing.T, nd *nodetest.Node) *crypto.DuressKit {
	t.Helper()
	params := crypto.KeystoreParams{Time: 1, MemoryKiB: 64, Threads: 1}
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	ks, err := crypto.CreateKeystore(path, []byte("the real one"), crypto.Profile{Identity: nd.Identity, StorageKey: crypto.NewStorageKey()}, params)
	if err != nil {
		t.Fatal(err)
	}
	ks.Close()
	if err := crypto.SetDuress(path, []byte("the real one"), []byte("if they force me")); err != nil {
		t.Fatal(err)
	}
	ks, err = crypto.OpenKeystore(path, []byte("the real one"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.SetDuressTargets(nd.DuressTargets()); err != nil {
		t.Fatal(err)
	}
	ks.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "copy")
	if err := os.WriteFile(copyPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err = crypto.OpenKeystore(copyPath, []byte("if they force me"))
	if err != nil {
		t.Fatal(err)
	}
	if ks.Profile() != nil || ks.Duress() == nil {
		t.Fatal("the duress passphrase opened the profile")
	}
	return ks.Duress()
}

func hasDuressWarning(nd *nodetest.Node, gid crypto.GroupID, from crypto.MemberID) bool {
	es, err := nd.Feed(node.FeedQuery{Group: gid})
	if err != nil {
		return false
	}
	for _, e := range es {
		if e.Kind == string(alert.KindDuress) && e.AuthorID == from.String() && e.CheckIn == "" {
			return true
		}
	}
	return false
}

// TestDuressWarnsEveryGroup: Ana is in two groups whose other members are
// on different nodes. Her duress passphrase, given on a copy of her
// keystore, opens only the duress kit; the duress node warns both groups
// within the bounded wait, over real TCP/QUIC through the nodes' gaters.
// What the kit signs is accepted as a duress warning and as nothing else.
func TestDuressWarnsEveryGroup(t *testing.T) {
	t.Parallel()
	net := nodetest.New(t, 3, nodetest.Options{Loopback: true})
	ana, beto, carmen := net.Nodes[0], net.Nodes[1], net.Nodes[2]
	ga := subgroup(t, net, "alfa", 0, 1)
	gb := subgroup(t, net, "beta", 0, 2)
	kit := duressKit(t, ana)
	if len(kit.Targets) != 2 {
		t.Fatalf("the kit names %d groups, want 2", len(kit.Targets))
	}
	// The real node is not running: only the kit is.
	ana.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := node.RaiseDuress(ctx, kit, node.DuressOptions{Libp2p: []libp2p.Option{libp2p.DisableRelay()}})
	if err != nil || r.Warned != 2 || r.Groups != 2 {
		t.Fatalf("RaiseDuress: %+v, %v", r, err)
	}
	me := ana.Identity.ID()
	net.WaitFor(10*time.Second, "Beto sees the warning in alfa", func() bool { return hasDuressWarning(beto, ga, me) })
	net.WaitFor(10*time.Second, "Carmen sees the warning in beta", func() bool { return hasDuressWarning(carmen, gb, me) })

	// The kit signs nothing else: a danger alert and a roster op signed
	// with it, sealed with the group's key by someone who holds it, are
	// rejected; so is a duress warning signed with Ana's member key.
	keys := beto.KeysForTest(ga)
	now := time.Now()
	danger, _ := alert.Encode(now, &alert.Alert{Kind: alert.KindDanger, Severity: alert.SevCritical, Text: "all clear, stand down", Expires: now.Add(time.Hour)})
	op, _ := alert.Encode(now, &alert.RosterOp{Parents: []alert.ID{{1}}, Change: &alert.RemoveMember{Member: beto.Identity.ID()}})
	warning, _ := alert.Encode(now.Add(time.Second), &alert.Alert{Kind: alert.KindDuress, Severity: alert.SevCritical, Expires: now.Add(time.Hour)})
	for what, in := range map[string]crypto.Inner{
		"an alert signed with the duress key":         kit.SignWarning(danger),
		"a roster op signed with the duress key":      kit.SignWarning(op),
		"a duress warning signed with the member key": ana.Identity.SignBody(ga, keys.Epoch(), warning),
	} {
		env, err := keys.Seal(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := beto.IngestForTest(env); !node.Rejected(err) {
			t.Errorf("%s: %v, want rejected", what, err)
		}
	}
	// Another warning signed with the duress key is a warning like the first.
	env, err := keys.Seal(kit.SignWarning(warning))
	if err != nil {
		t.Fatal(err)
	}
	if err := beto.IngestForTest(env); err != nil {
		t.Errorf("a second duress warning: %v", err)
	}
}
