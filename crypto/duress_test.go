package crypto_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/text/unicode/norm"

	"github.com/takecare-network/takecare/crypto"
)

// TestDuressPassphraseOpensOnlyTheKit: the duress passphrase opens the
// duress kit and nothing else. The kit holds the member id, the duress key
// and the nodes to warn; not the storage key, not the signing, HPKE or node
// key: what it signs verifies only as a duress warning.
func TestDuressPassphraseOpensOnlyTheKit(t *testing.T) {
	t.Parallel()
	p := newProfile(t, "Beto")
	path := createKeystore(t, p, testParams)
	duress := []byte("under duress")
	if err := crypto.SetDuress(path, []byte("wrong"), duress); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("SetDuress with a wrong passphrase: %v", err)
	}
	if err := crypto.SetDuress(path, testPassphrase, duress); err != nil {
		t.Fatal(err)
	}
	a, _ := ma.NewMultiaddr("/ip4/192.0.2.7/tcp/4001")
	other := newIdentity(t, "Ana")
	g := crypto.NewGroupID()
	targets := []crypto.DuressTarget{{Group: crypto.GroupDuressTag(g), Peers: []peer.AddrInfo{{ID: other.PeerID(), Addrs: []ma.Multiaddr{a}}}}}
	k, err := crypto.OpenKeystore(path, testPassphrase)
	if err != nil || k.Profile() == nil || k.Duress() != nil {
		t.Fatalf("the passphrase: %v", err)
	}
	if err := k.SetDuressTargets(targets); err != nil {
		t.Fatal(err)
	}
	k.Close()

	d, err := crypto.OpenKeystore(path, duress)
	if err != nil {
		t.Fatalf("the duress passphrase: %v", err)
	}
	if d.Profile() != nil {
		t.Fatal("the duress passphrase opened the profile")
	}
	kit := d.Duress()
	if kit == nil || kit.Member != p.Identity.ID() || kit.Name != "Beto" || !kit.Key().Equal(p.Identity.DuressKey()) {
		t.Fatal("the kit does not name the member or its duress key")
	}
	if len(kit.Targets) != 1 || kit.Targets[0].Group != crypto.GroupDuressTag(g) ||
		kit.Targets[0].Peers[0].ID != other.PeerID() || !kit.Targets[0].Peers[0].Addrs[0].Equal(a) {
		t.Fatalf("targets %+v, want %+v", kit.Targets, targets)
	}
	if kit.NodeKey().Equals(p.Identity.NodeKey()) {
		t.Fatal("the duress node is the member's node")
	}
	if kit.Key().PeerID() == p.Identity.PeerID() || kit.Key().PeerID() == "" {
		t.Fatal("the duress key's peer id is wrong")
	}
	body := []byte("a duress warning body")
	w := kit.SignWarning(body)
	if err := w.VerifyDuress(p.Identity.DuressKey()); err != nil {
		t.Fatalf("the warning does not verify: %v", err)
	}
	// What the kit signs is no member signature, for any group or epoch.
	if err := w.Verify(p.Identity.Public(), g, 1); err == nil {
		t.Fatal("a duress signature verifies as a member signature")
	}
	// And a member signature is no duress warning.
	if err := p.Identity.SignBody(g, 1, body).VerifyDuress(p.Identity.DuressKey()); err == nil {
		t.Fatal("a member signature verifies as a duress warning")
	}
	w.Body = []byte("another body")
	if err := w.VerifyDuress(p.Identity.DuressKey()); err == nil {
		t.Fatal("a changed warning verifies")
	}
	// Nothing of the profile's secrets is in the duress slot's reach: the
	// storage key does not open with anything the kit holds (checked in
	// the package's internal test); here, the kit cannot set or clear the
	// duress passphrase or read the profile.
	if err := crypto.SetDuress(path, duress, []byte("x")); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("the duress passphrase replaced itself: %v", err)
	}
	if err := crypto.ClearDuress(path, duress); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("the duress passphrase cleared itself: %v", err)
	}
	if err := crypto.ClearDuress(path, testPassphrase); err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.OpenKeystore(path, duress); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Errorf("the cleared duress passphrase still opens: %v", err)
	}
}

