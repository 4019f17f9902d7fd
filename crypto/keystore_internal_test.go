package crypto

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestKeystoreHoldsNoSecretInClear looks for every private key and the
// storage key in the raw keystore file.
func TestKeystoreHoldsNoSecretInClear(t *testing.T) {
	t.Parallel()
	id, err := NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	p := Profile{Identity: id, StorageKey: NewStorageKey()}
	path := filepath.Join(t.TempDir(), "keystore")
	if _, err := CreateKeystore(path, []byte("pass"), p, KeystoreParams{Time: 1, MemoryKiB: 64, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kemSeed, err := id.kem.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	node, err := p2pcrypto.MarshalPrivateKey(id.node)
	if err != nil {
		t.Fatal(err)
	}
	for what, secret := range map[string][]byte{
		"storage key":  p.StorageKey.k[:],
		"signing seed": id.sign.Seed(),
		"HPKE seed":    kemSeed,
		"node key":     node[len(node)-32:],
		"duress seed":  id.duress.Seed(),
	} {
		for i := 0; i+8 <= len(secret); i += 8 {
			if bytes.Contains(file, secret[i:i+8]) {
				t.Fatalf("keystore file contains bytes %d..%d of the %s", i, i+8, what)
			}
		}
	}
}

func TestProfileEncoding(t *testing.T) {
	t.Parallel()
	id, err := NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	p := Profile{Identity: id, StorageKey: NewStorageKey()}
	kitKey := bytes.Repeat([]byte{7}, 32)
	b, err := marshalProfile(p, kitKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != slotPlainSize {
		t.Fatalf("profile plaintext is %d bytes, want %d", len(b), slotPlainSize)
	}
	got, gotKey, err := unmarshalProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity.ID() != id.ID() || got.StorageKey.k != p.StorageKey.k || !bytes.Equal(gotKey, kitKey) ||
		!got.Identity.DuressKey().Equal(id.DuressKey()) {
		t.Fatal("profile does not round-trip")
	}
	for _, n := range []int{0, 1, 2, 3, 50, 2 + 3 + 96, 2 + 3 + 96 + 1} {
		if _, _, err := unmarshalProfile(b[:n]); err == nil {
			t.Errorf("unmarshalProfile accepted the first %d bytes", n)
		}
	}
	for _, kind := range []byte{0, slotKit, 3} {
		other := bytes.Clone(b)
		other[0] = kind
		if _, _, err := unmarshalProfile(other); err == nil {
			t.Errorf("unmarshalProfile accepted kind %d", kind)
		}
	}
}

// FuzzUnmarshalProfile feeds the decoder of a keystore slot's plaintext,
// which the AEAD keeps out of reach of FuzzOpenKeystore.
func FuzzUnmarshalProfile(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, kitKey, err := unmarshalProfile(b)
		if err != nil {
			return
		}
		again, err := marshalProfile(*p, kitKey)
		if err != nil {
			t.Fatalf("a profile that decodes does not encode: %v", err)
		}
		q, _, err := unmarshalProfile(again)
		if err != nil {
			t.Fatalf("re-encoded profile does not decode: %v", err)
		}
		if q.Identity.ID() != p.Identity.ID() || q.Identity.Name() != p.Identity.Name() ||
			q.Identity.PeerID() != p.Identity.PeerID() || q.StorageKey.k != p.StorageKey.k ||
			!q.Identity.DuressKey().Equal(p.Identity.DuressKey()) {
			t.Fatal("profile changed through encode/decode")
		}
	})
}

// FuzzUnmarshalKit feeds the decoder of the duress kit's slot plaintext.
func FuzzUnmarshalKit(f *testing.F) {
	f.Add(marshalKit(make([]byte, 32), MemberID{1}, "ana", nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := unmarshalKit(b)
		if err != nil {
			return
		}
		again, err := unmarshalKit(marshalKit(k.key.Seed(), k.Member, k.Name, k.Targets))
		if err != nil {
			t.Fatalf("a kit that decodes does not decode again after encoding: %v", err)
		}
		if again.Member != k.Member || again.Name != k.Name || !again.Key().Equal(k.Key()) || len(again.Targets) != len(k.Targets) {
			t.Fatal("kit changed through encode/decode")
		}
	})
}

// TestKitKeepsOneNodePerGroup: when the nodes to warn do not all fit in a
// slot, every group keeps its first nodes before any group gets more.
func TestKitKeepsOneNodePerGroup(t *testing.T) {
	t.Parallel()
	var ts []DuressTarget
	for g := range 40 {
		tg := DuressTarget{Group: GroupDuressTag(NewGroupID())}
		for range 8 {
			id, err := NewIdentity("x")
			if err != nil {
				t.Fatal(err)
			}
			a, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.0.%d.1/tcp/4001", g))
			b, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.0.%d.2/udp/4001/quic-v1", g))
			c, _ := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/1")
			tg.Peers = append(tg.Peers, peer.AddrInfo{ID: id.PeerID(), Addrs: []ma.Multiaddr{a, b, c}})
		}
		ts = append(ts, tg)
	}
	k, err := unmarshalKit(marshalKit(make([]byte, 32), MemberID{1}, strings.Repeat("n", 255), ts))
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Targets) != len(ts) {
		t.Fatalf("%d groups kept, want %d", len(k.Targets), len(ts))
	}
	most := 0
	for i, got := range k.Targets {
		if got.Group != ts[i].Group || len(got.Peers) == 0 || got.Peers[0].ID != ts[i].Peers[0].ID {
			t.Fatalf("group %d lost its first node", i)
		}
		if len(got.Peers[0].Addrs) != maxDuressPeerAddrs {
			t.Fatalf("a node kept %d addresses, want %d", len(got.Peers[0].Addrs), maxDuressPeerAddrs)
		}
		most = max(most, len(got.Peers))
	}
	if most == 8 {
		t.Fatal("every node fitted: the test does not fill the slot")
	}
}

