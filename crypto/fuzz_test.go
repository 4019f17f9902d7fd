package crypto_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

// The seed corpora of these targets are in testdata/fuzz/<target>/. Run one
// with, for example, go test -run '^$' -fuzz '^FuzzOpen$' -fuzztime 30s ./crypto

// FuzzParseInviteCode: invite codes come from chats and QR codes.
func FuzzParseInviteCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, code string) {
		inv, err := crypto.ParseInviteCode(code)
		if err != nil {
			if !errors.Is(err, crypto.ErrBadInvite) {
				t.Fatalf("error %v does not wrap ErrBadInvite", err)
			}
			return
		}
		// One code per invite: what parses is the canonical code, up to
		// case and white space.
		norm := strings.ToUpper(strings.Join(strings.Fields(code), ""))
		again := inv.Code()
		if again != norm {
			t.Fatalf("accepted a non-canonical code:\n in  %s\n out %s", norm, again)
		}
		back, err := crypto.ParseInviteCode(again)
		if err != nil {
			t.Fatalf("re-encoded code does not parse: %v", err)
		}
		if back.Group != inv.Group || back.ID != inv.ID || back.Peer != inv.Peer ||
			len(back.Addrs) != len(inv.Addrs) || len(back.Also) != len(inv.Also) || !bytes.Equal(back.PublicKey(), inv.PublicKey()) {
			t.Fatal("invite changed through Code and ParseInviteCode")
		}
	})
}

var openErrors = []error{crypto.ErrEnvelopeSize, crypto.ErrEnvelopeVersion, crypto.ErrWrongKey, crypto.ErrDecrypt, crypto.ErrPadding}

// FuzzOpen: envelopes come from any peer on a group topic or in sync. The
// keys are fixed (fixedGroup, fixedEpoch, fixedSecret) so that the seeds
// include envelopes that open.
func FuzzOpen(f *testing.F) {
	k := fixedKeys(f)
	f.Fuzz(func(t *testing.T, env []byte) {
		tag, tagErr := crypto.EnvelopeTag(env)
		in, err := k.Open(env)
		if err != nil {
			if tagErr == nil && tag == k.Tag() && (errors.Is(err, crypto.ErrEnvelopeSize) || errors.Is(err, crypto.ErrEnvelopeVersion) || errors.Is(err, crypto.ErrWrongKey)) {
				t.Fatalf("Open: %v, but EnvelopeTag accepted the envelope for these keys", err)
			}
			return
		}
		if tagErr != nil || tag != k.Tag() {
			t.Fatalf("Open succeeded but EnvelopeTag = %v, %v", tag, tagErr)
		}
		b := in.Marshal()
		if size, err := crypto.PaddedSize(len(b)); err != nil || size != len(env) {
			t.Fatalf("a %d-byte message opened from a %d-byte envelope; PaddedSize = %d, %v", len(b), len(env), size, err)
		}
		again, err := crypto.ParseInner(b)
		if err != nil {
			t.Fatalf("ParseInner of an opened message: %v", err)
		}
		if again.Author != in.Author || again.Sig != in.Sig || !bytes.Equal(again.Body, in.Body) {
			t.Fatal("ParseInner(Marshal(x)) != x for an opened message")
		}
		// Nothing else opens it.
		if _, err := randomKeys().Open(env); err == nil {
			t.Fatal("an envelope opened with unrelated keys")
		}
	})
}

// FuzzParseInner: the plaintext inside an envelope is the author's choice.
func FuzzParseInner(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := crypto.ParseInner(b)
		if err != nil {
			if len(b) > innerHeader {
				t.Fatalf("rejected %d bytes: %v", len(b), err)
			}
			return
		}
		if len(b) <= innerHeader {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if !bytes.Equal(in.Marshal(), b) {
			t.Fatal("Marshal(ParseInner(b)) != b")
		}
		if !bytes.Equal(in.Author[:], b[:32]) || !bytes.Equal(in.Sig[:], b[32:96]) || !bytes.Equal(in.Body, b[96:]) {
			t.Fatal("fields are not where the layout puts them")
		}
	})
}

// fuzzPassphrase opens the valid keystores among the seeds of
// FuzzOpenKeystore, which use testParams.
var fuzzPassphrase = []byte("fuzz-passphrase")

// FuzzOpenKeystore: the keystore file is on a disk that may be damaged or
// tampered with while the device is seized.
func FuzzOpenKeystore(f *testing.F) {
	path := filepath.Join(f.TempDir(), "keystore")
	f.Fuzz(func(t *testing.T, file []byte) {
		// Skip files whose Argon2id parameters would make one run take
		// seconds or gigabytes; OpenKeystore bounds them, but not to what
		// a fuzzer can afford.
		if len(file) >= ksHeader {
			time := binary.BigEndian.Uint32(file[5:9])
			mem := binary.BigEndian.Uint32(file[9:13])
			if time > 4 || mem > 1024 || file[13] > 4 {
				return
			}
		}
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := crypto.OpenKeystore(path, fuzzPassphrase)
		if err != nil {
			if !errors.Is(err, crypto.ErrCorruptKeystore) && !errors.Is(err, crypto.ErrWrongPassphrase) {
				t.Fatalf("error %v is neither ErrCorruptKeystore nor ErrWrongPassphrase", err)
			}
			return
		}
		defer k.Close()
		if len(file) != ksSize && len(file) != ksSizeV1 {
			t.Fatalf("opened a %d-byte keystore", len(file))
		}
		if p := k.Profile(); p != nil && (p.Identity == nil || p.Identity.ID().IsZero()) {
			t.Fatal("opened a keystore without an identity")
		}
		if p := k.Profile(); p != nil {
			if again, err := os.ReadFile(path); err != nil || len(again) != ksSize {
				t.Fatalf("opened with the passphrase, the keystore was not rewritten in version 2: %d bytes, %v", len(again), err)
			}
		}
	})
}

// FuzzParseRelayCode: relay codes come from chats and e-mail. What parses
// is the canonical code, up to case and white space, and says the same
// when encoded again.
func FuzzParseRelayCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, code string) {
		c, err := crypto.ParseRelayCode(code)
		if err != nil {
			if !errors.Is(err, crypto.ErrBadRelayCode) {
				t.Fatalf("error %v does not wrap ErrBadRelayCode", err)
			}
			return
		}
		norm := strings.ToUpper(strings.Join(strings.Fields(code), ""))
		if again := c.String(); again != norm {
			t.Fatalf("accepted a non-canonical code:\n in  %s\n out %s", norm, again)
		}
	})
}