// TestKeystoreDoesNotTellDuress: from the bytes and times of the file,
// nobody can tell whether a duress passphrase is set: the same size, both
// slots rewritten with new bytes at every unlock, the salts kept; setting
// and clearing both renew both salts.
func TestKeystoreDoesNotTellDuress(t *testing.T) {
	t.Parallel()
	unset := createKeystore(t, newProfile(t, "a"), testParams)
	set := createKeystore(t, newProfile(t, "b"), testParams)
	if err := crypto.SetDuress(set, testPassphrase, []byte("other words")); err != nil {
		t.Fatal(err)
	}
	type change struct{ salt, rest [2]bool }
	diff := func(a, b []byte) (c change) {
		for i := range 2 {
			sa, sb := a[ksHeader+i*ksSlot:ksHeader+(i+1)*ksSlot], b[ksHeader+i*ksSlot:ksHeader+(i+1)*ksSlot]
			c.salt[i] = !bytes.Equal(sa[:16], sb[:16])
			c.rest[i] = !bytes.Equal(sa[16:40], sb[16:40]) && !bytes.Equal(sa[40:], sb[40:])
		}
		return c
	}
	unlock := func(path string) (change, time.Time) {
		before, _ := os.ReadFile(path)
		old := time.Now().Add(-time.Hour)
		os.Chtimes(path, old, old)
		k, err := crypto.OpenKeystore(path, testPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		k.Close()
		after, _ := os.ReadFile(path)
		if len(after) != ksSize || len(before) != ksSize {
			t.Fatalf("keystore of %d then %d bytes, want %d", len(before), len(after), ksSize)
		}
		fi, _ := os.Stat(path)
		return diff(before, after), fi.ModTime()
	}
	cu, tu := unlock(unset)
	cs, ts := unlock(set)
	want := change{rest: [2]bool{true, true}}
	if cu != want || cs != want {
		t.Errorf("an unlock changed %+v without a duress passphrase and %+v with one, want %+v for both", cu, cs, want)
	}
	if time.Since(tu) > time.Minute || time.Since(ts) > time.Minute {
		t.Error("an unlock did not rewrite the keystore")
	}
	// Setting and clearing leave the same trace.
	for _, op := range []struct {
		name string
		do   func(string) error
	}{
		{"set", func(p string) error { return crypto.SetDuress(p, testPassphrase, []byte("more words")) }},
		{"clear", func(p string) error { return crypto.ClearDuress(p, testPassphrase) }},
	} {
		for _, path := range []string{set, unset} {
			before, _ := os.ReadFile(path)
			if err := op.do(path); err != nil {
				t.Fatal(err)
			}
			after, _ := os.ReadFile(path)
			if c := diff(before, after); c != (change{salt: [2]bool{true, true}, rest: [2]bool{true, true}}) {
				t.Errorf("%s changed %+v", op.name, c)
			}
		}
	}
}

// TestPassphraseNormalised: a passphrase typed in one Unicode form opens a
// keystore sealed under another form of the same text.
func TestPassphraseNormalised(t *testing.T) {
	t.Parallel()
	nfc := []byte(norm.NFC.String("contraseña de Lucía"))
	nfd := []byte(norm.NFD.String("contraseña de Lucía"))
	if bytes.Equal(nfc, nfd) {
		t.Fatal("bug in test: the two forms are the same bytes")
	}
	p := newProfile(t, "Lucía")
	path := filepath.Join(t.TempDir(), "keys")
	if _, err := crypto.CreateKeystore(path, nfc, p, testParams); err != nil {
		t.Fatal(err)
	}
	got, err := openProfile(path, nfd)
	if err != nil {
		t.Fatalf("NFD passphrase on an NFC keystore: %v", err)
	}
	sameProfile(t, p, got)
	// The duress passphrase must differ from the passphrase once
	// normalised.
	if err := crypto.SetDuress(path, nfc, nfd); !errors.Is(err, crypto.ErrSamePassphrase) {
		t.Errorf("a duress passphrase that is the passphrase in NFD: %v", err)
	}
	dn := []byte(norm.NFD.String("bajo amenaza, señor"))
	if err := crypto.SetDuress(path, nfd, dn); err != nil {
		t.Fatal(err)
	}
	k, err := crypto.OpenKeystore(path, []byte(norm.NFC.String("bajo amenaza, señor")))
	if err != nil || k.Duress() == nil {
		t.Fatalf("NFC duress passphrase set in NFD: %v", err)
	}
}

// TestKeystoreV1Upgrade opens a keystore written by version 1, sealed
// under a passphrase typed in NFD, with the same passphrase in NFC: it
// opens, is rewritten in version 2 under the NFC form, and then opens with
// either form. Its version 1 duress passphrase no longer opens anything
// (version 1 put the whole profile under it).
func TestKeystoreV1Upgrade(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/keystore-v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	file := decodeHexLines(t, string(raw))
	if len(file) != ksSizeV1 {
		t.Fatalf("fixture is %d bytes, want %d", len(file), ksSizeV1)
	}
	const wantID = "8c4c9cd5a6b1e76dc14c525c05814ec80dc5ccdd401483094fef53db22b6e3dc"
	open := func(t *testing.T, pass string) (*crypto.Keystore, string) {
		path := filepath.Join(t.TempDir(), "keys")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := crypto.OpenKeystore(path, []byte(pass))
		if err != nil {
			t.Fatalf("opening the version 1 keystore: %v", err)
		}
		return k, path
	}
	t.Run("passphrase", func(t *testing.T) {
		t.Parallel()
		k, path := open(t, norm.NFC.String("contraseña de Lucía"))
		if k.Profile() == nil || k.Profile().Identity.ID().String() != wantID || k.Profile().Identity.Name() != "Lucía" {
			t.Fatal("the upgrade lost the identity")
		}
		if k.Profile().Identity.DuressKey().IsZero() {
			t.Fatal("the upgraded identity has no duress key")
		}
		up, _ := os.ReadFile(path)
		if len(up) != ksSize || up[4] != 2 {
			t.Fatalf("not rewritten in version 2: %d bytes, version %d", len(up), up[4])
		}
		for _, form := range []string{norm.NFC.String("contraseña de Lucía"), norm.NFD.String("contraseña de Lucía")} {
			p, err := openProfile(path, []byte(form))
			if err != nil || p.Identity.ID().String() != wantID {
				t.Fatalf("the upgraded keystore does not open: %v", err)
			}
		}
		if _, err := crypto.OpenKeystore(path, []byte("bajo amenaza")); !errors.Is(err, crypto.ErrWrongPassphrase) {
			t.Fatalf("the version 1 duress passphrase opens the upgraded keystore: %v", err)
		}
	})
	t.Run("duress passphrase", func(t *testing.T) {
		t.Parallel()
		k, _ := open(t, "bajo amenaza")
		if k.Profile() != nil || k.Duress() == nil || len(k.Duress().Targets) != 0 {
			t.Fatal("a version 1 duress passphrase must open an empty kit and no profile")
		}
	})
}

func decodeHexLines(t *testing.T, s string) []byte {
	t.Helper()
	var b []byte
	for _, line := range strings.Split(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for i := 0; i+1 < len(line); i += 2 {
			var v byte
			for _, c := range line[i : i+2] {
				v <<= 4
				switch {
				case c >= '0' && c <= '9':
					v |= byte(c - '0')
				case c >= 'a' && c <= 'f':
					v |= byte(c-'a') + 10
				default:
					t.Fatalf("bad hex %q", line)
				}
			}
			b = append(b, v)
		}
	}
	return b
}

// TestSetDuressTargetsRefusesAChangedFile: the daemon keeps the keystore
// open to update the kit; if `takecare duress` changed the file meanwhile,
// it must not overwrite the new duress passphrase.
func TestSetDuressTargetsRefusesAChangedFile(t *testing.T) {
	t.Parallel()
	path := createKeystore(t, newProfile(t, "a"), testParams)
	k, err := crypto.OpenKeystore(path, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if err := crypto.SetDuress(path, testPassphrase, []byte("new duress")); err != nil {
		t.Fatal(err)
	}
	if err := k.SetDuressTargets(nil); !errors.Is(err, crypto.ErrKeystoreChanged) {
		t.Fatalf("error = %v, want ErrKeystoreChanged", err)
	}
	if d, err := crypto.OpenKeystore(path, []byte("new duress")); err != nil || d.Duress() == nil {
		t.Fatalf("the duress passphrase was lost: %v", err)
	}
}

// TestKeystoreRewritesKeepTheProfile: the keystore is rewritten at every
// unlock and whenever the kit changes; every key must survive those
// rewrites (the HPKE seed once did not: crypto/hpke hands out the key's own
// seed, and clearing it after a write sealed zeros at the next one).
func TestKeystoreRewritesKeepTheProfile(t *testing.T) {
	t.Parallel()
	p := newProfile(t, "ana")
	path := createKeystore(t, p, testParams)
	for range 3 {
		k, err := crypto.OpenKeystore(path, testPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.SetDuressTargets(nil); err != nil {
			t.Fatal(err)
		}
		k.Close()
	}
	got, err := openProfile(path, testPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	sameProfile(t, p, got)
}

// TestVerifyPassphrase: only the passphrase verifies, not the duress one,
// and verifying writes nothing.
func TestVerifyPassphrase(t *testing.T) {
	t.Parallel()
	path := createKeystore(t, newProfile(t, "ana"), testParams)
	if err := crypto.SetDuress(path, testPassphrase, []byte("under duress")); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := crypto.VerifyPassphrase(path, testPassphrase); err != nil {
		t.Fatalf("the passphrase: %v", err)
	}
	for _, p := range []string{"under duress", "wrong"} {
		if err := crypto.VerifyPassphrase(path, []byte(p)); !errors.Is(err, crypto.ErrWrongPassphrase) {
			t.Errorf("%q: %v", p, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("verifying wrote the keystore")
	}
}
