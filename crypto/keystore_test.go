package crypto_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

// testParams keep Argon2id cheap in tests; one test uses the defaults.
var testParams = crypto.KeystoreParams{Time: 1, MemoryKiB: 64, Threads: 1}

// Keystore layout of version 2, written out so that a change of format
// fails the tests: header(14) | slot(4152) | slot(4152).
const (
	ksHeader = 4 + 1 + 4 + 4 + 1
	ksSlot   = 16 + 24 + 4096 + 16
	ksSize   = ksHeader + 2*ksSlot
	ksSizeV1 = ksHeader + 2*(16+24+1024+16)
)

// openProfile opens the keystore at path and returns its profile, or an
// error if it did not open or opened as a duress kit.
func openProfile(path string, pass []byte) (*crypto.Profile, error) {
	k, err := crypto.OpenKeystore(path, pass)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	if k.Profile() == nil {
		return nil, errors.New("opened the duress kit, not the profile")
	}
	return k.Profile(), nil
}

var testPassphrase = []byte("correct horse battery staple")

func newProfile(t testing.TB, name string) crypto.Profile {
	t.Helper()
	return crypto.Profile{Identity: newIdentity(t, name), StorageKey: crypto.NewStorageKey()}
}

func createKeystore(t testing.TB, p crypto.Profile, params crypto.KeystoreParams) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keystore")
	if _, err := crypto.CreateKeystore(path, testPassphrase, p, params); err != nil {
		t.Fatalf("CreateKeystore: %v", err)
	}
	return path
}

// sameProfile checks that got holds the identity and storage key of want,
// by using them rather than by comparing fields.
func sameProfile(t *testing.T, want crypto.Profile, got *crypto.Profile) {
	t.Helper()
	wi, gi := want.Identity, got.Identity
	if gi.ID() != wi.ID() {
		t.Fatalf("member id %s, want %s", gi.ID(), wi.ID())
	}
	if !gi.Public().Equal(wi.Public()) {
		t.Fatal("public keys differ")
	}
	if gi.PeerID() != wi.PeerID() {
		t.Fatalf("peer id %s, want %s", gi.PeerID(), wi.PeerID())
	}
	if gi.Name() != wi.Name() {
		t.Fatalf("name %q, want %q", gi.Name(), wi.Name())
	}
	// The signing key: a signature by the loaded identity verifies with the
	// original public keys.
	g := crypto.NewGroupID()
	if err := gi.SignBody(g, 1, []byte("x")).Verify(wi.Public(), g, 1); err != nil {
		t.Fatalf("loaded signing key: %v", err)
	}
	// The HPKE key: a secret sealed to the original opens with the loaded one.
	s := crypto.NewEpochSecret()
	sealed, err := crypto.SealEpochSecret(wi.Public(), g, 1, s)
	if err != nil {
		t.Fatal(err)
	}
	if o, err := gi.OpenEpochSecret(g, 1, sealed); err != nil || !o.Equal(s) {
		t.Fatalf("loaded HPKE key: %v", err)
	}
	// The node key.
	if !gi.NodeKey().Equals(wi.NodeKey()) {
		t.Fatal("node keys differ")
	}
	// The storage key: what one seals, the other opens, both ways.
	a, b := crypto.NewAtRest(want.StorageKey), crypto.NewAtRest(got.StorageKey)
	if pt, err := b.Open([]byte("ad"), a.Seal([]byte("ad"), []byte("record"))); err != nil || string(pt) != "record" {
		t.Fatalf("storage key: %q, %v", pt, err)
	}
	if pt, err := a.Open([]byte("ad"), b.Seal([]byte("ad"), []byte("record"))); err != nil || string(pt) != "record" {
		t.Fatalf("storage key: %q, %v", pt, err)
	}
}

func TestKeystoreRoundTrip(t *testing.T) {
	t.Parallel()
	names := []string{"ana", "Doña Lucía Pérez-Hernández", strings.Repeat("n", 255), ""}
	for _, name := range names {
		t.Run(fmt.Sprintf("name len %d", len(name)), func(t *testing.T) {
			t.Parallel()
			p := newProfile(t, name)
			path := createKeystore(t, p, testParams)
			got, err := openProfile(path, testPassphrase)
			if err != nil {
				t.Fatalf("OpenKeystore: %v", err)
			}
			sameProfile(t, p, got)
		})
	}
}