// TestKitHoldsNoProfileSecret opens the duress slot as the holder of the
// duress passphrase would and looks in it for every secret of the
// profile: none may be there, so a copy of the home opened with the duress
// passphrase reads no message and signs nothing but a duress warning.
func TestKitHoldsNoProfileSecret(t *testing.T) {
	t.Parallel()
	id, err := NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	p := Profile{Identity: id, StorageKey: NewStorageKey()}
	path := filepath.Join(t.TempDir(), "keystore")
	params := KeystoreParams{Time: 1, MemoryKiB: 64, Threads: 1}
	k, err := CreateKeystore(path, []byte("pass"), p, params)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	if err := SetDuress(path, []byte("pass"), []byte("duress")); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kit []byte
	for i := range 2 {
		slot := file[ksHeaderSize+i*slotSize : ksHeaderSize+(i+1)*slotSize]
		if pt, ok := openSlot(file[:ksHeaderSize], slotKey([]byte("duress"), slot[:16], params), slot); ok {
			kit = pt
		}
	}
	if kit == nil || kit[0] != slotKit {
		t.Fatal("the duress passphrase does not open a kit")
	}
	kemSeed, _ := id.kem.Bytes()
	node, _ := p2pcrypto.MarshalPrivateKey(id.node)
	for what, secret := range map[string][]byte{
		"storage key":  p.StorageKey.k[:],
		"signing seed": id.sign.Seed(),
		"HPKE seed":    kemSeed,
		"node key":     node[len(node)-32:],
	} {
		for i := 0; i+8 <= len(secret); i += 8 {
			if bytes.Contains(kit, secret[i:i+8]) {
				t.Fatalf("the duress kit holds bytes %d..%d of the %s", i, i+8, what)
			}
		}
	}
}

// TestKeystoreOpenPeak: opening a keystore stretches the passphrase once
// per slot, one after the other; the heap peaks at about one stretch's
// memory, not at both (the first is collected before the second starts).
// Not parallel: the heap is the process's.
func TestKeystoreOpenPeak(t *testing.T) {
	const mem = 32 << 20
	id, err := NewIdentity("ana")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keystore")
	pass := []byte("a passphrase for the test")
	if _, err := CreateKeystore(path, pass, Profile{Identity: id, StorageKey: NewStorageKey()}, KeystoreParams{Time: 1, MemoryKiB: mem >> 10, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	// What a daemon holds when it opens its keystore, and more: with a
	// heap this size the garbage collector's next goal leaves room for
	// both stretches.
	ballast := make([]byte, mem)
	defer runtime.KeepAlive(ballast)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	_, err = OpenKeystore(path, pass)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	grown := peak - base
	t.Logf("heap peak while opening: %d MiB above the start (Argon2id: %d MiB per slot)", grown>>20, mem>>20)
	if grown > mem*3/2 {
		t.Fatalf("opening a keystore grew the heap by %d MiB at its peak, want about one slot's %d MiB, not two", grown>>20, mem>>20)
	}
}
