package crypto_test

import (
	"bytes"
	"testing"

	"github.com/takecare-network/takecare/crypto"
)

// envOverhead is the fixed cost of an envelope in protocol version 1:
// version(1) | key tag(8) | nonce(24) | ... | Poly1305 tag(16), plus the
// 4-byte length prefix of the padded plaintext. It is written out here, not
// taken from the package, so that a change of format fails the tests.
const envOverhead = 1 + 8 + 24 + 16 + 4

// innerHeader is author(32) | signature(64).
const innerHeader = 32 + 64

func newIdentity(t testing.TB, name string) *crypto.Identity {
	t.Helper()
	id, err := crypto.NewIdentity(name)
	if err != nil {
		t.Fatalf("NewIdentity(%q): %v", name, err)
	}
	return id
}

// fixedGroup, fixedEpoch and fixedSecret define the keys the fuzz targets and
// the test vectors use, so that checked-in envelopes keep opening.
var (
	fixedGroup  = crypto.GroupID{0x74, 0x61, 0x6b, 0x65, 0x63, 0x61, 0x72, 0x65, 1, 2, 3, 4, 5, 6, 7, 8}
	fixedEpoch  = uint64(7)
	fixedSecret = bytes.Repeat([]byte{0x42}, 32)
)

func fixedKeys(t testing.TB) *crypto.EpochKeys {
	t.Helper()
	s, err := crypto.EpochSecretFromBytes(fixedSecret)
	if err != nil {
		t.Fatal(err)
	}
	return crypto.NewEpochKeys(fixedGroup, fixedEpoch, s)
}

func randomKeys() *crypto.EpochKeys {
	return crypto.NewEpochKeys(crypto.NewGroupID(), 1, crypto.NewEpochSecret())
}

// body returns n bytes that are not all equal, so that a mix-up of offsets
// shows.
func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	return b
}