func TestKeystoreDefaultParams(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("64 MiB Argon2id")
	}
	p := newProfile(t, "ana")
	path := createKeystore(t, p, crypto.DefaultKeystoreParams)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The parameters are in the header, big-endian.
	wantHdr := []byte{'T', 'C', 'K', 'S', 2, 0, 0, 0, 3, 0, 1, 0, 0, 4}
	if !bytes.Equal(file[:ksHeader], wantHdr) {
		t.Fatalf("header % x, want % x", file[:ksHeader], wantHdr)
	}
	got, err := openProfile(path, testPassphrase)
	if err != nil {
		t.Fatalf("OpenKeystore: %v", err)
	}
	sameProfile(t, p, got)
	if _, err := openProfile(path, []byte("wrong")); !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestKeystoreFile(t *testing.T) {
	t.Parallel()
	const name = "Xochitl-Zapoteca-Name"
	p := newProfile(t, name)
	path := createKeystore(t, p, testParams)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode %v, want 0600", fi.Mode().Perm())
	}
	if fi.Size() != ksSize {
		t.Errorf("keystore is %d bytes, want %d", fi.Size(), ksSize)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after CreateKeystore, want only the keystore", len(entries))
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id := p.Identity.ID()
	pid := p.Identity.PeerID()
	for what, needle := range map[string][]byte{
		"name":            []byte(name),
		"lower-case name": []byte(strings.ToLower(name)),
		"name in hex":     []byte(hex.EncodeToString([]byte(name))),
		"name prefix":     []byte(name[:8]),
		"member id":       id[:],
		"member id hex":   []byte(id.String()),
		"signing key":     p.Identity.Public().SignKey(),
		"HPKE key":        p.Identity.Public().KEMKey()[:64],
		"peer id":         []byte(pid),
		"passphrase":      testPassphrase,
	} {
		if bytes.Contains(file, needle) {
			t.Errorf("keystore file contains the %s in clear", what)
		}
	}
}

func TestKeystoreErrors(t *testing.T) {
	t.Parallel()
	p := newProfile(t, "ana")
	path := createKeystore(t, p, testParams)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wrong passphrase", func(t *testing.T) {
		t.Parallel()
		for _, pass := range [][]byte{[]byte("wrong"), append(bytes.Clone(testPassphrase), ' '), testPassphrase[1:], {}, nil} {
			if _, err := openProfile(path, pass); !errors.Is(err, crypto.ErrWrongPassphrase) {
				t.Errorf("passphrase %q: error = %v, want ErrWrongPassphrase", pass, err)
			}
		}
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		_, err := openProfile(filepath.Join(t.TempDir(), "nothing-here"), testPassphrase)
		if !errors.Is(err, crypto.ErrNoKeystore) {
			t.Fatalf("error = %v, want ErrNoKeystore", err)
		}
	})
	t.Run("refuses to overwrite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "keystore")
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := crypto.CreateKeystore(path, []byte("another"), newProfile(t, "mallory"), testParams)
		if !errors.Is(err, crypto.ErrKeystoreExists) {
			t.Fatalf("error = %v, want ErrKeystoreExists", err)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, orig) {
			t.Fatal("the existing keystore changed")
		}
		got, err := openProfile(path, testPassphrase)
		if err != nil {
			t.Fatal(err)
		}
		sameProfile(t, p, got)
	})
	t.Run("empty passphrase", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "keystore")
		if _, err := crypto.CreateKeystore(path, nil, newProfile(t, "ana"), testParams); err == nil {
			t.Fatal("CreateKeystore accepted an empty passphrase")
		}
		if _, err := os.Stat(path); err == nil {
			t.Fatal("CreateKeystore left a file")
		}
	})
	t.Run("name too long", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "keystore")
		if _, err := crypto.CreateKeystore(path, testPassphrase, newProfile(t, strings.Repeat("n", 256)), testParams); err == nil {
			t.Fatal("CreateKeystore accepted a 256-byte name")
		}
	})
	t.Run("parameters out of range", func(t *testing.T) {
		t.Parallel()
		for _, params := range []crypto.KeystoreParams{
			{},
			{Time: 0, MemoryKiB: 64, Threads: 1},
			{Time: 65, MemoryKiB: 64, Threads: 1},
			{Time: 1, MemoryKiB: 7, Threads: 1},
			{Time: 1, MemoryKiB: 4<<20 + 1, Threads: 1},
			{Time: 1, MemoryKiB: 64, Threads: 0},
		} {
			path := filepath.Join(t.TempDir(), "keystore")
			if _, err := crypto.CreateKeystore(path, testPassphrase, p, params); err == nil {
				t.Errorf("CreateKeystore accepted %+v, which OpenKeystore refuses", params)
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("CreateKeystore with %+v left a file", params)
			}
		}
	})
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		if _, err := openProfile(t.TempDir(), testPassphrase); err == nil {
			t.Fatal("OpenKeystore of a directory succeeded")
		}
	})
}

func TestKeystoreDamaged(t *testing.T) {
	t.Parallel()
	p := newProfile(t, "ana")
	orig, err := os.ReadFile(createKeystore(t, p, testParams))
	if err != nil {
		t.Fatal(err)
	}
	open := func(t *testing.T, file []byte) error {
		t.Helper()
		path := filepath.Join(t.TempDir(), "keystore")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := openProfile(path, testPassphrase)
		return err
	}

	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{0, 1, 4, 5, ksHeader - 1, ksHeader, ksHeader + ksSlot, ksSize - 1} {
			if err := open(t, orig[:n]); !errors.Is(err, crypto.ErrCorruptKeystore) {
				t.Errorf("first %d bytes: error = %v, want ErrCorruptKeystore", n, err)
			}
		}
	})
	t.Run("extended", func(t *testing.T) {
		t.Parallel()
		if err := open(t, append(bytes.Clone(orig), 0)); !errors.Is(err, crypto.ErrCorruptKeystore) {
			t.Errorf("error = %v, want ErrCorruptKeystore", err)
		}
	})
	t.Run("bad header", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			mod  func(b []byte)
		}{
			{"magic", func(b []byte) { b[0] = 'X' }},
			{"version 1", func(b []byte) { b[4] = 1 }},
			{"version 3", func(b []byte) { b[4] = 3 }},
			{"version 0", func(b []byte) { b[4] = 0 }},
			{"zero time", func(b []byte) { copy(b[5:9], []byte{0, 0, 0, 0}) }},
			{"absurd time", func(b []byte) { copy(b[5:9], []byte{0, 0, 1, 0}) }},
			{"tiny memory", func(b []byte) { copy(b[9:13], []byte{0, 0, 0, 4}) }},
			{"absurd memory", func(b []byte) { copy(b[9:13], []byte{0xff, 0xff, 0xff, 0xff}) }},
			{"zero threads", func(b []byte) { b[13] = 0 }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				b := bytes.Clone(orig)
				tt.mod(b)
				if err := open(t, b); !errors.Is(err, crypto.ErrCorruptKeystore) {
					t.Fatalf("error = %v, want ErrCorruptKeystore", err)
				}
			})
		}
	})
	t.Run("byte changed", func(t *testing.T) {
		t.Parallel()
		// Every header byte and a stride through the first slot, which holds
		// the profile. The parameters are associated data, so a changed but
		// plausible parameter fails as a wrong passphrase. XOR with 1 keeps
		// the memory parameter small enough for a test.
		for i := 0; i < ksHeader+ksSlot; i++ {
			if i >= ksHeader+40 && i < ksHeader+ksSlot-16 && i%29 != 0 {
				continue
			}
			b := bytes.Clone(orig)
			b[i] ^= 1
			err := open(t, b)
			if !errors.Is(err, crypto.ErrCorruptKeystore) && !errors.Is(err, crypto.ErrWrongPassphrase) {
				t.Fatalf("byte %d changed: error = %v, want ErrCorruptKeystore or ErrWrongPassphrase", i, err)
			}
		}
	})
	t.Run("unused slot changed", func(t *testing.T) {
		t.Parallel()
		// The second slot is random filler while no second passphrase is
		// set: changing it must not lock the user out.
		b := bytes.Clone(orig)
		for i := ksHeader + ksSlot; i < ksSize; i += 97 {
			b[i] ^= 0xff
		}
		if err := open(t, b); err != nil {
			t.Fatalf("OpenKeystore after changing the unused slot: %v", err)
		}
	})
	t.Run("slots swapped", func(t *testing.T) {
		t.Parallel()
		b := bytes.Clone(orig[:ksHeader])
		b = append(b, orig[ksHeader+ksSlot:]...)
		b = append(b, orig[ksHeader:ksHeader+ksSlot]...)
		if err := open(t, b); err != nil {
			t.Fatalf("the profile in the second slot does not open: %v", err)
		}
	})
	t.Run("random file", func(t *testing.T) {
		t.Parallel()
		b := append([]byte(nil), orig[:ksHeader]...)
		b = append(b, body(2*ksSlot)...)
		if err := open(t, b); !errors.Is(err, crypto.ErrWrongPassphrase) {
			t.Fatalf("error = %v, want ErrWrongPassphrase", err)
		}
	})
}

func TestKeystoreSaltIsFresh(t *testing.T) {
	t.Parallel()
	p := newProfile(t, "ana")
	a, err := os.ReadFile(createKeystore(t, p, testParams))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(createKeystore(t, p, testParams))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[ksHeader:ksHeader+16], b[ksHeader:ksHeader+16]) {
		t.Fatal("two keystores share a salt")
	}
	if bytes.Equal(a[ksHeader+ksSlot:], b[ksHeader+ksSlot:]) {
		t.Fatal("the unused slot is not random")
	}
}
